#include "task_manager.hpp"

#include "task_files.hpp"

#include "agent_logging.hpp"

#include "core/time_format.hpp"

#include <openssl/sha.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <thread>

namespace unidesk::agent {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr auto kDefaultGrace = 10s;

std::string now_utc() {
    return kernel::format_utc_iso8601(std::chrono::system_clock::now());
}

bool is_commit_id(const std::string& s) {
    return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

// Attempt ids become container and folder names.
bool is_plain_id(const std::string& s) {
    return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
    });
}

std::string validate(const protocol::TaskAssign& t) {
    if (!is_plain_id(t.attempt_id)) {
        return "attempt_id must be 1-64 letters, digits, - or _";
    }
    if (!is_commit_id(t.code_commit_id) || !is_commit_id(t.env_commit_id)) {
        return "code_commit_id and env_commit_id must be full 40-digit lower-case commit ids";
    }
    if (t.code_repo_url.empty() || t.env_repo_url.empty()) {
        return "code_repo_url and env_repo_url are required";
    }
    const fs::path dockerfile(t.dockerfile_path);
    if (t.dockerfile_path.empty() || dockerfile.is_absolute() ||
        std::any_of(dockerfile.begin(), dockerfile.end(),
                    [](const fs::path& p) { return p == ".."; })) {
        return "dockerfile_path must be a relative path inside the env repository";
    }
    return {};
}

// Total size of the regular files under `dir`, ignoring what vanishes meanwhile.
std::uint64_t folder_bytes(const fs::path& dir) {
    std::uint64_t total = 0;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code fec;
        if (it->is_regular_file(fec) && !it->is_symlink(fec)) {
            total += it->file_size(fec);
        }
    }
    return total;
}

std::chrono::system_clock::time_point to_system(fs::file_time_type t) {
    return std::chrono::time_point_cast<std::chrono::system_clock::duration>(
        fs::file_time_type::clock::to_sys(t));
}

// Docker keeps no time of last use for an image, so the agent marks each use with a file whose
// modification time is that use (a cache like the images themselves).
fs::path image_marker(const std::string& work_dir, const std::string& tag) {
    return fs::path(work_dir) / "images" / tag.substr(tag.find(':') + 1);
}

void mark_used(const fs::path& marker) {
    std::error_code ec;
    fs::create_directories(marker.parent_path(), ec);
    std::ofstream touch(marker, std::ios::app);
    touch.close();
    fs::last_write_time(marker, fs::file_time_type::clock::now(), ec);
}

}  // namespace

// TODO: the name ignores what the Dockerfile's FROM resolves to, so an env built on a moving tag
// is not rebuilt when that tag moves; base images should be pinned by digest.
std::string env_image_tag(const std::string& env_repo_url, const std::string& env_commit_id,
                          const std::string& dockerfile_path) {
    const std::string key = env_repo_url + '\n' + env_commit_id + '\n' + dockerfile_path;
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    for (unsigned char b : digest) {
        hex += kHex[b >> 4];
        hex += kHex[b & 15];
    }
    return "unidesk-env:" + hex;
}

struct TaskManager::Attempt {
    explicit Attempt(boost::asio::io_context& io) : time_limit(io) {}

    protocol::TaskAssign task;
    bool adopted = false;
    std::thread runner;
    boost::asio::steady_timer time_limit;  // network thread only
    StreamCancel stream;                   // the build or log stream in progress

    // Guarded by the manager's mutex_.
    std::string phase;
    std::string container_id;
    std::string stop_reason;  // cancelled, timeout, stale, shutdown
    std::chrono::seconds grace = kDefaultGrace;
    std::optional<std::thread> stopper;
    bool has_runner = false;  // set before its runner thread starts
};

TaskManager::TaskManager(boost::asio::io_context& io, const AgentConfig& config,
                         DockerClient& docker, GitCache& git, Outbox& outbox)
    : io_(io),
      config_(config),
      docker_(docker),
      git_(git),
      outbox_(outbox),
      log_(get_logger("agent.task")) {}

TaskManager::~TaskManager() {
    shutdown();
}

