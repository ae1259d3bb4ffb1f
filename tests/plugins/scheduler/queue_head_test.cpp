// The read of the queue that every dispatch pass makes: the real kernel with the scheduler and
// PostgreSQL, no node online, and a queue of 2,000 tasks while the table's statistics still say
// it is empty (as right after a burst of submissions). The head must come in priority and age
// order, leave out tasks that wait for a retry delay, and be read by walking the queue's index up
// to the limit, never by fetching every queued row and sorting them.

#include "scheduler_kernel.hpp"
#include "support/pg_cluster.hpp"

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

using namespace std::chrono_literals;

namespace {

// The plans auto_explain sends to the client as notices.
class Plans : public pqxx::errorhandler {
public:
    explicit Plans(pqxx::connection_base& c) : pqxx::errorhandler(c) {}
    bool operator()(const char msg[]) noexcept override {
        text += msg;
        return true;
    }
    std::string text;
};

}  // namespace

TEST_CASE("the head of the queue comes in order, walked along its index up to the window",
          "[scheduler][db]") {
    unidesk::test::SchedulerKernel k;

    pqxx::connection c(k.db.url());
    pqxx::nontransaction(c).exec("ANALYZE scheduler_tasks");  // statistics of an empty table

    // 2,000 queued tasks of priorities 0, 1 and 2, written at once (the read is what is tested,
    // not the submits); one of priority 2 waits out a retry delay and is not in the head.
    pqxx::nontransaction(c).exec(
        "INSERT INTO scheduler_tasks (state, project, priority, spec, submitted_by) "
        "SELECT 'queued', 'p', g % 3, '{}', 'test' FROM generate_series(1, 2000) g");
    pqxx::nontransaction(c).exec(
        "UPDATE scheduler_tasks SET not_before = now() + interval '1 hour' WHERE id = "
        "(SELECT min(id) FROM scheduler_tasks WHERE priority = 2)");
    std::vector<std::int64_t> expected;
    for (const auto& row : pqxx::nontransaction(c).exec(
             "SELECT id FROM scheduler_tasks WHERE priority = 2 AND not_before IS NULL "
             "ORDER BY id LIMIT 500")) {
        expected.push_back(row[0].as<std::int64_t>());
    }
    REQUIRE(expected.size() == 500);

    Plans plans(c);
    pqxx::nontransaction tx(c);
    tx.exec(
        "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; "
        "SET auto_explain.log_nested_statements = on; SET auto_explain.log_level = notice; "
        "SET client_min_messages = notice");
    std::vector<std::int64_t> head;
    // The window of a full dispatch pass.
    for (const auto& row : tx.exec("SELECT id FROM scheduler_queue_head(500)")) {
        head.push_back(row[0].as<std::int64_t>());
    }
    CHECK(head == expected);

    INFO(plans.text);
    CHECK(plans.text.find("Index Scan using scheduler_tasks_queued") != std::string::npos);
    CHECK(plans.text.find("Sort") == std::string::npos);
    CHECK(plans.text.find("Seq Scan") == std::string::npos);
    CHECK(plans.text.find("Bitmap") == std::string::npos);
}
