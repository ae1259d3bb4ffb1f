#include "outbox.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

using namespace unidesk::agent;
namespace protocol = unidesk::protocol;

namespace {

protocol::TaskLog chunk(const std::string& attempt, std::string data) {
    protocol::TaskLog l;
    l.attempt_id = attempt;
    l.stream = "stdout";
    l.data = std::move(data);
    return l;
}

std::uint64_t seq_of(const protocol::Body& b) {
    if (const auto* l = std::get_if<protocol::TaskLog>(&b)) {
        return l->seq;
    }
    return std::get<protocol::TaskStatus>(b).seq;
}

}  // namespace

TEST_CASE("reports are numbered per attempt and sent again after a rewind until acknowledged",
          "[agent][outbox]") {
    Outbox box;
    REQUIRE(box.push(chunk("a", "1")));
    REQUIRE(box.push(chunk("b", "x")));
    REQUIRE(box.push(chunk("a", "2")));

    CHECK(seq_of(*box.take()) == 1);
    CHECK(std::get<protocol::TaskLog>(*box.take()).attempt_id == "b");
    CHECK(seq_of(*box.take()) == 2);
    CHECK_FALSE(box.take());

    // The server had only a's first report when the link dropped.
    box.ack("a", 1);
    box.rewind();
    auto first = box.take();
    CHECK(std::get<protocol::TaskLog>(*first).attempt_id == "b");
    CHECK(std::get<protocol::TaskLog>(*box.take()).data == "2");
    CHECK_FALSE(box.take());
    CHECK(box.unacked("a") == 1);

    // Numbering goes on after an adopted attempt's last stored report.
    box.continue_after("c", 41);
    REQUIRE(box.push(chunk("c", "z")));
    CHECK(seq_of(*box.take()) == 42);
}

TEST_CASE("a full outbox holds the producer until the server acknowledges", "[agent][outbox]") {
    Outbox box(1024);
    REQUIRE(box.push(chunk("a", std::string(900, 'x'))));

    std::atomic<bool> pushed{false};
    std::thread producer([&] {
        box.push(chunk("a", std::string(900, 'y')));
        pushed = true;
    });
    // Give the producer every chance to pass the limit wrongly; then release it.
    for (int i = 0; i < 50 && !pushed; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    CHECK_FALSE(pushed);
    box.ack("a", 1);
    producer.join();
    CHECK(pushed);
    CHECK(box.unacked("a") == 1);
}

TEST_CASE("closing the outbox frees a blocked producer and refuses more", "[agent][outbox]") {
    Outbox box(100);
    REQUIRE(box.push(chunk("a", std::string(500, 'x'))));
    std::thread producer([&] { CHECK_FALSE(box.push(chunk("a", "more"))); });
    box.close();
    producer.join();
    CHECK_FALSE(box.push(chunk("a", "late")));
    // The network thread never waits, even when full.
    Outbox other(100);
    REQUIRE(other.push(chunk("a", std::string(500, 'x'))));
    CHECK(other.push(chunk("a", "rejected"), false));
}

TEST_CASE("an attempt acknowledged behind another's reports is not sent again and frees its room",
          "[agent][outbox]") {
    Outbox box(2048);
    REQUIRE(box.push(chunk("a", "1")));
    REQUIRE(box.push(chunk("b", std::string(400, 'x'))));
    REQUIRE(box.push(chunk("b", std::string(400, 'y'))));
    REQUIRE(box.push(chunk("a", "2")));
    while (box.take()) {
    }

    // b is acknowledged while a's first report, in front of it, is not.
    box.ack("b", 2);
    CHECK(box.unacked("b") == 0);
    CHECK(box.unacked("a") == 2);
    box.rewind();
    CHECK(std::get<protocol::TaskLog>(*box.take()).data == "1");
    CHECK(std::get<protocol::TaskLog>(*box.take()).data == "2");
    CHECK_FALSE(box.take());

    // b's bytes are free already: 1,600 more fit, which would not with b's 1,056 still counted.
    std::atomic<bool> pushed{false};
    std::thread producer([&] {
        box.push(chunk("c", std::string(1600, 'z')));
        pushed = true;
    });
    for (int i = 0; i < 500 && !pushed; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    CHECK(pushed);
    if (!pushed) {
        box.close();  // frees the producer, so that a failure does not hang the test
    }
    producer.join();

    box.ack("a", 1);
    CHECK(box.unacked("a") == 1);
    box.ack("a", 2);
    box.ack("c", 1);
    CHECK(box.unacked("a") == 0);
    CHECK(box.unacked("c") == 0);
    box.rewind();
    CHECK_FALSE(box.take());
}

TEST_CASE("output not yet sent takes in the output after it, never once it has gone out",
          "[agent][outbox]") {
    Outbox box;
    REQUIRE(box.push(chunk("a", "one ")));
    REQUIRE(box.push(chunk("a", "two ")));
    auto err = chunk("a", "oops");
    err.stream = "stderr";
    REQUIRE(box.push(err));
    REQUIRE(box.push(chunk("b", "other")));
    REQUIRE(box.push(chunk("b", std::string(unidesk::protocol::kMaxLogData, 'x'))));

    auto first = std::get<protocol::TaskLog>(*box.take());
    CHECK(first.data == "one two ");
    CHECK(first.seq == 1);
    CHECK(std::get<protocol::TaskLog>(*box.take()).stream == "stderr");
    CHECK(std::get<protocol::TaskLog>(*box.take()).data == "other");
    CHECK(std::get<protocol::TaskLog>(*box.take()).data.size() ==
          unidesk::protocol::kMaxLogData);  // too large to join "other"
    CHECK_FALSE(box.take());

    // Sent, not acknowledged: the server may have stored it as it was, so nothing joins it,
    // not even after the link drops.
    REQUIRE(box.push(chunk("c", "first")));
    CHECK(seq_of(*box.take()) == 1);
    box.rewind();
    REQUIRE(box.push(chunk("c", "second")));
    CHECK(box.unacked("c") == 2);
    CHECK(box.unacked("a") == 2);
}

TEST_CASE("reports left unacknowledged too long in a session are sent again from the oldest",
          "[agent][outbox]") {
    Outbox box;
    CHECK_FALSE(box.resend_overdue(std::chrono::seconds(0)));  // nothing sent
    // Each taken before the next is made (unsent output of a stream would be merged).
    REQUIRE(box.push(chunk("a", "1")));
    CHECK(seq_of(*box.take()) == 1);
    REQUIRE(box.push(chunk("a", "2")));
    CHECK(seq_of(*box.take()) == 2);
    CHECK_FALSE(box.resend_overdue(std::chrono::hours(1)));  // not overdue yet
    REQUIRE(box.push(chunk("a", "3")));
    CHECK(seq_of(*box.take()) == 3);

    // The server stored 1 and not 2, so it holds back 3: both go again, in order.
    box.ack("a", 1);
    CHECK(box.resend_overdue(std::chrono::seconds(0)));
    CHECK(seq_of(*box.take()) == 2);
    CHECK(seq_of(*box.take()) == 3);
    CHECK_FALSE(box.take());

    // Once everything is acknowledged there is nothing to send again.
    box.ack("a", 3);
    CHECK_FALSE(box.resend_overdue(std::chrono::seconds(0)));
    CHECK_FALSE(box.take());
}
