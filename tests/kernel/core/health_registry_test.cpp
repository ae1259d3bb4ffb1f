#include "core/health_registry.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>

using namespace unidesk;
using namespace unidesk::kernel;
using Group = HealthRegistry::Group;

namespace {

std::function<HealthReport()> state(HealthState s, std::string reason = {}) {
    return [s, reason] { return HealthReport{s, reason}; };
}

}  // namespace

TEST_CASE("health is ok when every entry is ok", "[kernel][health]") {
    HealthRegistry h;
    h.set_check(Group::component, "database", state(HealthState::ok));
    h.set_check(Group::plugin, "scheduler", state(HealthState::ok));

    auto r = h.report();
    REQUIRE(r["status"] == "ok");
    REQUIRE(r["components"]["database"] == nlohmann::json{{"status", "ok"}});
    REQUIRE(r["plugins"]["scheduler"] == nlohmann::json{{"status", "ok"}});
}

TEST_CASE("health is degraded when a plugin or another component is not ok", "[kernel][health]") {
    HealthRegistry h;
    h.set_check(Group::component, "database", state(HealthState::ok));
    h.set_check(Group::plugin, "storage-s3", state(HealthState::down, "bucket unreachable"));

    auto r = h.report();
    REQUIRE(r["status"] == "degraded");
    REQUIRE(r["plugins"]["storage-s3"]["status"] == "down");
    REQUIRE(r["plugins"]["storage-s3"]["reason"] == "bucket unreachable");

    h.set_check(Group::plugin, "storage-s3", state(HealthState::ok));
    h.set_check(Group::component, "provider_link", state(HealthState::degraded, "slow"));
    REQUIRE(h.report()["status"] == "degraded");
}

TEST_CASE("health is down when the database is down", "[kernel][health]") {
    HealthRegistry h;
    h.set_check(Group::component, "database", state(HealthState::down, "connection refused"));
    h.set_check(Group::plugin, "scheduler", state(HealthState::ok));

    auto r = h.report();
    REQUIRE(r["status"] == "down");
    REQUIRE(r["components"]["database"]["reason"] == "connection refused");

    // A plugin named like the database does not take the whole kernel down.
    HealthRegistry other;
    other.set_check(Group::plugin, "database", state(HealthState::down, "x"));
    REQUIRE(other.report()["status"] == "degraded");
}

TEST_CASE("a throwing check is shown down with its message", "[kernel][health]") {
    HealthRegistry h;
    h.set_check(Group::plugin, "projects",
                []() -> HealthReport { throw std::runtime_error("boom in check"); });

    auto r = h.report();
    REQUIRE(r["status"] == "degraded");
    REQUIRE(r["plugins"]["projects"]["status"] == "down");
    REQUIRE(r["plugins"]["projects"]["reason"].get<std::string>().find("boom in check") !=
            std::string::npos);
    REQUIRE(h.plugin_states() ==
            std::vector<std::pair<std::string, HealthState>>{{"projects", HealthState::down}});
}

TEST_CASE("checks are asked live and entries can be replaced and removed", "[kernel][health]") {
    HealthRegistry h;
    int calls = 0;
    h.set_check(Group::component, "database", [&calls] {
        ++calls;
        return HealthReport{};
    });
    h.report();
    h.report();
    REQUIRE(calls == 2);

    h.set_check(Group::component, "database", state(HealthState::down, "gone"));
    REQUIRE(h.report()["status"] == "down");
    h.remove(Group::component, "database");
    REQUIRE(h.report()["components"].empty());
    REQUIRE(h.report()["status"] == "ok");
}
