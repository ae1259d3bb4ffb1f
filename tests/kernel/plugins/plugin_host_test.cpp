#include "plugins/plugin_host.hpp"

#include "core/logging.hpp"
#include "fake_kernel_context.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

using namespace unidesk;
using namespace unidesk::kernel;
namespace fs = std::filesystem;

namespace {

// A folder of its own for one test, removed afterwards.
class TempDir {
public:
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "unidesk-plugin-test-XXXXXX").string();
        REQUIRE(mkdtemp(pattern.data()) != nullptr);
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

std::vector<std::string> read_lines(const fs::path& file) {
    std::vector<std::string> lines;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    return lines;
}

// Whether a plugin library of that name is mapped into this process right now.
bool is_mapped(const std::string& plugin) {
    const std::string needle = "/libunidesk-plugin-" + plugin + ".so";
    std::ifstream maps("/proc/self/maps");
    for (std::string line; std::getline(maps, line);) {
        if (line.find(needle) != std::string::npos) {
            return true;
        }
    }
    return false;
}

// One host over the test plugin folder, with a fake context per started plugin.
struct HostUnderTest {
    TempDir dir;
    fs::path record_file = dir.path() / "record.txt";
    fs::path marker_file = dir.path() / "marker.txt";
    KernelConfig config;
    HealthRegistry health;
    test::FakeRouteLog routes;
    std::map<std::string, nlohmann::json> given_config;
    std::vector<std::string> failed_starts;
    std::unique_ptr<PluginHost> host;

    explicit HostUnderTest(std::vector<std::string> enabled) {
        setenv("UNIDESK_TEST_MARKER_FILE", marker_file.c_str(), 1);
        config.plugin_dir = UNIDESK_TEST_PLUGIN_DIR;
        config.plugins_enabled = std::move(enabled);
        for (const auto& name : config.plugins_enabled) {
            if (name == "good" || name == "good_dependent") {
                config.plugin_sections[name] = {{"record_file", record_file.string()}};
            }
        }
        host = std::make_unique<PluginHost>(config, health, get_logger("kernel.plugins"));
    }

    // As the kernel does: routes go before the libraries their handlers came from.
    ~HostUnderTest() {
        if (host) {
            host->stop_all([this](const std::string& name) { routes.remove_owner(name); });
        }
        unsetenv("UNIDESK_TEST_MARKER_FILE");
    }

    void load_and_start() {
        auto loaded = host->load_all();
        REQUIRE(loaded.has_value());
        host->start_all(
            [this](const std::string& name, nlohmann::json section) {
                given_config[name] = section;
                return std::make_unique<test::FakeKernelContext>(name, std::move(section), routes);
            },
            [this](const std::string& name) {
                failed_starts.push_back(name);
                routes.remove_owner(name);
            });
    }

    nlohmann::json plugin_health(const std::string& name) const {
        return health.report().at("plugins").at(name);
    }
};

}  // namespace

TEST_CASE("a good plugin and its dependent start in dependency order and stop in reverse",
          "[kernel][plugins]") {
    HostUnderTest t({"good_dependent", "good"});
    t.load_and_start();

    auto migrations = t.host->migrations();
    REQUIRE(migrations.size() == 2);
    CHECK(migrations[0].first == "good");
    REQUIRE(migrations[0].second.size() == 1);
    CHECK(migrations[0].second[0].version == 1);
    CHECK(migrations[1].first == "good_dependent");

    CHECK(t.given_config.at("good") ==
          nlohmann::json{{"record_file", t.record_file.string()}, {"greeting", "hello"}});

    {
        // A copied handler holds code of the library: it must be gone before stop_all().
        auto routes = t.routes.routes();
        REQUIRE(routes.size() == 1);
        CHECK(routes[0].owner == "good");
        CHECK(routes[0].listener == Listener::internal);
        CHECK(routes[0].method == "GET");
        CHECK(routes[0].pattern == "/v1/good/hello");
        CHECK(nlohmann::json::parse(routes[0].handler(HttpRequest{}).body) ==
              nlohmann::json{{"greeting", "hello"}});
    }

    CHECK(t.plugin_health("good")["status"] == "ok");
    CHECK(t.plugin_health("good_dependent")["status"] == "ok");
    auto status = t.host->status();
    REQUIRE(status.size() == 2);
    CHECK(status[0].name == "good");
    CHECK(status[0].version == "1.2.3");
    CHECK(status[0].kind == "other");
    CHECK(status[0].state.state == HealthState::ok);

    std::vector<std::string> stopped;
    std::vector<bool> mapped_at_stop;
    t.host->stop_all([&](const std::string& name) {
        stopped.push_back(name);
        mapped_at_stop.push_back(is_mapped(name));
        t.routes.remove_owner(name);
    });

    CHECK(stopped == std::vector<std::string>{"good_dependent", "good"});
    CHECK(mapped_at_stop == std::vector<bool>{true, true});
    CHECK(read_lines(t.record_file) ==
          std::vector<std::string>{"start good", "start good_dependent", "stop good_dependent",
                                   "destroy good_dependent", "stop good", "destroy good"});
    CHECK_FALSE(is_mapped("good"));
    CHECK_FALSE(is_mapped("good_dependent"));
    CHECK(t.routes.routes().empty());
    CHECK(t.plugin_health("good")["status"] == "down");
    CHECK(t.plugin_health("good")["reason"] == "stopped");
}

