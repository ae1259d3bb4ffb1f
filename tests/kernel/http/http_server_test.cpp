#include "http/http_server.hpp"

#include "core/core_routes.hpp"
#include "core/logging.hpp"
#include "core/metrics.hpp"
#include "support/http_client.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <stdexcept>
#include <thread>

using namespace unidesk;
using namespace unidesk::kernel;
using unidesk::test::HttpClient;
using namespace std::chrono_literals;

namespace {

// Our own Auth interface, faked: two known tokens, and a switch for a database that is down.
class FakeAuth final : public Auth {
public:
    std::atomic<bool> database_down{false};

    Result<Principal> authenticate_token(std::string_view token) override {
        if (database_down) {
            return make_error(Errc::unavailable, "database_unavailable", "database is down");
        }
        if (token == "admin-token") {
            return Principal{1, "ada", Role::admin, 11};
        }
        if (token == "viewer-token") {
            return Principal{2, "vic", Role::viewer, 12};
        }
        return make_error(Errc::unauthenticated, "token_invalid", "unknown token");
    }
    Result<Principal> authenticate_password(std::string_view, std::string_view) override {
        return make_error(Errc::unauthenticated, "password_invalid", "not in this fake");
    }
    Result<NodeIdentity> authenticate_node_token(std::string_view) override {
        return make_error(Errc::unauthenticated, "token_invalid", "not in this fake");
    }
};

RouteOptions open_route() {
    RouteOptions o;
    o.min_role = std::nullopt;
    return o;
}

RouteOptions needs(Role r) {
    RouteOptions o;
    o.min_role = r;
    return o;
}

HttpResponse text(std::string body) {
    HttpResponse r;
    r.content_type = "text/plain";
    r.body = std::move(body);
    return r;
}

// A real server on a free port: one io thread (so a handler on it would block every other
// request) and a pool of workers.
struct ServerFixture {
    explicit ServerFixture(std::size_t max_body = 64 * 1024,
                           std::chrono::seconds timeout = std::chrono::seconds(30)) {
        HttpServerOptions options;
        options.max_body_bytes = max_body;
        options.request_timeout = timeout;
        server = std::make_unique<HttpServer>(options, io, workers, routes, auth, metrics,
                                              get_logger("kernel.http"));
        port = server->start();
        io_thread = std::thread([this] { io.run(); });
    }
    ~ServerFixture() {
        server->stop();
        work.reset();
        io.stop();
        io_thread.join();
        workers.join();
    }

    void add(const std::string& owner, std::string method, std::string pattern, HttpHandler h,
             RouteOptions options) {
        REQUIRE(routes
                    .add(owner, Listener::internal, std::move(method), std::move(pattern),
                         std::move(h), options)
                    .has_value());
    }

    void add_stream(std::string method, std::string pattern, StreamHandler h,
                    RouteOptions options) {
        REQUIRE(routes
                    .add_stream("kernel", Listener::internal, std::move(method), std::move(pattern),
                                std::move(h), options)
                    .has_value());
    }

    HttpClient client() { return HttpClient("127.0.0.1", port); }

    boost::asio::io_context io;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{
        io.get_executor()};
    boost::asio::thread_pool workers{4};
    RouteTable routes;
    FakeAuth auth;
    Metrics metrics;
    std::unique_ptr<HttpServer> server;
    std::uint16_t port = 0;
    std::thread io_thread;
};

std::string error_code_of(const unidesk::test::HttpClientResponse& r) {
    return r.json()["error"]["code"].get<std::string>();
}

}  // namespace

TEST_CASE("an open route answers anyone, with params, query and lower-case headers",
          "[kernel][http]") {
    ServerFixture f;
    f.add(
        "kernel", "GET", "/v1/echo/{name}",
        [](const HttpRequest& r) {
            const std::string* custom = r.header("x-custom");
            return HttpResponse::json({{"name", r.params.at("name")},
                                       {"q", r.query_param("q") ? *r.query_param("q") : ""},
                                       {"custom", custom ? *custom : ""},
                                       {"path", r.path},
                                       {"signed_in", r.principal.has_value()}});
        },
        open_route());

    auto c = f.client();
    auto r = c.get("/v1/echo/a%20b?q=x+y%26z&other", {{"X-Custom", "yes"}});
    REQUIRE(r.status == 200);
    REQUIRE(*r.header("content-type") == "application/json");
    auto j = r.json();
    REQUIRE(j["name"] == "a b");
    REQUIRE(j["q"] == "x y&z");
    REQUIRE(j["custom"] == "yes");
    REQUIRE(j["path"] == "/v1/echo/a b");
    REQUIRE(j["signed_in"] == false);
}

