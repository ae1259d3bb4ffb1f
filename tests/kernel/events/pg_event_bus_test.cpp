#include "events/pg_event_bus.hpp"

#include "core/logging.hpp"
#include "db/db_supervisor.hpp"
#include "db/kernel_schema.hpp"
#include "db/migrator.hpp"
#include "support/pg_cluster.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

using namespace unidesk;
using namespace unidesk::kernel;
using namespace std::chrono_literals;

namespace {

template <class F>
bool eventually(F condition, std::chrono::milliseconds timeout = 20s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition()) {
            return true;
        }
        std::this_thread::sleep_for(10ms);
    }
    return condition();
}

DatabaseConfig config_for(const std::string& url) {
    DatabaseConfig c;
    c.url = url;
    c.pool_size = 6;
    c.connect_timeout_s = 2;
    c.acquire_timeout_ms = 5000;
    c.retry_initial_ms = 50;
    c.retry_max_ms = 500;
    c.check_interval_ms = 100;
    return c;
}

// A migrated database, an available pool and a bus on it.
struct BusFixture {
    test::TestDatabase db;
    Pool pool{config_for(db.url()), get_logger("kernel.db")};
    PgEventBus bus{pool, get_logger("kernel.events"), 300ms};

    BusFixture() {
        auto r = apply_migrations(pool, "kernel", kernel_migrations());
        REQUIRE(r);
        pool.set_available(true);
    }

    std::int64_t append(const std::string& kind, int n = 0) {
        auto id = pool.transact([&](pqxx::work& tx) {
            return bus.append(tx, {kind, "test:" + std::to_string(n), "user:tester", {{"n", n}}});
        });
        REQUIRE(id);
        return *id;
    }

    std::int64_t position(const std::string& consumer) {
        auto p = pool.transact([&](pqxx::work& tx) {
            auto r =
                tx.exec_params("SELECT position FROM event_consumers WHERE name = $1", consumer);
            return r.empty() ? std::int64_t{-1} : r[0][0].as<std::int64_t>();
        });
        REQUIRE(p);
        return *p;
    }
};

// What a handler saw, shared with the test thread.
struct Seen {
    std::mutex mu;
    std::vector<std::int64_t> ids;
    std::map<std::int64_t, int> count;

    void add(std::int64_t id) {
        std::lock_guard lock(mu);
        ids.push_back(id);
        ++count[id];
    }
    std::size_t distinct() {
        std::lock_guard lock(mu);
        return count.size();
    }
};

}  // namespace

TEST_CASE("an event appended in a transaction that rolls back does not exist",
          "[kernel][events][db]") {
    BusFixture f;
    auto r = f.pool.transact_void([&](pqxx::work& tx) {
        f.bus.append(tx, {"task.cancel_requested", "task:1", "user:a", {}});
        throw ResultError(make_error(Errc::conflict, "task_finished", "too late"));
    });
    REQUIRE_FALSE(r);
    REQUIRE(r.error().code == "task_finished");

    auto events = f.bus.read(0, 100, {});
    REQUIRE(events.has_value());
    REQUIRE(events->empty());
}

TEST_CASE("appended events are read back in id order with their fields", "[kernel][events][db]") {
    BusFixture f;
    auto before = std::chrono::system_clock::now() - 5s;
    auto a = f.append("task.submitted", 1);
    auto b = f.append("node.online", 2);
    auto c = f.append("task.cancel_requested", 3);
    REQUIRE(a < b);
    REQUIRE(b < c);

    auto all = f.bus.read(0, 100, {});
    REQUIRE(all.has_value());
    REQUIRE(all->size() == 3);
    const auto& first = all->front();
    REQUIRE(first.id == a);
    REQUIRE(first.kind == "task.submitted");
    REQUIRE(first.subject == "test:1");
    REQUIRE(first.actor == "user:tester");
    REQUIRE(first.payload["n"] == 1);
    REQUIRE(first.at > before);
    REQUIRE(first.at < std::chrono::system_clock::now() + 5s);

    auto after_a = f.bus.read(a, 100, {});
    REQUIRE(after_a->size() == 2);
    REQUIRE(after_a->front().id == b);

    auto tasks = f.bus.read(0, 100, {"task."});
    REQUIRE(tasks->size() == 2);
    REQUIRE(tasks->at(1).id == c);

    auto one = f.bus.read(0, 1, {"node.", "task.cancel"});
    REQUIRE(one->size() == 1);
    REQUIRE(one->front().id == b);

    auto empty_kind = f.pool.transact_void([&](pqxx::work& tx) { f.bus.append(tx, {}); });
    REQUIRE(empty_kind.error().code == "event_invalid");
}

