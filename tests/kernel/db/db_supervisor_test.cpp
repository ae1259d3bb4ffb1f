#include "db/db_supervisor.hpp"

#include "core/logging.hpp"
#include "db/kernel_schema.hpp"
#include "support/pg_cluster.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

using namespace unidesk;
using namespace unidesk::kernel;
using namespace std::chrono_literals;

namespace {

template <class F>
bool eventually(F condition, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition()) {
            return true;
        }
        std::this_thread::sleep_for(20ms);
    }
    return condition();
}

}  // namespace

TEST_CASE("the supervisor follows the database as it stops and starts", "[kernel][db]") {
    test::PgCluster cluster;
    std::string url = cluster.create_database("sup");
    cluster.stop();

    DatabaseConfig cfg;
    cfg.url = url;
    cfg.pool_size = 2;
    cfg.connect_timeout_s = 2;
    cfg.retry_initial_ms = 50;
    cfg.retry_max_ms = 500;
    cfg.check_interval_ms = 100;
    Pool pool(cfg, get_logger("kernel.db"));
    DbSupervisor supervisor(pool, get_logger("kernel.db"));
    supervisor.add_migrations("kernel", kernel_migrations());
    std::atomic<int> became_available{0};
    supervisor.on_available([&] { ++became_available; });
    supervisor.start();

    // Down while the cluster is stopped, with the connection error as the reason.
    REQUIRE(eventually([&] { return supervisor.health().reason != "not connected yet"; }, 10s));
    REQUIRE(supervisor.health().state == HealthState::down);
    REQUIRE_FALSE(pool.available());
    REQUIRE_FALSE(supervisor.wait_available(200ms));

    cluster.start();
    REQUIRE(supervisor.wait_available(20s));
    REQUIRE(pool.available());
    REQUIRE(supervisor.health().state == HealthState::ok);
    // The callbacks run on the supervisor thread just after the pool is marked available, so
    // wait_available() may return before they have.
    REQUIRE(eventually([&] { return became_available == 1; }, 5s));
    auto versions = pool.transact([](pqxx::work& tx) {
        return tx.exec1("SELECT count(*) FROM schema_migrations WHERE namespace = 'kernel'")[0]
            .as<int>();
    });
    REQUIRE(versions);
    REQUIRE(*versions == static_cast<int>(kernel_migrations().size()));

    cluster.stop();
    REQUIRE(eventually([&] { return supervisor.health().state == HealthState::down; }, 10s));
    REQUIRE_FALSE(supervisor.health().reason.empty());
    REQUIRE_FALSE(pool.available());
    auto refused = pool.transact_void([](pqxx::work&) {});
    REQUIRE_FALSE(refused);
    REQUIRE(refused.error().code == "database_unavailable");

    cluster.start();
    REQUIRE(supervisor.wait_available(20s));
    REQUIRE(eventually([&] { return became_available == 2; }, 5s));
    REQUIRE(pool.transact_void([](pqxx::work& tx) { tx.exec("SELECT 1"); }));

    supervisor.stop();
}

TEST_CASE("stopping the supervisor interrupts its back-off", "[kernel][db]") {
    DatabaseConfig cfg;
    cfg.url = "postgresql://postgres@127.0.0.1:" + std::to_string(test::free_port()) + "/none";
    cfg.connect_timeout_s = 1;
    cfg.retry_initial_ms = 60000;
    cfg.retry_max_ms = 60000;
    Pool pool(cfg, get_logger("kernel.db"));
    DbSupervisor supervisor(pool, get_logger("kernel.db"));
    supervisor.start();
    REQUIRE(eventually([&] { return supervisor.health().reason != "not connected yet"; }, 10s));

    auto start = std::chrono::steady_clock::now();
    supervisor.stop();
    REQUIRE(std::chrono::steady_clock::now() - start < 5s);
}
