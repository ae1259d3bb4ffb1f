#pragma once

// The task reports waiting to reach the server: every task.status and task.log an attempt
// produces, numbered 1, 2, 3 ... per attempt, kept until the server acknowledges them
// (task.ack) and sent again, in order, on every new session until then, and within a session
// when the server has acknowledged nothing for a while (it stores an attempt's reports only in
// order, so one it could not store holds back those after it until it comes again). So a link
// that drops mid-task, or a server whose database was away, loses nothing, and the server,
// which stores each (attempt, seq) once, records no duplicate.
//
// Bounded: while the unacknowledged reports hold more than `limit_bytes`, push() blocks the
// task that produces them (the engine keeps the container's output meanwhile), so memory stays
// bounded without dropping anything.
//
// Thread-safe. Task threads push; the link's network thread takes, acknowledges and rewinds.
// `on_ready` runs on the pushing thread whenever something new can be sent; it must not block.

#include "unidesk/protocol/messages.hpp"

#include <chrono>
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
    //! and queues it. A TaskLog that follows one of the same attempt and stream not yet sent is
    //! added to it instead (up to protocol::kMaxLogData), so output made faster than the link
    //! takes it goes in fewer, larger reports. Blocks while the outbox is full, unless `wait` is
    //! false (for the network thread, which must never block; the limit is then passed by that one
    //! report). False once close() was called.
    bool push(protocol::Body body, bool wait = true);

    //! The next report not yet sent in this session, or nothing.
    std::optional<protocol::Body> take();

    //! The server has everything of `attempt_id` up to `seq`: forget it, wake blocked pushes.
    void ack(const std::string& attempt_id, std::uint64_t seq);

    //! The session ended: everything unacknowledged is sent again in the next one.
    void rewind();

    //! When the oldest unacknowledged report went out in this session at least `after` ago,
    //! rewinds, so that everything unacknowledged is sent again, and says so.
    bool resend_overdue(std::chrono::steady_clock::duration after);

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
        bool acked = false;  // kept only until the entries before it are acknowledged too
        bool taken = false;  // sent in some session: the server may have stored it as it was
        std::chrono::steady_clock::time_point sent_at{};  // when last taken
    };

    // Acknowledgements come in each attempt's order, so each marks a run at the front of its
    // attempt's list, and the entries leave the front of `entries_` once every earlier one has:
    // an acknowledgement costs the entries it acknowledges, whatever the outbox holds.
    void drop_acked_front();
    // Adds a TaskLog to the last entry when that one is unsent output of the same attempt and
    // stream with room left. Under mutex_.
    bool merge_into_tail(const protocol::Body& body);

    mutable std::mutex mutex_;
    std::condition_variable space_;
    std::deque<Entry> entries_;  // in the order pushed; acknowledged ones only behind others
    std::uint64_t first_ = 0;    // the push number of entries_[0]
    std::size_t sent_ = 0;       // entries_[0, sent_) went out in this session
    std::size_t bytes_ = 0;      // of the entries not yet acknowledged
    std::size_t limit_;
    std::map<std::string, std::uint64_t> last_seq_;
    std::map<std::string, std::deque<std::uint64_t>> unacked_;  // push numbers, per attempt
    bool closed_ = false;
    std::function<void()> on_ready_;
};

}  // namespace unidesk::agent
