#include "link/provider_server.hpp"

#include "core/log_limiter.hpp"
#include "core/time_format.hpp"
#include "unidesk/protocol/close_reason.hpp"
#include "unidesk/protocol/codec.hpp"

#include <boost/asio/append.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <thread>
#include <variant>

namespace unidesk::kernel {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace websocket = beast::websocket;
using asio::awaitable;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using protocol::CloseReason;
using SteadyClock = std::chrono::steady_clock;

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
constexpr auto kUpgradeTimeout = std::chrono::seconds(10);
constexpr std::size_t kHeaderLimit = 8 * 1024;
constexpr auto kStopWait = std::chrono::seconds(10);
constexpr auto kCloseGrace = std::chrono::seconds(2);
constexpr const char* kConnectPath = "/v1/provider/connect";
// Task reports of one session read but not yet stored; past this many, reading waits.
constexpr std::size_t kMaxWaitingReports = 1024;

// Runs `job` on the worker pool and resumes the calling coroutine on its own executor with
// its answer: `*co_await on_worker(pool, job)`. The job returns a Result; an exception it lets
// out becomes an `internal` error. Not a coroutine itself, and the job is a named lvalue at
// the call site: g++ 12 destroys some temporaries of a co_await expression twice.
template <class F>
auto on_worker(asio::thread_pool& pool, F& job) {
    using R = std::invoke_result_t<F&>;
    auto initiate = [&pool, &job](auto handler) {
        asio::post(pool, [job = std::move(job), handler = std::move(handler)]() mutable {
            std::optional<R> out;
            try {
                out.emplace(job());
            } catch (const std::exception& e) {
                out.emplace(make_error(Errc::internal, "internal", e.what()));
            }
            asio::dispatch(asio::append(std::move(handler), std::move(out)));
        });
    };
    return asio::async_initiate<decltype(asio::use_awaitable), void(std::optional<R>)>(
        std::move(initiate), asio::use_awaitable);
}

std::string close_text(std::uint16_t code) {
    return std::string(protocol::close_reason_name(code));
}

// The close code for a frame the decoder refused.
CloseReason close_for(const Error& e) {
    if (e.code == "unsupported_version") {
        return CloseReason::unsupported_version;
    }
    if (e.code == "frame_too_large") {
        return CloseReason::frame_too_large;
    }
    return CloseReason::malformed_message;
}

// What the writer sends next: a text frame, or a close that ends the session.
struct Outgoing {
    std::string text;
    std::optional<std::uint16_t> close;
};

// The parts of a session the rest of the server sees. Fields below `mu`-guarded are touched
// only with Impl::mu held; the rest only on the session's strand.
class SessionBase {
public:
    SessionBase(asio::any_io_executor ex, std::string remote)
        : strand_(std::move(ex)), wake_(strand_), remote_(std::move(remote)) {}
    virtual ~SessionBase() = default;

    //! From any thread: end the connection; a registered session is closed with `close`.
    void post_end(std::uint16_t close) {
        asio::post(strand_, [self = self(), close] {
            if (self->upgraded_) {
                self->close_now(close, {}, {});
            } else {
                self->abort_transport();
            }
        });
    }

    //! From any thread: cut the connection without a close handshake.
    void post_abort() {
        asio::post(strand_, [self = self()] { self->abort_transport(); });
    }
    //! From any thread: queue a frame. Ignored once the session is closing.
    void post_frame(std::string text) {
        asio::post(strand_, [self = self(), text = std::move(text)]() mutable {
            self->enqueue({std::move(text), std::nullopt});
        });
    }
    //! From any thread: queue a message; it gets the session's next id on the strand.
    void post_message(protocol::Body body) {
        asio::post(strand_, [self = self(), body = std::move(body)]() mutable {
            protocol::Message m{self->next_id(), std::nullopt, protocol::kProtocolVersion,
                                std::move(body)};
            self->enqueue({protocol::encode(m), std::nullopt});
        });
    }
    //! From any thread: queue `error` (when code is non-empty) and a close.
    void post_close(std::uint16_t close, std::string code = {}, std::string message = {}) {
        asio::post(strand_, [self = self(), close, code = std::move(code),
                             message = std::move(message)]() mutable {
            self->close_now(close, code, message);
        });
    }

    //! On the strand: queue `error` (when code is non-empty) and a close.
    void close_now(std::uint16_t close, const std::string& code, const std::string& message) {
        if (!code.empty() && !closing_) {
            protocol::Message m{"s-" + std::to_string(++next_id_), std::nullopt,
                                protocol::kProtocolVersion, protocol::ErrorBody{code, message}};
            enqueue({protocol::encode(m), std::nullopt});
        }
        enqueue({{}, close});
    }

    // Task reports read from the node and not yet stored, oldest first, each with the ack it
    // earns; one worker at a time stores them (`storing`), all that wait at once in one call.
    struct WaitingReport {
        NodeReport report;
        protocol::TaskAck ack;
    };
    std::mutex reports_mu;
    std::vector<WaitingReport> reports_waiting;  // reports_mu
    bool storing = false;                        // reports_mu

