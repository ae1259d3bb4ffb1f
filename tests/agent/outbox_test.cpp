#include "outbox.hpp"

#include <catch2/catch.hpp>

#include <atomic>
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
