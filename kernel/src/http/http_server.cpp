#include "http/http_server.hpp"

#include "core/log_limiter.hpp"
#include "core/metrics.hpp"

#include <boost/asio/append.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

namespace unidesk::kernel {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kHeaderLimit = 16 * 1024;
constexpr std::size_t kLingerBytes = 1024 * 1024;
constexpr auto kLingerTime = std::chrono::seconds(1);
constexpr auto kStopWait = std::chrono::seconds(10);

const char* listener_label(Listener l) {
    return l == Listener::internal ? "internal" : "public";
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// Decodes %XX escapes ('+' too, in a query). A path may not hold an encoded '/' (it would
// change which segments the route sees) nor an encoded NUL.
std::optional<std::string> percent_decode(std::string_view s, bool in_query) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+' && in_query) {
            out += ' ';
        } else if (s[i] != '%') {
            out += s[i];
        } else {
            int hi = i + 2 < s.size() ? hex_value(s[i + 1]) : -1;
            int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                return std::nullopt;
            }
            char c = static_cast<char>(hi * 16 + lo);
            if (c == '\0' || (c == '/' && !in_query)) {
                return std::nullopt;
            }
            out += c;
            i += 2;
        }
    }
    return out;
}

Result<HttpRequest> to_request(const http::request_header<>& req, std::string body,
                               const std::string& remote) {
    auto bad_target = make_error(Errc::invalid_argument, "invalid_target",
                                 "the request target is not a valid path and query");
    std::string_view target = req.target();
    if (target.empty() || target.front() != '/') {
        return bad_target;
    }

    HttpRequest out;
    auto question = target.find('?');
    auto path = percent_decode(target.substr(0, question), false);
    if (!path) {
        return bad_target;
    }
    out.path = std::move(*path);

    std::string_view query = question == std::string_view::npos ? "" : target.substr(question + 1);
    while (!query.empty()) {
        auto amp = query.find('&');
        auto pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? "" : query.substr(amp + 1);
        auto eq = pair.find('=');
        auto key = percent_decode(pair.substr(0, eq), true);
        auto value = percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
        if (!key || !value) {
            return bad_target;
        }
        if (!key->empty()) {
            out.query.emplace(std::move(*key), std::move(*value));
        }
    }

    for (const auto& field : req) {
        std::string name(field.name_string());
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        auto [it, fresh] = out.headers.emplace(name, std::string(field.value()));
        if (!fresh) {
            it->second += ", ";
            it->second += field.value();
        }
    }

    out.method = std::string(req.method_string());
    out.body = std::move(body);
    out.remote = remote;
    return out;
}

http::response<http::string_body> to_beast(HttpResponse r, unsigned version, bool keep_alive) {
    http::response<http::string_body> res{static_cast<http::status>(r.status), version};
    res.set(http::field::server, "unidesk");
    res.set(http::field::content_type, r.content_type);
    for (auto& [name, value] : r.headers) {
        res.insert(name, value);
    }
    res.body() = std::move(r.body);
    res.keep_alive(keep_alive);
    res.prepare_payload();
    return res;
}

HttpResponse error_response(Errc errc, std::string code, std::string message) {
    return HttpResponse::error(make_error(errc, std::move(code), std::move(message)));
}

// Bounded metric labels: a peer may send any method name.
std::string method_label(http::verb v) {
    return v == http::verb::unknown ? "other" : std::string(http::to_string(v));
}

// A connection's bytes: plain TCP, or TLS over it. Beast's HTTP algorithms only call
// async_read_some and async_write_some, which go to whichever layer is in use; timeouts and
// closing always act on the TCP layer.
class FlexStream {
public:
    using executor_type = beast::tcp_stream::executor_type;

    FlexStream(tcp::socket s, ssl::context* tls) {
        if (tls != nullptr) {
            tls_.emplace(std::move(s), *tls);
        } else {
            plain_.emplace(std::move(s));
        }
    }

    executor_type get_executor() { return lowest().get_executor(); }
    beast::tcp_stream& lowest() { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }
    tcp::socket& socket() { return lowest().socket(); }
    void expires_after(std::chrono::steady_clock::duration d) { lowest().expires_after(d); }
    void close() { lowest().close(); }
    bool is_tls() const { return tls_.has_value(); }
    beast::ssl_stream<beast::tcp_stream>& tls() { return *tls_; }

    template <class Buffers, class Token>
    auto async_read_some(const Buffers& b, Token&& token) {
        if (tls_) {
            return tls_->async_read_some(b, std::forward<Token>(token));
        }
        return plain_->async_read_some(b, std::forward<Token>(token));
    }