TEST_CASE("protected routes check the bearer token and the role", "[kernel][http]") {
    ServerFixture f;
    f.add(
        "kernel", "GET", "/v1/admin",
        [](const HttpRequest& r) { return text("hello " + r.principal->name); },
        needs(Role::admin));
    f.add(
        "kernel", "GET", "/v1/open", [](const HttpRequest&) { return text("open"); }, open_route());
    auto c = f.client();

    auto none = c.get("/v1/admin");
    REQUIRE(none.status == 401);
    REQUIRE(error_code_of(none) == "unauthenticated");
    REQUIRE(*none.header("www-authenticate") == "Bearer");

    auto wrong = c.get("/v1/admin", {{"Authorization", "Bearer nope"}});
    REQUIRE(wrong.status == 401);
    REQUIRE(error_code_of(wrong) == "token_invalid");
    REQUIRE(wrong.header("www-authenticate") != nullptr);

    auto low = c.get("/v1/admin", {{"Authorization", "Bearer viewer-token"}});
    REQUIRE(low.status == 403);
    REQUIRE(error_code_of(low) == "forbidden");

    auto right = c.get("/v1/admin", {{"Authorization", "Bearer admin-token"}});
    REQUIRE(right.status == 200);
    REQUIRE(right.body == "hello ada");

    // A wrong token is refused even where no token is needed.
    REQUIRE(c.get("/v1/open").status == 200);
    REQUIRE(c.get("/v1/open", {{"Authorization", "Bearer nope"}}).status == 401);
}

TEST_CASE("an unreachable auth database answers 503", "[kernel][http]") {
    ServerFixture f;
    f.add(
        "kernel", "GET", "/v1/me", [](const HttpRequest&) { return text("me"); },
        needs(Role::viewer));
    f.auth.database_down = true;

    auto r = f.client().get("/v1/me", {{"Authorization", "Bearer viewer-token"}});
    REQUIRE(r.status == 503);
    REQUIRE(error_code_of(r) == "database_unavailable");
}

TEST_CASE("unknown paths are 404 and wrong methods 405", "[kernel][http]") {
    ServerFixture f;
    f.add(
        "kernel", "GET", "/v1/things", [](const HttpRequest&) { return text("x"); }, open_route());
    auto c = f.client();

    auto missing = c.get("/v1/nothing");
    REQUIRE(missing.status == 404);
    REQUIRE(error_code_of(missing) == "not_found");

    auto wrong = c.request("DELETE", "/v1/things");
    REQUIRE(wrong.status == 405);
    REQUIRE(error_code_of(wrong) == "method_not_allowed");
    REQUIRE(*wrong.header("allow") == "GET");
}

TEST_CASE("a throwing handler is a 500 naming its owner and the server serves on",
          "[kernel][http]") {
    ServerFixture f;
    auto plugin = f.routes.router_for("scheduler");
    REQUIRE(plugin
                ->add_route(
                    Listener::internal, "POST", "/v1/boom",
                    [](const HttpRequest&) -> HttpResponse { throw std::logic_error("bug"); },
                    open_route())
                .has_value());
    f.add(
        "kernel", "GET", "/v1/ok", [](const HttpRequest&) { return text("ok"); }, open_route());
    auto c = f.client();

    auto r = c.request("POST", "/v1/boom", "{}");
    REQUIRE(r.status == 500);
    REQUIRE(error_code_of(r) == "internal");
    REQUIRE(r.json()["error"]["message"].get<std::string>().find("scheduler") != std::string::npos);
    REQUIRE(c.get("/v1/ok").status == 200);
}

TEST_CASE("a body over the limit is refused with 413", "[kernel][http]") {
    ServerFixture f(1024);
    f.add(
        "kernel", "POST", "/v1/upload", [](const HttpRequest& r) { return text(r.body); },
        open_route());
    auto c = f.client();

    auto big = c.request("POST", "/v1/upload", std::string(4096, 'x'));
    REQUIRE(big.status == 413);
    REQUIRE(error_code_of(big) == "too_large");

    auto small = c.request("POST", "/v1/upload", std::string(512, 'y'));
    REQUIRE(small.status == 200);
    REQUIRE(small.body == std::string(512, 'y'));
}