void TaskManager::adopt() {
    auto found = docker_.list_containers("unidesk.node", config_.node_name);
    if (!found) {
        log_->warn("task containers not listed error=\"{}\"", found.error().message);
        return;
    }
    std::lock_guard lock(mutex_);
    for (const auto& c : *found) {
        auto it = c.labels.find("unidesk.attempt");
        if (it == c.labels.end() || attempts_.count(it->second)) {
            continue;
        }
        auto a = std::make_shared<Attempt>(io_);
        a->adopted = true;
        a->task.attempt_id = it->second;
        a->task.task_id = c.labels.count("unidesk.task") ? c.labels.at("unidesk.task") : "";
        a->container_id = c.id;
        a->phase = c.state == "running" ? "running" : "exited";
        attempts_.emplace(a->task.attempt_id, a);
        log_->info("task container found attempt={} container={} state={}", a->task.attempt_id,
                   c.id.substr(0, 12), c.state);
    }
}

void TaskManager::assign(const protocol::TaskAssign& task) {
    std::unique_lock lock(mutex_);
    if (shutting_down_ || attempts_.count(task.attempt_id)) {
        return;
    }
    auto a = std::make_shared<Attempt>(io_);
    a->task = task;

    std::string refusal = validate(task);
    // Adopted containers use the node as much as fresh ones, so they hold slots too; one that
    // has reported its end is only cleaning up and holds none.
    const auto busy = static_cast<std::size_t>(
        std::count_if(attempts_.begin(), attempts_.end(), [](const auto& kv) {
            const auto& phase = kv.second->phase;
            return phase != "succeeded" && phase != "failed" && phase != "cancelled";
        }));
    if (refusal.empty() && busy >= config_.task_slots) {
        refusal = "all " + std::to_string(config_.task_slots) + " task slots of this node are busy";
    }
    if (!refusal.empty()) {
        lock.unlock();
        log_->warn("task rejected attempt={} reason=\"{}\"", task.attempt_id, refusal);
        // A rejected attempt leaves nothing behind but its report.
        protocol::TaskStatus s;
        s.attempt_id = task.attempt_id;
        s.phase = "rejected";
        s.at = now_utc();
        s.cause = "rejected";
        s.message = refusal;
        outbox_.push(s, false);
        // A resent assign is rejected again as the same report, seq 1.
        outbox_.forget(task.attempt_id);
        return;
    }

    a->phase = "accepted";
    a->has_runner = true;
    attempts_.emplace(task.attempt_id, a);
    lock.unlock();
    log_->info("task accepted attempt={} task={} code_commit={} env_commit={}", task.attempt_id,
               task.task_id, task.code_commit_id.substr(0, 12), task.env_commit_id.substr(0, 12));
    a->runner = std::thread([this, a] { run(a); });
}

void TaskManager::cancel(const protocol::TaskCancel& c) {
    std::shared_ptr<Attempt> a;
    {
        std::lock_guard lock(mutex_);
        auto it = attempts_.find(c.attempt_id);
        if (it == attempts_.end()) {
            return;
        }
        a = it->second;
        if (!a->stop_reason.empty()) {
            return;
        }
        a->stop_reason = c.reason == "stale" ? "stale" : "cancelled";
        a->grace = std::chrono::seconds(std::min<std::uint64_t>(c.grace_s, 3600));
    }
    log_->info("task stop requested attempt={} reason={}", c.attempt_id, a->stop_reason);
    a->time_limit.cancel();
    // An adopted attempt nobody resumed has no runner: the stop does all of its work.
    stop_container(a, a->stop_reason);
}

void TaskManager::resume(const protocol::TaskResume& r) {
    std::shared_ptr<Attempt> a;
    {
        std::lock_guard lock(mutex_);
        auto it = attempts_.find(r.attempt_id);
        if (it == attempts_.end() || !it->second->adopted || it->second->has_runner ||
            !it->second->stop_reason.empty()) {
            return;
        }
        a = it->second;
        a->has_runner = true;
    }
    outbox_.continue_after(r.attempt_id, r.seq);
    log_->info("task resumed attempt={} after_seq={}", r.attempt_id, r.seq);
    a->runner = std::thread([this, a, after = r.logs_after] {
        follow(*a, after);
        finished(a);
    });
}