    template <class Buffers, class Token>
    auto async_write_some(const Buffers& b, Token&& token) {
        if (tls_) {
            return tls_->async_write_some(b, std::forward<Token>(token));
        }
        return plain_->async_write_some(b, std::forward<Token>(token));
    }

private:
    std::optional<beast::tcp_stream> plain_;
    std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
};

struct Connection {
    Connection(tcp::socket s, ssl::context* tls) : stream(std::move(s), tls) {}
    FlexStream stream;
    bool busy = false;  // a request is being handled; touched only on the connection's strand
};

// What the worker hands back to the connection.
struct Outcome {
    HttpResponse response;
    std::string route = "unmatched";
};

// More live streams than this on one listener are refused with 503: each holds a thread.
// TODO: a thread per stream suits a team's browsers and transfers, not tens of thousands of
// live viewers; those would need stream handlers written as coroutines.
constexpr std::size_t kMaxStreams = 512;

Error peer_gone() {
    return make_error(Errc::unavailable, "peer_gone", "the peer closed the connection");
}

}  // namespace

struct StreamExchange;

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
    Impl(HttpServerOptions o, asio::io_context& io_ctx, asio::thread_pool& pool, RouteTable& r,
         Auth& a, Metrics& m, std::shared_ptr<spdlog::logger> l)
        : options(std::move(o)),
          io(io_ctx),
          workers(pool),
          routes(r),
          auth(a),
          metrics(m),
          log(std::move(l)),
          acceptor(asio::make_strand(io_ctx)) {}

    std::uint16_t start();
    void stop();

    void spawn(const asio::any_io_executor& ex, asio::awaitable<void> work);
    asio::awaitable<void> accept_loop();
    asio::awaitable<void> session(std::shared_ptr<Connection> c, std::uint64_t id);
    asio::awaitable<bool> read_head(Connection& c, beast::flat_buffer& buffer,
                                    http::request_parser<http::empty_body>& head,
                                    const std::string& remote);
    asio::awaitable<bool> read_body(Connection& c, beast::flat_buffer& buffer,
                                    http::request_parser<http::string_body>& parser,
                                    const std::string& remote);
    asio::awaitable<void> answer_read_error(Connection& c, error_code ec, unsigned version,
                                            const std::string& method, const std::string& remote);
    asio::awaitable<void> lingering_close(Connection& c);
    asio::awaitable<bool> serve_plain(Connection& c, beast::flat_buffer& buffer,
                                      http::request_parser<http::empty_body>& head,
                                      const std::string& remote);
    asio::awaitable<bool> serve_stream(Connection& c, beast::flat_buffer& buffer,
                                       http::request_parser<http::empty_body>& head,
                                       HttpRequest request, RouteMatch match);
    asio::awaitable<Outcome> handle(HttpRequest request);

    Outcome process_guarded(HttpRequest req) noexcept;
    Outcome process(HttpRequest req);
    std::optional<HttpResponse> authorize(HttpRequest& req, const RouteMatch& m);
    HttpResponse run_handler(const RouteMatch& m, const HttpRequest& req);
    std::optional<HttpResponse> run_stream_handler(const RouteMatch& m, const HttpRequest& req,
                                                   StreamExchange& exchange);

    const HttpServerOptions options;
    asio::io_context& io;
    asio::thread_pool& workers;
    RouteTable& routes;
    Auth& auth;
    Metrics& metrics;
    std::shared_ptr<spdlog::logger> log;
    tcp::acceptor acceptor;           // used on its own strand once start() returned
    std::optional<ssl::context> tls;  // set in start() when the listener speaks HTTPS

    std::atomic<bool> stopping{false};
    std::mutex mu;
    std::condition_variable all_done;
    std::size_t running = 0;  // coroutines not yet finished: the accept loop and sessions
    bool started = false;
    std::uint64_t next_id = 0;
    std::map<std::uint64_t, std::shared_ptr<Connection>> connections;
    std::atomic<std::size_t> streams{0};  // stream handlers running

    LogLimiter peer_log;
    LogLimiter failure_log;
};

