// The real unidesk-kernel program against a real PostgreSQL: start-up, the first admin,
// health while the database goes away and comes back, config errors, log format.

#include "support/http_client.hpp"
#include "support/kernel_under_test.hpp"
#include "support/pg_cluster.hpp"
#include "support/process.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

using namespace std::chrono_literals;
using nlohmann::json;
using unidesk::test::ChildProcess;
using unidesk::test::HttpClient;
using unidesk::test::KernelUnderTest;
using unidesk::test::TempDir;
using unidesk::test::wait_until;

namespace {

const std::string kKernel = unidesk::test::built_program("unidesk-kernel");

// A way to the test database through a port of its own (iptables redirects it), which can be
// made a black hole: packets on its connections are dropped, as when the database's host
// vanishes from the network without closing anything. The rules go when this does.
class VanishingRoute {
public:
    explicit VanishingRoute(const std::string& url) {
        const auto at = url.rfind(':');
        const auto slash = url.find('/', at);
        db_port_ = url.substr(at + 1, slash - at - 1);
        port_ = std::to_string(unidesk::test::free_port());
        url_ = url.substr(0, at + 1) + port_ + url.substr(slash);
        run("iptables -t nat -A OUTPUT -p tcp -d 127.0.0.1 --dport " + port_ +
            " -j REDIRECT --to-ports " + db_port_);
    }
    ~VanishingRoute() {
        restore();
        std::system(("iptables -t nat -D OUTPUT -p tcp -d 127.0.0.1 --dport " + port_ +
                     " -j REDIRECT --to-ports " + db_port_ + " 2>/dev/null")
                        .c_str());
    }
    const std::string& url() const { return url_; }
    void vanish() {
        run("iptables -A INPUT -p tcp -m conntrack --ctorigdstport " + port_ + " -j DROP");
        dropping_ = true;
    }
    void restore() {
        if (dropping_) {
            run("iptables -D INPUT -p tcp -m conntrack --ctorigdstport " + port_ + " -j DROP");
            dropping_ = false;
        }
    }

private:
    static void run(const std::string& command) {
        if (std::system(command.c_str()) != 0) {
            throw std::runtime_error("failed (the test needs root and iptables): " + command);
        }
    }
    std::string db_port_;
    std::string port_;
    std::string url_;
    bool dropping_ = false;
};

}  // namespace

TEST_CASE("the kernel starts without plugins, creates the first admin once and serves",
          "[kernel][e2e][db]") {
    unidesk::test::TestDatabase db;
    KernelUnderTest k;
    auto config = k.write_config(db.url());
    k.start(config);
    REQUIRE(wait_until([&] { return k.health_is("ok"); }, 20s));

    auto h = k.health();
    CHECK(h["components"]["database"]["status"] == "ok");
    CHECK(h["plugins"].empty());
    CHECK(h["time"].get<std::string>().back() == 'Z');

    REQUIRE(wait_until([&] { return k.credentials().count("token") == 1; }, 10s));
    auto creds = k.credentials();
    CHECK(creds["user"] == "admin");
    CHECK(k.proc->stdout_text().find(creds["token"]) != std::string::npos);

    auto who = k.client().request("GET", "/v1/whoami", "",
                                  {{"Authorization", "Bearer " + creds["token"]}});
    CHECK(who.status == 200);
    CHECK(json::parse(who.body)["user"]["name"] == "admin");
    CHECK(json::parse(who.body)["user"]["role"] == "admin");

    auto anonymous = k.client().request("GET", "/v1/whoami");
    CHECK(anonymous.status == 401);
    CHECK(json::parse(anonymous.body)["error"]["code"] == "unauthenticated");

    auto metrics = k.client().request("GET", "/metrics");
    CHECK(metrics.status == 200);
    CHECK(metrics.body.find("unidesk_http_requests_total") != std::string::npos);
    CHECK(metrics.body.find("unidesk_db_pool_in_use") != std::string::npos);
    k.stop();

    // A second start against the same database makes no new admin.
    std::filesystem::remove(k.dir.path() / "credentials");
    k.start(config);
    REQUIRE(wait_until([&] { return k.health_is("ok"); }, 20s));
    CHECK_FALSE(std::filesystem::exists(k.dir.path() / "credentials"));
    CHECK(k.proc->stdout_text().find("administrator created") == std::string::npos);
    auto again = k.client().request("GET", "/v1/whoami", "",
                                    {{"Authorization", "Bearer " + creds["token"]}});
    CHECK(again.status == 200);
    k.stop();
}

TEST_CASE("health follows the database going away and coming back", "[kernel][e2e][db]") {
    unidesk::test::PgCluster cluster;
    std::string url = cluster.create_database("kernel");
    KernelUnderTest k;
    k.start(k.write_config(url));
    REQUIRE(wait_until([&] { return k.health_is("ok"); }, 20s));
    REQUIRE(wait_until([&] { return k.credentials().count("token") == 1; }, 10s));
    std::string token = k.credentials()["token"];

    cluster.stop();
    REQUIRE(wait_until([&] { return k.health_is("down"); }, 10s));
    auto h = k.client().request("GET", "/health");
    CHECK(h.status == 503);
    auto body = json::parse(h.body);
    CHECK(body["components"]["database"]["status"] == "down");
    CHECK_FALSE(body["components"]["database"]["reason"].get<std::string>().empty());

    // A request that needs the database says so; nothing is answered from memory.
    auto who = k.client().request("GET", "/v1/whoami", "", {{"Authorization", "Bearer " + token}});
    CHECK(who.status == 503);
    CHECK(json::parse(who.body)["error"]["code"] == "database_unavailable");
    // The health report is open: a token that cannot be checked now does not hide it.
    auto with_token =
        k.client().request("GET", "/health", "", {{"Authorization", "Bearer " + token}});
    CHECK(with_token.status == 503);
    INFO(with_token.body);
    CHECK(json::parse(with_token.body)["components"]["database"]["status"] == "down");

    cluster.start();
    REQUIRE(wait_until([&] { return k.health_is("ok"); }, 20s));
    auto back = k.client().request("GET", "/v1/whoami", "", {{"Authorization", "Bearer " + token}});
    CHECK(back.status == 200);
    k.stop();
}