TEST_CASE("a malformed request gets 400 and the server survives", "[kernel][http]") {
    ServerFixture f;
    f.add(
        "kernel", "GET", "/v1/ok", [](const HttpRequest&) { return text("ok"); }, open_route());
    auto c = f.client();

    auto raw = c.send_raw("GARBAGE\r\n\r\n");
    REQUIRE(raw.rfind("HTTP/1.1 400", 0) == 0);
    REQUIRE(raw.find("invalid_argument") != std::string::npos);

    auto bad_escape = c.get("/v1/o%zz");
    REQUIRE(bad_escape.status == 400);
    REQUIRE(error_code_of(bad_escape) == "invalid_target");

    REQUIRE(c.get("/v1/ok").status == 200);
}

TEST_CASE("two requests share one keep-alive connection", "[kernel][http]") {
    ServerFixture f;
    f.add(
        "kernel", "GET", "/v1/peer", [](const HttpRequest& r) { return text(r.remote); },
        open_route());
    auto c = f.client();

    auto first = c.get("/v1/peer");
    auto second = c.get("/v1/peer");
    REQUIRE(first.status == 200);
    REQUIRE(first.body == second.body);
    REQUIRE(c.connections_opened() == 1);
}

TEST_CASE("a blocked handler does not keep other requests waiting", "[kernel][http]") {
    ServerFixture f;
    std::promise<void> entered;
    std::promise<void> release;
    auto released = release.get_future().share();
    f.add(
        "kernel", "GET", "/v1/wait",
        [&entered, released](const HttpRequest&) {
            entered.set_value();
            return text(released.wait_for(20s) == std::future_status::ready ? "released"
                                                                            : "timed out");
        },
        open_route());
    f.add(
        "kernel", "POST", "/v1/release",
        [&release](const HttpRequest&) {
            release.set_value();
            return text("done");
        },
        open_route());

    auto waiting = std::async(std::launch::async, [&f] { return f.client().get("/v1/wait"); });
    REQUIRE(entered.get_future().wait_for(20s) == std::future_status::ready);

    // Served only if the first handler is not holding the single io thread.
    REQUIRE(f.client().request("POST", "/v1/release").status == 200);
    auto first = waiting.get();
    REQUIRE(first.status == 200);
    REQUIRE(first.body == "released");
}

TEST_CASE("stop returns promptly with an idle keep-alive connection open", "[kernel][http]") {
    ServerFixture f;
    f.add(
        "kernel", "GET", "/v1/ok", [](const HttpRequest&) { return text("ok"); }, open_route());
    auto c = f.client();
    REQUIRE(c.get("/v1/ok").status == 200);

    auto before = std::chrono::steady_clock::now();
    f.server->stop();
    REQUIRE(std::chrono::steady_clock::now() - before < 5s);
    REQUIRE_THROWS_AS(c.get("/v1/ok"), std::runtime_error);
}

TEST_CASE("a connection that sends nothing is closed after the request timeout", "[kernel][http]") {
    ServerFixture f(1024, 1s);
    auto c = f.client();

    auto before = std::chrono::steady_clock::now();
    REQUIRE(c.send_raw("GET /v1/slow HTTP/1.1\r\nHost: x\r\n").empty());
    REQUIRE(std::chrono::steady_clock::now() - before < 10s);
}

TEST_CASE("every answer is counted in the metrics", "[kernel][http][metrics]") {
    ServerFixture f;
    f.add(
        "kernel", "GET", "/v1/items/{id}", [](const HttpRequest&) { return text("x"); },
        open_route());
    auto c = f.client();
    c.get("/v1/items/1");
    c.get("/v1/items/2");
    c.get("/v1/missing");

    auto text = f.metrics.render();
    REQUIRE(text.find("unidesk_http_requests_total{listener=\"internal\",route=\"/v1/items/{id}\","
                      "method=\"GET\",status=\"200\"} 2\n") != std::string::npos);
    REQUIRE(text.find("unidesk_http_requests_total{listener=\"internal\",route=\"unmatched\","
                      "method=\"GET\",status=\"404\"} 1\n") != std::string::npos);
}

