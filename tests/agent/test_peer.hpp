#pragma once

// A small provider-link server for the agent's tests: accepts WebSocket upgrades on
// 127.0.0.1, refuses a wrong bearer token with HTTP 401, answers `register` with `registered`
// (heartbeat_interval_s = 1), acknowledges task reports (task.ack) unless told not to, sends
// the commands a test gives it, and records every message it decodes. Runs its own thread;
// stop() (or the destructor) drops every connection at once, like a server that dies.

#include "unidesk/protocol/messages.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

namespace unidesk::test {

class TestPeer {
public:
    //! Binds `port` (0: any free one), with SO_REUSEADDR so a restart can take the same port.
    //! `close_code` nonzero: close each session with that code right after `registered`.
    TestPeer(std::string token, unsigned short port = 0, std::uint16_t close_code = 0);
    ~TestPeer();

    unsigned short port() const;
    void stop();

    //! Waits until `pred` holds for the messages received so far, or the deadline passes.
    bool wait_for(const std::function<bool(const std::vector<protocol::Message>&)>& pred,
                  std::chrono::milliseconds deadline);

    //! Waits until at least `n` handshakes were refused for a wrong or missing token.
    bool wait_unauthorized(int n, std::chrono::milliseconds deadline);

    //! Sends `body` on the newest session; false when none is open.
    bool send(protocol::Body body);

    //! Whether task.status and task.log are answered with task.ack (the default).
    void set_auto_ack(bool on);

    //! A copy of everything received so far.
    std::vector<protocol::Message> received() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

//! How many received messages have that type.
std::size_t count_type(const std::vector<protocol::Message>& msgs, std::string_view type);

}  // namespace unidesk::test
