#pragma once

// Fans the event bus out to the live streams of the web UI. One thread per kernel instance
// reads new events from the bus by id (every `poll_interval`, at once again after a full batch)
// and keeps the last `capacity` of them, already written as Server-Sent Events, in memory; each
// stream follows them with its own cursor. This is a window onto the bus, not a copy of it: a
// stream whose cursor fell out of the window (a slow client, or a resume from an old id) is told
// it is `behind` and must re-read through the REST API, and while the bus cannot be read every
// stream is told the feed is unavailable, with the reason, rather than left waiting silently.
//
// Owned by the gateway plugin: start() in its start, stop() in its stop (joins the thread).
// wait_after() and the accessors are thread-safe and called by the stream handlers' threads.

#include <unidesk/database.hpp>
#include <unidesk/event_bus.hpp>

#include <spdlog/logger.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace unidesk::gateway {

struct LiveFeedOptions {
    std::chrono::milliseconds poll_interval{200};
    std::size_t capacity = 5000;
    std::size_t batch = 500;
};

//! What a stream gets from one wait.
struct LiveBatch {
    std::string text;         // the SSE frames of the new events, in order; may be empty
    std::int64_t cursor = 0;  // the stream's new position
    bool behind = false;      // events after the old cursor are gone from the window
    std::optional<std::string> unavailable;  // the bus cannot be read: why
};

//! An event as one SSE frame: `id: N`, then `data:` with the event as JSON, then a blank line.
std::string sse_frame(const Event& e);
//! A UTC time as ISO 8601 with milliseconds and Z.
std::string iso_utc(std::chrono::system_clock::time_point t);

class LiveFeed {
public:
    LiveFeed(EventBus& bus, Database& db, LiveFeedOptions options,
             std::shared_ptr<spdlog::logger> log);
    ~LiveFeed();

    void start();
    void stop();

    //! Waits up to `wait` for events after `cursor` and returns them. A cursor of -1 means
    //! "from now on".
    LiveBatch wait_after(std::int64_t cursor, std::chrono::milliseconds wait);
    //! The id of the newest event read so far.
    std::int64_t latest() const;

private:
    struct Item {
        std::int64_t id;
        std::string frame;
    };
    void run();
    bool poll_once();

    EventBus& bus_;
    Database& db_;
    const LiveFeedOptions options_;
    std::shared_ptr<spdlog::logger> log_;

    mutable std::mutex mu_;
    std::condition_variable changed_;
    std::deque<Item> window_;
    std::int64_t latest_ = -1;         // -1 until the start position is known
    std::int64_t dropped_up_to_ = -1;  // events with an id up to this are not in the window
    std::optional<std::string> unavailable_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace unidesk::gateway
