// The scheduler plugin: the task queue in PostgreSQL, its REST API, the dispatcher that places
// queued tasks on online nodes and sends them over the provider link, and the handler of the
// nodes' task reports. docs/reference/rest-api.md (Tasks) and events.md (task.*) describe it.
//
// Threads: REST handlers and the report handler run on kernel workers (a log follower on a
// stream thread of the kernel's, so that waiting holds no worker); one dispatcher thread
// of the plugin's own runs the dispatch and expiry passes every `dispatch_interval_ms`, or at
// once when a task is submitted, retried or reported. The report handler stores the reports
// of a node that arrived together in one transaction. stop() removes the report handler
// (waiting for the calls in it) and ends the dispatcher thread before it returns.

#include "crypto.hpp"
#include "task_spec.hpp"
#include "task_storage.hpp"
#include "task_store.hpp"

#include <unidesk/plugin.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <span>
#include <thread>

namespace unidesk::scheduler {
namespace {

using nlohmann::json;

const std::string kSchema = R"sql(
CREATE TABLE scheduler_tasks (
    id bigserial PRIMARY KEY,
    state text NOT NULL,
    project text NOT NULL,
    priority integer NOT NULL,
    spec jsonb NOT NULL,
    submitted_by text NOT NULL,
    attempt_id text,
    attempts integer NOT NULL DEFAULT 0,
    node text,
    pending_reason text,
    exit_code bigint,
    cause text,
    message text,
    cancel_requested boolean NOT NULL DEFAULT false,
    not_before timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    ended_at timestamptz
);
CREATE INDEX scheduler_tasks_queued ON scheduler_tasks (priority DESC, id) WHERE state = 'queued';
CREATE INDEX scheduler_tasks_project ON scheduler_tasks (project, id);
CREATE TABLE scheduler_attempts (
    id text PRIMARY KEY,
    task_id bigint NOT NULL REFERENCES scheduler_tasks (id),
    number integer NOT NULL,
    node text NOT NULL,
    state text NOT NULL,
    gpus jsonb NOT NULL DEFAULT '[]'::jsonb,
    cause text,
    exit_code bigint,
    message text,
    last_seq bigint NOT NULL DEFAULT 0,
    log_until text NOT NULL DEFAULT '',
    phases jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz
);
CREATE INDEX scheduler_attempts_active ON scheduler_attempts (node) WHERE ended_at IS NULL;
CREATE INDEX scheduler_attempts_task ON scheduler_attempts (task_id);
CREATE TABLE scheduler_task_logs (
    id bigserial PRIMARY KEY,
    task_id bigint NOT NULL REFERENCES scheduler_tasks (id),
    attempt_id text NOT NULL,
    seq bigint NOT NULL,
    stream text NOT NULL,
    data text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (attempt_id, seq)
);
CREATE INDEX scheduler_task_logs_task ON scheduler_task_logs (task_id, id);
)sql";

// Matching reads these for hundreds of queued tasks a pass, so they are not parsed out of the
// spec each time; the database keeps them in step with it.
const std::string kNeedsColumns = R"sql(
ALTER TABLE scheduler_tasks
    ADD COLUMN cpu_millis bigint NOT NULL
        GENERATED ALWAYS AS (coalesce((spec->'resources'->>'cpu_millis')::bigint, 0)) STORED,
    ADD COLUMN memory_bytes bigint NOT NULL
        GENERATED ALWAYS AS (coalesce((spec->'resources'->>'memory_bytes')::bigint, 0)) STORED,
    ADD COLUMN gpu_count integer NOT NULL
        GENERATED ALWAYS AS (coalesce((spec->'resources'->>'gpu_count')::integer, 0)) STORED,
    ADD COLUMN gpu_model text NOT NULL
        GENERATED ALWAYS AS (coalesce(spec->'resources'->>'gpu_model', '')) STORED,
    ADD COLUMN labels text
        GENERATED ALWAYS AS (nullif((spec->'resources'->'labels')::text, '{}')) STORED;
)sql";

// The head of the queue, read in the order of its index and no further than the limit. Right
// after a burst of submissions the table's statistics still say the queue is short, and the
// planner would rather fetch every queued row (or the whole table) and sort them all: a cost
// that grows with the queue, paid on every dispatch pass. The settings hold inside the
// function only.
const std::string kQueueHead = R"sql(
CREATE FUNCTION scheduler_queue_head(p_limit bigint)
RETURNS TABLE (id bigint, project text, priority integer, cpu_millis bigint,
               memory_bytes bigint, gpu_count integer, gpu_model text, labels text,
               pending_reason text)