TEST_CASE("/health and /metrics answer through the server", "[kernel][http][health]") {
    ServerFixture f;
    HealthRegistry health;
    health.set_check(HealthRegistry::Group::component, "database", [] { return HealthReport{}; });
    health.set_check(HealthRegistry::Group::plugin, "scheduler", [] {
        return HealthReport{HealthState::degraded, "slow"};
    });
    REQUIRE(register_core_routes(f.routes, health, f.metrics).has_value());
    auto c = f.client();

    auto h = c.get("/health");
    REQUIRE(h.status == 200);
    auto j = h.json();
    REQUIRE(j["status"] == "degraded");
    REQUIRE(j["version"] == UNIDESK_VERSION);
    auto time = j["time"].get<std::string>();
    REQUIRE(time.size() == 24);
    REQUIRE(time.back() == 'Z');
    REQUIRE(j["plugins"]["scheduler"]["reason"] == "slow");

    auto m = c.get("/metrics");
    REQUIRE(m.status == 200);
    REQUIRE(*m.header("content-type") == "text/plain; version=0.0.4");
    REQUIRE(m.body.find("unidesk_http_requests_total{listener=\"internal\",route=\"/health\"") !=
            std::string::npos);
    REQUIRE(m.body.find("unidesk_plugin_up{plugin=\"scheduler\"} 1\n") != std::string::npos);

    health.set_check(HealthRegistry::Group::component, "database", [] {
        return HealthReport{HealthState::down, "connection refused"};
    });
    auto down = c.get("/health");
    REQUIRE(down.status == 503);
    REQUIRE(down.json()["components"]["database"]["reason"] == "connection refused");
}

TEST_CASE("a stream route reads a body far over the limit in pieces and answers in pieces",
          "[kernel][http][stream]") {
    ServerFixture f(64 * 1024);
    std::atomic<std::size_t> largest_piece{0};
    f.add_stream(
        "PUT", "/v1/blobs/{key...}",
        [&](const HttpRequest& req, BodyReader& body,
            ResponseStream& out) -> std::optional<HttpResponse> {
            std::vector<char> piece(256 * 1024);
            std::uint64_t total = 0;
            std::uint64_t sum = 0;
            for (;;) {
                auto n = body.read(piece.data(), piece.size());
                if (!n) {
                    return HttpResponse::error(n.error());
                }
                if (*n == 0) {
                    break;
                }
                largest_piece = std::max<std::size_t>(largest_piece, *n);
                for (std::size_t i = 0; i < *n; ++i) {
                    sum += static_cast<unsigned char>(piece[i]);
                }
                total += *n;
            }
            // Chunked: no length given. No REQUIRE here: this runs on the handler's thread.
            if (out.begin(201, "text/plain", {{"X-Key", req.params.at("key")}}, std::nullopt)) {
                (void)out.write(std::to_string(total));
                (void)out.write(" ");
                (void)out.write(std::to_string(sum));
            }
            return std::nullopt;
        },
        open_route());

    std::string big(24 * 1024 * 1024 + 7, '\0');
    std::uint64_t expected_sum = 0;
    for (std::size_t i = 0; i < big.size(); ++i) {
        big[i] = static_cast<char>(i % 251);
        expected_sum += static_cast<unsigned char>(big[i]);
    }
    auto c = f.client();
    auto r = c.request("PUT", "/v1/blobs/a/b.bin", big, {{"Content-Type", "application/x"}});
    REQUIRE(r.status == 201);
    REQUIRE(*r.header("x-key") == "a/b.bin");
    REQUIRE(r.body == std::to_string(big.size()) + " " + std::to_string(expected_sum));
    REQUIRE(largest_piece <= 256 * 1024);

    // The connection stays usable after a streamed exchange.
    auto again = c.request("PUT", "/v1/blobs/small", "abc");
    REQUIRE(again.status == 201);
    REQUIRE(again.body == "3 294");
    REQUIRE(c.connections_opened() == 1);
}

TEST_CASE("a stream download with a declared length arrives whole", "[kernel][http][stream]") {
    ServerFixture f;
    f.add_stream(
        "GET", "/v1/file",
        [](const HttpRequest&, BodyReader&, ResponseStream& out) -> std::optional<HttpResponse> {
            std::string piece(64 * 1024, 'x');
            if (!out.begin(200, "application/octet-stream", {}, 100 * piece.size())) {
                return std::nullopt;
            }
            for (int i = 0; i < 100; ++i) {
                if (!out.write(piece)) {
                    break;
                }
            }
            return std::nullopt;
        },
        open_route());

    auto c = f.client();
    auto r = c.get("/v1/file");
    REQUIRE(r.status == 200);
    REQUIRE(*r.header("content-length") == std::to_string(100 * 64 * 1024));
    REQUIRE(r.body.size() == 100 * 64 * 1024);
    REQUIRE(c.get("/v1/file").status == 200);
    REQUIRE(c.connections_opened() == 1);
}