std::vector<protocol::RunningAttempt> TaskManager::running() const {
    std::lock_guard lock(mutex_);
    std::vector<protocol::RunningAttempt> out;
    for (const auto& [id, a] : attempts_) {
        out.push_back({id, a->phase});
    }
    return out;
}

void TaskManager::shutdown() {
    std::map<std::string, std::shared_ptr<Attempt>> all;
    {
        std::lock_guard lock(mutex_);
        if (shutting_down_) {
            return;
        }
        shutting_down_ = true;
        all = attempts_;
        for (auto& [id, a] : all) {
            if (a->stop_reason.empty()) {
                a->stop_reason = "shutdown";
            }
        }
    }
    outbox_.close();
    for (auto& [id, a] : all) {
        a->stream.cancel();
        a->time_limit.cancel();
    }
    for (auto& [id, a] : all) {
        if (a->runner.joinable()) {
            a->runner.join();
        }
        std::optional<std::thread> stopper;
        {
            std::lock_guard lock(mutex_);
            stopper.swap(a->stopper);
        }
        if (stopper && stopper->joinable()) {
            stopper->join();
        }
    }
}

// ---- on the attempt's own thread ----

void TaskManager::run(const std::shared_ptr<Attempt>& a) {
    try {
        run_fresh(a);
    } catch (const std::exception& e) {
        report(*a, "failed", "agent_error", std::string("the agent failed: ") + e.what());
    }
    finished(a);
}

