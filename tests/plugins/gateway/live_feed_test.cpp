// The live feed with the bus and the database faked (our own interfaces): a feed that cannot
// start says so rather than waiting quietly, and events become SSE frames. Delivery, the
// window and resync are covered end to end in gateway_e2e_test.cpp.

#include "live_feed.hpp"

#include <unidesk/database.hpp>
#include <unidesk/event_bus.hpp>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>

using namespace std::chrono_literals;
using namespace unidesk;
using unidesk::gateway::LiveFeed;
using unidesk::gateway::LiveFeedOptions;

namespace {

class FakeBus final : public EventBus {
public:
    std::atomic<bool> down{false};

    void add(const std::string& kind) {
        std::lock_guard lock(mu_);
        Event e;
        e.id = next_++;
        e.at = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'764'800'000'123));
        e.kind = kind;
        e.subject = "node:a";
        e.actor = "kernel";
        events_.push_back(e);
    }

    std::int64_t append(pqxx::work&, const EventDraft&) override { return 0; }
    Result<std::vector<Event>> read(std::int64_t after, std::size_t limit,
                                    const std::vector<std::string>&) override {
        if (down) {
            return make_error(Errc::unavailable, "database_unavailable", "the database is down");
        }
        std::lock_guard lock(mu_);
        std::vector<Event> out;
        for (const auto& e : events_) {
            if (e.id > after && out.size() < limit) {
                out.push_back(e);
            }
        }
        return out;
    }
    Result<std::unique_ptr<Subscription>> subscribe(
        SubscribeOptions, std::function<void(pqxx::work&, const Event&)>) override {
        return make_error(Errc::internal, "unsupported", "not in this fake");
    }

private:
    std::mutex mu_;
    std::int64_t next_ = 1;
    std::vector<Event> events_;
};

// A database that is down: the feed cannot learn where the bus ends, so it cannot start.
class DownDatabase final : public Database {
public:
    Result<void> transact_void(const std::function<void(pqxx::work&)>&) override {
        return make_error(Errc::unavailable, "database_unavailable", "no database here");
    }
    bool available() const override { return false; }
};

std::shared_ptr<spdlog::logger> quiet() {
    return std::make_shared<spdlog::logger>("test.live",
                                            std::make_shared<spdlog::sinks::null_sink_mt>());
}

}  // namespace

TEST_CASE("a live feed whose start position cannot be read says it is unavailable",
          "[gateway][live]") {
    FakeBus bus;
    DownDatabase db;
    LiveFeed feed(bus, db, LiveFeedOptions{10ms, 100, 50}, quiet());
    feed.start();
    auto batch = feed.wait_after(-1, 2s);
    REQUIRE(batch.unavailable);
    REQUIRE(batch.unavailable->find("database") != std::string::npos);
    feed.stop();
}

TEST_CASE("sse frames carry the id and the event as one JSON line with a UTC time",
          "[gateway][live]") {
    Event e;
    e.id = 42;
    e.at = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'764'800'000'123));
    e.kind = "task.phase_changed";
    e.subject = "task:7";
    e.actor = "node:a";
    e.payload = {{"message", "two\nlines"}};
    auto frame = unidesk::gateway::sse_frame(e);
    REQUIRE(frame.rfind("id: 42\ndata: {", 0) == 0);
    REQUIRE(frame.ends_with("}\n\n"));
    REQUIRE(frame.find("\"at\":\"2025-12-03T22:13:20.123Z\"") != std::string::npos);
    // One data line: the newline inside the payload is escaped.
    REQUIRE(std::count(frame.begin(), frame.end(), '\n') == 3);
}