LANGUAGE sql STABLE
SET enable_bitmapscan = off
SET enable_seqscan = off
AS $$
    SELECT t.id, t.project, t.priority, t.cpu_millis, t.memory_bytes, t.gpu_count,
           t.gpu_model, t.labels, t.pending_reason
    FROM scheduler_tasks t
    WHERE t.state = 'queued' AND (t.not_before IS NULL OR t.not_before <= now())
    ORDER BY t.priority DESC, t.id
    LIMIT p_limit
$$;
)sql";

// Secrets every kernel instance must share and a restart must keep: the key of the output
// capability URLs, made once here (gen_random_uuid draws from a strong random source).
const std::string kSecrets = R"sql(
CREATE TABLE scheduler_secrets (name text PRIMARY KEY, value text NOT NULL);
INSERT INTO scheduler_secrets (name, value)
    VALUES ('capability', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));
)sql";

const PluginDescriptor& describe() {
    static const PluginDescriptor d{
        .name = "scheduler",
        .kind = PluginKind::scheduler,
        .version = "0.1.0",
        .description =
            "Queues tasks in PostgreSQL, places them on online nodes and follows "
            "them to their end.",
        .config =
            {{"dispatch_interval_ms", ConfigType::integer, 500,
              "How often queued tasks are matched to nodes when nothing else wakes the "
              "dispatcher (a submit, a retry or a report from a node wakes it at once)."},
             {"accept_timeout_s", ConfigType::integer, 30,
              "A node that has not accepted an assigned attempt within this many seconds gets "
              "it taken back; the task is queued again."},
             {"lost_grace_s", ConfigType::integer, 600,
              "How long the attempts of a node that went offline wait for it to come back and "
              "report them before they are lost (and retried by their policy)."},
             {"retry_base_delay_s", ConfigType::integer, 5,
              "Delay before the first automatic retry; it doubles with each attempt."},
             {"retry_max_delay_s", ConfigType::integer, 300,
              "The longest delay between automatic retries."},
             {"public_url", ConfigType::string, "",
              "Base URL at which nodes reach the public listener; a task's outputs are "
              "uploaded through a capability URL starting with it."},
             {"capability_secret", ConfigType::string, "",
              "Key of the HMAC that signs output capability URLs, the same on every kernel "
              "instance; empty: one made by the first start and kept in the database."},
             {"storage_url_margin_s", ConfigType::integer, 3600,
              "Presigned URLs of a task live its time limit plus this many seconds (a task "
              "without a limit: a day plus this)."}},
        .migrations = {{1, "create tasks, attempts and logs", kSchema},
                       {2, "record the task slots of each node",
                        "CREATE TABLE scheduler_node_slots (node text PRIMARY KEY, "
                        "slots integer NOT NULL)"},
                       {3, "keep a task's needs in columns of their own", kNeedsColumns},
                       {4, "read the head of the queue in index order", kQueueHead},
                       {5, "keep the output capability secret", kSecrets}},
    };
    return d;
}

std::optional<std::int64_t> parse_id(const std::string& s) {
    if (s.empty() || s.size() > 18 ||
        !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return std::nullopt;
    }
    return std::stoll(s);
}

HttpResponse bad_id(const std::string& s) {
    return HttpResponse::error(
        make_error(Errc::not_found, "task_not_found", "no task '" + s.substr(0, 40) + "'"));
}

template <class T>
HttpResponse answer(const Result<T>& r, int status = 200) {
    if (!r) {
        return HttpResponse::error(r.error());
    }
    return HttpResponse::json(*r, status);
}

