// unidesk-link-load: many simulated agents in one process, to load the provider link of a kernel
// (or the benchmark's echo server) from one machine. Each simulated agent is one WebSocket
// connection that presents its own node token, registers and then heartbeats as
// docs/reference/provider-protocol.md says. With --reconnect an agent comes back after every
// close or failed attempt, waiting as the real agent does (exponential backoff with full
// jitter), or with --jitter none at the capped exponential delay itself, so that a whole fleet
// retries in lockstep.
//
// With --run-tasks each agent also runs tasks, as a node whose execution takes no time: it
// declares --task-slots in register (and as many CPU cores, so that the slots and not the cores
// bound what a node takes: a task asks for one core unless it says otherwise), answers every
// `task.assign` at once with the `task.status` reports `accepted`, `running` and `succeeded` (exit
// code 0, seq 1, 2, 3 of the attempt), ignores `task.ack`, and notes when each assignment arrived;
// with --received those times are written as JSON lines at the end. No report is kept for a resend:
// a session that is lost loses its reports.
//
// One thread runs everything: one io_context, one coroutine per agent plus one reader
// coroutine per open session. The run is bounded: at most kMaxAgents connections, at most
// kMaxDuration, loopback servers only. It ends by itself after --duration (or on SIGINT or
// SIGTERM): every session sends `leaving` and closes with 1000 (or is cut with --no-leave),
// and the report is written. docs/benchmarks.md says what the numbers are used for.
//
// Exit code: 0 when the run completed (its results are in the report, failures included),
// 1 when it could not start (tokens, file descriptors, server address), 2 for bad options.

#include "unidesk/protocol/codec.hpp"
#include "unidesk/protocol/messages.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace po = boost::program_options;
namespace websocket = beast::websocket;
namespace protocol = unidesk::protocol;
using asio::awaitable;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using Ws = websocket::stream<beast::tcp_stream>;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxAgents = 50000;
constexpr std::uint32_t kMaxTaskSlots = 10000;
constexpr seconds kMaxDuration{3600};
constexpr milliseconds kMaxBackoff{3600 * 1000};
constexpr const char* kConnectPath = "/v1/provider/connect";
// After the run's end, sessions get this long to leave before their sockets are cut.
constexpr seconds kLeaveGrace{20};
// The close code reported for a session that ended without a close frame (RFC 6455 reserves
// 1006 for exactly this; it never travels on the wire).
constexpr int kLostCode = 1006;

struct Options {
    std::string server;
    std::string tokens_file;
    std::size_t agents = 0;
    milliseconds duration{10000};
    seconds heartbeat{0};  // 0: the interval the server gives in `registered`
    bool reconnect = false;
    bool jitter = true;
    milliseconds backoff_base{1000};
    milliseconds backoff_cap{60000};
    seconds stable{60};
    bool leave = true;
    bool echo_peer = false;
    double connect_rate = 0;  // agents started per second; 0 starts them all at once
    seconds open_timeout{30};
    std::string report_file;
    std::string status_file;
    bool run_tasks = false;
    std::uint32_t task_slots = 64;
    std::string received_file;
};

struct NodeToken {
    std::string node_name;
    std::string token;
};

// Where the agents connect: a resolved loopback endpoint, the Host header and the target.
struct Target {
    tcp::endpoint endpoint;
    std::string host_header;
    std::string path;
};

class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// ---- options, tokens, target ----

po::options_description option_table(Options& o, std::string& jitter, double& duration_s,
                                     int& heartbeat_s) {
    po::options_description d("unidesk-link-load: simulated agents on the provider link");
    auto add = d.add_options();
    add("help", "show this help");
    add("server", po::value(&o.server)->required(), "ws://127.0.0.1:PORT[/PREFIX]");
    add("tokens", po::value(&o.tokens_file)->required(), "file of `node_name token` lines");
    add("agents", po::value(&o.agents)->required(), "simulate the first N nodes of --tokens");
    add("duration", po::value(&duration_s)->default_value(10), "seconds to hold the sessions");
    add("heartbeat", po::value(&heartbeat_s)->default_value(0),
        "seconds between heartbeats; 0: as the server says");
    add("reconnect", po::bool_switch(&o.reconnect), "come back after every close or failure");
    add("jitter", po::value(&jitter)->default_value("full"), "backoff jitter: full|none");
    add("backoff-base-ms", po::value<std::int64_t>()->default_value(1000), "backoff base");
    add("backoff-cap-ms", po::value<std::int64_t>()->default_value(60000), "backoff cap");
    add("stable-s", po::value<std::int64_t>()->default_value(60),
        "a session up this long resets the backoff");
    add("no-leave", "at the end, cut the connections instead of leaving");
    add("peer", po::value<std::string>()->default_value("kernel"),
        "kernel, or echo: any answer to register counts (needs --heartbeat)");
    add("connect-rate", po::value(&o.connect_rate)->default_value(0),
        "agents started per second; 0: all at once");
    add("open-timeout-s", po::value<std::int64_t>()->default_value(30),
        "limit for connect, upgrade and the answer to register");
    add("report", po::value(&o.report_file), "write the results here as JSON");
    add("status", po::value(&o.status_file), "rewrite live counters here every second");
    add("run-tasks", po::bool_switch(&o.run_tasks),
        "answer every task.assign at once: accepted, running, succeeded");
    add("task-slots", po::value(&o.task_slots)->default_value(64),
        "with --run-tasks: the task_slots each agent declares in register");
    add("received", po::value(&o.received_file),
        "with --run-tasks: write when each task.assign arrived here, as JSON lines");
    return d;
}

