// The gateway end to end: the real unidesk-kernel with the gateway (and, where said, the
// scheduler) plugin on a real PostgreSQL, reached on its public listener as a browser would:
// sign-in with a cookie, CSRF refusals, the exposed API, the web UI's files, a plugin that is
// not running, and live events over Server-Sent Events read from a raw socket.

#include "support/kernel_under_test.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace std::chrono_literals;
using nlohmann::json;
using unidesk::test::HttpClientResponse;
using unidesk::test::KernelUnderTest;
using unidesk::test::TempDir;
using unidesk::test::wait_until;
namespace test = unidesk::test;

namespace {

struct Server {
    test::TestDatabase db;
    TempDir web;
    KernelUnderTest k;
    std::filesystem::path config;

    explicit Server(const std::string& plugins = "\"gateway\", \"scheduler\"", int max_failures = 5,
                    const std::string& listener_extra = "") {
        std::filesystem::create_directories(web.path() / "assets");
        std::ofstream(web.path() / "index.html") << "<!doctype html><title>UniDesk</title>";
        std::ofstream(web.path() / "assets" / "app-1a2b3c.js") << "console.log('ui')";
        std::ofstream(web.path() / ".env") << "SECRET=1";
        const std::string extra =
            "[plugins]\ndir = \"" + std::string(UNIDESK_PLUGIN_DIR) + "\"\nenabled = [" + plugins +
            "]\n[plugin.gateway]\nweb_dir = \"" + web.path().string() +
            "\"\nsignin_max_failures = " + std::to_string(max_failures) + "\nlive_poll_ms = 50\n";
        config = k.write_config(db.url(), extra);
        if (!listener_extra.empty()) {
            // Keys of [listeners] must sit in that table, which write_config opens first.
            std::ifstream in(config);
            std::string text((std::istreambuf_iterator<char>(in)), {});
            text.insert(text.find("[database]"), listener_extra);
            std::ofstream(config) << text;
        }
        k.start(config);
        REQUIRE(wait_until([&] { return k.health_is("ok") || k.health_is("degraded"); }, 30s));
        (void)k.admin_token();  // waits for the credentials file
    }

    std::string admin_password() { return k.credentials().at("password"); }
    std::string admin_user() { return k.credentials().at("user"); }
};

// The cookie's value from a Set-Cookie header.
std::string session_cookie(const HttpClientResponse& r) {
    const std::string* set = r.header("set-cookie");
    REQUIRE(set != nullptr);
    auto start = set->find('=') + 1;
    return "unidesk_session=" + set->substr(start, set->find(';') - start);
}

std::string code_of(const HttpClientResponse& r) {
    return json::parse(r.body).at("error").at("code").get<std::string>();
}

// A live stream read from a plain socket: the request is sent, then text is gathered until a
// wanted piece appears or the deadline passes.
class RawStream {
public:
    RawStream(int port, const std::string& request) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<std::uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        timeval tv{0, 200'000};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        REQUIRE(::send(fd_, request.data(), request.size(), 0) ==
                static_cast<ssize_t>(request.size()));
    }
    ~RawStream() { ::close(fd_); }

    bool wait_for(const std::string& piece, std::chrono::seconds limit = 15s) {
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline) {
            if (text_.find(piece) != std::string::npos) {
                return true;
            }
            char buf[4096];
            auto n = ::recv(fd_, buf, sizeof buf, 0);
            if (n > 0) {
                text_.append(buf, static_cast<std::size_t>(n));
            } else if (n == 0) {
                break;
            }
        }
        return text_.find(piece) != std::string::npos;
    }
    const std::string& text() const { return text_; }

private:
    int fd_ = -1;
    std::string text_;
};

}  // namespace