TEST_CASE("a subscriber receives every event in order", "[kernel][events][db]") {
    BusFixture f;
    std::vector<std::int64_t> appended;
    for (int i = 0; i < 5; ++i) {
        appended.push_back(f.append("task.step", i));
    }

    Seen seen;
    auto sub =
        f.bus.subscribe({"follower", {}, 2}, [&](pqxx::work&, const Event& e) { seen.add(e.id); });
    REQUIRE(sub);
    REQUIRE(eventually([&] { return seen.distinct() == 5; }));

    // Later appends wake it through NOTIFY.
    for (int i = 5; i < 10; ++i) {
        appended.push_back(f.append("task.step", i));
    }
    REQUIRE(eventually([&] { return seen.distinct() == 10; }));
    (*sub)->stop();

    REQUIRE(seen.ids == appended);
    REQUIRE(f.position("follower") == appended.back());
}

TEST_CASE("a consumer restarted under the same name gets exactly the rest",
          "[kernel][events][db]") {
    BusFixture f;
    for (int i = 0; i < 20; ++i) {
        f.append("task.step", i);
    }

    Seen seen;
    auto handler = [&](pqxx::work&, const Event& e) {
        seen.add(e.id);
        std::this_thread::sleep_for(5ms);  // so that stop() lands midway
    };
    auto first = f.bus.subscribe({"restartable", {}, 3}, handler);
    REQUIRE(first);
    REQUIRE(eventually([&] { return seen.distinct() >= 5; }));
    (*first)->stop();
    auto seen_by_first = seen.distinct();
    REQUIRE(seen_by_first < 20);

    std::vector<std::int64_t> later;
    for (int i = 20; i < 30; ++i) {
        later.push_back(f.append("task.step", i));
    }
    auto second = f.bus.subscribe({"restartable", {}, 3}, handler);
    REQUIRE(second);
    REQUIRE(eventually([&] { return seen.distinct() == 30; }));
    (*second)->stop();

    std::lock_guard lock(seen.mu);
    REQUIRE(seen.ids.size() == 30);
    for (const auto& [id, n] : seen.count) {
        INFO("event " << id);
        REQUIRE(n == 1);
    }
    REQUIRE(std::is_sorted(seen.ids.begin(), seen.ids.end()));
    REQUIRE(seen.ids.back() == later.back());
}

TEST_CASE("a handler that throws sees the same event again and the position waits",
          "[kernel][events][db]") {
    BusFixture f;
    auto a = f.append("task.step", 1);
    auto b = f.append("task.step", 2);
    auto c = f.append("task.step", 3);

    Seen seen;
    std::vector<std::int64_t> position_at_b;
    bool thrown = false;
    auto sub = f.bus.subscribe({"retrying", {}, 10}, [&](pqxx::work& tx, const Event& e) {
        seen.add(e.id);
        if (e.id == b) {
            position_at_b.push_back(
                tx.exec_params1("SELECT position FROM event_consumers WHERE name = $1",
                                "retrying")[0]
                    .as<std::int64_t>());
            if (!thrown) {
                thrown = true;
                throw std::runtime_error("transient trouble");
            }
        }
    });
    REQUIRE(sub);
    REQUIRE(eventually([&] { return f.position("retrying") == c; }));
    (*sub)->stop();

    std::lock_guard lock(seen.mu);
    REQUIRE(seen.ids == std::vector<std::int64_t>{a, b, b, c});
    REQUIRE(position_at_b == std::vector<std::int64_t>{a, a});
}