void check_options(const Options& o, const std::string& jitter, double duration_s) {
    if (o.agents == 0 || o.agents > kMaxAgents) {
        throw UsageError("--agents must be 1 to " + std::to_string(kMaxAgents));
    }
    if (duration_s <= 0 || duration_s > static_cast<double>(kMaxDuration.count())) {
        throw UsageError("--duration must be above 0 and at most " +
                         std::to_string(kMaxDuration.count()) + " s");
    }
    if (jitter != "full" && jitter != "none") {
        throw UsageError("--jitter must be full or none");
    }
    if (o.heartbeat.count() < 0 || o.heartbeat.count() > 3600) {
        throw UsageError("--heartbeat must be 0 to 3600");
    }
    if (o.echo_peer && o.heartbeat.count() == 0) {
        throw UsageError("--peer echo needs --heartbeat: an echo server names no interval");
    }
    if (o.backoff_base.count() <= 0 || o.backoff_cap < o.backoff_base ||
        o.backoff_cap > kMaxBackoff) {
        throw UsageError("backoff: 0 < --backoff-base-ms <= --backoff-cap-ms <= 3600000");
    }
    if (o.connect_rate < 0 || o.open_timeout.count() <= 0) {
        throw UsageError("--connect-rate must be >= 0 and --open-timeout-s > 0");
    }
    if (o.task_slots == 0 || o.task_slots > kMaxTaskSlots) {
        throw UsageError("--task-slots must be 1 to " + std::to_string(kMaxTaskSlots));
    }
    if (!o.run_tasks && !o.received_file.empty()) {
        throw UsageError("--received needs --run-tasks");
    }
    if (o.run_tasks && o.echo_peer) {
        throw UsageError("--run-tasks needs --peer kernel: an echo server assigns no task");
    }
}

// nullopt when --help was asked for; UsageError for anything wrong.
std::optional<Options> parse_options(int argc, char** argv) {
    Options o;
    std::string jitter;
    double duration_s = 0;
    int heartbeat_s = 0;
    auto table = option_table(o, jitter, duration_s, heartbeat_s);
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, table), vm);
        if (vm.count("help") != 0) {
            std::cout << table << "\n";
            return std::nullopt;
        }
        po::notify(vm);
    } catch (const po::error& e) {
        throw UsageError(e.what());
    }

    o.duration = milliseconds(static_cast<std::int64_t>(duration_s * 1000));
    o.heartbeat = seconds(heartbeat_s);
    o.jitter = jitter == "full";
    o.leave = vm.count("no-leave") == 0;
    o.backoff_base = milliseconds(vm["backoff-base-ms"].as<std::int64_t>());
    o.backoff_cap = milliseconds(vm["backoff-cap-ms"].as<std::int64_t>());
    o.stable = seconds(vm["stable-s"].as<std::int64_t>());
    o.open_timeout = seconds(vm["open-timeout-s"].as<std::int64_t>());
    const auto& peer = vm["peer"].as<std::string>();
    if (peer != "kernel" && peer != "echo") {
        throw UsageError("--peer must be kernel or echo");
    }
    o.echo_peer = peer == "echo";
    check_options(o, jitter, duration_s);
    return o;
}

std::vector<NodeToken> read_tokens(const std::string& file, std::size_t wanted) {
    std::ifstream in(file);
    if (!in) {
        throw std::runtime_error("cannot read --tokens " + file);
    }
    std::vector<NodeToken> out;
    std::string line;
    while (out.size() < wanted && std::getline(in, line)) {
        std::istringstream fields(line);
        NodeToken t;
        if (!(fields >> t.node_name) || t.node_name.front() == '#') {
            continue;
        }
        if (!(fields >> t.token)) {
            throw std::runtime_error("a line of " + file + " has no token: " + line);
        }
        out.push_back(std::move(t));
    }
    if (out.size() < wanted) {
        throw std::runtime_error(file + " holds " + std::to_string(out.size()) +
                                 " tokens, --agents asks for " + std::to_string(wanted));
    }
    return out;
}