TEST_CASE("a person signs in with a password, uses the API with the cookie, and signs out",
          "[gateway][e2e]") {
    Server s;
    auto c = s.k.public_client();

    auto wrong = c.request("POST", "/v1/session",
                           json{{"user", s.admin_user()}, {"password", "not it"}}.dump());
    REQUIRE(wrong.status == 401);
    REQUIRE(code_of(wrong) == "password_invalid");
    REQUIRE(wrong.header("set-cookie") == nullptr);
    REQUIRE(c.request("POST", "/v1/session", "{not json").status == 400);
    auto nul = c.request("POST", "/v1/session",
                         R"({"user": "ad\u0000min", "password": "whatever it is"})");
    REQUIRE(nul.status == 400);
    REQUIRE(code_of(nul) == "invalid_request");

    auto ok = c.request("POST", "/v1/session",
                        json{{"user", s.admin_user()}, {"password", s.admin_password()}}.dump());
    REQUIRE(ok.status == 200);
    const std::string& set = *ok.header("set-cookie");
    REQUIRE(set.find("HttpOnly") != std::string::npos);
    REQUIRE(set.find("SameSite=Strict") != std::string::npos);
    REQUIRE(set.find("Path=/") != std::string::npos);
    auto csrf = ok.json()["csrf_token"].get<std::string>();
    REQUIRE(ok.json()["user"]["role"] == "admin");
    auto cookie = session_cookie(ok);

    auto me = c.get("/v1/session", {{"Cookie", cookie}});
    REQUIRE(me.status == 200);
    REQUIRE(me.json()["csrf_token"] == csrf);
    REQUIRE(c.get("/v1/session").status == 401);

    // The internal API, through the public listener, with the cookie.
    REQUIRE(c.get("/v1/nodes", {{"Cookie", cookie}}).status == 200);
    REQUIRE(c.get("/v1/tasks", {{"Cookie", cookie}}).status == 200);
    REQUIRE(c.get("/v1/nodes").status == 401);
    REQUIRE(c.get("/health").status == 200);

    // A state change needs the session's CSRF token.
    const std::string token_body = json{{"name", "laptop"}}.dump();
    auto no_csrf = c.request("POST", "/v1/tokens", token_body, {{"Cookie", cookie}});
    REQUIRE(no_csrf.status == 403);
    REQUIRE(code_of(no_csrf) == "csrf_invalid");
    auto bad_csrf = c.request("POST", "/v1/tokens", token_body,
                              {{"Cookie", cookie}, {"X-CSRF-Token", std::string(64, '0')}});
    REQUIRE(code_of(bad_csrf) == "csrf_invalid");
    auto with_csrf =
        c.request("POST", "/v1/tokens", token_body, {{"Cookie", cookie}, {"X-CSRF-Token", csrf}});
    REQUIRE(with_csrf.status == 201);

    // A bearer token works on the public listener too (the CLI), without CSRF.
    auto bearer = "Bearer " + with_csrf.json()["secret"].get<std::string>();
    REQUIRE(
        c.request("POST", "/v1/tokens", json{{"name", "cli"}}.dump(), {{"Authorization", bearer}})
            .status == 201);

    auto out = c.request("DELETE", "/v1/session", "", {{"Cookie", cookie}, {"X-CSRF-Token", csrf}});
    REQUIRE(out.status == 204);
    REQUIRE(out.header("set-cookie")->find("Max-Age=0") != std::string::npos);
    auto after = c.get("/v1/nodes", {{"Cookie", cookie}});
    REQUIRE(after.status == 401);
    REQUIRE(code_of(after) == "session_expired");
}

TEST_CASE("repeated failed sign-ins are refused with 429, even with the right password",
          "[gateway][e2e]") {
    Server s("\"gateway\"", 3);
    auto c = s.k.public_client();
    for (int i = 0; i < 3; ++i) {
        REQUIRE(c.request("POST", "/v1/session",
                          json{{"user", s.admin_user()}, {"password", "guess"}}.dump())
                    .status == 401);
    }
    auto locked =
        c.request("POST", "/v1/session",
                  json{{"user", s.admin_user()}, {"password", s.admin_password()}}.dump());
    REQUIRE(locked.status == 429);
    REQUIRE(code_of(locked) == "too_many_attempts");
    REQUIRE(std::stoi(*locked.header("retry-after")) > 0);
    REQUIRE(std::stoi(*locked.header("retry-after")) <= 300);

    // Another user name from the same host is not locked by these.
    auto other =
        c.request("POST", "/v1/session", json{{"user", "nobody"}, {"password", "x"}}.dump());
    REQUIRE(other.status == 401);
}

TEST_CASE("the web UI's files are served with their types and caching, pages get the index",
          "[gateway][e2e]") {
    Server s("\"gateway\"");
    auto c = s.k.public_client();

    auto index = c.get("/");
    REQUIRE(index.status == 200);
    REQUIRE(index.header("content-type")->rfind("text/html", 0) == 0);
    REQUIRE(*index.header("cache-control") == "no-cache");
    REQUIRE(index.body.find("UniDesk") != std::string::npos);

    auto deep = c.get("/tasks/42");
    REQUIRE(deep.status == 200);
    REQUIRE(deep.body == index.body);

    auto js = c.get("/assets/app-1a2b3c.js");
    REQUIRE(js.status == 200);
    REQUIRE(js.header("content-type")->rfind("text/javascript", 0) == 0);
    REQUIRE(js.header("cache-control")->find("immutable") != std::string::npos);

    REQUIRE(c.get("/assets/missing.js").status == 404);
    REQUIRE(c.get("/.env").status == 404);
    REQUIRE(c.get("/assets/../.env").status == 404);
    REQUIRE(c.get("/%2e%2e/etc/passwd").status == 404);

    // Internal routes outside /v1/ and /health stay internal, and say so.
    auto metrics = c.get("/metrics");
    REQUIRE(metrics.status == 404);
    REQUIRE(metrics.body.find("internal listener") != std::string::npos);
}

