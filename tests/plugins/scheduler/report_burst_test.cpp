// A node that sends its reports without waiting for each acknowledgement: the real kernel with
// the scheduler and PostgreSQL, and a WebSocket client of the tests' own as the node, so that
// the reports arrive faster than one transaction each could store them.

#include "scheduler_kernel.hpp"
#include "support/pg_cluster.hpp"
#include "support/ws_client.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <unidesk/protocol/codec.hpp>

using namespace std::chrono_literals;
using nlohmann::json;
using unidesk::test::KernelUnderTest;
using unidesk::test::wait_until;
using unidesk::test::WsClient;
namespace protocol = unidesk::protocol;

namespace {

// The kernel with the scheduler, one node on a raw session, and one task assigned to it.
struct OneNode {
    unidesk::test::SchedulerKernel k;
    KernelUnderTest& kernel = k.kernel;
    std::unique_ptr<WsClient> ws;
    std::int64_t task_id = 0;
    std::string attempt;
    std::uint64_t seq = 0;  // the attempt's last report
    std::uint64_t n = 0;    // the last frame id

    OneNode() {
        ws = unidesk::test::connect_raw_node(kernel, "burst");

        task_id = unidesk::test::submit_placeholder_task(kernel);
        while (attempt.empty()) {
            auto f = ws->read();
            REQUIRE(f);
            auto j = json::parse(*f);
            if (j["type"] == "task.assign") {
                attempt = j["body"]["attempt_id"].get<std::string>();
            }
        }
    }

    std::string frame(protocol::Body body) {
        return protocol::encode({"a-" + std::to_string(++n), std::nullopt,
                                 protocol::kProtocolVersion, std::move(body)});
    }

    std::string status(const std::string& phase) {
        protocol::TaskStatus s;
        s.attempt_id = attempt;
        s.seq = ++seq;
        s.phase = phase;
        s.at = "2026-01-01T00:00:00Z";
        if (phase == "succeeded") {
            s.exit_code = 0;
        }
        return frame(s);
    }

    std::string log(const std::string& data) {
        protocol::TaskLog l;
        l.attempt_id = attempt;
        l.seq = ++seq;
        l.stream = "stdout";
        l.data = data;
        return frame(l);
    }

    // The seqs of the next `count` acknowledgements, in the order they came.
    std::vector<std::uint64_t> acks(std::size_t count) {
        std::vector<std::uint64_t> out;
        while (out.size() < count) {
            auto f = ws->read();
            REQUIRE(f);
            auto j = json::parse(*f);
            if (j["type"] == "task.ack") {
                CHECK(j["body"]["attempt_id"] == attempt);
                out.push_back(j["body"]["seq"].get<std::uint64_t>());
            }
        }
        return out;
    }

    json task() {
        auto t = kernel.call("GET", "/v1/tasks/" + std::to_string(task_id));
        REQUIRE(t.status == 200);
        return t.json();
    }

    json log_entries() {
        auto log = kernel.call("GET", "/v1/tasks/" + std::to_string(task_id) + "/log");
        REQUIRE(log.status == 200);
        return log.json()["entries"];
    }
};

}  // namespace