void TaskManager::run_fresh(const std::shared_ptr<Attempt>& self) {
    Attempt& a = *self;
    const auto& t = a.task;
    const fs::path task_dir = fs::path(config_.work_dir) / "tasks" / t.attempt_id;
    const fs::path workspace = task_dir / "workspace";
    auto stopping = [&] {
        std::lock_guard lock(mutex_);
        return a.stop_reason;
    };
    auto end_if_stopped = [&] {
        const auto why = stopping();
        if (why == "cancelled") {
            report(a, "cancelled", "cancelled", "cancelled before the command started");
        }
        return !why.empty();
    };

    report(a, "accepted");
    if (end_if_stopped()) {
        return;
    }

    report(a, "fetching");
    // TODO: a cancel that comes during a fetch takes effect only when the fetch ends, since
    // libgit2 offers no way to interrupt it from another thread; a slow remote delays it.
    using Clock = std::chrono::steady_clock;
    const auto fetch_start = Clock::now();
    for (const auto& [url, commit] : {std::pair{t.code_repo_url, t.code_commit_id},
                                      std::pair{t.env_repo_url, t.env_commit_id}}) {
        auto fetched = git_.ensure_commit(url, commit);
        if (!fetched) {
            report(a, "failed", "git_fetch_failed", fetched.error().message);
            return;
        }
    }
    std::error_code ec;
    fs::remove_all(task_dir, ec);
    fs::create_directories(task_dir, ec);
    if (auto out = git_.checkout(t.code_repo_url, t.code_commit_id, workspace); !out) {
        report(a, "failed", "git_fetch_failed", out.error().message);
        return;
    }
    if (!t.inputs.empty()) {
        auto fetched = fetch_inputs(t.inputs, workspace,
                                    [&](const std::string& line) { log(a, "agent", line); });
        if (!fetched) {
            report(a, "failed", "input_fetch_failed", fetched.error().message);
            return;
        }
    }
    if (end_if_stopped()) {
        return;
    }

    report(a, "building");
    const auto build_start = Clock::now();
    const std::string tag = env_image_tag(t.env_repo_url, t.env_commit_id, t.dockerfile_path);
    auto exists = docker_.image_exists(tag);
    if (!exists) {
        report(a, "failed", "agent_error", exists.error().message);
        return;
    }
    if (*exists) {
        log(a, "agent", "environment image " + tag + " is present; not built again\n");
    } else {
        const fs::path context = task_dir / "env-context.tar";
        if (auto tar = git_.write_tar(t.env_repo_url, t.env_commit_id, context); !tar) {
            report(a, "failed", "git_fetch_failed", tar.error().message);
            return;
        }
        log(a, "agent", "building environment image " + tag + "\n");
        const std::map<std::string, std::string> labels = {
            {"unidesk.env", "1"},
            {"unidesk.env_repo_url", t.env_repo_url},
            {"unidesk.env_commit_id", t.env_commit_id},
            {"unidesk.dockerfile_path", t.dockerfile_path}};
        auto built = docker_.build_image(
            context, t.dockerfile_path, tag, labels,
            [&](std::string_view line) { log(a, "agent", line); }, &a.stream);
        fs::remove(context, ec);
        if (!built) {
            if (end_if_stopped()) {
                return;
            }
            const bool engine_down = built.error().code == "docker_unavailable";
            report(a, "failed", engine_down ? "agent_error" : "image_build_failed",
                   built.error().message);
            return;
        }
    }
    mark_used(image_marker(config_.work_dir, tag));
    const auto container_start = Clock::now();
    if (end_if_stopped()) {
        return;
    }

    ContainerSpec spec;
    // The node's name too: agents of other installations may share this engine.
    spec.name = "unidesk-" + config_.node_name + "-" + t.attempt_id;
    spec.image = tag;
    spec.command = t.command;
    spec.env = t.env;
    spec.env["UNIDESK_TASK_ID"] = t.task_id;
    spec.env["UNIDESK_ATTEMPT_ID"] = t.attempt_id;
    spec.workspace_dir = fs::absolute(workspace).string();
    spec.nano_cpus = t.resources.cpu_millis * 1000000;
    spec.memory_bytes = t.resources.memory_bytes;
    spec.gpu_indices = t.resources.gpu_indices;
    spec.labels = {{"unidesk.node", config_.node_name},
                   {"unidesk.task", t.task_id},
                   {"unidesk.attempt", t.attempt_id}};
    // A container of the same name left by an earlier try of this attempt goes first.
    docker_.remove_container(spec.name);
    auto id = docker_.create_container(spec);
    if (!id) {
        report(a, "failed", "container_start_failed", id.error().message);
        return;
    }
    {
        std::lock_guard lock(mutex_);
        a.container_id = *id;
    }
    if (auto started = docker_.start_container(*id); !started) {
        docker_.remove_container(*id);
        report(a, "failed", "container_start_failed", started.error().message);
        return;
    }
    report(a, "running");
    auto ms = [](Clock::duration d) {
        return std::chrono::duration<double, std::milli>(d).count();
    };
    log_->info(
        "task running attempt={} container={} git_ms={:.1f} image_ms={:.1f} "
        "container_ms={:.1f}",
        t.attempt_id, id->substr(0, 12), ms(build_start - fetch_start),
        ms(container_start - build_start), ms(Clock::now() - container_start));
    if (t.time_limit_s > 0) {
        boost::asio::post(io_, [this, self] { arm_time_limit(self); });
    }
    // A stop that came between the checks above and now finds the container id only now.
    if (const auto why = stopping(); !why.empty()) {
        stop_container(self, why);
    }
    follow(a, "");
}