// ws://HOST[:PORT][/PREFIX], resolved; every address it names must be loopback, so that this
// load never leaves the machine.
Target resolve_target(asio::io_context& io, const std::string& url) {
    const std::string scheme = "ws://";
    if (url.rfind(scheme, 0) != 0) {
        throw UsageError("--server must be a ws:// URL (wss:// is not simulated)");
    }
    auto rest = url.substr(scheme.size());
    auto slash = rest.find('/');
    auto authority = rest.substr(0, slash);
    std::string path = slash == std::string::npos ? "" : rest.substr(slash);

    std::string host = authority;
    std::string port = "80";
    auto colon = authority.rfind(':');
    if (colon != std::string::npos && authority.find(']', colon) == std::string::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    }
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }

    tcp::resolver resolver(io);
    error_code ec;
    auto results = resolver.resolve(host, port, ec);
    if (ec || results.empty()) {
        throw std::runtime_error("cannot resolve " + authority + ": " + ec.message());
    }
    for (const auto& r : results) {
        if (!r.endpoint().address().is_loopback()) {
            throw UsageError("--server must be a loopback address, " + host + " is not");
        }
    }
    if (path.size() < std::string(kConnectPath).size() ||
        path.compare(path.size() - std::string(kConnectPath).size(), std::string::npos,
                     kConnectPath) != 0) {
        while (!path.empty() && path.back() == '/') {
            path.pop_back();
        }
        path += kConnectPath;
    }
    return Target{results.begin()->endpoint(), authority, path};
}

// Two ends of every connection may live on this machine; the client needs one descriptor per
// agent plus a few. Raises the soft limit to the hard one and returns it.
std::uint64_t raise_fd_limit() {
    rlimit r{};
    if (::getrlimit(RLIMIT_NOFILE, &r) != 0) {
        return 0;
    }
    if (r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &r);
        ::getrlimit(RLIMIT_NOFILE, &r);
    }
    return r.rlim_cur;
}

std::int64_t unix_micros() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// UTC, ISO 8601 with milliseconds and Z, as task.status `at` wants it.
std::string utc_now_iso() {
    const auto us = unix_micros();
    const std::time_t secs = us / 1000000;
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    char text[80];
    std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>((us % 1000000) / 1000));
    return text;
}

// ---- the run ----

// The counters of one run, for the report and the status file.
struct Stats {
    SteadyClock::time_point started = SteadyClock::now();
    std::int64_t started_unix_ms = 0;
    std::uint64_t attempts = 0;
    std::uint64_t registrations = 0;  // sessions answered with `registered`
    std::uint64_t reconnections = 0;  // of those, by an agent that had a session before
    std::uint64_t agents_registered = 0;
    std::uint64_t heartbeats = 0;
    std::uint64_t errors_received = 0;
    std::uint64_t left = 0;  // sessions ended with leaving and a close handshake
    std::uint64_t online = 0;
    std::uint64_t online_peak = 0;
    std::map<std::string, std::uint64_t> failures;
    std::map<int, std::uint64_t> close_codes;
    std::vector<std::uint64_t> established_per_second;
    std::vector<std::uint64_t> reconnected_per_second;
    std::vector<std::uint64_t> attempts_per_second;  // connections opened, refused ones too
    std::uint64_t tasks_received = 0;                // task.assign of a new attempt
    std::uint64_t assigns_repeated = 0;              // task.assign of an attempt held already
    std::uint64_t task_reports = 0;                  // task.status frames queued
    std::uint64_t acks_received = 0;

    std::uint64_t failure_count() const {
        std::uint64_t n = 0;
        for (const auto& [kind, count] : failures) {
            n += count;
        }
        return n;
    }

    void count_now(std::vector<std::uint64_t>& per_second) const {
        auto second = static_cast<std::size_t>(
            std::chrono::duration_cast<seconds>(SteadyClock::now() - started).count());
        if (per_second.size() <= second) {
            per_second.resize(second + 1, 0);
        }
        ++per_second[second];
    }
};

class Load;

//! When one task.assign reached a simulated node.
struct TaskReceipt {
    std::string task_id;
    std::string attempt_id;
    std::size_t agent = 0;
    std::int64_t received_unix_us = 0;
};