TEST_CASE("an API part whose plugin is not running answers 503 naming the plugin",
          "[gateway][e2e]") {
    Server s("\"gateway\"");
    auto c = s.k.public_client();
    auto token = "Bearer " + s.k.admin_token();

    auto tasks = c.get("/v1/tasks", {{"Authorization", token}});
    REQUIRE(tasks.status == 503);
    REQUIRE(code_of(tasks) == "plugin_unavailable");
    REQUIRE(tasks.json()["error"]["message"].get<std::string>().find("scheduler") !=
            std::string::npos);
    auto submit = c.request("POST", "/v1/tasks", "{}", {{"Authorization", token}});
    REQUIRE(submit.status == 503);

    auto unknown = c.get("/v1/nonsense", {{"Authorization", token}});
    REQUIRE(unknown.status == 404);
    REQUIRE(code_of(unknown) == "not_found");
}

TEST_CASE("live events stream to a signed-in browser, and a stale resume is told to re-read",
          "[gateway][e2e]") {
    Server s("\"gateway\"");
    auto c = s.k.public_client();
    auto ok = c.request("POST", "/v1/session",
                        json{{"user", s.admin_user()}, {"password", s.admin_password()}}.dump());
    REQUIRE(ok.status == 200);
    auto cookie = session_cookie(ok);

    REQUIRE(c.get("/v1/live").status == 401);

    RawStream live(s.k.public_port,
                   "GET /v1/live HTTP/1.1\r\nHost: x\r\nCookie: " + cookie + "\r\n\r\n");
    REQUIRE(live.wait_for("event: hello"));
    REQUIRE(live.text().find("text/event-stream") != std::string::npos);

    REQUIRE(
        s.k.call(
               "POST", "/v1/users",
               json{{"name", "grace"}, {"password", "a long password"}, {"role", "viewer"}}.dump())
            .status == 201);
    REQUIRE(live.wait_for("\"kind\":\"user.created\""));
    REQUIRE(live.text().find("\"at\":\"20") != std::string::npos);

    // After a restart the session still holds (it lives in PostgreSQL), and resuming from an
    // event before the new feed's window is told to re-read rather than given a gap.
    s.k.stop();
    s.k.start(s.config);
    REQUIRE(wait_until([&] { return s.k.health_is("ok"); }, 30s));
    RawStream stale(s.k.public_port,
                    "GET /v1/live?after=0 HTTP/1.1\r\nHost: x\r\nCookie: " + cookie + "\r\n\r\n");
    REQUIRE(stale.wait_for("event: resync"));
}

TEST_CASE("the public listener speaks HTTPS from config and then marks the cookie Secure",
          "[gateway][e2e][tls]") {
    TempDir certs;
    const auto cert = (certs.path() / "cert.pem").string();
    const auto key = (certs.path() / "key.pem").string();
    const auto make =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
        "-addext subjectAltName=IP:127.0.0.1 -keyout " +
        key + " -out " + cert + " >/dev/null 2>&1";
    REQUIRE(std::system(make.c_str()) == 0);
    Server s("\"gateway\"", 5,
             "public_tls_cert_file = \"" + cert + "\"\npublic_tls_key_file = \"" + key + "\"\n");

    const auto out = (certs.path() / "out.txt").string();
    const auto url = "https://127.0.0.1:" + std::to_string(s.k.public_port) + "/v1/session";
    const auto body = json{{"user", s.admin_user()}, {"password", s.admin_password()}}.dump();
    const auto curl = "curl -s -D - --cacert " + cert + " -H 'Content-Type: application/json' " +
                      "--data-binary '" + body + "' " + url + " > " + out;
    REQUIRE(std::system(curl.c_str()) == 0);
    std::ifstream in(out);
    std::string answer((std::istreambuf_iterator<char>(in)), {});
    REQUIRE(answer.rfind("HTTP/1.1 200", 0) == 0);
    REQUIRE(answer.find("; Secure") != std::string::npos);

    // Plain HTTP to the HTTPS port gets nowhere, and a client that does not trust the
    // certificate is refused by its own check.
    REQUIRE_THROWS(s.k.public_client().get("/health"));
    const auto untrusted =
        "curl -s -o /dev/null https://127.0.0.1:" + std::to_string(s.k.public_port) + "/health";
    REQUIRE(std::system(untrusted.c_str()) != 0);
}