std::uint16_t HttpServer::Impl::start() {
    if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
        throw std::runtime_error("a TLS certificate and its key go together");
    }
    if (!options.tls_cert_file.empty()) {
        tls.emplace(ssl::context::tls_server);
        tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1);
        error_code tls_ec;
        tls->use_certificate_chain_file(options.tls_cert_file, tls_ec);
        if (tls_ec) {
            throw std::runtime_error("cannot read the TLS certificate " + options.tls_cert_file +
                                     ": " + tls_ec.message());
        }
        tls->use_private_key_file(options.tls_key_file, ssl::context::pem, tls_ec);
        if (tls_ec) {
            throw std::runtime_error("cannot read the TLS key " + options.tls_key_file + ": " +
                                     tls_ec.message());
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
        throw std::system_error(std::error_code(ec), "cannot listen on " + options.host + ":" +
                                                         std::to_string(options.port));
    }

    auto port = acceptor.local_endpoint().port();
    {
        std::lock_guard lock(mu);
        started = true;
    }
    spawn(acceptor.get_executor(), accept_loop());
    log->info("http listener started listener={} address={}:{} tls={}",
              listener_label(options.listener), options.host, port, tls.has_value());
    return port;
}

void HttpServer::Impl::spawn(const asio::any_io_executor& ex, asio::awaitable<void> work) {
    {
        std::lock_guard lock(mu);
        ++running;
    }
    asio::co_spawn(ex, std::move(work), [self = shared_from_this()](std::exception_ptr e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                self->log->error("http coroutine failed error={}", x.what());
            } catch (...) {
                self->log->error("http coroutine failed error=unknown");
            }
        }
        std::lock_guard lock(self->mu);
        --self->running;
        self->all_done.notify_all();
    });
}

void HttpServer::Impl::stop() {
    std::vector<std::shared_ptr<Connection>> open;
    {
        std::lock_guard lock(mu);
        if (!started || stopping.exchange(true)) {
            return;
        }
        for (auto& [id, c] : connections) {
            open.push_back(c);
        }
    }

    asio::post(acceptor.get_executor(), [self = shared_from_this()] {
        error_code ignored;
        self->acceptor.close(ignored);
    });
    // A connection in the middle of a request finishes its answer and then ends by itself.
    for (auto& c : open) {
        asio::post(c->stream.get_executor(), [c] {
            if (!c->busy) {
                c->stream.close();
            }
        });
    }

    if (io.get_executor().running_in_this_thread() || io.stopped()) {
        log->warn("http listener stop cannot wait listener={}", listener_label(options.listener));
        return;
    }
    std::unique_lock lock(mu);
    if (!all_done.wait_for(lock, kStopWait, [this] { return running == 0; })) {
        log->warn("http listener stop gave up waiting listener={} still_running={}",
                  listener_label(options.listener), running);
        return;
    }
    log->info("http listener stopped listener={}", listener_label(options.listener));
}

asio::awaitable<void> HttpServer::Impl::accept_loop() {
    for (;;) {
        tcp::socket socket(asio::make_strand(io));
        auto [ec] = co_await acceptor.async_accept(socket, kAwait);
        if (stopping || !acceptor.is_open()) {
            co_return;
        }
        if (ec) {
            // Out of file descriptors and the like: wait a little instead of spinning.
            std::size_t suppressed = 0;
            if (peer_log.allow(suppressed)) {
                log->warn("http accept failed error={} suppressed={}", ec.message(), suppressed);
            }
            asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(100));
            co_await pause.async_wait(kAwait);
            continue;
        }

        // TODO: there is no cap on open connections, per peer or in all; a peer that opens
        // thousands of idle connections holds a file descriptor for each until the request
        // timeout closes it, and may exhaust the process's descriptors meanwhile.
        auto c = std::make_shared<Connection>(std::move(socket), tls ? &*tls : nullptr);
        std::uint64_t id = 0;
        {
            std::lock_guard lock(mu);
            if (stopping) {
                co_return;
            }
            id = next_id++;
            connections.emplace(id, c);
        }
        spawn(c->stream.get_executor(), session(c, id));
    }
}

asio::awaitable<void> HttpServer::Impl::session(std::shared_ptr<Connection> c, std::uint64_t id) {
    error_code ec;
    auto peer = c->stream.socket().remote_endpoint(ec);
    std::string remote =
        ec ? "unknown" : peer.address().to_string() + ":" + std::to_string(peer.port());
    beast::flat_buffer buffer;

    bool ready = true;
    if (c->stream.is_tls()) {
        c->stream.expires_after(options.request_timeout);
        auto [hs] = co_await c->stream.tls().async_handshake(ssl::stream_base::server, kAwait);
        if (hs) {
            std::size_t suppressed = 0;
            if (peer_log.allow(suppressed)) {
                log->warn("tls handshake failed remote={} error={} suppressed={}", remote,
                          hs.message(), suppressed);
            }
            ready = false;
        }
    }

    while (ready) {
        http::request_parser<http::empty_body> head;
        if (!co_await read_head(*c, buffer, head, remote)) {
            break;
        }

        // The route decides how the body is read: whole, or in pieces by a stream handler.
        auto request = to_request(head.get().base(), {}, remote);
        std::optional<RouteMatch> match;
        if (request) {
            request->secure = c->stream.is_tls();
            match = routes.match(options.listener, request->method, request->path);
        }
        bool keep_going = false;
        if (match && match->stream_handler) {
            keep_going =
                co_await serve_stream(*c, buffer, head, std::move(*request), std::move(*match));
        } else {
            keep_going = co_await serve_plain(*c, buffer, head, remote);
        }
        if (!keep_going) {
            break;
        }
    }

    c->stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    c->stream.close();
    std::lock_guard lock(mu);
    connections.erase(id);
}