// One simulated agent: connect, register, heartbeat, and (with --reconnect) again after every
// end; with --run-tasks it also runs every task it is given. Owned by Load through a shared
// pointer that its coroutines also hold; runs on Load's one thread, so nothing here is locked.
// Every frame of a session goes out through one queue and one writer coroutine, because a
// WebSocket stream takes only one write at a time.
class Agent : public std::enable_shared_from_this<Agent> {
public:
    Agent(Load& load, std::size_t index);

    awaitable<void> run();
    //! The run is ending: cut a wait or an attempt short; an open session leaves.
    void wake();
    //! The grace period is over: close the socket whatever it is doing.
    void cut();

private:
    awaitable<bool> open();
    awaitable<bool> handshake();
    awaitable<bool> await_registered(const std::string& register_id);
    awaitable<void> hold();
    awaitable<void> read_until_closed();
    awaitable<void> end_session();
    void send(std::string frame);
    awaitable<void> drain_outbox();
    awaitable<void> writer_finished();
    void on_assign(const protocol::TaskAssign& assign);
    void arm_deadline();
    void fail_attempt(const std::string& kind);
    milliseconds next_backoff();
    std::string next_id() { return "a-" + std::to_string(++next_id_); }

    Load& load_;
    const std::size_t index_;
    asio::steady_timer timer_;        // the backoff wait and the heartbeat wait
    asio::steady_timer deadline_;     // bounds one attempt
    asio::steady_timer reader_done_;  // woken when the session's reader ends
    asio::steady_timer writer_done_;  // woken when the writer has emptied the outbox
    std::unique_ptr<Ws> ws_;
    std::deque<std::string> outbox_;
    bool writing_ = false;
    bool write_failed_ = false;
    std::set<std::string> attempts_held_;
    bool opening_ = false;
    bool timed_out_ = false;
    bool session_over_ = false;
    bool reader_running_ = false;
    bool ending_ = false;  // this side ends the session
    bool had_session_ = false;
    std::uint64_t attempt_gen_ = 0;
    int backoff_step_ = 0;
    std::uint64_t seq_ = 0;
    std::uint64_t next_id_ = 0;
    seconds interval_{15};
};

// The whole run: starts the agents (at --connect-rate), ends the run after --duration or on a
// signal, writes the status file every second and the report at the end. Lives in main() and
// runs on the thread that runs io.
class Load {
public:
    Load(asio::io_context& io, Options options, Target target, std::vector<NodeToken> tokens)
        : io_(io),
          options_(std::move(options)),
          target_(std::move(target)),
          tokens_(std::move(tokens)),
          rng_(std::random_device{}()),
          pace_(io),
          end_timer_(io),
          grace_timer_(io),
          status_timer_(io),
          signals_(io, SIGINT, SIGTERM) {}

    void start();
    nlohmann::json report() const;

    asio::io_context& io() { return io_; }
    const Options& options() const { return options_; }
    const Target& target() const { return target_; }
    const NodeToken& token(std::size_t i) const { return tokens_[i]; }
    Stats& stats() { return stats_; }
    std::mt19937_64& rng() { return rng_; }
    void record_receipt(TaskReceipt r) { receipts_.push_back(std::move(r)); }
    //! JSON lines, one per task.assign received: task_id, attempt_id, agent, received_unix_us.
    void write_receipts(const std::string& file) const;
    bool stopping() const { return stopping_; }
    void agent_done();

private:
    awaitable<void> launch();
    awaitable<void> write_status();
    void stop(const std::string& why);
    void maybe_finish();
    nlohmann::json live_counters() const;

    asio::io_context& io_;
    const Options options_;
    const Target target_;
    const std::vector<NodeToken> tokens_;
    Stats stats_;
    std::mt19937_64 rng_;
    std::vector<std::shared_ptr<Agent>> agents_;
    std::vector<TaskReceipt> receipts_;
    std::size_t running_ = 0;
    bool launching_ = true;
    bool stopping_ = false;
    bool finished_ = false;
    std::string end_reason_ = "duration";
    asio::steady_timer pace_;
    asio::steady_timer end_timer_;
    asio::steady_timer grace_timer_;
    asio::steady_timer status_timer_;
    asio::signal_set signals_;
};

// A coroutine's end: an exception here is a bug of this program; say so and go on.
void report_exception(std::exception_ptr e) {
    if (!e) {
        return;
    }
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        std::cerr << "link-load: coroutine failed: " << x.what() << "\n";
    }
}

Agent::Agent(Load& load, std::size_t index)
    : load_(load),
      index_(index),
      timer_(load.io()),
      deadline_(load.io()),
      reader_done_(load.io()),
      writer_done_(load.io()) {}

awaitable<void> Agent::run() {
    auto self = shared_from_this();
    while (!load_.stopping()) {
        if (co_await open()) {
            co_await hold();
        }
        if (load_.stopping() || !load_.options().reconnect) {
            break;
        }
        timer_.expires_after(next_backoff());
        co_await timer_.async_wait(kAwait);
    }
    load_.agent_done();
}