class Scheduler final : public Plugin {
public:
    Result<void> start(KernelContext& ctx) override {
        ctx_ = &ctx;
        log_ = ctx.logger();
        const auto& c = ctx.config();
        interval_ =
            std::chrono::milliseconds(std::max<std::int64_t>(10, c["dispatch_interval_ms"]));
        Policy policy{std::chrono::seconds(c["accept_timeout_s"].get<std::int64_t>()),
                      std::chrono::seconds(c["lost_grace_s"].get<std::int64_t>()),
                      std::chrono::seconds(c["retry_base_delay_s"].get<std::int64_t>()),
                      std::chrono::seconds(c["retry_max_delay_s"].get<std::int64_t>())};
        store_.emplace(ctx.database(), ctx.events(), policy);
        TaskStorageOptions storage_options;
        storage_options.public_url = c["public_url"].get<std::string>();
        storage_options.secret = c["capability_secret"].get<std::string>();
        storage_options.margin =
            std::chrono::seconds(c["storage_url_margin_s"].get<std::int64_t>());
        storage_.emplace(ctx, storage_options);

        if (auto r = add_routes(); !r) {
            return r.error();
        }
        if (auto r = storage_->add_routes(ctx.router()); !r) {
            return r.error();
        }
        if (ProviderLink* link = ctx.provider_link()) {
            link->set_report_handler(
                [this](const std::vector<NodeReport>& r) { return on_reports(r); });
        } else {
            log_->warn(
                "scheduler has no provider link reason=\"the kernel runs none\" "
                "tasks=\"stay queued\"");
        }
        dispatcher_ = std::thread([this] { dispatch_loop(); });
        log_->info("scheduler started instance={} dispatch_interval_ms={}", ctx.instance_name(),
                   interval_.count());
        return {};
    }

    void stop() override {
        if (ctx_ && ctx_->provider_link()) {
            ctx_->provider_link()->set_report_handler({});
        }
        {
            std::lock_guard lock(mu_);
            stopping_ = true;
        }
        wake_.notify_all();
        if (dispatcher_.joinable()) {
            dispatcher_.join();
        }
    }

    HealthReport health() override {
        std::lock_guard lock(mu_);
        if (!last_error_.empty()) {
            return {HealthState::degraded, "dispatching failed: " + last_error_};
        }
        return {HealthState::ok, {}};
    }

private:
    Result<void> add_routes() {
        auto& router = ctx_->router();
        const RouteOptions member{.min_role = Role::member};
        std::vector<std::tuple<std::string, std::string, HttpHandler, RouteOptions>> routes = {
            {"POST", "/v1/tasks", [this](const HttpRequest& r) { return submit(r); }, member},
            {"GET", "/v1/tasks", [this](const HttpRequest& r) { return list(r); }, {}},
            {"GET", "/v1/tasks/{id}", [this](const HttpRequest& r) { return show(r); }, {}},
            {"POST", "/v1/tasks/{id}/cancel", [this](const HttpRequest& r) { return cancel(r); },
             member},
            {"POST", "/v1/tasks/{id}/retry", [this](const HttpRequest& r) { return retry(r); },
             member},
        };
        for (auto& [method, pattern, handler, options] : routes) {
            if (auto r = router.add_route(Listener::internal, method, pattern, handler, options);
                !r) {
                return r.error();
            }
        }
        // Following a log waits up to wait_s seconds: on a thread of its own, as a stream
        // route, so that followers (every open task page in a browser) hold no kernel worker.
        return router.add_stream_route(
            Listener::internal, "GET", "/v1/tasks/{id}/log",
            [this](const HttpRequest& r, BodyReader&, ResponseStream& out) { return log(r, out); });
    }

    HttpResponse submit(const HttpRequest& req) {
        auto body = json_object_body(req);
        if (!body) {
            return HttpResponse::error(body.error());
        }
        auto spec = normalize_spec(*body);
        if (!spec) {
            return HttpResponse::error(spec.error());
        }
        auto r = store_->submit(*spec, req.principal->name);
        if (r) {
            log_->info("task submitted task={} user={} project={}",
                       (*r)["task"]["id"].get<long long>(), req.principal->name,
                       (*spec)["project"].get<std::string>());
            poke();
        }
        return answer(r, 201);
    }

    HttpResponse list(const HttpRequest& req) {
        ListFilter f;
        auto q = [&](const char* name) {
            const auto* v = req.query_param(name);
            return v ? *v : std::string();
        };
        f.state = q("state");
        f.project = q("project");
        f.node = q("node");
        if (!q("limit").empty()) {
            auto n = parse_id(q("limit"));
            if (!n || *n < 1 || *n > 500) {
                return HttpResponse::error(make_error(Errc::invalid_argument, "invalid_request",
                                                      "limit must be from 1 to 500"));
            }
            f.limit = static_cast<int>(*n);
        }
        if (!q("before").empty()) {
            f.before = parse_id(q("before"));
            if (!f.before) {
                return HttpResponse::error(make_error(Errc::invalid_argument, "invalid_request",
                                                      "before must be a task id"));
            }
        }
        return answer(store_->list(f));
    }