    std::size_t reports_backlog() {
        std::lock_guard lock(reports_mu);
        return reports_waiting.size();
    }

    // Set once registered; read under Impl::mu by the housekeeping thread.
    std::string node;
    std::int64_t generation = 0;
    std::int64_t token_id = 0;
    // mu-guarded
    SteadyClock::time_point last_seen = SteadyClock::now();
    std::optional<std::chrono::system_clock::time_point> unflushed_beat;
    bool silence_reported = false;

    const std::string& remote() const { return remote_; }

protected:
    virtual std::shared_ptr<SessionBase> self() = 0;
    virtual void abort_transport() = 0;

    // On the strand.
    void enqueue(Outgoing out) {
        if (closing_) {
            return;
        }
        closing_ = out.close.has_value();
        outbox_.push_back(std::move(out));
        wake_.cancel();
    }
    std::string next_id() { return "s-" + std::to_string(++next_id_); }

    asio::any_io_executor strand_;
    asio::steady_timer wake_;
    std::deque<Outgoing> outbox_;
    bool closing_ = false;   // a close is queued or sent
    bool finished_ = false;  // the reader ended; the writer stops
    bool upgraded_ = false;  // the WebSocket handshake is done; the writer runs
    std::uint64_t next_id_ = 0;
    std::string remote_;
};

template <class Ws>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Ws>> {
public:
    //! `args` construct the WebSocket stream (a socket, and the TLS context for TLS).
    template <class... Args>
    Session(asio::any_io_executor ex, std::string remote, Args&&... args)
        : SessionBase(std::move(ex), std::move(remote)), ws(std::forward<Args>(args)...) {}

    Ws ws;

    //! The only writer: frames in order, then the close.
    awaitable<void> write_loop() {
        auto keep = this->shared_from_this();
        while (true) {
            if (outbox_.empty()) {
                if (finished_) {
                    co_return;
                }
                wake_.expires_at(SteadyClock::time_point::max());
                co_await wake_.async_wait(kAwait);
                continue;
            }
            Outgoing out = std::move(outbox_.front());
            outbox_.pop_front();
            if (out.close) {
                websocket::close_reason reason(*out.close);
                reason.reason = close_text(*out.close);
                co_await ws.async_close(reason, kAwait);
                co_return;
            }
            auto [ec, n] = co_await ws.async_write(asio::buffer(out.text), kAwait);
            if (ec) {
                co_return;
            }
        }
    }

    void send_message(protocol::Body body, std::optional<std::string> re = std::nullopt) {
        protocol::Message m{next_id(), std::move(re), protocol::kProtocolVersion, std::move(body)};
        enqueue({protocol::encode(m), std::nullopt});
    }
    void refuse(CloseReason close, const std::string& code, const std::string& message) {
        close_now(static_cast<std::uint16_t>(close), code, message);
    }
    bool closing() const { return closing_; }
    void mark_upgraded() { upgraded_ = true; }
    void finish() {
        finished_ = true;
        wake_.cancel();
    }

private:
    std::shared_ptr<SessionBase> self() override { return this->shared_from_this(); }
    void abort_transport() override { beast::get_lowest_layer(ws).close(); }
};

using PlainWs = websocket::stream<beast::tcp_stream>;
using TlsWs = websocket::stream<ssl::stream<beast::tcp_stream>>;
using UpgradeRequest = http::request<http::empty_body>;

http::response<http::string_body> refusal_response(http::status status, unsigned version,
                                                   const std::string& code,
                                                   const std::string& message) {
    http::response<http::string_body> res{status, version};
    res.set(http::field::server, "unidesk");
    res.set(http::field::content_type, "application/json");
    if (status == http::status::unauthorized) {
        res.set(http::field::www_authenticate, "Bearer");
    }
    res.body() = nlohmann::json{{"error", {{"code", code}, {"message", message}}}}.dump();
    res.keep_alive(false);
    res.prepare_payload();
    return res;
}

std::string bearer_token(const http::request<http::empty_body>& req) {
    auto value = req[http::field::authorization];
    if (value.size() > 7 && beast::iequals(value.substr(0, 7), "bearer ")) {
        return std::string(value.substr(7));
    }
    return {};
}

}  // namespace

struct ProviderServer::Impl : std::enable_shared_from_this<ProviderServer::Impl> {
    Impl(ProviderOptions o, asio::io_context& io_ctx, asio::thread_pool& pool, Auth& a,
         NodeStore& n, Clock& c, std::shared_ptr<spdlog::logger> l)
        : options(std::move(o)),
          io(io_ctx),
          workers(pool),
          auth(a),
          nodes(n),
          clock(c),
          log(std::move(l)),
          acceptor(asio::make_strand(io_ctx)) {}

    std::uint16_t start();
    void stop();