TEST_CASE("a burst of reports is stored in order, each once, and every one is acknowledged",
          "[scheduler][e2e][db]") {
    OneNode node;

    // accepted, running, 300 log chunks, succeeded: sent back to back, twice the last few (as
    // after a reconnect), with no wait for any acknowledgement.
    constexpr std::uint64_t kChunks = 300;
    std::vector<std::string> frames = {node.status("accepted"), node.status("running")};
    for (std::uint64_t i = 0; i < kChunks; ++i) {
        frames.push_back(node.log("line " + std::to_string(i) + "\n"));
    }
    frames.push_back(node.status("succeeded"));
    const std::uint64_t last = node.seq;
    for (const auto& f : frames) {
        node.ws->send_text(f);
    }
    for (std::size_t i = frames.size() - 3; i < frames.size(); ++i) {
        node.ws->send_text(frames[i]);
    }

    // Every seq is acknowledged, in the order sent (the repeats again, as stored before).
    const auto acked = node.acks(frames.size() + 3);
    for (std::uint64_t i = 0; i < last; ++i) {
        REQUIRE(acked[i] == i + 1);
    }
    CHECK(acked[last] == last - 2);
    CHECK(acked[last + 2] == last);

    const auto t = node.task();
    CHECK(t["task"]["state"] == "succeeded");
    const auto phases = t["attempts"][0]["phases"];
    REQUIRE(phases.size() == 4);  // assigned, accepted, running, succeeded: no repeat
    CHECK(phases[3]["phase"] == "succeeded");

    const auto entries = node.log_entries();
    REQUIRE(entries.size() == kChunks);
    for (std::uint64_t i = 0; i < kChunks; ++i) {
        REQUIRE(entries[i]["data"] == "line " + std::to_string(i) + "\n");
    }
}

TEST_CASE(
    "a report the database refuses holds back the ones after it until it comes again, and "
    "then all are stored in order",
    "[scheduler][e2e][db]") {
    OneNode node;
    // A real refusal by PostgreSQL for one log chunk; and a slow first chunk, so that all the
    // reports after it wait meanwhile and reach the scheduler together, the refused one among
    // them: that batch's transaction fails, and each of its reports is stored on its own.
    pqxx::connection c(node.k.db.url());
    pqxx::nontransaction(c).exec(R"sql(
        CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.data = 'slow' THEN PERFORM pg_sleep(0.5); END IF;
            IF NEW.data = 'poison' THEN RAISE EXCEPTION 'this chunk is refused'; END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_poison BEFORE INSERT ON scheduler_task_logs
            FOR EACH ROW EXECUTE FUNCTION refuse_poison();
    )sql");

    std::vector<std::string> frames = {node.status("accepted"), node.status("running"),
                                       node.log("slow")};
    for (int i = 0; i < 20; ++i) {
        frames.push_back(node.log(i == 10 ? "poison" : "chunk " + std::to_string(i)));
    }
    const std::uint64_t poison = 3 + 10 + 1;
    frames.push_back(node.status("succeeded"));
    const std::uint64_t last = node.seq;
    for (const auto& f : frames) {
        node.ws->send_text(f);
    }

    // Acknowledgements are cumulative, so nothing after the refused report is stored or
    // acknowledged: the node still holds all of them.
    std::vector<std::uint64_t> before;
    for (std::uint64_t s = 1; s < poison; ++s) {
        before.push_back(s);
    }
    CHECK(node.acks(poison - 1) == before);
    REQUIRE(wait_until(
        [&] {
            return node.kernel.proc->stderr_text().find(
                       "report " + std::to_string(last) + " of " + node.attempt +
                       " came before report " + std::to_string(poison)) != std::string::npos;
        },
        10s));
    CHECK(node.kernel.proc->stderr_text().find("this chunk is refused") != std::string::npos);
    CHECK(node.task()["task"]["state"] == "running");
    CHECK(node.log_entries().size() == poison - 3);  // "slow" and chunks 0 to 9

    // Once the database takes it, the node's next sending stores everything from it on.
    pqxx::nontransaction(c).exec("DROP TRIGGER refuse_poison ON scheduler_task_logs");
    for (std::size_t i = poison - 1; i < frames.size(); ++i) {
        node.ws->send_text(frames[i]);
    }
    std::vector<std::uint64_t> after;
    for (std::uint64_t s = poison; s <= last; ++s) {
        after.push_back(s);
    }
    CHECK(node.acks(after.size()) == after);
    CHECK(node.task()["task"]["state"] == "succeeded");
    const auto entries = node.log_entries();
    REQUIRE(entries.size() == 21);
    CHECK(entries[0]["data"] == "slow");
    CHECK(entries[11]["data"] == "poison");
    CHECK(entries[20]["data"] == "chunk 19");
}