// The agent's rule (docs/reference/provider-protocol.md), or without jitter the ceiling itself.
milliseconds Agent::next_backoff() {
    const auto& o = load_.options();
    auto ceiling = o.backoff_cap;
    if (backoff_step_ < 40) {
        ceiling = std::min(o.backoff_cap, o.backoff_base * (std::int64_t{1} << backoff_step_));
    }
    ++backoff_step_;
    if (!o.jitter) {
        return ceiling;
    }
    std::uniform_int_distribution<std::int64_t> pick(0, ceiling.count());
    return milliseconds(pick(load_.rng()));
}

void Agent::wake() {
    timer_.cancel();
    if (opening_ && ws_) {
        beast::get_lowest_layer(*ws_).close();
    }
}

void Agent::cut() {
    timer_.cancel();
    if (ws_) {
        ending_ = true;
        beast::get_lowest_layer(*ws_).close();
    }
}

void Agent::arm_deadline() {
    deadline_.expires_after(load_.options().open_timeout);
    deadline_.async_wait([self = shared_from_this(), gen = attempt_gen_](error_code ec) {
        // A deadline whose expiry was already queued when the attempt ended must not cut the
        // session that followed.
        if (!ec && self->opening_ && self->attempt_gen_ == gen && self->ws_) {
            self->timed_out_ = true;
            beast::get_lowest_layer(*self->ws_).close();
        }
    });
}

void Agent::fail_attempt(const std::string& kind) {
    // An attempt cut short because the run ends is no failure of the server.
    if (!load_.stopping()) {
        ++load_.stats().failures[timed_out_ ? "open_timeout" : kind];
    }
}

// Connect, upgrade with the node token, register. True when the server answered `registered`.
awaitable<bool> Agent::open() {
    ++load_.stats().attempts;
    load_.stats().count_now(load_.stats().attempts_per_second);
    ++attempt_gen_;
    ws_ = std::make_unique<Ws>(load_.io());
    opening_ = true;
    timed_out_ = false;
    arm_deadline();

    bool ok = co_await handshake();
    std::string register_id;
    if (ok) {
        const auto& node = load_.token(index_).node_name;
        protocol::Register hello{node, "0.1.0", "linux", "x86_64", 1, 1ULL << 30, 10ULL << 30};
        hello.labels = {{"simulated", "true"}};
        if (load_.options().run_tasks) {
            hello.task_slots = load_.options().task_slots;
            hello.cpu_cores = load_.options().task_slots;
        }
        register_id = next_id();
        auto frame = protocol::encode(
            {register_id, std::nullopt, protocol::kProtocolVersion, std::move(hello)});
        auto [ec, n] = co_await ws_->async_write(asio::buffer(frame), kAwait);
        if (ec) {
            fail_attempt("register_write");
            ok = false;
        }
    }
    if (ok) {
        ok = co_await await_registered(register_id);
    }

    opening_ = false;
    deadline_.cancel();
    if (!ok) {
        ws_.reset();
    }
    co_return ok;
}

awaitable<bool> Agent::handshake() {
    auto [cec] =
        co_await beast::get_lowest_layer(*ws_).async_connect(load_.target().endpoint, kAwait);
    if (cec) {
        fail_attempt("connect");
        co_return false;
    }

    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = load_.options().open_timeout;
    timeouts.idle_timeout = websocket::stream_base::none();
    timeouts.keep_alive_pings = false;
    ws_->set_option(timeouts);
    ws_->set_option(websocket::stream_base::decorator(
        [auth = "Bearer " + load_.token(index_).token](websocket::request_type& req) {
            req.set(http::field::authorization, auth);
            req.set(http::field::user_agent, "unidesk-link-load");
        }));

    websocket::response_type res;
    const auto& target = load_.target();
    auto [hec] = co_await ws_->async_handshake(res, target.host_header, target.path, kAwait);
    if (hec) {
        fail_attempt(res.result_int() != 0 && res.result_int() != 101
                         ? "upgrade_http_" + std::to_string(res.result_int())
                         : "upgrade");
        co_return false;
    }
    co_return true;
}