// Reads the header of one request. False when the connection should end (closed by the peer,
// timed out, stopped, or answered with an error here).
asio::awaitable<bool> HttpServer::Impl::read_head(Connection& c, beast::flat_buffer& buffer,
                                                  http::request_parser<http::empty_body>& head,
                                                  const std::string& remote) {
    head.header_limit(kHeaderLimit);
    // Body limits are the route's business; a plain route checks the length in read_body.
    head.body_limit(boost::none);
    c.stream.expires_after(options.request_timeout);

    auto [ec, n] = co_await http::async_read_header(c.stream, buffer, head, kAwait);
    if (ec) {
        unsigned version = head.is_header_done() ? head.get().version() : 11;
        co_await answer_read_error(c, ec, version, "other", remote);
        co_return false;
    }
    co_return true;
}

// Reads a plain route's whole body into the parser, within the listener's size limit.
asio::awaitable<bool> HttpServer::Impl::read_body(Connection& c, beast::flat_buffer& buffer,
                                                  http::request_parser<http::string_body>& parser,
                                                  const std::string& remote) {
    error_code ec;
    auto length = parser.content_length();
    if (length && *length > options.max_body_bytes) {
        ec = http::error::body_limit;
    }
    if (!ec && !parser.is_done()) {
        // Clients that ask before sending a large body wait for this go-ahead.
        auto expect = parser.get()[http::field::expect];
        if (beast::iequals(expect, "100-continue")) {
            http::response<http::empty_body> go_on{http::status::continue_, parser.get().version()};
            std::tie(ec, std::ignore) = co_await http::async_write(c.stream, go_on, kAwait);
        }
        if (!ec) {
            std::tie(ec, std::ignore) = co_await http::async_read(c.stream, buffer, parser, kAwait);
        }
    }
    if (ec) {
        co_await answer_read_error(c, ec, parser.get().version(),
                                   method_label(parser.get().method()), remote);
        co_return false;
    }
    co_return true;
}

asio::awaitable<void> HttpServer::Impl::answer_read_error(Connection& c, error_code ec,
                                                          unsigned version,
                                                          const std::string& method,
                                                          const std::string& remote) {
    HttpResponse res;
    if (ec == http::error::body_limit || ec == http::error::header_limit) {
        res = error_response(Errc::too_large, "too_large",
                             "the request is larger than this server accepts");
    } else if (ec.category() == error_code(http::error::end_of_stream).category() &&
               ec != http::error::end_of_stream && ec != http::error::partial_message) {
        std::size_t suppressed = 0;
        if (peer_log.allow(suppressed)) {
            log->warn("malformed http request remote={} error={} suppressed={}", remote,
                      ec.message(), suppressed);
        }
        res = error_response(Errc::invalid_argument, "invalid_argument",
                             "malformed HTTP request: " + ec.message());
    } else {
        // The peer went away, timed out, or stop() closed the connection: nothing to answer.
        co_return;
    }

    auto started_at = std::chrono::steady_clock::now();
    auto out = to_beast(std::move(res), version, false);
    metrics.record_request(listener_label(options.listener), "unmatched", method, out.result_int(),
                           std::chrono::steady_clock::now() - started_at);
    c.stream.expires_after(options.request_timeout);
    co_await http::async_write(c.stream, out, kAwait);
    co_await lingering_close(c);
}

// Closing with unread input makes the kernel send a reset, which can destroy the error answer
// before the peer reads it; so stop sending and drain a bounded amount first.
asio::awaitable<void> HttpServer::Impl::lingering_close(Connection& c) {
    error_code ec;
    c.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    c.stream.expires_after(kLingerTime);
    std::array<char, 4096> sink{};
    std::size_t drained = 0;
    while (drained < kLingerBytes) {
        auto [read_ec, n] = co_await c.stream.async_read_some(asio::buffer(sink), kAwait);
        drained += n;
        if (read_ec) {
            break;
        }
    }
    c.stream.close();
}

