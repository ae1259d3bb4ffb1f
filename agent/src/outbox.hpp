#pragma once

// The task reports waiting to reach the server: every task.status and task.log an attempt
// produces, numbered 1, 2, 3 ... per attempt, kept until the server acknowledges them
// (task.ack) and sent again, in order, on every new session until then. So a link that drops
// mid-task loses nothing, and the server, which stores each (attempt, seq) once, records no
// duplicate.
//
// Bounded: while the unacknowledged reports hold more than `limit_bytes`, push() blocks the
// task that produces them (the engine keeps the container's output meanwhile), so memory stays
// bounded without dropping anything.
//
// Thread-safe. Task threads push; the link's network thread takes, acknowledges and rewinds.
// `on_ready` runs on the pushing thread whenever something new can be sent; it must not block.

#include "unidesk/protocol/messages.hpp"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace unidesk::agent {

class Outbox {
public:
    explicit Outbox(std::size_t limit_bytes = 8 * 1024 * 1024);

    void set_on_ready(std::function<void()> on_ready);

    //! Numbers `body` (a TaskStatus or TaskLog; its attempt_id set) with the attempt's next seq
    //! and queues it. Blocks while the outbox is full, unless `wait` is false (for the network
    //! thread, which must never block; the limit is then passed by that one report). False once
    //! close() was called.
    bool push(protocol::Body body, bool wait = true);

    //! The next report not yet sent in this session, or nothing.
    std::optional<protocol::Body> take();

    //! The server has everything of `attempt_id` up to `seq`: forget it, wake blocked pushes.
    void ack(const std::string& attempt_id, std::uint64_t seq);

    //! The session ended: everything unacknowledged is sent again in the next one.
    void rewind();

    //! Continue an attempt's numbering after `seq` (an attempt adopted after a restart).
    void continue_after(const std::string& attempt_id, std::uint64_t seq);

    //! Drop an attempt's numbering once it has ended and everything of it is acknowledged.
    void forget(const std::string& attempt_id);

    //! How many reports of `attempt_id` are unacknowledged.
    std::size_t unacked(const std::string& attempt_id) const;

    //! Wakes every blocked push (they return false) and refuses new ones.
    void close();

private:
    struct Entry {
        std::string attempt_id;
        std::uint64_t seq;
        std::size_t bytes;
        protocol::Body body;
    };

    mutable std::mutex mutex_;
    std::condition_variable space_;
    std::deque<Entry> entries_;  // unacknowledged, in the order pushed
    std::size_t sent_ = 0;       // entries_[0, sent_) went out in this session
    std::size_t bytes_ = 0;
    std::size_t limit_;
    std::map<std::string, std::uint64_t> last_seq_;
    bool closed_ = false;
    std::function<void()> on_ready_;
};

}  // namespace unidesk::agent