    void spawn(const asio::any_io_executor& ex, awaitable<void> work);
    awaitable<void> accept_loop();
    void open_connection(tcp::socket socket, std::uint64_t id);
    template <class Ws>
    awaitable<void> run_connection(std::shared_ptr<Session<Ws>> s, std::uint64_t id);
    template <class Ws>
    awaitable<void> serve_connection(const std::shared_ptr<Session<Ws>>& s, std::uint64_t id);
    template <class Ws>
    awaitable<std::optional<NodeIdentity>> upgrade(Session<Ws>& s, beast::flat_buffer& buffer,
                                                   UpgradeRequest& req);
    awaitable<http::response<http::string_body>> refuse_token(const Error& e, unsigned version,
                                                              const std::string& remote);
    template <class Ws>
    awaitable<void> run_session(std::shared_ptr<Session<Ws>> s, const NodeIdentity& identity);
    template <class Ws>
    awaitable<bool> register_node(Session<Ws>& s, const NodeIdentity& identity,
                                  const protocol::Register& hello);
    template <class Ws>
    awaitable<void> handle_frame(Session<Ws>& s, const protocol::Message& m);
    template <class Ws>
    std::optional<protocol::Message> decode_frame(Session<Ws>& s, beast::flat_buffer& buffer);

    // Sessions by node; the newest generation wins.
    void adopt(const std::shared_ptr<SessionBase>& s);
    void forget(const std::shared_ptr<SessionBase>& s);

    void housekeeping();
    void flush_once();
    void sweep_once();
    void peer_warn(const std::string& line);

    const ProviderOptions options;
    asio::io_context& io;
    asio::thread_pool& workers;
    Auth& auth;
    NodeStore& nodes;
    Clock& clock;
    std::shared_ptr<spdlog::logger> log;
    tcp::acceptor acceptor;
    std::optional<ssl::context> tls;

    std::atomic<bool> stopping{false};
    mutable std::mutex mu;
    std::condition_variable changed;
    std::size_t running = 0;  // coroutines not yet finished
    bool started = false;
    bool listening = false;
    std::uint64_t next_id = 0;
    std::map<std::uint64_t, std::weak_ptr<SessionBase>> connections;  // every open one
    std::map<std::string, std::shared_ptr<SessionBase>> sessions;
    std::string flush_failure;  // empty while heartbeats are written
    SteadyClock::time_point started_at = SteadyClock::now();
    SteadyClock::time_point last_sweep;
    std::atomic<std::uint64_t> frames_out{0};
    std::thread keeper;

    LogLimiter peer_log;
    LogLimiter refusal_events{60};

    // The report handler; callers hold the lock shared while it runs, so that removing it
    // waits for calls in flight.
    mutable std::shared_mutex handler_mu;
    NodeReportHandler handler;

    //! On a worker: one result per report. `unhandled` when no handler is installed.
    std::vector<Result<void>> pass_reports(const std::vector<NodeReport>& reports);
    Result<void> pass_report(const NodeReport& report) { return pass_reports({report})[0]; }
    //! Queues a task report of `s`, and starts a worker storing the queue when none does.
    void queue_report(const std::shared_ptr<SessionBase>& s, NodeReport report,
                      protocol::TaskAck ack);
    //! On a worker: stores the queue of `s` a batch at a time and acknowledges what it stored.
    void store_reports(const std::shared_ptr<SessionBase>& s);
    //! A report the handler did not store: it stays unacknowledged, and the node sends it
    //! again in its next session.
    void not_stored(const std::string& node, const Error& e);
};

namespace {

// The acknowledgement a task report asks for; nothing for other messages.
std::optional<protocol::TaskAck> task_report_ack(const protocol::Body& body) {
    if (const auto* st = std::get_if<protocol::TaskStatus>(&body)) {
        return protocol::TaskAck{st->attempt_id, st->seq};
    }
    if (const auto* lg = std::get_if<protocol::TaskLog>(&body)) {
        return protocol::TaskAck{lg->attempt_id, lg->seq};
    }
    return std::nullopt;
}

NodeReport running_report(const std::string& node, std::int64_t generation,
                          const protocol::Register& hello) {
    nlohmann::json running = nlohmann::json::array();
    for (const auto& a : hello.running) {
        running.push_back({{"attempt_id", a.attempt_id}, {"state", a.state}});
    }
    return NodeReport{node,
                      generation,
                      "register.running",
                      {{"running", std::move(running)}, {"task_slots", hello.task_slots}}};
}

}  // namespace

std::vector<Result<void>> ProviderServer::Impl::pass_reports(
    const std::vector<NodeReport>& reports) {
    auto all = [&](Error e) { return std::vector<Result<void>>(reports.size(), e); };
    std::shared_lock lock(handler_mu);
    if (!handler) {
        return all(make_error(Errc::unavailable, "unhandled", "no plugin takes task reports"));
    }
    try {
        auto out = handler(reports);
        if (out.size() != reports.size()) {
            return all(make_error(Errc::internal, "internal",
                                  "the report handler answered for " + std::to_string(out.size()) +
                                      " of " + std::to_string(reports.size()) + " reports"));
        }
        return out;
    } catch (const std::exception& e) {
        return all(make_error(Errc::internal, "internal",
                              std::string("the report handler failed: ") + e.what()));
    }
}