asio::awaitable<bool> HttpServer::Impl::serve_plain(Connection& c, beast::flat_buffer& buffer,
                                                    http::request_parser<http::empty_body>& head,
                                                    const std::string& remote) {
    http::request_parser<http::string_body> parser(std::move(head));
    parser.body_limit(options.max_body_bytes);
    if (!co_await read_body(c, buffer, parser, remote)) {
        co_return false;
    }

    auto started_at = std::chrono::steady_clock::now();
    auto req = parser.release();
    auto method = method_label(req.method());
    Outcome outcome;
    auto request = to_request(req.base(), std::move(req.body()), remote);
    c.busy = true;
    if (request) {
        request->secure = c.stream.is_tls();
        outcome = co_await handle(std::move(*request));
    } else {
        outcome.response = HttpResponse::error(request.error());
    }
    c.busy = false;

    bool keep_alive = req.keep_alive() && !stopping;
    auto res = to_beast(std::move(outcome.response), req.version(), keep_alive);
    // Counted before writing, so that whoever has read the answer also sees it counted.
    metrics.record_request(listener_label(options.listener), outcome.route, method,
                           res.result_int(), std::chrono::steady_clock::now() - started_at);
    c.stream.expires_after(options.request_timeout);
    auto [write_ec, written] = co_await http::async_write(c.stream, res, kAwait);
    co_return !write_ec && keep_alive;
}

asio::awaitable<Outcome> HttpServer::Impl::handle(HttpRequest request) {
    // Everything from here may block (Auth reads the database, handlers do anything): run it on
    // the worker pool; the answer comes back to this connection's strand.
    auto self = shared_from_this();
    auto initiate = [self, r = std::move(request)](auto handler) mutable {
        asio::post(self->workers, [self, r = std::move(r), handler = std::move(handler)]() mutable {
            Outcome out = self->process_guarded(std::move(r));
            asio::dispatch(asio::append(std::move(handler), std::move(out)));
        });
    };
    Outcome out = co_await asio::async_initiate<decltype(asio::use_awaitable), void(Outcome)>(
        std::move(initiate), asio::use_awaitable);
    co_return out;
}

// One request of a stream route. The handler runs on a thread of its own and blocks; each of
// its reads and writes is carried out on the connection's strand as a small coroutine whose
// future the handler thread waits on, so the strand is never blocked and exactly one side
// touches the connection at a time.
struct StreamExchange final : BodyReader, ResponseStream {
    StreamExchange(const std::atomic<bool>& stopping_flag, std::chrono::seconds timeout,
                   Connection& conn, beast::flat_buffer& buf,
                   http::request_parser<http::empty_body>& head)
        : stopping(stopping_flag),
          request_timeout(timeout),
          c(conn),
          buffer(buf),
          parser(std::move(head)) {
        parser.body_limit(boost::none);
        expects_continue = beast::iequals(parser.get()[http::field::expect], "100-continue");
        // A body of declared length needs no parsing: it is read straight into the caller's
        // buffer, in as few socket reads as the data allows. Chunked bodies go through the
        // parser.
        if (auto n = parser.content_length(); n && !parser.chunked()) {
            direct_remaining = *n;
        }
    }

    //! Whether the whole request body has been read.
    bool body_done() const { return direct_remaining ? *direct_remaining == 0 : parser.is_done(); }

    std::optional<std::uint64_t> content_length() const override {
        auto n = parser.content_length();
        return n ? std::optional<std::uint64_t>(*n) : std::nullopt;
    }

    Result<std::size_t> read(char* out, std::size_t max) override {
        if (max == 0) {
            return std::size_t{0};
        }
        return on_strand(do_read(out, max));
    }

    Result<void> begin(int status, const std::string& content_type,
                       const std::vector<std::pair<std::string, std::string>>& headers,
                       std::optional<std::uint64_t> length) override {
        if (begun) {
            return make_error(Errc::internal, "stream_begun", "the answer was already begun");
        }
        if (status < 100 || status > 599) {
            return make_error(Errc::internal, "stream_status",
                              "invalid status " + std::to_string(status));
        }
        begun = true;
        this->status = status;
        declared = length;
        res.result(static_cast<unsigned>(status));
        res.version(parser.get().version());
        res.set(http::field::server, "unidesk");
        res.set(http::field::content_type, content_type);
        for (const auto& [name, value] : headers) {
            res.insert(name, value);
        }
        if (length) {
            res.content_length(*length);
        } else {
            res.chunked(true);
        }
        res.keep_alive(parser.get().keep_alive() && body_done() && !stopping);
        return on_strand(do_begin());
    }

