#pragma once

// The agent's end of the provider link: connects out to the kernel over WebSocket (ws:// or
// wss://), registers, sends heartbeats at the interval the server asks for, and reconnects with
// Backoff whenever the link fails or the server closes it. docs/reference/provider-protocol.md
// is the contract.
//
// Owned by main(). Every member function runs on the thread running the io_context given at
// construction (the agent runs one); nothing here is thread-safe. Failures are logged on
// `agent.link` and end in a reconnect, never in an exception.

#include "agent_config.hpp"

#include "unidesk/protocol/messages.hpp"

#include <boost/asio/io_context.hpp>

#include <functional>
#include <memory>
#include <string>

namespace unidesk::agent {

class LinkClient {
public:
    //! `hello` is the register body sent at the start of every session.
    LinkClient(boost::asio::io_context& io, AgentConfig config, protocol::Register hello);
    ~LinkClient();
    LinkClient(const LinkClient&) = delete;
    LinkClient& operator=(const LinkClient&) = delete;

    //! Starts connecting; `on_done` runs once the client has stopped for good after stop().
    void start(std::function<void()> on_done);

    //! Ends the link: when registered, sends `leaving` with `reason` and a normal close; when
    //! connecting or waiting to retry, gives up at once. Safe to call more than once.
    void stop(const std::string& reason);

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace unidesk::agent