awaitable<bool> Agent::await_registered(const std::string& register_id) {
    beast::flat_buffer buffer;
    auto [ec, n] = co_await ws_->async_read(buffer, kAwait);
    if (ec) {
        fail_attempt(ec == websocket::error::closed
                         ? "register_closed_" + std::to_string(ws_->reason().code)
                         : "register_lost");
        co_return false;
    }
    if (load_.options().echo_peer) {
        interval_ = load_.options().heartbeat;
        co_return true;
    }

    auto m = protocol::decode(beast::buffers_to_string(buffer.data()));
    const auto* answer = m ? std::get_if<protocol::Registered>(&m->body) : nullptr;
    if (answer == nullptr || m->re != register_id) {
        const auto* refusal = m ? std::get_if<protocol::ErrorBody>(&m->body) : nullptr;
        fail_attempt(refusal != nullptr ? "register_refused_" + refusal->code
                                        : "register_unexpected_answer");
        co_return false;
    }
    interval_ = load_.options().heartbeat.count() > 0
                    ? load_.options().heartbeat
                    : seconds(std::clamp<std::uint32_t>(answer->heartbeat_interval_s, 1, 3600));
    co_return true;
}

// Heartbeats until the server or the network ends the session, or the run ends.
awaitable<void> Agent::hold() {
    auto& stats = load_.stats();
    const auto registered_at = SteadyClock::now();
    ++stats.registrations;
    stats.count_now(stats.established_per_second);
    if (had_session_) {
        ++stats.reconnections;
        stats.count_now(stats.reconnected_per_second);
    } else {
        ++stats.agents_registered;
    }
    had_session_ = true;
    stats.online_peak = std::max(stats.online_peak, ++stats.online);

    session_over_ = false;
    ending_ = false;
    write_failed_ = false;
    reader_running_ = true;
    asio::co_spawn(load_.io(), read_until_closed(), report_exception);

    while (!session_over_ && !load_.stopping()) {
        timer_.expires_after(interval_);
        co_await timer_.async_wait(kAwait);
        if (session_over_ || load_.stopping()) {
            break;
        }
        if (write_failed_) {
            break;
        }
        send(protocol::encode({next_id(), std::nullopt, protocol::kProtocolVersion,
                               protocol::Heartbeat{++seq_, {}}}));
        ++stats.heartbeats;
    }
    if (!session_over_ && load_.stopping()) {
        co_await end_session();
    }

    // The reader and the writer hold the stream; it goes only after both are done with it.
    if (reader_running_) {
        reader_done_.expires_at(SteadyClock::time_point::max());
        co_await reader_done_.async_wait(kAwait);
    }
    co_await writer_finished();
    --stats.online;
    if (SteadyClock::now() - registered_at >= load_.options().stable) {
        backoff_step_ = 0;
    }
    ws_.reset();
}

awaitable<void> Agent::end_session() {
    ending_ = true;
    if (!load_.options().leave) {
        beast::get_lowest_layer(*ws_).close();
        co_return;
    }
    send(protocol::encode(
        {next_id(), std::nullopt, protocol::kProtocolVersion, protocol::Leaving{"shutdown"}}));
    co_await writer_finished();
    if (write_failed_) {
        co_return;
    }
    // The server may close first once it has read `leaving`; a normal close either way.
    auto [cec] = co_await ws_->async_close(websocket::close_code::normal, kAwait);
    if (!cec || ws_->reason().code == websocket::close_code::normal) {
        ++load_.stats().left;
    }
}

void Agent::send(std::string frame) {
    outbox_.push_back(std::move(frame));
    if (!writing_) {
        writing_ = true;
        asio::co_spawn(load_.io(), drain_outbox(), report_exception);
    }
}

awaitable<void> Agent::drain_outbox() {
    auto self = shared_from_this();
    while (!outbox_.empty() && !write_failed_) {
        auto frame = std::move(outbox_.front());
        outbox_.pop_front();
        auto [ec, n] = co_await ws_->async_write(asio::buffer(frame), kAwait);
        if (ec) {
            // The reader sees the same end of the session and reports it.
            write_failed_ = true;
        }
    }
    outbox_.clear();
    writing_ = false;
    writer_done_.cancel();
}

awaitable<void> Agent::writer_finished() {
    if (writing_) {
        writer_done_.expires_at(SteadyClock::time_point::max());
        co_await writer_done_.async_wait(kAwait);
    }
}

// A node whose execution takes no time: every phase is reported the moment the task arrives.
void Agent::on_assign(const protocol::TaskAssign& assign) {
    auto& stats = load_.stats();
    if (!attempts_held_.insert(assign.attempt_id).second) {
        ++stats.assigns_repeated;
        return;
    }
    ++stats.tasks_received;
    load_.record_receipt({assign.task_id, assign.attempt_id, index_, unix_micros()});

    std::uint64_t seq = 0;
    for (const char* phase : {"accepted", "running", "succeeded"}) {
        protocol::TaskStatus status;
        status.attempt_id = assign.attempt_id;
        status.seq = ++seq;
        status.phase = phase;
        status.at = utc_now_iso();
        if (status.phase == "succeeded") {
            status.exit_code = 0;
        }
        send(protocol::encode(
            {next_id(), std::nullopt, protocol::kProtocolVersion, std::move(status)}));
        ++stats.task_reports;
    }
}