TEST_CASE("a plugin of another api version is refused before any of its code runs",
          "[kernel][plugins]") {
    HostUnderTest t({"wrong_version", "good"});
    t.load_and_start();

    auto entry = t.plugin_health("wrong_version");
    CHECK(entry["status"] == "down");
    CHECK(entry["reason"] ==
          "api version 999, kernel speaks " + std::to_string(unidesk::kPluginApiVersion));
    CHECK_FALSE(fs::exists(t.marker_file));
    CHECK_FALSE(is_mapped("wrong_version"));
    CHECK(t.plugin_health("good")["status"] == "ok");
    CHECK(t.host->migrations().size() == 1);
}

TEST_CASE("a missing plugin library is shown down and the others still run", "[kernel][plugins]") {
    HostUnderTest t({"not_there", "good"});
    t.load_and_start();

    auto entry = t.plugin_health("not_there");
    CHECK(entry["status"] == "down");
    CHECK(entry["reason"] ==
          "library not found: " +
              (fs::path(UNIDESK_TEST_PLUGIN_DIR) / "libunidesk-plugin-not_there.so").string());
    CHECK(t.plugin_health("good")["status"] == "ok");
}

TEST_CASE("a file the loader rejects is shown down with the loader's message",
          "[kernel][plugins]") {
    HostUnderTest t({"broken"});
    t.config.plugin_dir = t.dir.path();
    {
        std::ofstream junk(t.dir.path() / "libunidesk-plugin-broken.so");
        junk << std::string(256, 'x');
    }
    t.load_and_start();

    auto entry = t.plugin_health("broken");
    CHECK(entry["status"] == "down");
    auto reason = entry["reason"].get<std::string>();
    CHECK_THAT(reason, Catch::StartsWith("cannot load library: "));
    CHECK_THAT(reason, Catch::Contains("libunidesk-plugin-broken.so"));
    CHECK_THAT(reason, Catch::Contains("ELF"));
}

TEST_CASE("a plugin that throws or refuses to start is down naming itself, the rest runs",
          "[kernel][plugins]") {
    HostUnderTest t({"throws_in_create", "good", "throws_on_start", "fails_start"});
    t.load_and_start();

    CHECK(t.plugin_health("throws_in_create")["reason"] ==
          "plugin throws_in_create threw from create(): create exploded");
    CHECK(t.plugin_health("throws_on_start")["reason"] ==
          "plugin throws_on_start threw from start(): start exploded");
    CHECK(t.plugin_health("fails_start")["reason"] ==
          "plugin fails_start failed to start: backend_unreachable: cannot reach its backend");
    for (const char* name : {"throws_in_create", "throws_on_start", "fails_start"}) {
        CHECK(t.plugin_health(name)["status"] == "down");
    }
    CHECK(t.plugin_health("good")["status"] == "ok");
    CHECK(t.health.report()["status"] == "degraded");

    // A failed start still gets stop() so it can undo a half-done start.
    CHECK(t.failed_starts == std::vector<std::string>{"throws_on_start", "fails_start"});
    CHECK(read_lines(t.marker_file) ==
          std::vector<std::string>{"throws_on_start stop", "fails_start stop"});

    std::vector<std::string> stopped;
    t.host->stop_all([&](const std::string& name) {
        stopped.push_back(name);
        t.routes.remove_owner(name);
    });
    CHECK(stopped == std::vector<std::string>{"good"});
    CHECK_FALSE(is_mapped("throws_on_start"));
}