TEST_CASE(
    "a database host that vanishes without closing anything is reported within the TCP "
    "timeout",
    "[kernel][e2e][db]") {
    unidesk::test::TestDatabase db;
    VanishingRoute route(db.url());
    KernelUnderTest k;
    k.database_extra = "tcp_timeout_s = 3\n";
    k.start(k.write_config(route.url()));
    REQUIRE(wait_until([&] { return k.health_is("ok"); }, 20s));
    REQUIRE(wait_until([&] { return k.credentials().count("token") == 1; }, 10s));
    const std::string bearer = "Bearer " + k.credentials()["token"];

    route.vanish();
    const auto vanished = std::chrono::steady_clock::now();
    // Without TCP timeouts the check would wait for the kernel's TCP stack (many minutes).
    REQUIRE(wait_until([&] { return k.health_is("down"); }, 15s));
    CHECK(std::chrono::steady_clock::now() - vanished < 15s);
    auto who = k.client().request("GET", "/v1/whoami", "", {{"Authorization", bearer}});
    CHECK(who.status == 503);
    CHECK(json::parse(who.body)["error"]["code"] == "database_unavailable");

    route.restore();
    REQUIRE(wait_until([&] { return k.health_is("ok"); }, 30s));
    CHECK(k.client().request("GET", "/v1/whoami", "", {{"Authorization", bearer}}).status == 200);
    k.stop();
}

TEST_CASE("the kernel starts before its database exists and catches up", "[kernel][e2e][db]") {
    unidesk::test::PgCluster cluster;
    std::string url = cluster.create_database("kernel");
    cluster.stop();

    KernelUnderTest k;
    k.start(k.write_config(url));
    REQUIRE(wait_until([&] { return k.health_is("down"); }, 20s));
    CHECK(k.proc->running());

    cluster.start();
    REQUIRE(wait_until([&] { return k.health_is("ok"); }, 20s));
    REQUIRE(wait_until([&] { return k.credentials().count("token") == 1; }, 10s));
    k.stop();
}

TEST_CASE("a bad config stops the kernel with exit code 2 and names the key", "[kernel][e2e]") {
    KernelUnderTest k;
    auto config = k.write_config("postgresql://127.0.0.1:1/none", "[kernel]\nworkers = 3\n");
    k.start(config);
    REQUIRE(k.proc->wait(10s) == 2);
    CHECK(k.proc->stderr_text().find("unknown key kernel.workers") != std::string::npos);

    ChildProcess missing(kKernel, {});
    REQUIRE(missing.wait(10s) == 2);
    CHECK(missing.stderr_text().find("--config") != std::string::npos);

    ChildProcess check(kKernel,
                       {"--config", k.write_config("postgresql://x/y").string(), "--check-config"});
    CHECK(check.wait(10s) == 0);

    // The check reads the plugins' sections and libraries too, as start-up would.
    const auto plugins = "[plugins]\ndir = \"" + std::string(UNIDESK_PLUGIN_DIR) +
                         "\"\nenabled = [\"scheduler\", \"nosuch\"]\n";
    ChildProcess bad_plugins(
        kKernel, {"--config",
                  k.write_config("postgresql://x/y",
                                 plugins + "[plugin.scheduler]\nlost_grace_s = \"ten\"\n")
                      .string(),
                  "--check-config"});
    CHECK(bad_plugins.wait(10s) == 2);
    CHECK(bad_plugins.stderr_text().find("plugin.scheduler.lost_grace_s must be an integer") !=
          std::string::npos);
    CHECK(bad_plugins.stderr_text().find("plugin nosuch cannot be loaded") != std::string::npos);
    CHECK(bad_plugins.stdout_text().find("config ok") == std::string::npos);
}

TEST_CASE("json log format writes one JSON object per line", "[kernel][e2e][db]") {
    unidesk::test::TestDatabase db;
    KernelUnderTest k;
    k.start(k.write_config(db.url()), {"--log-format", "json"});
    REQUIRE(wait_until([&] { return k.health_is("ok"); }, 20s));
    k.stop();

    std::istringstream lines(k.proc->stderr_text());
    std::string line;
    int count = 0;
    while (std::getline(lines, line)) {
        auto j = json::parse(line, nullptr, false);
        INFO(line);
        REQUIRE_FALSE(j.is_discarded());
        CHECK(j.contains("time"));
        CHECK(j.contains("logger"));
        CHECK(j.contains("msg"));
        ++count;
    }
    CHECK(count > 3);
}

TEST_CASE("a missing plugin is shown down and the kernel runs on", "[kernel][e2e][db]") {
    unidesk::test::TestDatabase db;
    KernelUnderTest k;
    k.start(k.write_config(db.url(), "[plugins]\nenabled = [\"nosuch\"]\n"));
    REQUIRE(wait_until([&] { return k.health_is("degraded"); }, 20s));
    auto h = k.health();
    CHECK(h["components"]["database"]["status"] == "ok");
    CHECK(h["plugins"]["nosuch"]["status"] == "down");
    CHECK(h["plugins"]["nosuch"]["reason"].get<std::string>().find("not found") !=
          std::string::npos);
    CHECK(k.client().request("GET", "/health").status == 200);
    k.stop();
}