void TaskManager::follow(Attempt& a, const std::string& logs_after) {
    std::string id;
    {
        std::lock_guard lock(mutex_);
        id = a.container_id;
    }
    auto followed = docker_.follow_logs(
        id, logs_after, [&](const LogFrame& f) { log(a, f.stream, f.data, f.timestamp); },
        &a.stream);

    std::string why;
    {
        std::lock_guard lock(mutex_);
        why = a.stop_reason;
    }
    if (why == "shutdown") {
        return;
    }
    if (!followed && followed.error().code != "cancelled") {
        log_->warn("task output not followed attempt={} error=\"{}\"", a.task.attempt_id,
                   followed.error().message);
    }

    auto code = docker_.wait_container(id);
    {
        std::lock_guard lock(mutex_);
        why = a.stop_reason;
    }
    if (why == "shutdown") {
        return;
    }
    // Outputs go up whether the command succeeded or not (its partial results and logs are
    // worth keeping); not after a cancel or for an attempt the server replaced.
    // TODO: an attempt resumed after an agent restart has no outputs here (its assignment is
    // rebuilt from container labels, which do not hold them), so its files are not uploaded.
    std::string upload_failure;
    if (code && why != "stale" && why != "cancelled" && !a.task.outputs.empty()) {
        report(a, "uploading");
        const auto workspace =
            std::filesystem::path(config_.work_dir) / "tasks" / a.task.attempt_id / "workspace";
        auto uploaded = upload_outputs(a.task.outputs, workspace,
                                       [&](const std::string& line) { log(a, "agent", line); });
        if (!uploaded) {
            upload_failure = uploaded.error().message;
            log(a, "agent", "outputs not uploaded: " + upload_failure + "\n");
        }
    }
    if (why != "stale") {
        if (!code) {
            report(a, "failed", "agent_error", code.error().message);
        } else if (why == "timeout") {
            report(a, "failed", "timeout",
                   "the time limit of " + std::to_string(a.task.time_limit_s) + " s was reached",
                   *code);
        } else if (why == "cancelled") {
            report(a, "cancelled", "cancelled", "stopped on request", *code);
        } else if (*code == 0 && !upload_failure.empty()) {
            report(a, "failed", "output_upload_failed", upload_failure, *code);
        } else if (*code == 0) {
            report(a, "succeeded", {}, {}, *code);
        } else {
            report(a, "failed", "exit_nonzero",
                   "the command exited with code " + std::to_string(*code), *code);
        }
    }
    docker_.remove_container(id);
}

void TaskManager::report(Attempt& a, const std::string& phase, const std::string& cause,
                         const std::string& message, std::optional<std::int64_t> exit_code) {
    protocol::TaskStatus s;
    s.attempt_id = a.task.attempt_id;
    s.phase = phase;
    if (exit_code && *exit_code >= 0) {
        s.exit_code = static_cast<std::uint64_t>(*exit_code);
    }
    s.at = now_utc();
    s.cause = cause;
    s.message = message;
    {
        std::lock_guard lock(mutex_);
        a.phase = phase;
        s.container_id = a.container_id;
    }
    if (phase == "succeeded" || phase == "failed" || phase == "cancelled") {
        log_->info("task ended attempt={} phase={} cause={} message=\"{}\"", s.attempt_id, phase,
                   cause, message);
    }
    // The task's log says why it ended when the command did not get to say it itself.
    if (phase == "failed" && cause != "exit_nonzero" && !message.empty()) {
        log(a, "agent", "attempt failed (" + cause + "): " + message + "\n");
    }
    outbox_.push(std::move(s));
}

void TaskManager::log(Attempt& a, std::string_view stream, std::string_view data,
                      std::string_view until) {
    for (std::size_t at = 0; at < data.size(); at += protocol::kMaxLogData) {
        protocol::TaskLog l;
        l.attempt_id = a.task.attempt_id;
        l.stream = std::string(stream);
        l.data = std::string(data.substr(at, protocol::kMaxLogData));
        l.until = std::string(until);
        outbox_.push(std::move(l));
    }
}

// ---- stopping ----

void TaskManager::arm_time_limit(const std::shared_ptr<Attempt>& a) {
    a->time_limit.expires_after(std::chrono::seconds(a->task.time_limit_s));
    a->time_limit.async_wait([this, a](const boost::system::error_code& ec) {
        if (ec) {
            return;
        }
        {
            std::lock_guard lock(mutex_);
            if (!a->stop_reason.empty()) {
                return;
            }
            a->stop_reason = "timeout";
        }
        log_->info("task time limit reached attempt={} limit_s={}", a->task.attempt_id,
                   a->task.time_limit_s);
        stop_container(a, "timeout");
    });
}

