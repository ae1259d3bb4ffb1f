#include "link_client.hpp"

#include "agent_logging.hpp"
#include "backoff.hpp"

#include "unidesk/protocol/close_reason.hpp"
#include "unidesk/protocol/codec.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <chrono>
#include <optional>

namespace unidesk::agent {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace websocket = beast::websocket;
using asio::awaitable;
using asio::ip::tcp;
using boost::system::error_code;
using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;

constexpr auto kConnectTimeout = std::chrono::seconds(10);
constexpr auto kRegisterTimeout = std::chrono::seconds(15);
// With keep-alive pings, a link with nothing heard for this long is dead (a half-open TCP
// connection after a network change would otherwise wait for the kernel's TCP timeout).
constexpr auto kIdleTimeout = std::chrono::seconds(30);
// Reports sent this long ago without an acknowledgement are sent again (checked with each
// heartbeat): the server stores them only in order, so an unstored one holds back the rest.
constexpr auto kResendAfter = std::chrono::seconds(10);

inline auto nothrow(error_code& ec) {
    return asio::redirect_error(asio::use_awaitable, ec);
}

using PlainWs = websocket::stream<beast::tcp_stream>;
using TlsWs = websocket::stream<ssl::stream<beast::tcp_stream>>;

}  // namespace

struct LinkClient::Impl : std::enable_shared_from_this<LinkClient::Impl> {
    enum class State { idle, connecting, registered };

    // A violation seen by the reader; the writer (the only one that writes) sends the error
    // and closes with this code.
    struct Refusal {
        protocol::CloseReason close;
        std::string code;
        std::string message;
    };

    asio::io_context& io_;
    AgentConfig config_;
    protocol::Register hello_;
    Outbox* outbox_;
    TaskHooks hooks_;
    Backoff backoff_;
    ssl::context tls_{ssl::context::tls_client};
    asio::steady_timer retry_timer_{io_};
    asio::steady_timer beat_timer_{io_};
    asio::steady_timer watchdog_{io_};
    std::shared_ptr<spdlog::logger> log_ = get_logger("agent.link");

    State state_ = State::idle;
    bool stopping_ = false;
    std::string stop_reason_;
    bool session_down_ = false;
    std::optional<Refusal> refusal_;
    std::function<void()> abort_current_;
    std::function<void()> on_done_;
    std::uint64_t next_id_ = 0;
    std::uint64_t seq_ = 0;

    Impl(asio::io_context& io, AgentConfig config, protocol::Register hello, Outbox* outbox,
         TaskHooks hooks)
        : io_(io),
          config_(std::move(config)),
          hello_(std::move(hello)),
          outbox_(outbox),
          hooks_(std::move(hooks)),
          backoff_(config_.reconnect) {
        tls_.set_verify_mode(ssl::verify_peer);
        error_code ec;
        if (config_.ca_file.empty()) {
            tls_.set_default_verify_paths(ec);
        } else {
            tls_.load_verify_file(config_.ca_file, ec);
        }
        if (ec) {
            log_->error("tls trust store unreadable ca_file=\"{}\" error=\"{}\"", config_.ca_file,
                        ec.message());
        }
    }

    awaitable<void> run() {
        while (!stopping_) {
            const auto uptime = co_await connect_once();
            if (stopping_) {
                break;
            }

            backoff_.connection_ended(uptime);
            const auto wait = backoff_.next();
            log_->info("link reconnect scheduled delay_ms={} attempt={}", wait.count(),
                       backoff_.attempt());
            retry_timer_.expires_after(wait);
            error_code ec;
            co_await retry_timer_.async_wait(nothrow(ec));
        }
        log_->info("link stopped reason={}", stop_reason_);
    }

    void stop(const std::string& reason) {
        if (stopping_) {
            return;
        }
        stopping_ = true;
        stop_reason_ = reason;
        retry_timer_.cancel();
        beat_timer_.cancel();
        // A session still connecting has nobody to say goodbye to: cut it.
        if (state_ == State::connecting && abort_current_) {
            abort_current_();
        }
    }

    // One connection from resolve to close; returns how long it stayed registered.
    awaitable<std::chrono::milliseconds> connect_once() {
        const auto& url = config_.url;
        log_->info("link connecting server={} tls={}", config_.server, url.tls);
        state_ = State::connecting;
        session_down_ = false;
        refusal_.reset();

        error_code ec;
        tcp::resolver resolver(io_);
        auto endpoints = co_await resolver.async_resolve(url.host, url.port, nothrow(ec));
        std::chrono::milliseconds uptime{0};
        if (ec) {
            log_->warn("link connect failed stage=resolve host={} error=\"{}\"", url.host,
                       ec.message());
        } else if (url.tls) {
            TlsWs ws(io_, tls_);
            uptime = co_await session(ws, endpoints);
        } else {
            PlainWs ws(io_);
            uptime = co_await session(ws, endpoints);
        }

        state_ = State::idle;
        abort_current_ = nullptr;
        watchdog_.cancel();
        co_return uptime;
    }

