#pragma once

// The agent's end of the provider link: connects out to the kernel over WebSocket (ws:// or
// wss://), registers, sends heartbeats at the interval the server asks for, and reconnects with
// Backoff whenever the link fails or the server closes it. docs/reference/provider-protocol.md
// is the contract.
//
// Task reports are taken from the Outbox and sent in order right after `registered`, again in
// every session until the server acknowledges them; task commands go to the TaskHooks.
//
// Owned by main(). Every member function runs on the thread running the io_context given at
// construction (the agent runs one); nothing here is thread-safe except the Outbox it reads.
// Failures are logged on `agent.link` and end in a reconnect, never in an exception.

#include "agent_config.hpp"
#include "outbox.hpp"

#include "unidesk/protocol/messages.hpp"

#include <boost/asio/io_context.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace unidesk::agent {

//! What the link asks of the node's task runner; both run on the network thread, never block.
struct TaskHooks {
    //! task.assign, task.cancel or task.resume from the server.
    std::function<void(const protocol::Message&)> on_command;
    //! The attempts the node holds, for `register` and each heartbeat.
    std::function<std::vector<protocol::RunningAttempt>()> running;
};

class LinkClient {
public:
    //! `hello` is the register body sent at the start of every session. The outbox, when
    //! given, must outlive the client.
    LinkClient(boost::asio::io_context& io, AgentConfig config, protocol::Register hello,
               Outbox* outbox = nullptr, TaskHooks hooks = {});
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