awaitable<void> Agent::read_until_closed() {
    auto self = shared_from_this();
    auto& stats = load_.stats();
    beast::flat_buffer buffer;
    error_code end;
    while (true) {
        buffer.clear();
        auto [ec, n] = co_await ws_->async_read(buffer, kAwait);
        if (ec) {
            end = ec;
            break;
        }
        if (!load_.options().echo_peer) {
            auto m = protocol::decode(beast::buffers_to_string(buffer.data()));
            if (!m) {
                continue;
            }
            if (std::holds_alternative<protocol::ErrorBody>(m->body)) {
                ++stats.errors_received;
            } else if (std::holds_alternative<protocol::TaskAck>(m->body)) {
                ++stats.acks_received;
            } else if (const auto* assign = std::get_if<protocol::TaskAssign>(&m->body);
                       assign != nullptr && load_.options().run_tasks && !ending_ &&
                       !load_.stopping()) {
                on_assign(*assign);
            }
        }
    }

    // The peer's close frame is known also when this side started the close handshake.
    if (end == websocket::error::closed || ws_->reason().code != 0) {
        ++stats.close_codes[ws_->reason().code];
    } else if (!ending_) {
        ++stats.close_codes[kLostCode];
    }
    if (!ending_) {
        ++stats.failures["session_lost"];
    }
    session_over_ = true;
    reader_running_ = false;
    timer_.cancel();
    reader_done_.cancel();
}

void Load::start() {
    stats_.started = SteadyClock::now();
    stats_.started_unix_ms = std::chrono::duration_cast<milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    agents_.reserve(options_.agents);

    end_timer_.expires_after(options_.duration);
    end_timer_.async_wait([this](error_code ec) {
        if (!ec) {
            stop("duration");
        }
    });
    signals_.async_wait([this](error_code ec, int sig) {
        if (!ec) {
            stop(sig == SIGINT ? "sigint" : "sigterm");
        }
    });
    asio::co_spawn(io_, launch(), report_exception);
    if (!options_.status_file.empty()) {
        asio::co_spawn(io_, write_status(), report_exception);
    }
}

awaitable<void> Load::launch() {
    for (std::size_t i = 0; i < options_.agents && !stopping_; ++i) {
        if (options_.connect_rate > 0) {
            auto offset =
                std::chrono::duration<double>(static_cast<double>(i) / options_.connect_rate);
            pace_.expires_at(stats_.started +
                             std::chrono::duration_cast<SteadyClock::duration>(offset));
            co_await pace_.async_wait(kAwait);
            if (stopping_) {
                break;
            }
        }
        auto agent = std::make_shared<Agent>(*this, i);
        agents_.push_back(agent);
        ++running_;
        asio::co_spawn(io_, agent->run(), report_exception);
    }
    launching_ = false;
    maybe_finish();
}

void Load::stop(const std::string& why) {
    if (stopping_) {
        return;
    }
    stopping_ = true;
    end_reason_ = why;
    pace_.cancel();
    end_timer_.cancel();
    for (auto& a : agents_) {
        a->wake();
    }
    grace_timer_.expires_after(kLeaveGrace);
    grace_timer_.async_wait([this](error_code ec) {
        if (!ec) {
            std::cerr << "link-load: sessions still open after the grace period, cut\n";
            for (auto& a : agents_) {
                a->cut();
            }
            // Cut sockets end every operation; this is the backstop that keeps the run bounded.
            grace_timer_.expires_after(seconds(5));
            grace_timer_.async_wait([this](error_code again) {
                if (!again) {
                    io_.stop();
                }
            });
        }
    });
    maybe_finish();
}

void Load::agent_done() {
    --running_;
    maybe_finish();
}

// Without --reconnect a run whose agents have all ended has nothing left to do.
void Load::maybe_finish() {
    if (finished_ || launching_ || running_ > 0) {
        return;
    }
    finished_ = true;
    if (!stopping_) {
        stopping_ = true;
        end_reason_ = "all agents ended";
    }
    end_timer_.cancel();
    grace_timer_.cancel();
    status_timer_.cancel();
    error_code ignored;
    signals_.cancel(ignored);
}