    template <class Ws>
    awaitable<std::chrono::milliseconds> session(Ws& ws, const tcp::resolver::results_type& eps) {
        auto& tcp_layer = beast::get_lowest_layer(ws);
        abort_current_ = [&tcp_layer] { tcp_layer.close(); };

        if (!co_await open(ws, eps)) {
            co_return std::chrono::milliseconds{0};
        }

        if (hooks_.running) {
            hello_.running = hooks_.running();
        }
        const std::string hello = next_frame(hello_);
        if (auto ec = co_await send(ws, hello); ec) {
            log_->warn("link register failed error=\"{}\"", ec.message());
            co_return std::chrono::milliseconds{0};
        }

        watchdog_.expires_after(kRegisterTimeout);
        watchdog_.async_wait([self = shared_from_this()](error_code ec) {
            if (!ec && self->state_ == State::connecting && self->abort_current_) {
                self->log_->warn("link register timed out timeout_s={}", kRegisterTimeout.count());
                self->abort_current_();
            }
        });
        auto interval = co_await await_registered(ws);
        watchdog_.cancel();
        if (!interval) {
            co_return std::chrono::milliseconds{0};
        }

        const auto since = Clock::now();
        state_ = State::registered;
        // Whatever the server has not acknowledged goes again, in the order it was made.
        if (outbox_) {
            outbox_->rewind();
        }
        co_await (read_loop(ws) && write_loop(ws, *interval));
        const auto up = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since);
        log_->info("link down uptime_s={}", up.count() / 1000);
        co_return up;
    }

    // TCP connect, TLS when asked, then the WebSocket upgrade carrying the node token.
    template <class Ws>
    awaitable<bool> open(Ws& ws, const tcp::resolver::results_type& eps) {
        const auto& url = config_.url;
        auto& tcp_layer = beast::get_lowest_layer(ws);
        error_code ec;

        tcp_layer.expires_after(kConnectTimeout);
        co_await tcp_layer.async_connect(eps, nothrow(ec));
        if (ec || stopping_) {
            log_->warn("link connect failed stage=tcp host={} port={} error=\"{}\"", url.host,
                       url.port, ec.message());
            co_return false;
        }
        // Task reports are small frames that must not wait for a delayed ACK.
        error_code nodelay_ec;
        tcp_layer.socket().set_option(tcp::no_delay(true), nodelay_ec);
        // Connecting to a local port nobody listens on can pick that same port as the source
        // and connect the socket to itself; it would then hold the port the server needs.
        error_code le, re;
        if (tcp_layer.socket().local_endpoint(le) == tcp_layer.socket().remote_endpoint(re)) {
            log_->warn(
                "link connect failed stage=tcp host={} port={} error=\"connected to "
                "itself\"",
                url.host, url.port);
            co_return false;
        }

        if constexpr (std::is_same_v<Ws, TlsWs>) {
            auto& stream = ws.next_layer();
            if (!SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str())) {
                log_->warn("link connect failed stage=tls error=\"cannot set server name\"");
                co_return false;
            }
            stream.set_verify_callback(ssl::host_name_verification(url.host));
            co_await stream.async_handshake(ssl::stream_base::client, nothrow(ec));
            if (ec || stopping_) {
                log_->warn("link connect failed stage=tls host={} error=\"{}\"", url.host,
                           ec.message());
                co_return false;
            }
        }

        tcp_layer.expires_never();
        websocket::stream_base::timeout timeouts{};
        timeouts.handshake_timeout = kConnectTimeout;
        timeouts.idle_timeout = kIdleTimeout;
        timeouts.keep_alive_pings = true;
        ws.set_option(timeouts);
        ws.set_option(websocket::stream_base::decorator(
            [token = config_.token, version = hello_.agent_version](websocket::request_type& req) {
                req.set(http::field::authorization, "Bearer " + token);
                req.set(http::field::user_agent, "unidesk-agent/" + version);
            }));
        ws.read_message_max(config_.max_frame_bytes);

        websocket::response_type res;
        const std::string host_header = url.host + ":" + url.port;
        co_await ws.async_handshake(res, host_header, url.target, nothrow(ec));
        if (!ec && !stopping_) {
            co_return true;
        }
        if (res.result() == http::status::unauthorized) {
            log_->error(
                "link refused by server status=401 reason=unauthenticated "
                "hint=\"check the node token; it may be wrong or revoked\"");
        } else if (ec == websocket::error::upgrade_declined) {
            log_->warn("link refused by server status={}", res.result_int());
        } else {
            log_->warn("link connect failed stage=upgrade error=\"{}\"", ec.message());
        }
        co_return false;
    }

    // Reads the answer to `register`; its heartbeat interval, or nothing when refused.
    template <class Ws>
    awaitable<std::optional<std::chrono::seconds>> await_registered(Ws& ws) {
        beast::flat_buffer buf;
        error_code ec;
        co_await ws.async_read(buf, nothrow(ec));
        if (ec) {
            log_closed(ws, ec, "register");
            co_return std::nullopt;
        }

        auto msg = protocol::decode(beast::buffers_to_string(buf.data()), config_.max_frame_bytes);
        if (msg) {
            if (const auto* reg = std::get_if<protocol::Registered>(&msg->body)) {
                const auto interval = std::clamp<std::uint32_t>(
                    reg->heartbeat_interval_s == 0 ? 15 : reg->heartbeat_interval_s, 1, 3600);
                log_->info(
                    "link registered node={} session_generation={} "
                    "heartbeat_interval_s={} server_time={}",
                    hello_.node_name, reg->session_generation, interval, reg->server_time);
                co_return std::chrono::seconds(interval);
            }
            if (const auto* err = std::get_if<protocol::ErrorBody>(&msg->body)) {
                log_->error("link register refused code={} message=\"{}\"", err->code,
                            err->message);
            } else {
                log_->warn("link register answered with type={}", type_name(msg->body));
            }
        } else {
            log_->warn("link message refused code={} message=\"{}\"", msg.error().code,
                       msg.error().message);
        }
        error_code ignored;
        co_await ws.async_close(websocket::close_code::protocol_error, nothrow(ignored));
        co_return std::nullopt;
    }

    template <class Ws>
    void log_closed(Ws& ws, const error_code& ec, const char* during) {
        if (ec == websocket::error::closed) {
            const auto& r = ws.reason();
            const std::string reason = r.reason.empty()
                                           ? std::string(protocol::close_reason_name(r.code))
                                           : std::string(r.reason.c_str());
            if (stopping_) {
                log_->debug("link closed code={} reason={}", r.code, reason);
            } else if (r.code == static_cast<std::uint16_t>(protocol::CloseReason::token_revoked)) {
                log_->error(
                    "link closed by server code={} reason={} hint=\"the node token was "
                    "revoked; issue a new one\"",
                    r.code, reason);
            } else {
                log_->warn("link closed by server code={} reason={} during={}", r.code, reason,
                           during);
            }
        } else if (!stopping_) {
            log_->warn("link lost during={} error=\"{}\"", during, ec.message());
        }
    }

    template <class Ws>
    awaitable<void> read_loop(Ws& ws) {
        beast::flat_buffer buf;
        while (true) {
            buf.clear();
            error_code ec;
            co_await ws.async_read(buf, nothrow(ec));
            if (ec) {
                log_closed(ws, ec, "session");
                session_down_ = true;
                beat_timer_.cancel();
                co_return;
            }
            if (!ws.got_text()) {
                refuse({protocol::CloseReason::malformed_message, "malformed_json",
                        "binary frames are not part of the protocol"});
                continue;
            }
            handle(beast::buffers_to_string(buf.data()));
        }
    }

    void handle(const std::string& frame) {
        auto msg = protocol::decode(frame, config_.max_frame_bytes);
        if (!msg) {
            log_->warn("link message refused code={} message=\"{}\"", msg.error().code,
                       msg.error().message);
            const auto close = msg.error().code == "unsupported_version"
                                   ? protocol::CloseReason::unsupported_version
                                   : protocol::CloseReason::malformed_message;
            refuse({close, msg.error().code, msg.error().message});
            return;
        }
        if (const auto* err = std::get_if<protocol::ErrorBody>(&msg->body)) {
            log_->warn("link error from server code={} message=\"{}\"", err->code, err->message);
        } else if (const auto* ack = std::get_if<protocol::TaskAck>(&msg->body)) {
            if (outbox_) {
                outbox_->ack(ack->attempt_id, ack->seq);
            }
        } else if (std::holds_alternative<protocol::TaskAssign>(msg->body) ||
                   std::holds_alternative<protocol::TaskCancel>(msg->body) ||
                   std::holds_alternative<protocol::TaskResume>(msg->body)) {
            if (hooks_.on_command) {
                hooks_.on_command(*msg);
            } else {
                log_->warn("link task command ignored type={} reason=\"this node runs no tasks\"",
                           type_name(msg->body));
            }
        } else {
            log_->debug("link message ignored type={}", type_name(msg->body));
        }
    }

    void refuse(Refusal r) {
        if (!refusal_) {
            refusal_ = std::move(r);
            beat_timer_.cancel();
        }
    }

    // The only writer once registered: task reports and heartbeats, then either `leaving` or a
    // refusal, then the close. One coroutine writing keeps Beast's one-write-at-a-time rule
    // without a queue. It waits only after a pass that sent nothing, so a report that became
    // ready while a frame was being written is sent next, not after the next heartbeat.
    template <class Ws>
    awaitable<void> write_loop(Ws& ws, std::chrono::seconds interval) {
        error_code ec;
        auto next_beat = Clock::now() + interval;
        while (!session_down_) {
            if (stopping_) {
                const std::string leaving = next_frame(protocol::Leaving{stop_reason_});
                co_await send(ws, leaving);
                log_->info("link leaving reason={}", stop_reason_);
                co_await ws.async_close(websocket::close_code::normal, nothrow(ec));
                co_return;
            }
            if (refusal_) {
                const std::string error =
                    next_frame(protocol::ErrorBody{refusal_->code, refusal_->message});
                co_await send(ws, error);
                const auto code = static_cast<std::uint16_t>(refusal_->close);
                websocket::close_reason reason(code);
                reason.reason = std::string(protocol::close_reason_name(code)).c_str();
                co_await ws.async_close(reason, nothrow(ec));
                co_return;
            }

            if (auto report = outbox_ ? outbox_->take() : std::nullopt) {
                const std::string frame = next_frame(std::move(*report));
                if (ec = co_await send(ws, frame); ec) {
                    log_->warn("link task report failed error=\"{}\"", ec.message());
                    beast::get_lowest_layer(ws).close();
                    co_return;
                }
                continue;
            }

            if (Clock::now() >= next_beat) {
                next_beat = Clock::now() + interval;
                // A report the server could not store (its database was away) is not
                // acknowledged, nor is any after it: all of them go again.
                if (outbox_ && outbox_->resend_overdue(kResendAfter)) {
                    log_->warn("link reports unacknowledged for {} s or more, sending them again",
                               kResendAfter.count());
                }
                protocol::Heartbeat beat{++seq_, {}};
                if (hooks_.running) {
                    beat.running = hooks_.running();
                }
                const std::string frame = next_frame(std::move(beat));
                if (ec = co_await send(ws, frame); ec) {
                    log_->warn("link heartbeat failed seq={} error=\"{}\"", seq_, ec.message());
                    beast::get_lowest_layer(ws).close();
                    co_return;
                }
                log_->debug("link heartbeat sent seq={}", seq_);
                continue;
            }

            beat_timer_.expires_at(next_beat);
            co_await beat_timer_.async_wait(nothrow(ec));
        }
    }

    //! From any thread: a task report is ready; wake the writer.
    void report_ready() {
        asio::post(io_, [self = shared_from_this()] { self->beat_timer_.cancel(); });
    }

    // A plain function: g++ 12 mishandles non-trivial temporaries passed by value into a
    // coroutine, so bodies are encoded here and coroutines only ever get a reference to text.
    std::string next_frame(protocol::Body body) {
        protocol::Message m;
        m.id = "a-" + std::to_string(++next_id_);
        m.body = std::move(body);
        return protocol::encode(m);
    }

    template <class Ws>
    awaitable<error_code> send(Ws& ws, const std::string& text) {
        ws.text(true);
        error_code ec;
        co_await ws.async_write(asio::buffer(text), nothrow(ec));
        co_return ec;
    }
};

LinkClient::LinkClient(asio::io_context& io, AgentConfig config, protocol::Register hello,
                       Outbox* outbox, TaskHooks hooks)
    : impl_(std::make_shared<Impl>(io, std::move(config), std::move(hello), outbox,
                                   std::move(hooks))) {
    if (outbox) {
        outbox->set_on_ready([weak = std::weak_ptr<Impl>(impl_)] {
            if (auto impl = weak.lock()) {
                impl->report_ready();
            }
        });
    }
}

LinkClient::~LinkClient() = default;

void LinkClient::start(std::function<void()> on_done) {
    impl_->on_done_ = std::move(on_done);
    asio::co_spawn(impl_->io_, impl_->run(), [impl = impl_](std::exception_ptr e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                impl->log_->critical("link failed unexpectedly error=\"{}\"", ex.what());
            }
        }
        if (impl->on_done_) {
            impl->on_done_();
        }
    });
}

void LinkClient::stop(const std::string& reason) {
    impl_->stop(reason);
}

}  // namespace unidesk::agent