    HttpResponse show(const HttpRequest& req) {
        auto id = parse_id(req.params.at("id"));
        return id ? answer(store_->show(*id)) : bad_id(req.params.at("id"));
    }

    HttpResponse log(const HttpRequest& req, const ResponseStream& out) {
        auto id = parse_id(req.params.at("id"));
        if (!id) {
            return bad_id(req.params.at("id"));
        }
        std::int64_t after = 0;
        std::int64_t wait_s = 0;
        if (const auto* a = req.query_param("after")) {
            auto v = parse_id(*a);
            if (!v) {
                return HttpResponse::error(make_error(Errc::invalid_argument, "invalid_request",
                                                      "after must be a log entry id"));
            }
            after = *v;
        }
        if (const auto* w = req.query_param("wait_s")) {
            wait_s = std::min<std::int64_t>(parse_id(*w).value_or(0), 30);
        }
        // Waiting polls the table: entries are written by other threads and instances.
        // TODO: each follower polls the table five times a second on a thread of its own; a
        // notification when entries are stored would spare both.
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(wait_s);
        while (true) {
            auto r = store_->log(*id, after, 1000);
            if (!r || !(*r)["entries"].empty() || (*r)["ended"].get<bool>() ||
                std::chrono::steady_clock::now() >= until || stopping() || !out.open()) {
                return answer(r);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
    }

    HttpResponse cancel(const HttpRequest& req) {
        auto id = parse_id(req.params.at("id"));
        if (!id) {
            return bad_id(req.params.at("id"));
        }
        auto r = store_->cancel(*id, req.principal->name);
        if (!r) {
            return HttpResponse::error(r.error());
        }
        auto [body, command] = *r;
        if (command) {
            send_commands({*command});
            if (auto again = store_->show(*id)) {
                body["task"] = (*again)["task"];
            }
        }
        log_->info("task cancel requested task={} user={}", *id, req.principal->name);
        return HttpResponse::json(body, 202);
    }

    HttpResponse retry(const HttpRequest& req) {
        auto id = parse_id(req.params.at("id"));
        if (!id) {
            return bad_id(req.params.at("id"));
        }
        auto r = store_->retry(*id, req.principal->name);
        if (r) {
            poke();
        }
        return answer(r, 201);
    }

    // ---- node reports (kernel workers) ----

    // The reports of one node session that arrived together: the task reports among them
    // are stored in one transaction (each on its own if that fails, so that only a report
    // that cannot be stored stays unacknowledged).
    std::vector<Result<void>> on_reports(const std::vector<NodeReport>& reports) {
        std::vector<Result<void>> out;
        out.reserve(reports.size());
        std::size_t i = 0;
        while (i < reports.size()) {
            if (reports[i].type == "register.running") {
                const auto& r = reports[i++];
                out.push_back(followed_up(
                    r, store_->node_registered(r.node_name, r.body.value("running", json::array()),
                                               r.body.value("task_slots", 0u))));
                continue;
            }
            std::size_t end = i;
            while (end < reports.size() && reports[end].type != "register.running") {
                ++end;
            }
            const std::span<const NodeReport> in(reports.data() + i, end - i);
            auto all = store_->record_reports(in);
            auto stored = [&](const NodeReport& r,
                              std::size_t k) -> Result<std::vector<NodeCommand>> {
                if (all) {
                    return std::move((*all)[k]);
                }
                if (in.size() == 1) {
                    return all.error();
                }
                // One report the transaction could not take spoils it for all: each on its own.
                return store_->record_report(r.node_name, r.type, r.body);
            };
            for (std::size_t k = i; k < end; ++k) {
                out.push_back(followed_up(reports[k], stored(reports[k], k - i)));
            }
            i = end;
        }
        return out;
    }

    // What follows a report once it is stored: the commands it led to, the log object of an
    // ended attempt, and a dispatch pass when it can have freed room.
    Result<void> followed_up(const NodeReport& r,
                             const Result<std::vector<NodeCommand>>& commands) {
        if (!commands) {
            return commands.error();
        }
        send_commands(*commands);
        const auto phase = r.body.value("phase", "");
        // TODO: the log object is written from the rows stored when the final report arrives;
        // log entries a node sends after it are in the table but not in the object.
        if (r.type == "task.status" &&
            (phase == "succeeded" || phase == "failed" || phase == "cancelled")) {
            const std::string attempt = r.body.value("attempt_id", "");
            const auto dash = attempt.find("-a");
            if (attempt.size() > 1 && attempt[0] == 't' && dash != std::string::npos) {
                storage_->store_log(std::atoll(attempt.substr(1, dash - 1).c_str()), attempt);
            }
        }
        if (r.type == "register.running" || phase == "succeeded" || phase == "failed" ||
            phase == "cancelled" || phase == "rejected") {
            poke();
        }
        return {};
    }

    // ---- the dispatcher thread ----

    void dispatch_loop() {
        while (!stopping()) {
            const auto started = std::chrono::steady_clock::now();
            run_pass();
            std::unique_lock lock(mu_);
            wake_.wait_for(lock, interval_, [&] { return stopping_ || poked_; });
            poked_ = false;
            // Under load pokes come faster than passes are worth: one pass places everything
            // that arrived meanwhile, and each pass reads the queue and the nodes anew.
            wake_.wait_until(lock, started + kMinPassGap, [&] { return stopping_; });
        }
    }

    void run_pass() {
        if (!ctx_->database().available() || !ctx_->provider_link()) {
            return;
        }
        std::string failure;
        // Once a second: expired attempts (timeouts count in seconds), and a full pass.
        // Pending reasons change only when nodes or needs do, so a full pass once a second
        // keeps them current, and the passes between look only at what can be placed.
        const auto now = std::chrono::steady_clock::now();
        const bool full = now - last_full_pass_ >= std::chrono::seconds(1);
        if (full) {
            last_full_pass_ = now;
            if (auto expired = store_->expire(); !expired) {
                failure = expired.error().message;
            } else {
                send_commands(*expired);
            }
        }
        auto placed = store_->dispatch(ctx_->instance_name(), full);
        if (!placed) {
            failure = placed.error().message;
        } else {
            send_commands(*placed);
        }
        std::lock_guard lock(mu_);
        if (!failure.empty() && failure != last_error_) {
            log_->warn("dispatch pass failed error=\"{}\"", failure);
        }
        last_error_ = failure;
    }

    void send_commands(const std::vector<NodeCommand>& commands) {
        for (const auto& original : commands) {
            NodeCommand c = original;
            if (c.type == "task.assign") {
                // Presigned just before sending, so that a URL's life starts with the attempt.
                if (auto r = storage_->resolve(c.body); !r) {
                    log_->warn("task.assign not sent node={} attempt={} error=\"{}\"", c.node,
                               c.attempt_id, r.error().message);
                    // A missing input stays missing; a store that is down may come back.
                    if (r.error().errc == Errc::unavailable) {
                        store_->undelivered(c, r.error().message);
                    } else {
                        store_->fail_unsendable(c, "input_missing", r.error().message);
                    }
                    continue;
                }
            }
            auto sent = ctx_->provider_link()->send(c.node, c.type, c.body);
            if (sent) {
                log_->info("{} sent node={} attempt={}", c.type, c.node, c.attempt_id);
                continue;
            }
            log_->warn("{} not sent node={} attempt={} error=\"{}\"", c.type, c.node, c.attempt_id,
                       sent.error().message);
            if (c.type == "task.assign" && sent.error().errc == Errc::too_large) {
                store_->fail_unsendable(c, "assign_too_large", sent.error().message);
            } else if (c.type == "task.assign") {
                store_->undelivered(c, sent.error().message);
            } else if (c.type == "task.cancel" && c.body.value("reason", "") == "cancelled") {
                store_->cancel_undelivered(c.task_id, c.attempt_id, sent.error().message);
            }
        }
    }

    void poke() {
        {
            std::lock_guard lock(mu_);
            poked_ = true;
        }
        wake_.notify_all();
    }

    bool stopping() {
        std::lock_guard lock(mu_);
        return stopping_;
    }

    KernelContext* ctx_ = nullptr;
    std::shared_ptr<spdlog::logger> log_;
    std::optional<TaskStore> store_;
    std::optional<TaskStorage> storage_;
    static constexpr std::chrono::milliseconds kMinPassGap{5};

    std::chrono::milliseconds interval_{500};
    std::chrono::steady_clock::time_point last_full_pass_{};  // dispatcher thread only
    std::thread dispatcher_;
    std::mutex mu_;
    std::condition_variable wake_;
    bool stopping_ = false;
    bool poked_ = false;
    std::string last_error_;
};

Plugin* make() {
    return new Scheduler();
}

const PluginEntry entry{kPluginApiVersion, &describe, &make};

}  // namespace
}  // namespace unidesk::scheduler

UNIDESK_PLUGIN(unidesk::scheduler::entry)
