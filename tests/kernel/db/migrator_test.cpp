#include "db/migrator.hpp"

#include "core/logging.hpp"
#include "db/kernel_schema.hpp"
#include "support/pg_cluster.hpp"

#include <catch2/catch.hpp>

#include <future>

using namespace unidesk;
using namespace unidesk::kernel;

namespace {

std::vector<int> kernel_versions() {
    std::vector<int> out;
    for (const auto& m : kernel_migrations()) {
        out.push_back(m.version);
    }
    return out;
}

DatabaseConfig config_for(const std::string& url) {
    DatabaseConfig c;
    c.url = url;
    c.pool_size = 2;
    c.connect_timeout_s = 2;
    return c;
}

std::vector<int> recorded(Pool& pool, const std::string& ns) {
    std::vector<int> out;
    REQUIRE(pool.transact_unchecked([&](pqxx::work& tx) {
        for (const auto& row : tx.exec_params(
                 "SELECT version FROM schema_migrations WHERE namespace = $1 ORDER BY version",
                 ns)) {
            out.push_back(row[0].as<int>());
        }
    }));
    return out;
}

bool table_exists(Pool& pool, const std::string& name) {
    bool exists = false;
    REQUIRE(pool.transact_unchecked([&](pqxx::work& tx) {
        exists = !tx.exec_params1("SELECT to_regclass($1) IS NULL", name)[0].as<bool>();
    }));
    return exists;
}

}  // namespace

TEST_CASE("a fresh database gets every kernel migration, and a second run applies none",
          "[kernel][db]") {
    test::TestDatabase db;
    Pool pool(config_for(db.url()), get_logger("kernel.db"));

    auto first = apply_migrations(pool, "kernel", kernel_migrations());
    REQUIRE(first);
    REQUIRE(*first == static_cast<int>(kernel_migrations().size()));
    REQUIRE(recorded(pool, "kernel") == kernel_versions());
    REQUIRE(table_exists(pool, "events"));
    REQUIRE(table_exists(pool, "event_consumers"));
    REQUIRE(table_exists(pool, "users"));

    auto second = apply_migrations(pool, "kernel", kernel_migrations());
    REQUIRE(second);
    REQUIRE(*second == 0);
}

TEST_CASE("a failing migration leaves the ones before it and nothing of itself", "[kernel][db]") {
    test::TestDatabase db;
    Pool pool(config_for(db.url()), get_logger("kernel.db"));
    std::vector<Migration> list{
        {1, "one", "CREATE TABLE m1 (v int)"},
        {2, "two", "CREATE TABLE m2 (v int)"},
        {3, "three", "CREATE TABLE m3 (v int); INSERT INTO m1 VALUES (1); SELEC nonsense"},
        {4, "four", "CREATE TABLE m4 (v int)"},
    };

    auto r = apply_migrations(pool, "test", list);
    REQUIRE_FALSE(r);
    REQUIRE(r.error().code == "migration_failed");
    const auto& msg = r.error().message;
    REQUIRE(msg.find("namespace=test") != std::string::npos);
    REQUIRE(msg.find("version=3") != std::string::npos);
    REQUIRE(msg.find("name=three") != std::string::npos);
    REQUIRE(msg.find("syntax error") != std::string::npos);

    REQUIRE(recorded(pool, "test") == std::vector<int>{1, 2});
    REQUIRE(table_exists(pool, "m2"));
    REQUIRE_FALSE(table_exists(pool, "m3"));
    REQUIRE_FALSE(table_exists(pool, "m4"));
    std::int64_t m1_rows = -1;
    REQUIRE(pool.transact_unchecked([&](pqxx::work& tx) {
        m1_rows = tx.exec1("SELECT count(*) FROM m1")[0].as<std::int64_t>();
    }));
    REQUIRE(m1_rows == 0);

    // Fixed, it is applied on the next run together with what follows.
    list[2].sql = "CREATE TABLE m3 (v int)";
    auto fixed = apply_migrations(pool, "test", list);
    REQUIRE(fixed);
    REQUIRE(*fixed == 2);
    REQUIRE(recorded(pool, "test") == std::vector<int>{1, 2, 3, 4});
}

TEST_CASE("a plugin's migrations are recorded under its own namespace", "[kernel][db]") {
    test::TestDatabase db;
    Pool pool(config_for(db.url()), get_logger("kernel.db"));
    REQUIRE(apply_migrations(pool, "kernel", kernel_migrations()));

    std::vector<Migration> plugin{{1, "jobs", "CREATE TABLE sched_jobs (id int)"}};
    auto r = apply_migrations(pool, "scheduler", plugin);
    REQUIRE(r);
    REQUIRE(*r == 1);
    REQUIRE(recorded(pool, "scheduler") == std::vector<int>{1});
    REQUIRE(recorded(pool, "kernel") == kernel_versions());
    REQUIRE(table_exists(pool, "sched_jobs"));
}

TEST_CASE("migration lists with bad versions are refused before anything runs", "[kernel][db]") {
    test::TestDatabase db;
    Pool pool(config_for(db.url()), get_logger("kernel.db"));
    std::vector<std::vector<Migration>> bad{
        {{0, "zero", "CREATE TABLE x0 (v int)"}},
        {{-1, "negative", "CREATE TABLE x1 (v int)"}},
        {{1, "a", "CREATE TABLE x2 (v int)"}, {1, "b", "CREATE TABLE x3 (v int)"}},
        {{2, "a", "CREATE TABLE x4 (v int)"}, {1, "b", "CREATE TABLE x5 (v int)"}},
    };
    for (const auto& list : bad) {
        auto r = apply_migrations(pool, "test", list);
        REQUIRE_FALSE(r);
        REQUIRE(r.error().code == "migration_invalid");
    }
    for (const char* t : {"x0", "x1", "x2", "x3", "x4", "x5"}) {
        REQUIRE_FALSE(table_exists(pool, t));
    }
}

TEST_CASE("two instances migrating at once apply each migration once", "[kernel][db]") {
    test::TestDatabase db;
    Pool pool_a(config_for(db.url()), get_logger("kernel.db"));
    Pool pool_b(config_for(db.url()), get_logger("kernel.db"));
    std::vector<Migration> list;
    for (int v = 1; v <= 5; ++v) {
        // Not idempotent on purpose: applying one twice would fail.
        list.push_back({v, "step " + std::to_string(v),
                        "CREATE TABLE c" + std::to_string(v) + " (v int); SELECT pg_sleep(0.02)"});
    }

    auto a =
        std::async(std::launch::async, [&] { return apply_migrations(pool_a, "kernel", list); });
    auto b =
        std::async(std::launch::async, [&] { return apply_migrations(pool_b, "kernel", list); });
    auto ra = a.get();
    auto rb = b.get();
    REQUIRE(ra);
    REQUIRE(rb);
    REQUIRE(*ra + *rb == 5);
    REQUIRE(recorded(pool_a, "kernel") == std::vector<int>{1, 2, 3, 4, 5});
}