void ProviderServer::Impl::queue_report(const std::shared_ptr<SessionBase>& s, NodeReport report,
                                        protocol::TaskAck ack) {
    {
        std::lock_guard lock(s->reports_mu);
        s->reports_waiting.push_back({std::move(report), std::move(ack)});
        if (s->storing) {
            return;  // the worker storing this session's reports takes it in its next batch
        }
        s->storing = true;
    }
    asio::post(workers, [this, s] { store_reports(s); });
}

void ProviderServer::Impl::store_reports(const std::shared_ptr<SessionBase>& s) {
    while (true) {
        std::vector<SessionBase::WaitingReport> batch;
        {
            std::lock_guard lock(s->reports_mu);
            if (s->reports_waiting.empty()) {
                s->storing = false;
                return;
            }
            batch.swap(s->reports_waiting);
        }
        std::vector<NodeReport> reports;
        reports.reserve(batch.size());
        for (auto& w : batch) {
            reports.push_back(std::move(w.report));
        }
        auto results = pass_reports(reports);
        for (std::size_t i = 0; i < batch.size(); ++i) {
            if (results[i]) {
                s->post_message(batch[i].ack);
            } else {
                not_stored(reports[i].node_name, results[i].error());
            }
        }
    }
}

void ProviderServer::Impl::not_stored(const std::string& node, const Error& e) {
    if (e.code != "unhandled") {
        log->warn("node report not recorded node={} error=\"{}\"", node, e.message);
    }
}

std::uint16_t ProviderServer::Impl::start() {
    if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
        throw std::runtime_error("provider.tls_cert_file and provider.tls_key_file go together");
    }
    if (!options.tls_cert_file.empty()) {
        tls.emplace(ssl::context::tls_server);
        tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1);
        error_code ec;
        tls->use_certificate_chain_file(options.tls_cert_file, ec);
        if (ec) {
            throw std::runtime_error("cannot read provider.tls_cert_file " + options.tls_cert_file +
                                     ": " + ec.message());
        }
        tls->use_private_key_file(options.tls_key_file, ssl::context::pem, ec);
        if (ec) {
            throw std::runtime_error("cannot read provider.tls_key_file " + options.tls_key_file +
                                     ": " + ec.message());
        }
    }

    error_code ec;
    auto address = asio::ip::make_address(options.host, ec);
    tcp::endpoint endpoint(address, options.port);
    if (!ec) {
        acceptor.open(endpoint.protocol(), ec);
    }
    if (!ec) {
        acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    }
    if (!ec) {
        acceptor.bind(endpoint, ec);
    }
    if (!ec) {
        acceptor.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        throw std::runtime_error("cannot listen on " + options.host + ":" +
                                 std::to_string(options.port) + ": " + ec.message());
    }

    auto port = acceptor.local_endpoint().port();
    {
        std::lock_guard lock(mu);
        started = true;
        listening = true;
        started_at = SteadyClock::now();
    }
    spawn(acceptor.get_executor(), accept_loop());
    keeper = std::thread([self = shared_from_this()] { self->housekeeping(); });
    log->info("provider listener started address={}:{} tls={} offline_after_s={}", options.host,
              port, tls.has_value(), options.offline_after.count());
    return port;
}

void ProviderServer::Impl::spawn(const asio::any_io_executor& ex, awaitable<void> work) {
    {
        std::lock_guard lock(mu);
        ++running;
    }
    asio::co_spawn(ex, std::move(work), [self = shared_from_this()](std::exception_ptr e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                self->log->error("provider coroutine failed error={}", x.what());
            } catch (...) {
                self->log->error("provider coroutine failed error=unknown");
            }
        }
        std::lock_guard lock(self->mu);
        --self->running;
        self->changed.notify_all();
    });
}

void ProviderServer::Impl::stop() {
    std::vector<std::weak_ptr<SessionBase>> open;
    {
        std::lock_guard lock(mu);
        if (!started || stopping.exchange(true)) {
            return;
        }
        listening = false;
        for (auto& [id, s] : connections) {
            open.push_back(s);
        }
    }
    changed.notify_all();
    if (keeper.joinable()) {
        keeper.join();
    }

    asio::post(acceptor.get_executor(), [self = shared_from_this()] {
        error_code ignored;
        self->acceptor.close(ignored);
    });
    for (auto& weak : open) {
        if (auto s = weak.lock()) {
            s->post_end(static_cast<std::uint16_t>(CloseReason::going_away));
        }
    }

    if (io.get_executor().running_in_this_thread() || io.stopped()) {
        log->warn("provider listener stop cannot wait");
        return;
    }
    // Agents answer the close at once; one that does not within the grace is cut off.
    std::unique_lock lock(mu);
    if (!changed.wait_for(lock, kCloseGrace, [this] { return running == 0; })) {
        for (auto& weak : open) {
            if (auto s = weak.lock()) {
                s->post_abort();
            }
        }
    }
    if (!changed.wait_for(lock, kStopWait, [this] { return running == 0; })) {
        log->warn("provider listener stop gave up waiting still_running={}", running);
        return;
    }
    log->info("provider listener stopped");
}