    Result<void> write(std::string_view data) override {
        if (!begun) {
            return make_error(Errc::internal, "stream_not_begun", "write() before begin()");
        }
        if (declared && sent + data.size() > *declared) {
            return make_error(Errc::internal, "stream_too_long",
                              "more bytes than the declared content length");
        }
        if (data.empty()) {
            return {};
        }
        auto r = on_strand(do_write(data.data(), data.size()));
        if (r) {
            sent += data.size();
        }
        return r;
    }

    bool open() const override { return !failed && !stopping; }

    template <class T>
    Result<T> on_strand(asio::awaitable<Result<T>> op) {
        try {
            return asio::co_spawn(c.stream.get_executor(), std::move(op), asio::use_future).get();
        } catch (const std::exception& e) {
            failed = true;
            return make_error(Errc::unavailable, "peer_gone", e.what());
        }
    }

    asio::awaitable<Result<std::size_t>> do_read(char* out, std::size_t max) {
        if (body_done()) {
            co_return std::size_t{0};
        }
        error_code ec;
        if (expects_continue) {
            expects_continue = false;
            http::response<http::empty_body> go_on{http::status::continue_, parser.get().version()};
            c.stream.expires_after(request_timeout);
            std::tie(ec, std::ignore) = co_await http::async_write(c.stream, go_on, kAwait);
        }
        if (!ec && direct_remaining) {
            co_return co_await read_direct(out, max);
        }
        // Fill the caller's buffer (or reach the end of the body) before handing it back: each
        // hand-back is a round trip between threads, so few large pieces beat many small ones.
        parser.get().body().data = out;
        parser.get().body().size = max;
        while (!ec && parser.get().body().size > 0 && !parser.is_done()) {
            c.stream.expires_after(request_timeout);
            std::tie(ec, std::ignore) = co_await http::async_read(c.stream, buffer, parser, kAwait);
            if (ec == http::error::need_buffer) {
                ec = {};
            }
        }
        if (ec) {
            failed = true;
            if (ec.category() == error_code(http::error::end_of_stream).category() &&
                ec != http::error::end_of_stream && ec != http::error::partial_message) {
                co_return make_error(Errc::invalid_argument, "malformed_body",
                                     "malformed request body: " + ec.message());
            }
            co_return peer_gone();
        }
        co_return max - parser.get().body().size;
    }

    // Bytes that arrived with the header first, then the socket, until `max` bytes or the end
    // of the declared body.
    asio::awaitable<Result<std::size_t>> read_direct(char* out, std::size_t max) {
        std::size_t want =
            static_cast<std::size_t>(std::min<std::uint64_t>(max, *direct_remaining));
        std::size_t got = asio::buffer_copy(asio::buffer(out, want), buffer.data());
        buffer.consume(got);
        if (got < want) {
            c.stream.expires_after(request_timeout);
            auto [ec, n] =
                co_await asio::async_read(c.stream, asio::buffer(out + got, want - got), kAwait);
            got += n;
            if (ec) {
                failed = true;
                co_return peer_gone();
            }
        }
        *direct_remaining -= got;
        co_return got;
    }

    asio::awaitable<Result<void>> do_begin() {
        serializer.emplace(res);
        c.stream.expires_after(request_timeout);
        auto [ec, n] = co_await http::async_write_header(c.stream, *serializer, kAwait);
        if (ec) {
            failed = true;
            co_return peer_gone();
        }
        co_return Result<void>{};
    }

    asio::awaitable<Result<void>> do_write(const char* data, std::size_t size) {
        res.body().data = const_cast<char*>(data);
        res.body().size = size;
        res.body().more = true;
        c.stream.expires_after(request_timeout);
        auto [ec, n] = co_await http::async_write(c.stream, *serializer, kAwait);
        if (ec && ec != http::error::need_buffer) {
            failed = true;
            co_return peer_gone();
        }
        co_return Result<void>{};
    }

    // After the handler returned: ends a chunked body. False when the answer is incomplete
    // (the peer left, or fewer bytes than declared) and the connection must close.
    asio::awaitable<bool> finish() {
        if (failed || (declared && sent != *declared)) {
            co_return false;
        }
        res.body().data = nullptr;
        res.body().size = 0;
        res.body().more = false;
        c.stream.expires_after(request_timeout);
        auto [ec, n] = co_await http::async_write(c.stream, *serializer, kAwait);
        co_return !ec && res.keep_alive();
    }