void TaskManager::stop_container(const std::shared_ptr<Attempt>& a, const std::string& why) {
    std::lock_guard lock(mutex_);
    if (a->stopper || shutting_down_) {
        return;
    }
    // Before the container exists the runner sees stop_reason at its next step; a build in
    // progress is cut off at once.
    if (a->container_id.empty()) {
        a->stream.cancel();
        return;
    }
    const bool owned = a->has_runner;
    a->stopper.emplace([this, a, why, owned, id = a->container_id, grace = a->grace] {
        if (auto r = docker_.stop_container(id, grace); !r) {
            log_->warn("task container not stopped attempt={} error=\"{}\"", a->task.attempt_id,
                       r.error().message);
        }
        // An adopted attempt that nobody follows ends here.
        if (!owned) {
            docker_.remove_container(id);
            if (why == "cancelled") {
                report(*a, "cancelled", "cancelled", "stopped on request");
            }
            finished(a);
        }
    });
}

void TaskManager::finished(const std::shared_ptr<Attempt>& a) {
    collect_garbage(a->task.attempt_id);
    boost::asio::post(io_, [this, a] {
        a->time_limit.cancel();
        std::optional<std::thread> stopper;
        {
            std::lock_guard lock(mutex_);
            if (shutting_down_) {
                return;
            }
            attempts_.erase(a->task.attempt_id);
            stopper.swap(a->stopper);
        }
        outbox_.forget(a->task.attempt_id);
        // Both threads have done their work by now; joining waits only for their return.
        if (a->runner.joinable()) {
            a->runner.join();
        }
        if (stopper && stopper->joinable()) {
            stopper->join();
        }
    });
}

// Task folders and env images beyond the disk budget go, least recently used first; those of
// attempts still held are kept.
void TaskManager::collect_garbage(const std::string& ending) {
    std::lock_guard gc(gc_mutex_);
    if (config_.disk_budget_bytes == 0) {
        return;
    }
    struct Item {
        std::chrono::system_clock::time_point used;
        std::uint64_t bytes;
        fs::path folder;    // a task folder, or
        std::string image;  // an image tag
    };
    std::vector<Item> items;
    std::set<std::string> busy_images;
    std::set<std::string> busy_attempts;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [id, a] : attempts_) {
            if (id == ending) {
                continue;
            }
            busy_attempts.insert(id);
            busy_images.insert(env_image_tag(a->task.env_repo_url, a->task.env_commit_id,
                                             a->task.dockerfile_path));
        }
    }

    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(fs::path(config_.work_dir) / "tasks", ec)) {
        if (busy_attempts.count(entry.path().filename().string())) {
            continue;
        }
        std::error_code tec;
        const auto t = fs::last_write_time(entry.path(), tec);
        items.push_back({to_system(t), folder_bytes(entry.path()), entry.path(), {}});
    }
    // Only the images this agent used (it keeps a marker of each use): the engine may serve
    // other agents too, whose images are theirs to manage.
    // TODO: image sizes include the layers images share, so shared layers are counted once per
    // image and the budget is reached before the disk really holds that much.
    if (auto images = docker_.list_images("unidesk.env")) {
        for (const auto& img : *images) {
            for (const auto& tag : img.tags) {
                std::error_code mec;
                const auto t = fs::last_write_time(image_marker(config_.work_dir, tag), mec);
                if (!mec && !busy_images.count(tag)) {
                    items.push_back({to_system(t), static_cast<std::uint64_t>(img.size), {}, tag});
                }
            }
        }
    }

    std::uint64_t total = 0;
    for (const auto& i : items) {
        total += i.bytes;
    }
    std::sort(items.begin(), items.end(),
              [](const Item& x, const Item& y) { return x.used < y.used; });
    for (const auto& i : items) {
        if (total <= config_.disk_budget_bytes) {
            break;
        }
        if (!i.folder.empty()) {
            fs::remove_all(i.folder, ec);
            log_->info("task folder removed path={} bytes={}", i.folder.string(), i.bytes);
        } else if (auto removed = docker_.remove_image(i.image); removed) {
            fs::remove(image_marker(config_.work_dir, i.image), ec);
            log_->info("environment image removed image={} bytes={}", i.image, i.bytes);
        } else {
            // In use by a container (perhaps another agent's): it stays, and counts.
            log_->debug("environment image kept image={} reason=\"{}\"", i.image,
                        removed.error().message);
            continue;
        }
        total -= i.bytes;
    }
}

}  // namespace unidesk::agent