awaitable<void> ProviderServer::Impl::accept_loop() {
    for (;;) {
        tcp::socket socket(asio::make_strand(io));
        auto [ec] = co_await acceptor.async_accept(socket, kAwait);
        if (stopping || !acceptor.is_open()) {
            co_return;
        }
        if (ec) {
            // Out of file descriptors and the like: wait a little instead of spinning.
            peer_warn("provider accept failed error=" + ec.message());
            asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(100));
            co_await pause.async_wait(kAwait);
            continue;
        }
        std::uint64_t id = 0;
        {
            std::lock_guard lock(mu);
            id = next_id++;
        }
        open_connection(std::move(socket), id);
    }
}

void ProviderServer::Impl::peer_warn(const std::string& line) {
    std::size_t suppressed = 0;
    if (peer_log.allow(suppressed)) {
        log->warn("{} suppressed={}", line, suppressed);
    }
}

// Not a coroutine: g++ 12 mishandles coroutine parameters that are non-trivial values, so the
// socket goes into a session object here and the coroutine receives a shared pointer.
void ProviderServer::Impl::open_connection(tcp::socket socket, std::uint64_t id) {
    error_code ec;
    auto peer = socket.remote_endpoint(ec);
    std::string remote =
        ec ? "unknown" : peer.address().to_string() + ":" + std::to_string(peer.port());
    // Commands and acknowledgements are small frames that must not wait for a delayed ACK.
    socket.set_option(tcp::no_delay(true), ec);
    auto ex = socket.get_executor();
    if (tls) {
        auto s = std::make_shared<Session<TlsWs>>(ex, remote, std::move(socket), *tls);
        spawn(ex, run_connection(s, id));
    } else {
        auto s = std::make_shared<Session<PlainWs>>(ex, remote, std::move(socket));
        spawn(ex, run_connection(s, id));
    }
}

// TLS handshake when configured, then the upgrade request: its path, and the node token.
template <class Ws>
awaitable<std::optional<NodeIdentity>> ProviderServer::Impl::upgrade(Session<Ws>& s,
                                                                     beast::flat_buffer& buffer,
                                                                     UpgradeRequest& req) {
    auto& stream = s.ws.next_layer();
    beast::get_lowest_layer(stream).expires_after(kUpgradeTimeout);
    if constexpr (std::is_same_v<Ws, TlsWs>) {
        auto [hs] = co_await stream.async_handshake(ssl::stream_base::server, kAwait);
        if (hs) {
            peer_warn("provider tls handshake failed remote=" + s.remote() +
                      " error=" + hs.message());
            co_return std::nullopt;
        }
    }

    http::request_parser<http::empty_body> parser;
    parser.header_limit(kHeaderLimit);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, kAwait);
    if (ec) {
        co_return std::nullopt;
    }
    req = parser.release();
    auto target = std::string_view(req.target());
    auto path = target.substr(0, target.find('?'));

    std::optional<http::response<http::string_body>> refusal;
    if (path != kConnectPath) {
        refusal = refusal_response(http::status::not_found, req.version(), "not_found",
                                   "agents connect to " + std::string(kConnectPath));
    } else if (!websocket::is_upgrade(req)) {
        refusal = refusal_response(http::status::upgrade_required, req.version(),
                                   "upgrade_required", "this endpoint speaks WebSocket only");
    }

    std::optional<NodeIdentity> identity;
    if (!refusal) {
        auto check = [this, token = bearer_token(req)] {
            return auth.authenticate_node_token(token);
        };
        auto checked = *co_await on_worker(workers, check);
        if (checked) {
            identity = *checked;
        } else {
            refusal = co_await refuse_token(checked.error(), req.version(), s.remote());
        }
    }
    if (refusal) {
        co_await http::async_write(stream, *refusal, kAwait);
        error_code ignored;
        beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_send, ignored);
        co_return std::nullopt;
    }
    beast::get_lowest_layer(stream).expires_never();
    co_return identity;
}

// The answer to a node token that was not accepted, and its event (rate-limited: a peer
// guessing tokens must not fill the events table).
awaitable<http::response<http::string_body>> ProviderServer::Impl::refuse_token(
    const Error& e, unsigned version, const std::string& remote) {
    const bool unauthenticated = e.errc == Errc::unauthenticated;
    peer_warn("provider connection refused remote=" + remote + " code=" + e.code);
    std::size_t suppressed = 0;
    if (unauthenticated && refusal_events.allow(suppressed)) {
        auto record = [this, code = e.code, remote] {
            return nodes.record_refusal(code, "", remote);
        };
        auto recorded = *co_await on_worker(workers, record);
        if (!recorded) {
            log->warn("connection refusal not recorded error={}", recorded.error().message);
        }
    }
    if (!unauthenticated) {
        co_return refusal_response(http::status::service_unavailable, version, e.code, e.message);
    }
    co_return refusal_response(http::status::unauthorized, version, e.code,
                               "a valid node token is required: " + e.message);
}