    const std::atomic<bool>& stopping;
    const std::chrono::seconds request_timeout;
    Connection& c;
    beast::flat_buffer& buffer;
    http::request_parser<http::buffer_body> parser;
    http::response<http::buffer_body> res;
    std::optional<http::response_serializer<http::buffer_body>> serializer;
    bool expects_continue = false;
    bool begun = false;
    int status = 0;
    std::optional<std::uint64_t> declared;
    std::uint64_t sent = 0;
    std::optional<std::uint64_t> direct_remaining;  // set for a body of declared length
    std::atomic<bool> failed{false};
};

asio::awaitable<bool> HttpServer::Impl::serve_stream(Connection& c, beast::flat_buffer& buffer,
                                                     http::request_parser<http::empty_body>& head,
                                                     HttpRequest request, RouteMatch match) {
    auto started_at = std::chrono::steady_clock::now();
    std::string method = request.method;
    std::string route = match.pattern;
    StreamExchange exchange(stopping, options.request_timeout, c, buffer, head);
    std::optional<HttpResponse> answer;

    if (streams.fetch_add(1) >= kMaxStreams) {
        answer = error_response(Errc::unavailable, "too_many_streams",
                                "this listener is serving too many downloads and live streams");
    } else {
        c.busy = true;
        auto self = shared_from_this();
        auto initiate = [&, self](auto handler) {
            std::thread([&, self, handler = std::move(handler)]() mutable {
                answer = self->run_stream_handler(match, request, exchange);
                // The handler's copy belongs to a plugin: drop it before the plugin may go.
                match = RouteMatch{};
                asio::dispatch(std::move(handler));
            }).detach();
        };
        co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(initiate,
                                                                             asio::use_awaitable);
        c.busy = false;
    }
    streams.fetch_sub(1);

    bool keep_alive = false;
    int status = exchange.status;
    if (exchange.begun) {
        keep_alive = co_await exchange.finish();
    } else {
        if (!answer) {
            answer = error_response(Errc::internal, "internal", "the handler answered nothing");
        }
        // A body left unread would be taken for the next request: close after answering.
        keep_alive = exchange.parser.get().keep_alive() && exchange.body_done() && !stopping;
        auto res = to_beast(std::move(*answer), exchange.parser.get().version(), keep_alive);
        status = res.result_int();
        c.stream.expires_after(options.request_timeout);
        auto [ec, n] = co_await http::async_write(c.stream, res, kAwait);
        if (ec) {
            keep_alive = false;
        } else if (!exchange.body_done()) {
            co_await lingering_close(c);
        }
    }
    metrics.record_request(listener_label(options.listener), route, method, status,
                           std::chrono::steady_clock::now() - started_at);
    // A stream may outlast the start of stop(), which only closed the idle connections.
    co_return keep_alive && !stopping;
}

// process() already turns handler and auth failures into answers; this catches what is left
// (an allocation failure) so that nothing escapes onto a worker thread.
Outcome HttpServer::Impl::process_guarded(HttpRequest req) noexcept {
    try {
        return process(std::move(req));
    } catch (const std::exception& e) {
        log->error("http request failed error={}", e.what());
    } catch (...) {
        log->error("http request failed error=unknown");
    }
    try {
        return Outcome{error_response(Errc::internal, "internal", "unexpected failure")};
    } catch (...) {
        return Outcome{};
    }
}

Outcome HttpServer::Impl::process(HttpRequest req) {
    auto m = routes.match(options.listener, req.method, req.path);
    if (!m) {
        return {error_response(Errc::not_found, "not_found",
                               "no route for " + req.method + " " + req.path)};
    }
    if (m->stream_handler) {
        // The route became a stream route while this request's body was being read.
        return {error_response(Errc::unavailable, "route_changed",
                               "the route changed while the request was read; send it again")};
    }
    if (!m->handler) {
        std::string allow;
        for (const auto& method : m->allowed_methods) {
            allow += (allow.empty() ? "" : ", ") + method;
        }
        auto res = HttpResponse::error(make_error(Errc::invalid_argument, "method_not_allowed",
                                                  req.method + " is not allowed here"));
        res.status = 405;
        res.headers.emplace_back("Allow", allow);
        return {std::move(res)};
    }

    Outcome out{{}, m->pattern};
    if (auto refused = authorize(req, *m)) {
        out.response = std::move(*refused);
        return out;
    }
    req.params = m->params;
    out.response = run_handler(*m, req);
    return out;
}