TEST_CASE("a degraded plugin's own health is shown live", "[kernel][plugins]") {
    HostUnderTest t({"unhealthy"});
    t.load_and_start();

    auto entry = t.plugin_health("unhealthy");
    CHECK(entry["status"] == "degraded");
    CHECK(entry["reason"] == "queue is backing up");
    CHECK(t.host->status().at(0).state.state == HealthState::degraded);
}

TEST_CASE("a health check that throws shows the plugin down with the exception",
          "[kernel][plugins]") {
    HostUnderTest t({"unhealthy"});
    t.config.plugin_sections["unhealthy"] = {{"mode", "throw"}};
    t.load_and_start();

    for (int i = 0; i < 2; ++i) {
        auto entry = t.plugin_health("unhealthy");
        CHECK(entry["status"] == "down");
        CHECK(entry["reason"] == "plugin unhealthy threw from health(): health probe exploded");
    }
}

TEST_CASE("a plugin whose dependency is not enabled stays down", "[kernel][plugins]") {
    HostUnderTest t({"good_dependent"});
    t.load_and_start();

    CHECK(t.plugin_health("good_dependent")["status"] == "down");
    CHECK(t.plugin_health("good_dependent")["reason"] == "depends on good, which is not enabled");
    CHECK(t.host->migrations().empty());
    CHECK_FALSE(fs::exists(t.record_file));
}

TEST_CASE("plugins that depend on each other in a cycle stay down", "[kernel][plugins]") {
    HostUnderTest t({"cycle_a", "good", "cycle_b"});
    t.load_and_start();

    CHECK(t.plugin_health("cycle_a")["reason"] ==
          "dependency cycle: cycle_a -> cycle_b -> cycle_a");
    CHECK(t.plugin_health("cycle_b")["reason"] ==
          "dependency cycle: cycle_a -> cycle_b -> cycle_a");
    CHECK(t.plugin_health("good")["status"] == "ok");
}

TEST_CASE("a library that claims another plugin's name is refused", "[kernel][plugins]") {
    SECTION("while that plugin is loaded") {
        HostUnderTest t({"good", "duplicate"});
        t.load_and_start();

        CHECK(t.plugin_health("duplicate")["status"] == "down");
        CHECK(t.plugin_health("duplicate")["reason"] ==
              "plugin name good is already taken by a loaded plugin");
        CHECK(t.plugin_health("good")["status"] == "ok");
        CHECK_FALSE(fs::exists(t.marker_file));
    }
    SECTION("on its own") {
        HostUnderTest t({"duplicate"});
        t.load_and_start();

        CHECK(t.plugin_health("duplicate")["reason"] ==
              "library libunidesk-plugin-duplicate.so declares the name good, expected "
              "duplicate");
        CHECK(t.health.report()["plugins"].size() == 1);
    }
}

TEST_CASE("a plugin enabled twice is loaded once", "[kernel][plugins]") {
    HostUnderTest t({"good", "good"});
    t.load_and_start();

    CHECK(t.host->status().size() == 1);
    CHECK(read_lines(t.record_file) == std::vector<std::string>{"start good"});
}

TEST_CASE("a plugin whose dependency failed to start is not started", "[kernel][plugins]") {
    HostUnderTest t({"good", "good_dependent"});
    t.routes.refuse("/v1/good/hello");
    t.load_and_start();

    CHECK(t.plugin_health("good")["reason"] ==
          "plugin good failed to start: route_conflict: /v1/good/hello is taken");
    CHECK(t.plugin_health("good_dependent")["reason"] == "depends on good, which is not running");
    CHECK(read_lines(t.record_file) == std::vector<std::string>{"stop good", "destroy good"});
}

TEST_CASE("a plugin's health entry stays readable after the host is gone", "[kernel][plugins]") {
    HostUnderTest t({"good"});
    t.load_and_start();
    t.host->stop_all([&](const std::string& name) { t.routes.remove_owner(name); });
    t.host.reset();

    CHECK(t.plugin_health("good")["status"] == "down");
    CHECK(t.plugin_health("good")["reason"] == "stopped");
}

TEST_CASE("a plugin name that could leave the plugin folder is refused", "[kernel][plugins]") {
    HostUnderTest t({"../test-plugins/libunidesk-plugin-good", "good"});
    t.load_and_start();

    CHECK(t.plugin_health("../test-plugins/libunidesk-plugin-good")["reason"] ==
          "a plugin name may hold only a-z, 0-9, '_' and '-'");
    CHECK(t.plugin_health("good")["status"] == "ok");
}