template <class Ws>
awaitable<void> ProviderServer::Impl::serve_connection(const std::shared_ptr<Session<Ws>>& s,
                                                       std::uint64_t id) {
    {
        std::lock_guard lock(mu);
        if (stopping) {
            co_return;
        }
        connections[id] = s;
    }

    beast::flat_buffer buffer;
    UpgradeRequest req;
    auto identity = co_await upgrade(*s, buffer, req);
    if (!identity) {
        co_return;
    }

    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = kUpgradeTimeout;
    // A backstop only: housekeeping closes a silent session with 4007 before this fires.
    timeouts.idle_timeout = options.offline_after + std::chrono::seconds(30);
    timeouts.keep_alive_pings = false;
    s->ws.set_option(timeouts);
    s->ws.read_message_max(options.max_frame_bytes);
    s->ws.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "unidesk"); }));
    auto [accept_ec] = co_await s->ws.async_accept(req, kAwait);
    if (accept_ec || stopping) {
        co_return;
    }
    s->mark_upgraded();
    co_await run_session(s, *identity);
}

template <class Ws>
awaitable<void> ProviderServer::Impl::run_connection(std::shared_ptr<Session<Ws>> s,
                                                     std::uint64_t id) {
    co_await serve_connection(s, id);
    std::lock_guard lock(mu);
    connections.erase(id);
}

template <class Ws>
awaitable<void> ProviderServer::Impl::run_session(std::shared_ptr<Session<Ws>> s,
                                                  const NodeIdentity& identity) {
    spawn(s->ws.get_executor(), s->write_loop());

    // A connection that never registers is cut after register_timeout.
    asio::steady_timer deadline(s->ws.get_executor(), options.register_timeout);
    deadline.async_wait([weak = std::weak_ptr<Session<Ws>>(s)](error_code ec) {
        if (auto live = weak.lock(); live && !ec) {
            beast::get_lowest_layer(live->ws).close();
        }
    });

    beast::flat_buffer buffer;
    bool registered = false;
    std::string end = "closed by the node";
    while (true) {
        buffer.clear();
        auto [ec, n] = co_await s->ws.async_read(buffer, kAwait);
        if (ec) {
            if (ec == websocket::error::message_too_big) {
                peer_warn("provider frame too large remote=" + s->remote() + " node=" + s->node);
            }
            end = ec == websocket::error::closed ? "closed" : ec.message();
            break;
        }
        auto m = decode_frame(*s, buffer);
        if (!m || s->closing()) {
            continue;
        }
        if (!registered) {
            if (!std::holds_alternative<protocol::Register>(m->body)) {
                s->refuse(CloseReason::not_allowed, "not_allowed",
                          "the first message must be register");
                continue;
            }
            deadline.cancel();
            registered =
                co_await register_node(*s, identity, std::get<protocol::Register>(m->body));
            if (registered) {
                adopt(s);
                const auto& hello = std::get<protocol::Register>(m->body);
                log->info("node registered node={} generation={} remote={} agent_version={}",
                          s->node, s->generation, s->remote(), hello.agent_version);
                s->send_message(protocol::Registered{static_cast<std::uint64_t>(s->generation),
                                                     static_cast<std::uint32_t>(
                                                         options.heartbeat_interval.count()),
                                                     format_utc_iso8601(clock.now())},
                                m->id);
                // The attempts it still holds, so the scheduler keeps or stops each. The job is
                // a named local: g++ 12 mishandles temporaries in co_await expressions.
                NodeReport held = running_report(s->node, s->generation, hello);
                auto job = [this, &held] { return pass_report(held); };
                auto done = *co_await on_worker(workers, job);
                if (!done) {
                    not_stored(s->node, done.error());
                }
            }
            continue;
        }
        co_await handle_frame(*s, *m);
    }

    deadline.cancel();
    s->finish();
    if (registered) {
        forget(s);
        log->info("node session ended node={} generation={} reason=\"{}\"", s->node, s->generation,
                  end);
        // A node whose connection ended is offline now, not after the heartbeat limit: no task
        // is sent its way meanwhile. (A kernel that stops leaves its nodes to come back.)
        if (!stopping) {
            auto record = [this, node = s->node, gen = s->generation, end] {
                return nodes.record_disconnected(node, gen, end);
            };
            if (auto done = *co_await on_worker(workers, record); !done) {
                log->warn("node disconnect not recorded node={} error={}", s->node,
                          done.error().message);
            }
        }
    }
}

template <class Ws>
std::optional<protocol::Message> ProviderServer::Impl::decode_frame(Session<Ws>& s,
                                                                    beast::flat_buffer& buffer) {
    if (!s.ws.got_text()) {
        s.refuse(CloseReason::malformed_message, "malformed_json",
                 "frames must be text frames holding one JSON object");
        return std::nullopt;
    }
    auto frame = beast::buffers_to_string(buffer.data());
    auto m = protocol::decode(frame, options.max_frame_bytes);
    if (!m) {
        peer_warn("provider frame refused remote=" + s.remote() + " node=" + s.node +
                  " code=" + m.error().code + " message=\"" + m.error().message + "\"");
        s.refuse(close_for(m.error()), m.error().code, m.error().message);
        return std::nullopt;
    }
    return std::move(*m);
}