// Sets req.principal from a bearer token; an answer when the request may not go on.
std::optional<HttpResponse> HttpServer::Impl::authorize(HttpRequest& req, const RouteMatch& m) {
    auto challenge = [](HttpResponse res, const char* value) {
        res.headers.emplace_back("WWW-Authenticate", value);
        return res;
    };

    const std::string* authorization = req.header("authorization");
    if (authorization != nullptr && authorization->size() >= 7 &&
        beast::iequals(authorization->substr(0, 7), "bearer ")) {
        Result<Principal> principal = make_error(Errc::internal, "internal", "not checked");
        try {
            principal = auth.authenticate_token(authorization->substr(7));
        } catch (const std::exception& e) {
            log->error("token check failed error={}", e.what());
        }
        // An open route (/health) still answers when the token cannot be checked because the
        // database is down; a wrong token is refused everywhere.
        if (!principal && !m.options.min_role && principal.error().errc != Errc::unauthenticated) {
            return std::nullopt;
        }
        if (!principal) {
            auto res = HttpResponse::error(principal.error());
            if (res.status == 401) {
                return challenge(std::move(res), "Bearer error=\"invalid_token\"");
            }
            return res;
        }
        req.principal = std::move(*principal);
    } else if (auto authenticator = routes.authenticator(options.listener)) {
        std::optional<Result<Principal>> found;
        try {
            found = authenticator(req);
        } catch (const std::exception& e) {
            found = make_error(Errc::internal, "internal", "the authenticator failed");
            log->error("authenticator failed error={}", e.what());
        }
        // An open route ignores a credential it cannot use (a stale cookie on the sign-in).
        if (found && *found) {
            req.principal = std::move(**found);
        } else if (found && m.options.min_role) {
            return HttpResponse::error(found->error());
        }
    }

    if (!m.options.min_role) {
        return std::nullopt;
    }
    if (!req.principal) {
        return challenge(error_response(Errc::unauthenticated, "unauthenticated",
                                        "this route needs a bearer token"),
                         "Bearer");
    }
    if (req.principal->role < *m.options.min_role) {
        return error_response(
            Errc::forbidden, "forbidden",
            std::string("this route needs the role ") + to_string(*m.options.min_role));
    }
    return std::nullopt;
}

HttpResponse HttpServer::Impl::run_handler(const RouteMatch& m, const HttpRequest& req) {
    std::string failure;
    try {
        auto res = m.handler(req);
        if (res.status >= 100 && res.status <= 599) {
            return res;
        }
        failure = "it answered the invalid status " + std::to_string(res.status);
    } catch (const std::exception& e) {
        failure = e.what();
    } catch (...) {
        failure = "an unknown exception";
    }

    std::size_t suppressed = 0;
    if (failure_log.allow(suppressed)) {
        log->error("route handler failed owner={} route=\"{} {}\" error={} suppressed={}", m.owner,
                   req.method, m.pattern, failure, suppressed);
    }
    return error_response(
        Errc::internal, "internal",
        "unexpected failure in " + m.owner + " while handling " + req.method + " " + m.pattern);
}

std::optional<HttpResponse> HttpServer::Impl::run_stream_handler(const RouteMatch& m,
                                                                 const HttpRequest& request,
                                                                 StreamExchange& exchange) {
    std::string failure;
    try {
        HttpRequest req = request;
        if (auto refused = authorize(req, m)) {
            return refused;
        }
        req.params = m.params;
        auto res = m.stream_handler(req, exchange, exchange);
        if (exchange.begun || !res || (res->status >= 100 && res->status <= 599)) {
            return res;
        }
        failure = "it answered the invalid status " + std::to_string(res->status);
    } catch (const std::exception& e) {
        failure = e.what();
    } catch (...) {
        failure = "an unknown exception";
    }

    std::size_t suppressed = 0;
    if (failure_log.allow(suppressed)) {
        log->error("stream handler failed owner={} route=\"{} {}\" error={} suppressed={}", m.owner,
                   request.method, m.pattern, failure, suppressed);
    }
    if (exchange.begun) {
        // Too late for an error answer: cut the connection so the peer sees a broken body.
        exchange.failed = true;
        return std::nullopt;
    }
    return error_response(
        Errc::internal, "internal",
        "unexpected failure in " + m.owner + " while handling " + request.method + " " + m.pattern);
}

HttpServer::HttpServer(HttpServerOptions options, asio::io_context& io, asio::thread_pool& workers,
                       RouteTable& routes, Auth& auth, Metrics& metrics,
                       std::shared_ptr<spdlog::logger> log)
    : impl_(std::make_shared<Impl>(std::move(options), io, workers, routes, auth, metrics,
                                   std::move(log))) {}

HttpServer::~HttpServer() {
    stop();
}

std::uint16_t HttpServer::start() {
    return impl_->start();
}

void HttpServer::stop() {
    impl_->stop();
}

}  // namespace unidesk::kernel