TEST_CASE("a stream handler may refuse before reading the body, and the connection then closes",
          "[kernel][http][stream]") {
    ServerFixture f;
    std::atomic<bool> reached{false};
    f.add_stream(
        "PUT", "/v1/guarded",
        [&](const HttpRequest&, BodyReader&, ResponseStream&) -> std::optional<HttpResponse> {
            reached = true;
            return HttpResponse::error(make_error(Errc::forbidden, "signature_invalid", "no"));
        },
        open_route());
    f.add_stream(
        "PUT", "/v1/members",
        [&](const HttpRequest&, BodyReader&, ResponseStream&) -> std::optional<HttpResponse> {
            return text("in");
        },
        needs(Role::member));
    f.add(
        "kernel", "GET", "/v1/ping", [](const HttpRequest&) { return text("pong"); }, open_route());

    auto c = f.client();
    auto r = c.request("PUT", "/v1/guarded", std::string(2 * 1024 * 1024, 'z'));
    REQUIRE(r.status == 403);
    REQUIRE(error_code_of(r) == "signature_invalid");
    REQUIRE(*r.header("connection") == "close");
    REQUIRE(c.get("/v1/ping").body == "pong");
    REQUIRE(c.connections_opened() == 2);

    // The role check runs before a stream handler too.
    REQUIRE(c.request("PUT", "/v1/members", "x").status == 401);
    REQUIRE(
        c.request("PUT", "/v1/members", "x", {{"Authorization", "Bearer viewer-token"}}).status ==
        403);
    REQUIRE(c.request("PUT", "/v1/members", "x", {{"Authorization", "Bearer admin-token"}}).body ==
            "in");
    REQUIRE(reached);
}

TEST_CASE("a live stream sees the listener stopping and stop returns promptly",
          "[kernel][http][stream]") {
    auto f = std::make_unique<ServerFixture>();
    std::promise<void> streaming;
    f->add_stream(
        "GET", "/v1/live",
        [&](const HttpRequest&, BodyReader&, ResponseStream& out) -> std::optional<HttpResponse> {
            if (!out.begin(200, "text/event-stream", {}, std::nullopt) ||
                !out.write(": hello\n\n")) {
                return std::nullopt;
            }
            streaming.set_value();
            while (out.open()) {
                std::this_thread::sleep_for(20ms);
            }
            return std::nullopt;
        },
        open_route());

    std::thread reader([port = f->port] {
        HttpClient c("127.0.0.1", port, 20s);
        try {
            c.get("/v1/live");
        } catch (const std::exception&) {
            // The stream is cut when the server stops; that is the point.
        }
    });
    REQUIRE(streaming.get_future().wait_for(10s) == std::future_status::ready);
    auto begin = std::chrono::steady_clock::now();
    f.reset();
    REQUIRE(std::chrono::steady_clock::now() - begin < 5s);
    reader.join();
}

TEST_CASE("an authenticator supplies the caller when no bearer token is sent",
          "[kernel][http][auth]") {
    ServerFixture f;
    REQUIRE(f.routes.set_authenticator(
        "gateway", Listener::internal,
        [](const HttpRequest& req) -> std::optional<Result<Principal>> {
            const std::string* cookie = req.header("cookie");
            if (cookie == nullptr) {
                return std::nullopt;
            }
            if (*cookie == "s=good") {
                return Result<Principal>(Principal{3, "cora", Role::member, 0});
            }
            return Result<Principal>(make_error(Errc::forbidden, "csrf_invalid", "no csrf"));
        }));
    f.add(
        "kernel", "GET", "/v1/me",
        [](const HttpRequest& r) { return text(r.principal ? r.principal->name : "nobody"); },
        needs(Role::viewer));
    f.add(
        "kernel", "GET", "/v1/open",
        [](const HttpRequest& r) { return text(r.principal ? r.principal->name : "nobody"); },
        open_route());

    auto c = f.client();
    REQUIRE(c.get("/v1/me", {{"Cookie", "s=good"}}).body == "cora");
    REQUIRE(c.get("/v1/me").status == 401);
    auto refused = c.get("/v1/me", {{"Cookie", "s=bad"}});
    REQUIRE(refused.status == 403);
    REQUIRE(error_code_of(refused) == "csrf_invalid");
    // A bearer token wins over the authenticator; an open route ignores its refusal.
    REQUIRE(c.get("/v1/me", {{"Cookie", "s=bad"}, {"Authorization", "Bearer admin-token"}}).body ==
            "ada");
    REQUIRE(c.get("/v1/open", {{"Cookie", "s=bad"}}).body == "nobody");
    REQUIRE(c.get("/v1/open", {{"Cookie", "s=good"}}).body == "cora");
}
