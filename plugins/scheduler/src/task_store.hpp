#pragma once

// The scheduler's tables (scheduler_tasks, scheduler_attempts, scheduler_task_logs) and every
// change to them. Each change is one transaction that also appends the events describing it
// (docs/reference/events.md), so the log and the state never disagree.
//
// Every call blocks on PostgreSQL: call it from a REST handler, the report handler or the
// dispatcher thread, never from a network thread. Thread-safe (it holds no state of its own).
// Errors are values: the Database's codes, and `task_not_found`, `task_ended`,
// `task_not_ended` of its own.

#include "matching.hpp"

#include "unidesk/database.hpp"
#include "unidesk/event_bus.hpp"
#include "unidesk/provider_link.hpp"
#include "unidesk/result.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace unidesk::scheduler {

//! The policy numbers, from the plugin's config.
struct Policy {
    std::chrono::seconds accept_timeout{30};
    std::chrono::seconds lost_grace{600};
    std::chrono::seconds retry_base_delay{5};
    std::chrono::seconds retry_max_delay{300};
};

//! A command for a node that a change decided on; sent after its transaction commits.
struct NodeCommand {
    std::string node;
    std::string type;  // task.assign, task.cancel, task.resume
    nlohmann::json body;
    std::int64_t task_id = 0;
    std::string attempt_id;
};

struct ListFilter {
    std::string state;  // a state, `active`, or empty
    std::string project;
    std::string node;
    int limit = 50;
    std::optional<std::int64_t> before;
};

class TaskStore {
public:
    TaskStore(Database& db, EventBus& events, Policy policy);

    //! `spec` is already checked and complete (defaults filled in). {"task": Task}.
    Result<nlohmann::json> submit(const nlohmann::json& spec, const std::string& user);
    Result<nlohmann::json> list(const ListFilter& filter);
    //! {"task": Task, "attempts": [Attempt]}.
    Result<nlohmann::json> show(std::int64_t id);
    //! {"entries": [...], "next": N, "ended": bool}.
    Result<nlohmann::json> log(std::int64_t id, std::int64_t after, int limit);

    //! Queued: cancelled at once. Running: asks the node (the command to send). Ended: error.
    Result<std::pair<nlohmann::json, std::optional<NodeCommand>>> cancel(std::int64_t id,
                                                                         const std::string& user);
    //! The node could not be told to cancel: the task is cancelled here.
    Result<void> cancel_undelivered(std::int64_t id, const std::string& attempt_id,
                                    const std::string& why);
    Result<nlohmann::json> retry(std::int64_t id, const std::string& user);

    //! One dispatch pass for the nodes whose session `instance` holds: places queued tasks and
    //! records the assignments; the task.assign commands to send. A full pass looks at the
    //! first 500 queued tasks and records the pending reason of those left queued; a quick
    //! one looks only at as many as the nodes' free slots could take (times four).
    Result<std::vector<NodeCommand>> dispatch(const std::string& instance, bool full = true);
    //! A task.assign that could not be sent: the task goes back to the queue.
    Result<void> undelivered(const NodeCommand& command, const std::string& why);
    //! An assignment that cannot be sent and never could be (an input that does not exist):
    //! its attempt fails with `cause`, and the retry policy decides what follows.
    Result<void> fail_unsendable(const NodeCommand& command, const std::string& cause,
                                 const std::string& why);
    //! Attempts not accepted in time go back to the queue; attempts whose node has been offline
    //! past the grace are lost. The stale-attempt commands to send.
    Result<std::vector<NodeCommand>> expire();

    //! A task.status or task.log from a node; commands that follow (stop a stale attempt).
    //! An attempt's reports are stored in the order of their seq, each once: a seq already
    //! stored is answered as stored, and one past the next expected is `report_out_of_order`
    //! (Errc::conflict), not stored, for the node to send again after the ones before it.
    Result<std::vector<NodeCommand>> record_report(const std::string& node, const std::string& type,
                                                   const nlohmann::json& body);
    //! Several reports in one transaction, in order, each as record_report() would; the outer
    //! error when the transaction failed and none was recorded.
    Result<std::vector<Result<std::vector<NodeCommand>>>> record_reports(
        std::span<const NodeReport> reports);
    //! The attempts a node holds as it registers: resume ours, stop the rest, lose the missing;
    //! and how many it runs at once (0: not said), which dispatch respects from then on.
    Result<std::vector<NodeCommand>> node_registered(const std::string& node,
                                                     const nlohmann::json& running,
                                                     std::uint32_t slots);

private:
    Database& db_;
    EventBus& events_;
    Policy policy_;
};

}  // namespace unidesk::scheduler