template <class Ws>
awaitable<bool> ProviderServer::Impl::register_node(Session<Ws>& s, const NodeIdentity& identity,
                                                    const protocol::Register& hello) {
    auto record = [this, identity, hello, remote = s.remote()] {
        return nodes.register_session(identity, hello, options.instance, remote);
    };
    auto generation = *co_await on_worker(workers, record);
    if (!generation) {
        const Error& e = generation.error();
        if (e.code == "registration_refused") {
            log->warn("node registration refused node={} remote={} reason=\"{}\"", hello.node_name,
                      s.remote(), e.message);
            s.refuse(CloseReason::registration_refused, e.code, e.message);
        } else {
            // The database is down or failed: the agent backs off and tries again.
            log->warn("node registration failed node={} error={}", hello.node_name, e.message);
            s.close_now(static_cast<std::uint16_t>(websocket::close_code::try_again_later), e.code,
                        e.message);
        }
        co_return false;
    }
    s.node = hello.node_name;
    s.generation = *generation;
    s.token_id = identity.token_id;
    co_return true;
}

template <class Ws>
awaitable<void> ProviderServer::Impl::handle_frame(Session<Ws>& s, const protocol::Message& m) {
    if (const auto* beat = std::get_if<protocol::Heartbeat>(&m.body)) {
        (void)beat;
        std::lock_guard lock(mu);
        s.last_seen = SteadyClock::now();
        s.unflushed_beat = clock.now();
        s.silence_reported = false;
        co_return;
    }
    if (const auto* leaving = std::get_if<protocol::Leaving>(&m.body)) {
        auto record = [this, node = s.node, gen = s.generation, reason = leaving->reason] {
            return nodes.record_left(node, gen, reason);
        };
        auto left = *co_await on_worker(workers, record);
        if (!left) {
            log->warn("node leaving not recorded node={} error={}", s.node, left.error().message);
        } else {
            log->info("node left node={} generation={} reason={}", s.node, s.generation,
                      leaving->reason);
        }
        s.refuse(CloseReason::normal, {}, {});
        co_return;
    }
    if (const auto* error = std::get_if<protocol::ErrorBody>(&m.body)) {
        peer_warn("node reported an error node=" + s.node + " code=" + error->code + " message=\"" +
                  error->message + "\"");
        co_return;
    }
    if (auto ack = task_report_ack(m.body)) {
        // Reading goes on while the reports are stored, so the reports that arrive meanwhile
        // are stored together; a node far ahead of the store waits here.
        queue_report(s.shared_from_this(),
                     NodeReport{s.node, s.generation, std::string(protocol::type_name(m.body)),
                                protocol::body_json(m.body)},
                     *ack);
        if (s.reports_backlog() >= kMaxWaitingReports) {
            asio::steady_timer pause(s.ws.get_executor());
            while (s.reports_backlog() >= kMaxWaitingReports && !s.closing()) {
                pause.expires_after(std::chrono::milliseconds(2));
                co_await pause.async_wait(kAwait);
            }
        }
        co_return;
    }
    s.refuse(CloseReason::not_allowed, "not_allowed",
             std::string(protocol::type_name(m.body)) + " is not allowed after registered");
}

void ProviderServer::Impl::adopt(const std::shared_ptr<SessionBase>& s) {
    std::shared_ptr<SessionBase> older;
    {
        std::lock_guard lock(mu);
        auto& slot = sessions[s->node];
        if (slot && slot->generation > s->generation) {
            older = s;  // a newer session got here first
        } else {
            older = std::exchange(slot, s);
        }
        s->last_seen = SteadyClock::now();
    }
    if (older) {
        older->post_close(static_cast<std::uint16_t>(CloseReason::superseded), "superseded",
                          "the node registered again through a newer session");
    }
}

void ProviderServer::Impl::forget(const std::shared_ptr<SessionBase>& s) {
    std::lock_guard lock(mu);
    auto it = sessions.find(s->node);
    if (it != sessions.end() && it->second == s) {
        sessions.erase(it);
    }
}

void ProviderServer::Impl::housekeeping() {
    while (true) {
        {
            std::unique_lock lock(mu);
            if (changed.wait_for(lock, options.flush_interval,
                                 [this] { return stopping.load(); })) {
                return;
            }
        }
        flush_once();
        sweep_once();
    }
}

