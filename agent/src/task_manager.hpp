#pragma once

// Runs the task attempts the server assigns to this node, each exactly as its five coordinates
// say: the code and env repositories fetched at their commits through GitCache, the env image
// built through the Docker engine (once per env repo, commit and Dockerfile), the command run
// in a container with the code at /workspace, and every phase and output chunk reported
// through the Outbox as it happens.
//
// Owned by main(). assign(), cancel(), resume() and running() are called on the agent's network
// thread and never block; each attempt runs on a thread of its own, where blocking work (git,
// disk, the engine) happens; a stop (cancel, time limit, stale attempt) runs on a short thread
// of its own too. Task containers carry the labels unidesk.node, unidesk.task and
// unidesk.attempt, so a restarted agent finds them again (adopt()) and the server decides
// whether each goes on (resume()) or stops (cancel() with reason `stale`).
//
// Failures end in a `failed` report with a cause (git_fetch_failed, image_build_failed,
// container_start_failed, exit_nonzero, timeout, agent_error) and never affect another attempt.

#include "agent_config.hpp"
#include "docker_client.hpp"
#include "git_cache.hpp"
#include "outbox.hpp"

#include "unidesk/protocol/messages.hpp"

#include <spdlog/logger.h>
#include <boost/asio/io_context.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace unidesk::agent {

//! The image tag of an environment: a digest of the env repository URL, its commit and the
//! Dockerfile path, so the same three always name the same image.
std::string env_image_tag(const std::string& env_repo_url, const std::string& env_commit_id,
                          const std::string& dockerfile_path);

class TaskManager {
public:
    TaskManager(boost::asio::io_context& io, const AgentConfig& config, DockerClient& docker,
                GitCache& git, Outbox& outbox);
    ~TaskManager();
    TaskManager(const TaskManager&) = delete;
    TaskManager& operator=(const TaskManager&) = delete;

    //! Finds this node's task containers left by an earlier agent process; they are reported in
    //! `register` and wait for resume() or cancel(). Blocking: call before the link starts.
    void adopt();

    //! Starts an attempt on a thread of its own, or reports it `rejected` when the node's
    //! slots are full or the command is not valid. A repeated assign of a known attempt (a
    //! resent command) is ignored.
    void assign(const protocol::TaskAssign& task);

    //! Stops an attempt: before its container runs it never starts; a running container gets
    //! SIGTERM, then SIGKILL after the grace period. Reported `cancelled` (reason `cancelled`)
    //! or, for a stale attempt, stopped and removed without more reports.
    void cancel(const protocol::TaskCancel& cancel);

    //! Goes on with an adopted attempt: follows its output after `logs_after` and reports its
    //! end, numbered after `seq`.
    void resume(const protocol::TaskResume& resume);

    //! The attempts this node holds and their phases, for `register` and heartbeats.
    std::vector<protocol::RunningAttempt> running() const;

    //! The agent is going away: stops following every attempt without stopping its container
    //! (a restarted agent adopts it) and waits for the attempt threads to end. On the network
    //! thread once the link is down (or when no io thread runs any more); idempotent.
    void shutdown();

private:
    struct Attempt;

    void run(const std::shared_ptr<Attempt>& a);
    void run_fresh(const std::shared_ptr<Attempt>& a);
    void follow(Attempt& a, const std::string& logs_after);
    void stop_container(const std::shared_ptr<Attempt>& a, const std::string& why);
    void arm_time_limit(const std::shared_ptr<Attempt>& a);
    void report(Attempt& a, const std::string& phase, const std::string& cause = {},
                const std::string& message = {},
                std::optional<std::int64_t> exit_code = std::nullopt);
    void log(Attempt& a, std::string_view stream, std::string_view data,
             std::string_view until = {});
    void finished(const std::shared_ptr<Attempt>& a);
    void collect_garbage(const std::string& ending);

    boost::asio::io_context& io_;
    const AgentConfig& config_;
    DockerClient& docker_;
    GitCache& git_;
    Outbox& outbox_;
    std::shared_ptr<spdlog::logger> log_;

    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<Attempt>> attempts_;
    bool shutting_down_ = false;
    std::mutex gc_mutex_;
};

}  // namespace unidesk::agent