nlohmann::json Load::live_counters() const {
    auto elapsed = std::chrono::duration<double>(SteadyClock::now() - stats_.started).count();
    return {{"elapsed_s", elapsed},
            {"online", stats_.online},
            {"registrations", stats_.registrations},
            {"agents_registered", stats_.agents_registered},
            {"heartbeats", stats_.heartbeats},
            {"attempts", stats_.attempts},
            {"failures", stats_.failure_count()},
            {"tasks_received", stats_.tasks_received},
            {"task_reports", stats_.task_reports},
            {"acks_received", stats_.acks_received},
            {"stopping", stopping_}};
}

// Rewritten whole and renamed into place, so that a reader never sees half a file.
void write_file_atomically(const std::string& file, const std::string& text) {
    auto tmp = file + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << text << "\n";
    }
    std::error_code ec;
    std::filesystem::rename(tmp, file, ec);
}

awaitable<void> Load::write_status() {
    int tick = 0;
    while (!finished_) {
        auto counters = live_counters();
        write_file_atomically(options_.status_file, counters.dump());
        if (++tick % 5 == 0) {
            std::cerr << "link-load: " << counters.dump() << "\n";
        }
        status_timer_.expires_after(seconds(1));
        co_await status_timer_.async_wait(kAwait);
    }
    write_file_atomically(options_.status_file, live_counters().dump());
}

nlohmann::json per_second_json(const std::vector<std::uint64_t>& counts) {
    std::uint64_t peak = 0;
    for (auto c : counts) {
        peak = std::max(peak, c);
    }
    return {{"peak", peak}, {"counts", counts}};
}

nlohmann::json Load::report() const {
    nlohmann::json failures = nlohmann::json::object();
    for (const auto& [kind, n] : stats_.failures) {
        failures[kind] = n;
    }
    nlohmann::json closes = nlohmann::json::object();
    for (const auto& [code, n] : stats_.close_codes) {
        closes[std::to_string(code)] = n;
    }
    return {
        {"server", options_.server},
        {"peer", options_.echo_peer ? "echo" : "kernel"},
        {"agents", options_.agents},
        {"reconnect", options_.reconnect},
        {"jitter", options_.jitter ? "full" : "none"},
        {"started_unix_ms", stats_.started_unix_ms},
        {"elapsed_s", std::chrono::duration<double>(SteadyClock::now() - stats_.started).count()},
        {"end_reason", end_reason_},
        {"registered", stats_.agents_registered},
        {"registrations", stats_.registrations},
        {"reconnections", stats_.reconnections},
        {"online_peak", stats_.online_peak},
        {"attempts", stats_.attempts},
        {"heartbeats", stats_.heartbeats},
        {"errors_received", stats_.errors_received},
        {"left", stats_.left},
        {"failures", stats_.failure_count()},
        {"failure_kinds", failures},
        {"close_codes", closes},
        {"established_per_second", per_second_json(stats_.established_per_second)},
        {"reconnected_per_second", per_second_json(stats_.reconnected_per_second)},
        {"attempts_per_second", per_second_json(stats_.attempts_per_second)},
        {"run_tasks", options_.run_tasks},
        {"tasks_received", stats_.tasks_received},
        {"assigns_repeated", stats_.assigns_repeated},
        {"task_reports", stats_.task_reports},
        {"acks_received", stats_.acks_received},
    };
}

void Load::write_receipts(const std::string& file) const {
    std::string text;
    for (const auto& r : receipts_) {
        text += nlohmann::json{{"task_id", r.task_id},
                               {"attempt_id", r.attempt_id},
                               {"agent", r.agent},
                               {"received_unix_us", r.received_unix_us}}
                    .dump();
        text += "\n";
    }
    if (!text.empty()) {
        text.pop_back();
    }
    write_file_atomically(file, text);
}

int run(const Options& options) {
    auto limit = raise_fd_limit();
    if (limit < options.agents + 64) {
        std::cerr << "link-load: " << options.agents << " agents need about " << options.agents + 64
                  << " file descriptors, the limit is " << limit << "\n";
        return 1;
    }
    asio::io_context io(1);
    Target target = resolve_target(io, options.server);
    Load load(io, options, target, read_tokens(options.tokens_file, options.agents));
    load.start();
    io.run();

    auto report = load.report();
    std::cout << "registered=" << report["registered"] << " failures=" << report["failures"]
              << " heartbeats=" << report["heartbeats"]
              << " peak_established_per_second=" << report["established_per_second"]["peak"]
              << "\n";
    if (!options.report_file.empty()) {
        write_file_atomically(options.report_file, report.dump(2));
    }
    if (!options.received_file.empty()) {
        load.write_receipts(options.received_file);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        auto options = parse_options(argc, argv);
        if (!options) {
            return 0;
        }
        return run(*options);
    } catch (const UsageError& e) {
        std::cerr << "link-load: " << e.what() << " (see --help)\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "link-load: " << e.what() << "\n";
        return 1;
    }
}