void ProviderServer::Impl::flush_once() {
    std::vector<HeartbeatMark> beats;
    std::vector<SessionRef> live;
    std::vector<std::shared_ptr<SessionBase>> held;
    std::vector<std::shared_ptr<SessionBase>> silent;
    const auto now = SteadyClock::now();
    {
        std::lock_guard lock(mu);
        for (auto& [name, s] : sessions) {
            if (s->unflushed_beat) {
                beats.push_back({s->node, s->generation, *s->unflushed_beat});
            }
            if (now - s->last_seen > options.offline_after && !s->silence_reported) {
                s->silence_reported = true;
                silent.push_back(s);
            }
            live.push_back({s->node, s->generation, s->token_id});
            held.push_back(s);
        }
    }
    for (auto& s : silent) {
        log->warn("node silent node={} generation={} silent_s={}", s->node, s->generation,
                  options.offline_after.count());
        s->post_close(static_cast<std::uint16_t>(CloseReason::heartbeat_timeout),
                      "heartbeat_timeout", "no heartbeat within the offline limit");
    }
    if (live.empty()) {
        std::lock_guard lock(mu);
        flush_failure.clear();
        return;
    }

    auto verdicts = nodes.flush(beats, live);
    if (!verdicts) {
        std::lock_guard lock(mu);
        if (flush_failure.empty()) {
            log->warn("heartbeats not recorded error={}", verdicts.error().message);
        }
        flush_failure = "heartbeats not recorded: " + verdicts.error().message;
        return;
    }
    {
        std::lock_guard lock(mu);
        if (!flush_failure.empty()) {
            log->info("heartbeats recorded again");
        }
        flush_failure.clear();
        // A beat that arrived during the write stays for the next batch.
        for (std::size_t i = 0; i < held.size(); ++i) {
            auto& s = held[i];
            for (const auto& b : beats) {
                if (b.node == s->node && b.generation == s->generation &&
                    s->unflushed_beat == b.at) {
                    s->unflushed_beat.reset();
                }
            }
        }
    }
    for (std::size_t i = 0; i < held.size(); ++i) {
        auto& s = held[i];
        switch ((*verdicts)[i]) {
        case SessionVerdict::keep: break;
        case SessionVerdict::superseded:
            log->info("node session fenced node={} generation={}", s->node, s->generation);
            s->post_close(static_cast<std::uint16_t>(CloseReason::superseded), "superseded",
                          "the node registered again through a newer session");
            break;
        case SessionVerdict::token_revoked:
            log->info("node token revoked, closing session node={} generation={}", s->node,
                      s->generation);
            s->post_close(static_cast<std::uint16_t>(CloseReason::token_revoked), "token_revoked",
                          "the node token was revoked");
            break;
        case SessionVerdict::offline:
            s->post_close(static_cast<std::uint16_t>(CloseReason::heartbeat_timeout),
                          "heartbeat_timeout", "the node was marked offline; register again");
            break;
        }
    }
}

void ProviderServer::Impl::sweep_once() {
    const auto now = SteadyClock::now();
    // One full offline limit after start, so nodes can return after a kernel restart; then
    // about four sweeps per limit, at most one a second.
    const auto every =
        std::max<SteadyClock::duration>(std::chrono::seconds(1), options.offline_after / 4);
    if (now - started_at < options.offline_after || now - last_sweep < every) {
        return;
    }
    last_sweep = now;
    auto marked = nodes.mark_silent_offline(clock.now() - options.offline_after);
    if (!marked) {
        return;  // the database is down; /health says so already
    }
    for (const auto& name : *marked) {
        log->warn("node offline node={} reason=heartbeat_timeout offline_after_s={}", name,
                  options.offline_after.count());
    }
}

ProviderServer::ProviderServer(ProviderOptions options, asio::io_context& io,
                               asio::thread_pool& workers, Auth& auth, NodeStore& nodes,
                               Clock& clock, std::shared_ptr<spdlog::logger> log)
    : impl_(std::make_shared<Impl>(std::move(options), io, workers, auth, nodes, clock,
                                   std::move(log))) {}

ProviderServer::~ProviderServer() {
    stop();
}

std::uint16_t ProviderServer::start() {
    return impl_->start();
}

void ProviderServer::stop() {
    impl_->stop();
}

HealthReport ProviderServer::health() const {
    std::lock_guard lock(impl_->mu);
    if (!impl_->listening) {
        return {HealthState::down, "the provider listener is not running"};
    }
    if (!impl_->flush_failure.empty()) {
        return {HealthState::degraded, impl_->flush_failure};
    }
    return {};
}

std::size_t ProviderServer::session_count() const {
    std::lock_guard lock(impl_->mu);
    return impl_->sessions.size();
}

void ProviderServer::set_report_handler(NodeReportHandler handler) {
    std::unique_lock lock(impl_->handler_mu);
    impl_->handler = std::move(handler);
}

Result<void> ProviderServer::send(const std::string& node_name, const std::string& type,
                                  const nlohmann::json& body) {
    std::shared_ptr<SessionBase> s;
    {
        std::lock_guard lock(impl_->mu);
        auto it = impl_->sessions.find(node_name);
        if (it != impl_->sessions.end()) {
            s = it->second;
        }
    }
    if (!s) {
        return make_error(Errc::unavailable, "node_offline",
                          "the node " + node_name + " holds no session with this kernel instance");
    }
    auto id = "k-" + std::to_string(++impl_->frames_out);
    const nlohmann::json envelope{
        {"type", type}, {"id", id}, {"v", protocol::kProtocolVersion}, {"body", body}};
    auto frame = envelope.dump();
    // A node closes the link on a frame past its limit; the same frame would close it again on
    // every try, so it is refused here instead.
    if (frame.size() > impl_->options.max_frame_bytes) {
        return make_error(Errc::too_large, "frame_too_large",
                          "a " + type + " frame of " + std::to_string(frame.size()) +
                              " bytes is over the provider link's " +
                              std::to_string(impl_->options.max_frame_bytes) + "-byte limit");
    }
    s->post_frame(std::move(frame));
    return {};
}

}  // namespace unidesk::kernel