TEST_CASE("a handler's own writes and the position commit together", "[kernel][events][db]") {
    BusFixture f;
    REQUIRE(f.pool.transact_void(
        [](pqxx::work& tx) { tx.exec("CREATE TABLE handled (event_id bigint)"); }));
    auto a = f.append("task.step", 1);
    auto b = f.append("task.step", 2);

    std::atomic<int> attempts_at_b{0};
    std::atomic<bool> let_b_pass{false};
    auto sub = f.bus.subscribe({"writer", {}, 10}, [&](pqxx::work& tx, const Event& e) {
        tx.exec_params("INSERT INTO handled VALUES ($1)", e.id);
        if (e.id == b && !let_b_pass) {
            ++attempts_at_b;
            throw std::runtime_error("failed after writing");
        }
    });
    REQUIRE(sub);
    REQUIRE(eventually([&] { return attempts_at_b >= 2; }));

    auto rows_for = [&](std::int64_t id) {
        auto n = f.pool.transact([&](pqxx::work& tx) {
            return tx.exec_params1("SELECT count(*) FROM handled WHERE event_id = $1", id)[0]
                .as<int>();
        });
        REQUIRE(n);
        return *n;
    };
    REQUIRE(rows_for(a) == 1);
    REQUIRE(rows_for(b) == 0);
    REQUIRE(f.position("writer") == a);

    let_b_pass = true;
    REQUIRE(eventually([&] { return f.position("writer") == b; }));
    (*sub)->stop();
    REQUIRE(rows_for(b) == 1);
}

TEST_CASE("a follower sees every event of concurrent writers exactly once, in id order",
          "[kernel][events][db]") {
    BusFixture f;
    Seen seen;
    auto sub =
        f.bus.subscribe({"follower", {}, 7}, [&](pqxx::work&, const Event& e) { seen.add(e.id); });
    REQUIRE(sub);

    constexpr int kWriters = 4;
    constexpr int kEach = 40;
    std::mutex appended_mu;
    std::set<std::int64_t> appended;
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w) {
        writers.emplace_back([&, w] {
            for (int i = 0; i < kEach; ++i) {
                auto id = f.pool.transact([&](pqxx::work& tx) {
                    auto id = f.bus.append(
                        tx, {"load.tick", "writer:" + std::to_string(w), "test", {{"i", i}}});
                    // Hold the transaction open a little so commits interleave.
                    if (i % 5 == 0) {
                        tx.exec("SELECT pg_sleep(0.002)");
                    }
                    return id;
                });
                if (id) {
                    std::lock_guard lock(appended_mu);
                    appended.insert(*id);
                }
            }
        });
    }
    for (auto& t : writers) {
        t.join();
    }
    REQUIRE(appended.size() == kWriters * kEach);
    REQUIRE(eventually([&] { return seen.distinct() == appended.size(); }));
    (*sub)->stop();

    std::lock_guard lock(seen.mu);
    REQUIRE(seen.ids.size() == appended.size());
    REQUIRE(std::is_sorted(seen.ids.begin(), seen.ids.end()));
    REQUIRE(std::set<std::int64_t>(seen.ids.begin(), seen.ids.end()) == appended);
}

TEST_CASE("appends commit in parallel, and a reader waits for one in flight instead of passing it",
          "[kernel][events][db]") {
    BusFixture f;
    auto conn = f.pool.connect_direct();
    pqxx::work open_tx(*conn);
    const auto early = f.bus.append(open_tx, {"test.early", "test:early", "user:tester", {}});

    // A later append commits while the earlier one is still open: appends do not queue.
    auto later = std::async(std::launch::async, [&] { return f.append("test.later"); });
    REQUIRE(later.wait_for(5s) == std::future_status::ready);
    const auto later_id = later.get();
    REQUIRE(later_id > early);

    // A reader must not return the later event without the earlier one; it waits instead.
    auto read = std::async(std::launch::async, [&] { return f.bus.read(0, 10, {}); });
    REQUIRE(read.wait_for(300ms) == std::future_status::timeout);
    open_tx.commit();
    REQUIRE(read.wait_for(5s) == std::future_status::ready);
    auto events = read.get();
    REQUIRE(events);
    REQUIRE(events->size() == 2);
    CHECK((*events)[0].id == early);
    CHECK((*events)[1].id == later_id);
}

