#include "db/pool.hpp"

#include "core/logging.hpp"
#include "support/pg_cluster.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <thread>

using namespace unidesk;
using namespace unidesk::kernel;

namespace {

DatabaseConfig config_for(const std::string& url, int pool_size = 2) {
    DatabaseConfig c;
    c.url = url;
    c.pool_size = pool_size;
    c.connect_timeout_s = 2;
    c.acquire_timeout_ms = 200;
    return c;
}

std::int64_t count_rows(Pool& pool, const std::string& table) {
    auto r = pool.transact([&](pqxx::work& tx) {
        return tx.exec1("SELECT count(*) FROM " + table)[0].as<std::int64_t>();
    });
    REQUIRE(r);
    return *r;
}

}  // namespace

TEST_CASE("a transaction commits when its function returns", "[kernel][db]") {
    test::TestDatabase db;
    Pool pool(config_for(db.url()), get_logger("kernel.db"));
    pool.set_available(true);

    REQUIRE(pool.transact_void([](pqxx::work& tx) { tx.exec("CREATE TABLE t (v int)"); }));
    REQUIRE(pool.transact_void([](pqxx::work& tx) { tx.exec("INSERT INTO t VALUES (1)"); }));
    auto v = pool.transact([](pqxx::work& tx) { return tx.exec1("SELECT v FROM t")[0].as<int>(); });
    REQUIRE(v);
    REQUIRE(*v == 1);
    REQUIRE(pool.stats().open >= 1);
    REQUIRE(pool.stats().in_use == 0);
}

TEST_CASE("a transaction whose function throws rolls back", "[kernel][db]") {
    test::TestDatabase db;
    Pool pool(config_for(db.url()), get_logger("kernel.db"));
    pool.set_available(true);
    REQUIRE(pool.transact_void([](pqxx::work& tx) { tx.exec("CREATE TABLE t (v int)"); }));

    auto r = pool.transact_void([](pqxx::work& tx) {
        tx.exec("INSERT INTO t VALUES (1)");
        throw std::runtime_error("changed my mind");
    });
    REQUIRE_FALSE(r);
    REQUIRE(r.error().errc == Errc::internal);
    REQUIRE(count_rows(pool, "t") == 0);

    auto own = pool.transact_void([](pqxx::work& tx) {
        tx.exec("INSERT INTO t VALUES (2)");
        throw ResultError(make_error(Errc::not_found, "thing_not_found", "no such thing"));
    });
    REQUIRE_FALSE(own);
    REQUIRE(own.error().errc == Errc::not_found);
    REQUIRE(own.error().code == "thing_not_found");
    REQUIRE(own.error().message == "no such thing");
    REQUIRE(count_rows(pool, "t") == 0);
}

TEST_CASE("database errors come back as values of the documented codes", "[kernel][db]") {
    test::TestDatabase db;
    Pool pool(config_for(db.url()), get_logger("kernel.db"));
    pool.set_available(true);
    REQUIRE(pool.transact_void([](pqxx::work& tx) {
        tx.exec("CREATE TABLE u (name text PRIMARY KEY)");
        tx.exec("INSERT INTO u VALUES ('a')");
    }));

    auto dup = pool.transact_void(
        [](pqxx::work& tx) { tx.exec_params("INSERT INTO u VALUES ($1)", "a"); });
    REQUIRE_FALSE(dup);
    REQUIRE(dup.error().errc == Errc::conflict);
    REQUIRE(dup.error().code == "database_conflict");

    auto bad = pool.transact_void([](pqxx::work& tx) { tx.exec("SELEC 'secret-value'"); });
    REQUIRE_FALSE(bad);
    REQUIRE(bad.error().errc == Errc::internal);
    REQUIRE(bad.error().code == "database_error");
    REQUIRE(bad.error().message.find("syntax error") != std::string::npos);
    REQUIRE(bad.error().message.find("secret-value") == std::string::npos);

    // The connection survives an SQL error and is reused.
    REQUIRE(count_rows(pool, "u") == 1);
    REQUIRE(pool.available());
}

TEST_CASE("an unavailable pool fails at once without touching the database", "[kernel][db]") {
    test::TestDatabase db;
    Pool pool(config_for(db.url()), get_logger("kernel.db"));
    REQUIRE_FALSE(pool.available());

    bool called = false;
    auto r = pool.transact_void([&](pqxx::work&) { called = true; });
    REQUIRE_FALSE(r);
    REQUIRE(r.error().errc == Errc::unavailable);
    REQUIRE(r.error().code == "database_unavailable");
    REQUIRE_FALSE(called);
    REQUIRE(pool.stats().open == 0);

    pool.set_available(false, "checked and down");
    auto again = pool.transact_void([&](pqxx::work&) { called = true; });
    REQUIRE(again.error().message.find("checked and down") != std::string::npos);
    REQUIRE_FALSE(called);

    // transact_unchecked is the supervisor's way in before it declares the database usable.
    REQUIRE(pool.transact_unchecked([&](pqxx::work&) { called = true; }));
    REQUIRE(called);
}

TEST_CASE("an exhausted pool times out with an error instead of hanging", "[kernel][db]") {
    test::TestDatabase db;
    Pool pool(config_for(db.url(), 1), get_logger("kernel.db"));
    pool.set_available(true);

    std::promise<void> holding;
    std::promise<void> release;
    auto released = release.get_future().share();
    auto holder = std::async(std::launch::async, [&] {
        return pool.transact_void([&](pqxx::work&) {
            holding.set_value();
            released.wait();
        });
    });
    holding.get_future().wait();

    auto start = std::chrono::steady_clock::now();
    auto r = pool.transact_void([](pqxx::work&) {});
    auto waited = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(r);
    REQUIRE(r.error().code == "database_unavailable");
    REQUIRE(r.error().message.find("exhausted") != std::string::npos);
    REQUIRE(waited >= std::chrono::milliseconds(150));
    REQUIRE(pool.stats().waits_timed_out == 1);
    REQUIRE(pool.stats().in_use == 1);

    release.set_value();
    REQUIRE(holder.get());
    REQUIRE(pool.transact_void([](pqxx::work&) {}));
    REQUIRE(pool.stats().open == 1);
}

TEST_CASE("a pool that cannot connect reports the database unavailable", "[kernel][db]") {
    auto cfg = config_for("postgresql://postgres@127.0.0.1:" + std::to_string(test::free_port()) +
                          "/none");
    Pool pool(cfg, get_logger("kernel.db"));
    pool.set_available(true);

    auto r = pool.transact_void([](pqxx::work&) {});
    REQUIRE_FALSE(r);
    REQUIRE(r.error().errc == Errc::unavailable);
    REQUIRE(r.error().code == "database_unavailable");
    REQUIRE_FALSE(pool.available());
    REQUIRE_FALSE(pool.unavailable_reason().empty());
    REQUIRE(pool.stats().open == 0);
    REQUIRE(pool.stats().in_use == 0);
}
