#include "task_store.hpp"

#include <algorithm>
#include <set>
#include <type_traits>

namespace unidesk::scheduler {
namespace {

using nlohmann::json;

// Times as the API sends them: UTC, milliseconds, Z.
std::string iso(const std::string& column) {
    return "to_char(" + column + " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";
}

const std::string kTaskColumns =
    "t.id, t.state, t.project, t.priority, t.spec::text AS spec, t.submitted_by, t.attempt_id, "
    "t.attempts, t.node, t.pending_reason, t.exit_code, t.cause, t.message, " +
    iso("t.created_at") + " AS created_at, " + iso("t.updated_at") + " AS updated_at, " +
    iso("t.started_at") + " AS started_at, " + iso("t.ended_at") + " AS ended_at";

const std::set<std::string> kActive = {"assigned", "accepted", "fetching",
                                       "building", "running",  "uploading"};
const std::set<std::string> kEnded = {"succeeded", "failed", "cancelled", "lost"};

json text_or_null(const pqxx::field& f) {
    return f.is_null() ? json(nullptr) : json(f.as<std::string>());
}

json int_or_null(const pqxx::field& f) {
    return f.is_null() ? json(nullptr) : json(f.as<long long>());
}

json task_json(const pqxx::row& r) {
    json t = json::parse(r["spec"].as<std::string>());
    t["id"] = r["id"].as<long long>();
    t["state"] = r["state"].as<std::string>();
    t["submitted_by"] = r["submitted_by"].as<std::string>();
    t["attempt_id"] = text_or_null(r["attempt_id"]);
    t["attempts"] = r["attempts"].as<int>();
    t["node"] = text_or_null(r["node"]);
    t["pending_reason"] = text_or_null(r["pending_reason"]);
    t["exit_code"] = int_or_null(r["exit_code"]);
    t["cause"] = text_or_null(r["cause"]);
    t["message"] = text_or_null(r["message"]);
    for (const char* c : {"created_at", "updated_at", "started_at", "ended_at"}) {
        t[c] = text_or_null(r[c]);
    }
    return t;
}

Error not_found(std::int64_t id) {
    return make_error(Errc::not_found, "task_not_found", "no task " + std::to_string(id));
}

[[noreturn]] void abort_with(Error e) {
    throw ResultError(std::move(e));
}

std::optional<pqxx::row> lock_task(pqxx::work& tx, std::int64_t id) {
    auto r = tx.exec_params(
        "SELECT " + kTaskColumns + " FROM scheduler_tasks t WHERE t.id = $1 FOR UPDATE", id);
    if (r.empty()) {
        return std::nullopt;
    }
    return r[0];
}

EventDraft event(std::string kind, std::int64_t task, std::string actor, json payload) {
    return EventDraft{std::move(kind), "task:" + std::to_string(task), std::move(actor),
                      std::move(payload)};
}

const std::string kPlugin = "plugin:scheduler";

// The events of one transaction, appended together in one call just before it commits: a
// reader of the bus waits for appending transactions in flight, so the later the append comes
// the less a reader waits.
class EventBatch {
public:
    void add(EventDraft e) { drafts_.push_back(std::move(e)); }
    void append_all(EventBus& bus, pqxx::work& tx) {
        if (!drafts_.empty()) {
            bus.append_all(tx, drafts_);
        }
        drafts_.clear();
    }

private:
    std::vector<EventDraft> drafts_;
};

// Database::transact for a function that also records events.
template <class F>
auto transact_with_events(Database& db, EventBus& bus, F&& fn) {
    return db.transact([&](pqxx::work& tx) {
        EventBatch events;
        if constexpr (std::is_void_v<std::invoke_result_t<F, pqxx::work&, EventBatch&>>) {
            fn(tx, events);
            events.append_all(bus, tx);
        } else {
            auto out = fn(tx, events);
            events.append_all(bus, tx);
            return out;
        }
    });
}

// A git fetch that failed on the network is worth another try; a missing commit or a refused
// credential is not. The agent words the first one this way (agent/src/git_cache.cpp).
// TODO: the two are told apart by the message's words; if the agent rewords it, network
// failures stop being retried. A cause of their own in the protocol would end that coupling.
bool retryable(const std::string& cause, const std::string& message, const json& retry) {
    if (cause == "lost" || cause == "agent_error") {
        return true;
    }
    if (cause == "git_fetch_failed") {
        return message.rfind("cannot reach the remote", 0) == 0;
    }
    if (cause == "exit_nonzero") {
        return retry.value("on_exit_nonzero", false);
    }
    return false;
}

}  // namespace

TaskStore::TaskStore(Database& db, EventBus& events, Policy policy)
    : db_(db), events_(events), policy_(policy) {}

Result<json> TaskStore::submit(const json& spec, const std::string& user) {
    return transact_with_events(db_, events_, [&](pqxx::work& tx, EventBatch& events) {
        auto r = exec_prepared(tx, "scheduler_submit",
                               "INSERT INTO scheduler_tasks AS t (state, project, priority, spec, "
                               "submitted_by) VALUES ('queued', $1, $2, $3::jsonb, $4) RETURNING " +
                                   kTaskColumns,
                               spec["project"].get<std::string>(), spec["priority"].get<int>(),
                               spec.dump(), user)[0];
        const auto id = r["id"].as<std::int64_t>();
        events.add(event("task.submitted", id, "user:" + user,
                         {{"project", spec["project"]},
                          {"code_commit_id", spec["code_commit_id"]},
                          {"env_commit_id", spec["env_commit_id"]}}));
        return json{{"task", task_json(r)}};
    });
}

Result<json> TaskStore::list(const ListFilter& f) {
    if (!f.state.empty() && f.state != "active" && f.state != "queued" &&
        kActive.count(f.state) == 0 && kEnded.count(f.state) == 0) {
        return make_error(Errc::invalid_argument, "invalid_request",
                          "state must be active, queued, assigned, accepted, fetching, building, "
                          "running, uploading, succeeded, failed, cancelled or lost");
    }
    return db_.transact([&](pqxx::work& tx) {
        // Each filter is either off (NULL) or compared; one statement for every combination.
        const std::string active = "{queued,assigned,accepted,fetching,building,running,uploading}";
        auto r = tx.exec_params(
            "SELECT " + kTaskColumns +
                " FROM scheduler_tasks t WHERE "
                "($1::text IS NULL OR ($1 = 'active' AND t.state = ANY($2::text[])) "
                "  OR t.state = $1) "
                "AND ($3::text IS NULL OR t.project = $3) AND ($4::text IS NULL OR t.node = $4) "
                "AND ($5::bigint IS NULL OR t.id < $5) ORDER BY t.id DESC LIMIT $6",
            f.state.empty() ? std::optional<std::string>() : f.state, active,
            f.project.empty() ? std::optional<std::string>() : f.project,
            f.node.empty() ? std::optional<std::string>() : f.node, f.before, f.limit + 1);
        json tasks = json::array();
        for (std::size_t i = 0; i < r.size() && static_cast<int>(i) < f.limit; ++i) {
            tasks.push_back(task_json(r[i]));
        }
        json next = nullptr;
        if (static_cast<int>(r.size()) > f.limit) {
            next = std::to_string(tasks.back()["id"].get<long long>());
        }
        return json{{"tasks", tasks}, {"next", next}};
    });
}

Result<json> TaskStore::show(std::int64_t id) {
    return db_.transact([&](pqxx::work& tx) {
        auto t =
            tx.exec_params("SELECT " + kTaskColumns + " FROM scheduler_tasks t WHERE id = $1", id);
        if (t.empty()) {
            abort_with(not_found(id));
        }
        auto rows = tx.exec_params(
            "SELECT id, number, node, state, cause, exit_code, message, "
            "phases::text AS phases, " +
                iso("created_at") + " AS created_at, " + iso("ended_at") +
                " AS ended_at FROM scheduler_attempts WHERE task_id = $1 "
                "ORDER BY number",
            id);
        json attempts = json::array();
        for (const auto& a : rows) {
            attempts.push_back({{"id", a["id"].as<std::string>()},
                                {"number", a["number"].as<int>()},
                                {"node", a["node"].as<std::string>()},
                                {"state", a["state"].as<std::string>()},
                                {"cause", text_or_null(a["cause"])},
                                {"exit_code", int_or_null(a["exit_code"])},
                                {"message", text_or_null(a["message"])},
                                {"created_at", a["created_at"].as<std::string>()},
                                {"ended_at", text_or_null(a["ended_at"])},
                                {"phases", json::parse(a["phases"].as<std::string>())}});
        }
        return json{{"task", task_json(t[0])}, {"attempts", attempts}};
    });
}

Result<json> TaskStore::log(std::int64_t id, std::int64_t after, int limit) {
    return db_.transact([&](pqxx::work& tx) {
        auto t = tx.exec_params("SELECT state FROM scheduler_tasks WHERE id = $1", id);
        if (t.empty()) {
            abort_with(not_found(id));
        }
        // The state is read first: an entry written after it still comes in this answer or
        // the next, so `ended` is never true while entries are missing.
        const bool ended = kEnded.count(t[0][0].as<std::string>()) > 0;
        auto rows = tx.exec_params("SELECT id, attempt_id, stream, data, " + iso("at") +
                                       " AS at FROM scheduler_task_logs WHERE task_id = $1 AND "
                                       "id > $2 ORDER BY id LIMIT $3",
                                   id, after, limit);
        json entries = json::array();
        std::int64_t next = after;
        for (const auto& e : rows) {
            next = e["id"].as<std::int64_t>();
            entries.push_back({{"id", next},
                               {"attempt_id", e["attempt_id"].as<std::string>()},
                               {"stream", e["stream"].as<std::string>()},
                               {"data", e["data"].as<std::string>()},
                               {"at", e["at"].as<std::string>()}});
        }
        const bool all_read = static_cast<int>(rows.size()) < limit;
        return json{{"entries", entries}, {"next", next}, {"ended", ended && all_read}};
    });
}

Result<std::pair<json, std::optional<NodeCommand>>> TaskStore::cancel(std::int64_t id,
                                                                      const std::string& user) {
    return transact_with_events(db_, events_, [&](pqxx::work& tx, EventBatch& events) {
        auto t = lock_task(tx, id);
        if (!t) {
            abort_with(not_found(id));
        }
        const auto state = (*t)["state"].as<std::string>();
        if (kEnded.count(state)) {
            abort_with(
                make_error(Errc::conflict, "task_ended",
                           "task " + std::to_string(id) + " has already ended (" + state + ")"));
        }
        events.add(event("task.cancel_requested", id, "user:" + user, {{"state", state}}));
        std::optional<NodeCommand> command;
        if (state == "queued") {
            tx.exec_params(
                "UPDATE scheduler_tasks SET state = 'cancelled', cause = 'cancelled', "
                "message = 'cancelled while queued', pending_reason = NULL, "
                "ended_at = now(), updated_at = now() WHERE id = $1",
                id);
            events.add(event("task.cancelled", id, kPlugin, {{"while", "queued"}}));
        } else {
            tx.exec_params(
                "UPDATE scheduler_tasks SET cancel_requested = true, "
                "updated_at = now() WHERE id = $1",
                id);
            const auto attempt = (*t)["attempt_id"].as<std::string>();
            command =
                NodeCommand{(*t)["node"].as<std::string>(),
                            "task.cancel",
                            {{"attempt_id", attempt}, {"reason", "cancelled"}, {"grace_s", 10}},
                            id,
                            attempt};
        }
        return std::make_pair(json{{"task", task_json(*lock_task(tx, id))}}, command);
    });
}

Result<void> TaskStore::cancel_undelivered(std::int64_t id, const std::string& attempt_id,
                                           const std::string& why) {
    return transact_with_events(db_, events_, [&](pqxx::work& tx, EventBatch& events) {
        auto t = lock_task(tx, id);
        if (!t || kEnded.count((*t)["state"].as<std::string>()) ||
            (*t)["attempt_id"].as<std::string>() != attempt_id) {
            return;
        }
        const std::string message = "cancelled; the node could not be told: " + why;
        tx.exec_params(
            "UPDATE scheduler_attempts SET state = 'cancelled', cause = 'cancelled', "
            "message = $2, ended_at = now() WHERE id = $1 AND ended_at IS NULL",
            attempt_id, message);
        tx.exec_params(
            "UPDATE scheduler_tasks SET state = 'cancelled', cause = 'cancelled', "
            "message = $2, ended_at = now(), updated_at = now() WHERE id = $1",
            id, message);
        events.add(event("task.cancelled", id, kPlugin,
                         {{"attempt_id", attempt_id}, {"node_unreachable", why}}));
    });
}

Result<json> TaskStore::retry(std::int64_t id, const std::string& user) {
    return transact_with_events(db_, events_, [&](pqxx::work& tx, EventBatch& events) {
        auto t = lock_task(tx, id);
        if (!t) {
            abort_with(not_found(id));
        }
        const auto state = (*t)["state"].as<std::string>();
        if (state != "failed" && state != "cancelled" && state != "lost") {
            abort_with(make_error(Errc::conflict, "task_not_ended",
                                  "only a failed, cancelled or lost task can be retried; task " +
                                      std::to_string(id) + " is " + state));
        }
        tx.exec_params(
            "UPDATE scheduler_tasks SET state = 'queued', cancel_requested = false, "
            "not_before = NULL, exit_code = NULL, cause = NULL, message = NULL, "
            "ended_at = NULL, updated_at = now() WHERE id = $1",
            id);
        events.add(event("task.retry_requested", id, "user:" + user, {{"from", state}}));
        return json{{"task", task_json(*lock_task(tx, id))}};
    });
}

namespace {

json assign_body(const std::string& attempt, std::int64_t task, const json& spec,
                 const std::vector<std::uint32_t>& gpus) {
    const auto& r = spec["resources"];
    return {{"attempt_id", attempt},
            {"task_id", std::to_string(task)},
            {"code_repo_url", spec["code_repo_url"]},
            {"code_commit_id", spec["code_commit_id"]},
            {"env_repo_url", spec["env_repo_url"]},
            {"env_commit_id", spec["env_commit_id"]},
            {"dockerfile_path", spec["dockerfile_path"]},
            {"command", spec["command"]},
            {"env", spec["env"]},
            {"resources",
             {{"cpu_millis", r["cpu_millis"]},
              {"memory_bytes", r["memory_bytes"]},
              {"gpu_indices", gpus}}},
            {"time_limit_s", spec["time_limit_s"]},
            // As submitted; the plugin swaps them for presigned URLs when it sends the command.
            {"inputs", spec.value("inputs", json::array())},
            {"outputs", spec.value("outputs", json::array())}};
}

// Ends the task's current attempt as the node (or the scheduler) says, and decides what
// follows: the task ends, or a retry is scheduled by the task's policy.
void end_attempt(pqxx::work& tx, EventBatch& events, const Policy& policy, const pqxx::row& task,
                 const std::string& attempt, const std::string& phase, const std::string& cause,
                 std::optional<long long> exit_code, const std::string& message) {
    const auto id = task["id"].as<std::int64_t>();
    exec_prepared(tx, "scheduler_end_attempt",
                  "UPDATE scheduler_attempts SET state = $2, cause = NULLIF($3, ''), "
                  "exit_code = $4, message = NULLIF($5, ''), ended_at = now() WHERE id = $1",
                  attempt, phase, cause, exit_code, message);

    const json retry = json::parse(task["retry"].as<std::string>());
    const int attempts = task["attempts"].as<int>();
    const int max_attempts = retry.value("max_attempts", 3);
    const bool cancelled = task["cancel_requested"].as<bool>();
    if (phase != "succeeded" && !cancelled && attempts < max_attempts &&
        retryable(cause, message, retry)) {
        auto delay = policy.retry_base_delay * (1 << std::min(attempts - 1, 16));
        delay = std::min(delay, policy.retry_max_delay);
        exec_prepared(tx, "scheduler_retry_later",
                      "UPDATE scheduler_tasks SET state = 'queued', node = NULL, "
                      "exit_code = $2, cause = NULLIF($3, ''), message = NULLIF($4, ''), "
                      "not_before = now() + make_interval(secs => $5), updated_at = now() "
                      "WHERE id = $1",
                      id, exit_code, cause, message, static_cast<double>(delay.count()));
        events.add(event("task.retry_scheduled", id, kPlugin,
                         {{"attempt_id", attempt},
                          {"cause", cause},
                          {"delay_s", delay.count()},
                          {"attempt", attempts},
                          {"max_attempts", max_attempts}}));
        return;
    }
    exec_prepared(tx, "scheduler_end_task",
                  "UPDATE scheduler_tasks SET state = $2, exit_code = $3, cause = NULLIF($4, ''), "
                  "message = NULLIF($5, ''), ended_at = now(), updated_at = now() WHERE id = $1",
                  id, phase, exit_code, cause, message);
    events.add(event("task.ended", id, kPlugin,
                     {{"attempt_id", attempt}, {"state", phase}, {"cause", cause}}));
}

// What the decisions about a task's attempt read: its current attempt, flags and retry policy.
pqxx::row lock_task_with_flags(pqxx::work& tx, std::int64_t id) {
    return exec_prepared(tx, "scheduler_lock_task",
                         "SELECT id, state, attempt_id, attempts, cancel_requested, "
                         "coalesce(spec->'retry', '{}'::jsonb)::text AS retry FROM scheduler_tasks "
                         "WHERE id = $1 "
                         "FOR UPDATE",
                         id)
        .at(0);
}

// An attempt whose node is gone or came back without it; only the current attempt decides the
// task's fate.
void lose_attempt(pqxx::work& tx, EventBatch& events, const Policy& policy,
                  const std::string& attempt, std::int64_t task_id, const std::string& node,
                  const std::string& message) {
    auto t = lock_task_with_flags(tx, task_id);
    events.add(event("task.lost", task_id, kPlugin,
                     {{"attempt_id", attempt}, {"node", node}, {"reason", message}}));
    if (t["attempt_id"].is_null() || t["attempt_id"].as<std::string>() != attempt) {
        tx.exec_params(
            "UPDATE scheduler_attempts SET state = 'lost', cause = 'lost', "
            "message = $2, ended_at = now() WHERE id = $1",
            attempt, message);
        return;
    }
    end_attempt(tx, events, policy, t, attempt, "lost", "lost", std::nullopt, message);
}

// Task ids as a PostgreSQL array literal: {1,2,3}.
std::string id_array(const std::vector<std::int64_t>& ids) {
    std::string out = "{";
    for (const auto id : ids) {
        out += (out.size() > 1 ? "," : "") + std::to_string(id);
    }
    return out + "}";
}

constexpr std::int64_t kQueueWindow = 500;

}  // namespace

Result<std::vector<NodeCommand>> TaskStore::dispatch(const std::string& instance, bool full) {
    return transact_with_events(db_, events_, [&](pqxx::work& tx, EventBatch& events) {
        std::vector<NodeState> nodes;
        std::map<std::string, std::size_t> index;
        for (const auto& r : exec_prepared(
                 tx, "scheduler_nodes",
                 "SELECT n.name, n.cpu_cores, n.memory_bytes, n.gpus::text, n.labels::text, "
                 "coalesce(s.slots, 0) FROM nodes n LEFT JOIN scheduler_node_slots s ON "
                 "s.node = n.name WHERE n.state = 'online' AND n.session_instance = $1 "
                 "ORDER BY n.name",
                 instance)) {
            NodeState n;
            n.name = r[0].as<std::string>();
            n.cpu_millis = r[1].as<std::uint64_t>() * 1000;
            n.memory_bytes = r[2].as<std::uint64_t>();
            for (const auto& g : json::parse(r[3].as<std::string>())) {
                n.gpus.push_back({g.value("index", 0u), g.value("model", "")});
            }
            n.labels =
                json::parse(r[4].as<std::string>()).get<std::map<std::string, std::string>>();
            n.slots = r[5].as<std::uint32_t>();
            index[n.name] = nodes.size();
            nodes.push_back(std::move(n));
        }

        // What the attempts still running use, summed per node and project in the database.
        std::map<std::string, int> active_per_project;
        for (const auto& r : exec_prepared(
                 tx, "scheduler_in_use",
                 "SELECT a.node, t.project, count(*), sum(t.cpu_millis), "
                 "sum(t.memory_bytes), string_agg(a.gpus::text, ',') FILTER (WHERE "
                 "a.gpus <> '[]'::jsonb) FROM scheduler_attempts a JOIN scheduler_tasks t "
                 "ON t.id = a.task_id WHERE a.ended_at IS NULL GROUP BY a.node, t.project")) {
            const auto count = r[2].as<std::uint32_t>();
            active_per_project[r[1].as<std::string>()] += static_cast<int>(count);
            auto it = index.find(r[0].as<std::string>());
            if (it == index.end()) {
                continue;
            }
            auto& n = nodes[it->second];
            n.active += count;
            n.used_cpu_millis += r[3].as<std::uint64_t>();
            n.used_memory_bytes += r[4].as<std::uint64_t>();
            if (!r[5].is_null()) {
                for (const auto& g : json::parse("[" + r[5].as<std::string>() + "]")) {
                    for (const auto& i : g) {
                        n.used_gpus.push_back(i.get<std::uint32_t>());
                    }
                }
            }
        }

        // How much of the queue to look at. A full pass looks at the first kQueueWindow tasks
        // and gives each left queued its pending reason; a quick one only needs enough
        // candidates for the room there is (a few times more, for fair share and fit).
        // TODO: a quick pass sees only the head of the queue; when the head cannot run
        // anywhere, runnable tasks behind it wait for the next full pass (a second at most).
        std::int64_t window = kQueueWindow;
        if (!full) {
            std::int64_t room = 0;
            for (const auto& n : nodes) {
                room += n.slots == 0 ? kQueueWindow
                                     : std::max<std::int64_t>(0, std::int64_t{n.slots} - n.active);
            }
            window = std::min<std::int64_t>(kQueueWindow, room * 4);
            if (window == 0) {
                return std::vector<NodeCommand>{};
            }
        }

        // Read without locks; the placements below take only the rows they place, and a row
        // another instance placed meanwhile is no longer queued and is skipped.
        std::vector<QueuedTask> queued;
        std::map<std::int64_t, std::string> reason_now;
        for (const auto& r : exec_prepared(tx, "scheduler_queued",
                                           "SELECT * FROM scheduler_queue_head($1)", window)) {
            QueuedTask t{r[0].as<std::int64_t>(), r[1].as<std::string>(), r[2].as<int>(), {}};
            t.needs.cpu_millis = r[3].as<std::uint64_t>();
            t.needs.memory_bytes = r[4].as<std::uint64_t>();
            t.needs.gpu_count = r[5].as<std::uint32_t>();
            t.needs.gpu_model = r[6].as<std::string>();
            if (!r[7].is_null()) {
                t.needs.labels =
                    json::parse(r[7].as<std::string>()).get<std::map<std::string, std::string>>();
            }
            reason_now[t.id] = r[8].is_null() ? std::string() : r[8].as<std::string>();
            queued.push_back(std::move(t));
        }
        if (queued.empty()) {
            return std::vector<NodeCommand>{};
        }

        auto p = plan(queued, nodes, active_per_project);
        std::vector<NodeCommand> commands;
        if (!p.placements.empty()) {
            json node_of = json::object();
            std::map<std::int64_t, const Placement*> by_task;
            std::vector<std::int64_t> ids;
            for (const auto& placement : p.placements) {
                node_of[std::to_string(placement.task_id)] = placement.node;
                by_task[placement.task_id] = &placement;
                ids.push_back(placement.task_id);
            }
            // The attempt id is made here as everywhere: t<task>-a<number>. The rows are found
            // by `id = ANY(array)`, which always takes the primary key, whatever the plan
            // thinks of the number of placements.
            auto placed = exec_prepared(
                tx, "scheduler_place",
                "UPDATE scheduler_tasks t SET attempts = t.attempts + 1, state = 'assigned', "
                "attempt_id = 't' || t.id || '-a' || (t.attempts + 1), "
                "node = $1::jsonb->>(t.id::text), pending_reason = NULL, not_before = NULL, "
                "updated_at = now() WHERE t.id = ANY($2::bigint[]) AND t.state = 'queued' "
                "RETURNING t.id, t.attempts, t.attempt_id, t.spec::text",
                node_of.dump(), id_array(ids));
            json attempts = json::array();
            for (const auto& r : placed) {
                const auto id = r[0].as<std::int64_t>();
                const auto attempt = r[2].as<std::string>();
                const auto& placement = *by_task.at(id);
                attempts.push_back({{"id", attempt},
                                    {"task", id},
                                    {"number", r[1].as<int>()},
                                    {"node", placement.node},
                                    {"gpus", placement.gpus}});
                events.add(event("task.assigned", id, kPlugin,
                                 {{"attempt_id", attempt},
                                  {"node", placement.node},
                                  {"gpu_indices", placement.gpus}}));
                commands.push_back(
                    {placement.node, "task.assign",
                     assign_body(attempt, id, json::parse(r[3].as<std::string>()), placement.gpus),
                     id, attempt});
            }
            if (!attempts.empty()) {
                exec_prepared(
                    tx, "scheduler_new_attempts",
                    "INSERT INTO scheduler_attempts (id, task_id, number, node, state, gpus, "
                    "phases) SELECT v.id, v.task, v.number, v.node, 'assigned', v.gpus, "
                    "jsonb_build_array(jsonb_build_object('phase', 'assigned', 'at', " +
                        iso("now()") +
                        ")) FROM jsonb_to_recordset($1::jsonb) AS v(id text, task bigint, "
                        "number integer, node text, gpus jsonb)",
                    attempts.dump());
            }
        }
        // A full pass writes the reasons that changed: most passes change none.
        json reasons = json::object();
        std::vector<std::int64_t> changed;
        for (const auto& [id, reason] : p.pending) {
            if (full && reason_now.at(id) != reason) {
                reasons[std::to_string(id)] = reason;
                changed.push_back(id);
            }
        }
        if (!changed.empty()) {
            exec_prepared(tx, "scheduler_pending",
                          "UPDATE scheduler_tasks t SET pending_reason = $1::jsonb->>(t.id::text) "
                          "WHERE t.id = ANY($2::bigint[]) AND t.state = 'queued'",
                          reasons.dump(), id_array(changed));
        }
        return commands;
    });
}

Result<void> TaskStore::undelivered(const NodeCommand& c, const std::string& why) {
    return transact_with_events(db_, events_, [&](pqxx::work& tx, EventBatch& events) {
        auto t = lock_task_with_flags(tx, c.task_id);
        if (t["attempt_id"].is_null() || t["attempt_id"].as<std::string>() != c.attempt_id ||
            t["state"].as<std::string>() != "assigned") {
            return;
        }
        tx.exec_params(
            "UPDATE scheduler_attempts SET state = 'undelivered', message = $2, "
            "ended_at = now() WHERE id = $1",
            c.attempt_id, why);
        // Not again at once: a node whose session just ended may still look online for a
        // moment, and each try costs an attempt.
        tx.exec_params(
            "UPDATE scheduler_tasks SET state = 'queued', node = NULL, "
            "not_before = now() + interval '2 seconds', updated_at = now() WHERE id = $1",
            c.task_id);
        events.add(event("task.requeued", c.task_id, kPlugin,
                         {{"attempt_id", c.attempt_id}, {"reason", why}}));
    });
}

Result<void> TaskStore::fail_unsendable(const NodeCommand& c, const std::string& cause,
                                        const std::string& why) {
    return transact_with_events(db_, events_, [&](pqxx::work& tx, EventBatch& events) {
        auto t = lock_task_with_flags(tx, c.task_id);
        if (t["attempt_id"].is_null() || t["attempt_id"].as<std::string>() != c.attempt_id ||
            t["state"].as<std::string>() != "assigned") {
            return;
        }
        // The node never heard of it, so the log says why, as the agent's would.
        tx.exec_params(
            "WITH a AS (UPDATE scheduler_attempts SET last_seq = last_seq + 1 WHERE id = $2 "
            "RETURNING last_seq) INSERT INTO scheduler_task_logs (task_id, attempt_id, seq, "
            "stream, data) SELECT $1, $2, a.last_seq, 'agent', $3 FROM a",
            c.task_id, c.attempt_id, "attempt failed (" + cause + "): " + why + "\n");
        end_attempt(tx, events, policy_, t, c.attempt_id, "failed", cause, std::nullopt, why);
    });
}

Result<std::vector<NodeCommand>> TaskStore::expire() {
    return transact_with_events(db_, events_, [&](pqxx::work& tx, EventBatch& events) {
        std::vector<NodeCommand> commands;
        // Assigned but never accepted: back to the queue; the node is told to drop it.
        for (const auto& r : tx.exec_params(
                 "SELECT a.id, a.task_id, a.node FROM scheduler_attempts a JOIN scheduler_tasks t "
                 "ON t.id = a.task_id AND t.attempt_id = a.id WHERE a.ended_at IS NULL AND "
                 "a.state = 'assigned' AND a.created_at < now() - make_interval(secs => $1) "
                 "FOR UPDATE OF a, t SKIP LOCKED",
                 static_cast<double>(policy_.accept_timeout.count()))) {
            const auto attempt = r[0].as<std::string>();
            const auto task = r[1].as<std::int64_t>();
            tx.exec_params(
                "UPDATE scheduler_attempts SET state = 'expired', message = "
                "'not accepted in time', ended_at = now() WHERE id = $1",
                attempt);
            tx.exec_params(
                "UPDATE scheduler_tasks SET state = 'queued', node = NULL, "
                "updated_at = now() WHERE id = $1",
                task);
            events.add(event("task.dispatch_timed_out", task, kPlugin,
                             {{"attempt_id", attempt},
                              {"node", r[2].as<std::string>()},
                              {"timeout_s", policy_.accept_timeout.count()}}));
            commands.push_back({r[2].as<std::string>(),
                                "task.cancel",
                                {{"attempt_id", attempt}, {"reason", "stale"}, {"grace_s", 10}},
                                task,
                                attempt});
        }

        // The node has been away past the grace: the attempt is lost.
        for (const auto& r : tx.exec_params(
                 "SELECT a.id, a.task_id, a.node FROM scheduler_attempts a JOIN nodes n ON "
                 "n.name = a.node WHERE a.ended_at IS NULL AND n.state = 'offline' AND "
                 "n.offline_at < now() - make_interval(secs => $1) FOR UPDATE OF a SKIP LOCKED",
                 static_cast<double>(policy_.lost_grace.count()))) {
            const auto node = r[2].as<std::string>();
            lose_attempt(tx, events, policy_, r[0].as<std::string>(), r[1].as<std::int64_t>(), node,
                         "the node " + node + " stayed away for more than " +
                             std::to_string(policy_.lost_grace.count()) + " s");
        }
        return commands;
    });
}

namespace {

// One task.status or task.log from a node, inside the caller's transaction.
// TODO: each report is at least one statement and a final one four; folding the reports of
// one attempt that arrive together into one statement would cut the database's work per task.
Result<std::vector<NodeCommand>> record_one(pqxx::work& tx, EventBatch& events,
                                            const Policy& policy, const std::string& node,
                                            const std::string& type, const json& body) {
    std::vector<NodeCommand> commands;
    const auto attempt = body.value("attempt_id", "");
    const auto seq = body.value("seq", 0ll);
    const bool status = type != "task.log";
    const auto phase = body.value("phase", "");
    const bool active_phase = status && kActive.count(phase) > 0;

    // One statement records what every report changes on its attempt, and only when the
    // report is the next one: a report sent again has a seq already stored, and one after a
    // report that could not be stored must wait for it (the node's acknowledgements are
    // cumulative, so storing it would lose the one before).
    auto a = exec_prepared(
        tx, "scheduler_report",
        "WITH a AS (UPDATE scheduler_attempts SET last_seq = $2, "
        "phases = CASE WHEN $3 THEN phases || jsonb_build_array(jsonb_build_object("
        "'phase', $4::text, 'at', $5::text)) ELSE phases END, "
        "state = CASE WHEN $6 AND ended_at IS NULL THEN $4 ELSE state END, "
        "log_until = coalesce($7, log_until) "
        "WHERE id = $1 AND last_seq = $2 - 1 RETURNING task_id, ended_at IS NOT NULL AS ended), "
        // An active phase moves the task along, when this attempt is still its current one.
        "t AS (UPDATE scheduler_tasks k SET state = $4, started_at = CASE WHEN $4 = 'running' "
        "AND k.started_at IS NULL THEN now() ELSE k.started_at END, updated_at = now() "
        "FROM a WHERE $6 AND NOT a.ended AND k.id = a.task_id AND k.attempt_id = $1 "
        "RETURNING k.id) "
        "SELECT a.task_id, a.ended, EXISTS (SELECT 1 FROM t) AS followed FROM a",
        attempt, seq, status, phase, body.value("at", ""), active_phase,
        !status && body.contains("until") ? std::optional<std::string>(body.value("until", ""))
                                          : std::nullopt);
    if (a.empty()) {
        auto known =
            tx.exec_params("SELECT last_seq FROM scheduler_attempts WHERE id = $1", attempt);
        if (known.empty()) {
            // Not ours (another installation, or long forgotten): the node should drop it.
            commands.push_back({node,
                                "task.cancel",
                                {{"attempt_id", attempt}, {"reason", "stale"}, {"grace_s", 10}}});
        } else if (const auto last = known[0][0].as<long long>(); seq > last + 1) {
            return make_error(Errc::conflict, "report_out_of_order",
                              "report " + std::to_string(seq) + " of " + attempt +
                                  " came before report " + std::to_string(last + 1));
        }
        return commands;  // otherwise sent again; stored before
    }
    const auto task_id = a[0]["task_id"].as<std::int64_t>();
    const bool attempt_ended = a[0]["ended"].as<bool>();

    if (!status) {
        exec_prepared(tx, "scheduler_log",
                      "INSERT INTO scheduler_task_logs (task_id, attempt_id, seq, stream, "
                      "data) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                      task_id, attempt, seq, body.value("stream", "stdout"),
                      body.value("data", ""));
        return commands;
    }

    // A status: always a fact on the bus.
    const auto cause = body.value("cause", "");
    const auto message = body.value("message", "");
    std::optional<long long> exit_code;
    if (body.contains("exit_code")) {
        exit_code = body["exit_code"].get<long long>();
    }
    json fact = {{"attempt_id", attempt}, {"phase", phase}, {"seq", seq}, {"node", node}};
    if (!cause.empty()) {
        fact["cause"] = cause;
    }
    if (exit_code) {
        fact["exit_code"] = *exit_code;
    }
    events.add(event("task.reported", task_id, "node:" + node, fact));

    const bool final = phase == "succeeded" || phase == "failed" || phase == "cancelled";
    auto stale = [&] {
        // A replaced attempt still running somewhere: recorded, and stopped.
        events.add(event("task.stale_report", task_id, kPlugin,
                         {{"attempt_id", attempt}, {"phase", phase}, {"node", node}}));
        if (!final) {
            commands.push_back({node,
                                "task.cancel",
                                {{"attempt_id", attempt}, {"reason", "stale"}, {"grace_s", 10}},
                                task_id,
                                attempt});
        }
    };
    if (attempt_ended) {
        stale();
        return commands;
    }
    if (active_phase) {
        // The common report: the statement above moved the task, unless it has another attempt.
        if (!a[0]["followed"].as<bool>()) {
            stale();
        }
        return commands;
    }

    auto t = lock_task_with_flags(tx, task_id);
    if (t["attempt_id"].is_null() || t["attempt_id"].as<std::string>() != attempt) {
        stale();
        return commands;
    }
    if (phase == "rejected") {
        // The node could not take it (slots full, refused command): queue it again.
        tx.exec_params(
            "UPDATE scheduler_attempts SET state = 'rejected', message = $2, "
            "ended_at = now() WHERE id = $1",
            attempt, message);
        tx.exec_params(
            "UPDATE scheduler_tasks SET state = 'queued', node = NULL, "
            "not_before = now() + interval '2 seconds', updated_at = now() "
            "WHERE id = $1",
            task_id);
        events.add(event("task.requeued", task_id, kPlugin,
                         {{"attempt_id", attempt}, {"reason", message}}));
    } else if (final) {
        end_attempt(tx, events, policy, t, attempt, phase, cause, exit_code, message);
    }
    return commands;
}

}  // namespace

Result<std::vector<NodeCommand>> TaskStore::record_report(const std::string& node,
                                                          const std::string& type,
                                                          const json& body) {
    const NodeReport one{node, 0, type, body};
    auto r = record_reports(std::span<const NodeReport>(&one, 1));
    if (!r) {
        return r.error();
    }
    return std::move(r->front());
}

Result<std::vector<Result<std::vector<NodeCommand>>>> TaskStore::record_reports(
    std::span<const NodeReport> reports) {
    return transact_with_events(db_, events_, [&](pqxx::work& tx, EventBatch& events) {
        std::vector<Result<std::vector<NodeCommand>>> out;
        for (const auto& r : reports) {
            out.push_back(record_one(tx, events, policy_, r.node_name, r.type, r.body));
        }
        return out;
    });
}

Result<std::vector<NodeCommand>> TaskStore::node_registered(const std::string& node,
                                                            const json& running,
                                                            std::uint32_t slots) {
    return transact_with_events(db_, events_, [&](pqxx::work& tx, EventBatch& events) {
        std::vector<NodeCommand> commands;
        tx.exec_params(
            "INSERT INTO scheduler_node_slots (node, slots) VALUES ($1, $2) "
            "ON CONFLICT (node) DO UPDATE SET slots = EXCLUDED.slots",
            node, slots);
        std::set<std::string> held;
        for (const auto& r : running) {
            held.insert(r.value("attempt_id", ""));
        }

        for (const auto& id : held) {
            auto a = tx.exec_params(
                "SELECT a.task_id, a.last_seq, a.log_until, t.attempt_id = "
                "a.id AND a.ended_at IS NULL AND a.node = $2 AS ours FROM "
                "scheduler_attempts a JOIN scheduler_tasks t ON t.id = "
                "a.task_id WHERE a.id = $1 FOR UPDATE OF a",
                id, node);
            if (a.empty() || !a[0]["ours"].as<bool>()) {
                // Replaced (lost, or ended) while its node was away: recorded, and stopped.
                if (!a.empty()) {
                    events.add(event("task.stale_report", a[0]["task_id"].as<std::int64_t>(),
                                     kPlugin,
                                     {{"attempt_id", id}, {"phase", "running"}, {"node", node}}));
                }
                commands.push_back({node,
                                    "task.cancel",
                                    {{"attempt_id", id}, {"reason", "stale"}, {"grace_s", 10}}});
                continue;
            }
            const auto task = a[0]["task_id"].as<std::int64_t>();
            events.add(event("task.resumed", task, kPlugin, {{"attempt_id", id}, {"node", node}}));
            commands.push_back({node,
                                "task.resume",
                                {{"attempt_id", id},
                                 {"seq", a[0]["last_seq"].as<long long>()},
                                 {"logs_after", a[0]["log_until"].as<std::string>()}},
                                task,
                                id});
        }

        // What we think runs there but the node does not hold any more is gone. Attempts
        // assigned after this registration (the dispatcher may already have sent one on the
        // new session) are not in its list and are left alone.
        for (const auto& r : tx.exec_params("SELECT a.id, a.task_id FROM scheduler_attempts a "
                                            "JOIN nodes n ON n.name = a.node WHERE a.node = $1 "
                                            "AND a.ended_at IS NULL AND a.created_at < "
                                            "n.connected_at FOR UPDATE OF a",
                                            node)) {
            const auto id = r[0].as<std::string>();
            if (held.count(id)) {
                continue;
            }
            lose_attempt(tx, events, policy_, id, r[1].as<std::int64_t>(), node,
                         "the node " + node + " came back without this attempt");
        }
        return commands;
    });
}

}  // namespace unidesk::scheduler