TEST_CASE("several events appended in one call keep their order and fields",
          "[kernel][events][db]") {
    BusFixture f;
    const auto before = f.append("test.before");
    auto ids = f.pool.transact([&](pqxx::work& tx) {
        return f.bus.append_all(tx, {{"test.one", "test:1", "user:a", {{"n", 1}}},
                                     {"test.two", "test:2", "user:b", nlohmann::json::object()},
                                     {"test.three", "test:3", "user:c", {{"n", 3}}}});
    });
    REQUIRE(ids);
    REQUIRE(ids->size() == 3);
    CHECK(std::is_sorted(ids->begin(), ids->end()));
    CHECK(ids->front() > before);

    auto events = f.bus.read(before, 10, {"test."});
    REQUIRE(events);
    REQUIRE(events->size() == 3);
    CHECK((*events)[0].kind == "test.one");
    CHECK((*events)[0].payload == nlohmann::json{{"n", 1}});
    CHECK((*events)[1].kind == "test.two");
    CHECK((*events)[1].actor == "user:b");
    CHECK((*events)[1].payload == nlohmann::json::object());
    CHECK((*events)[2].subject == "test:3");

    // A draft without a kind spoils the whole call, and the transaction with it.
    auto bad = f.pool.transact([&](pqxx::work& tx) {
        return f.bus.append_all(tx,
                                {{"test.fine", "test:4", "user:a", {}}, {"", "test:5", "x", {}}});
    });
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code == "event_invalid");
}

TEST_CASE("an append rolled back leaves a gap that readers pass once it is final",
          "[kernel][events][db]") {
    BusFixture f;
    {
        auto conn = f.pool.connect_direct();
        pqxx::work tx(*conn);
        f.bus.append(tx, {"test.gone", "test:gone", "user:tester", {}});
        // Rolled back when tx goes out of scope.
    }
    const auto kept = f.append("test.kept");
    auto events = f.bus.read(0, 10, {});
    REQUIRE(events);
    REQUIRE(events->size() == 1);
    CHECK((*events)[0].id == kept);
}

TEST_CASE("two subscriptions under one consumer name share the events without repeats",
          "[kernel][events][db]") {
    BusFixture f;
    Seen seen;
    auto handler = [&](pqxx::work&, const Event& e) { seen.add(e.id); };
    auto one = f.bus.subscribe({"shared", {}, 5}, handler);
    auto two = f.bus.subscribe({"shared", {}, 5}, handler);
    REQUIRE(one);
    REQUIRE(two);
    for (int i = 0; i < 40; ++i) {
        f.append("task.step", i);
    }
    REQUIRE(eventually([&] { return seen.distinct() == 40; }));
    (*one)->stop();
    (*two)->stop();

    std::lock_guard lock(seen.mu);
    REQUIRE(seen.ids.size() == 40);
}

TEST_CASE("a subscription survives the database going away and coming back",
          "[kernel][events][db]") {
    test::PgCluster cluster;
    Pool pool(config_for(cluster.create_database("bus")), get_logger("kernel.db"));
    DbSupervisor supervisor(pool, get_logger("kernel.db"));
    supervisor.add_migrations("kernel", kernel_migrations());
    supervisor.start();
    REQUIRE(supervisor.wait_available(20s));
    PgEventBus bus(pool, get_logger("kernel.events"), 200ms);

    auto append = [&](int n) {
        auto id = pool.transact([&](pqxx::work& tx) {
            return bus.append(tx, {"task.step", "t", "test", {{"n", n}}});
        });
        REQUIRE(id);
        return *id;
    };
    Seen seen;
    auto sub =
        bus.subscribe({"survivor", {}, 10}, [&](pqxx::work&, const Event& e) { seen.add(e.id); });
    REQUIRE(sub);
    for (int i = 0; i < 5; ++i) {
        append(i);
    }
    REQUIRE(eventually([&] { return seen.distinct() == 5; }));

    cluster.stop();
    REQUIRE(eventually([&] { return !pool.available(); }));
    cluster.start();
    REQUIRE(supervisor.wait_available(20s));
    REQUIRE(eventually([&] { return pool.available(); }));
    for (int i = 5; i < 10; ++i) {
        append(i);
    }
    REQUIRE(eventually([&] { return seen.distinct() == 10; }));
    (*sub)->stop();
    supervisor.stop();

    std::lock_guard lock(seen.mu);
    REQUIRE(seen.ids.size() == 10);
}
