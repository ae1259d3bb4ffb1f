#pragma once

// A small synchronous WebSocket client for tests of the provider link: speaks to the kernel's
// provider listener the way an agent does, or the way a broken or hostile peer would (bad
// frames, binary frames, oversized frames, messages out of order). Every call has a deadline
// (the timeout given at construction); a missed deadline or a network error throws
// std::runtime_error, which fails the test. Not thread-safe: one per thread.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace unidesk::test {

class WsClient {
public:
    explicit WsClient(std::uint16_t port,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10));
    ~WsClient();

    //! Opens the connection and asks for the upgrade with `Authorization: Bearer token` (none
    //! when empty). Returns the HTTP status: 101 when upgraded, else the refusal (401 ...),
    //! whose body is then in refusal_body().
    int connect(const std::string& token, const std::string& target = "/v1/provider/connect");
    const std::string& refusal_body() const;

    void send_text(const std::string& frame);
    void send_binary(const std::string& frame);

    //! The next text frame; nullopt once the server closed the session (close_code() and
    //! close_reason() then say why) or the connection broke (close_code() is 0).
    std::optional<std::string> read();
    std::uint16_t close_code() const;
    const std::string& close_reason() const;

    //! A register frame for `node` as the agent sends it.
    static std::string register_frame(const std::string& node, const std::string& id = "a-1");
    static std::string heartbeat_frame(std::uint64_t seq, const std::string& id);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace unidesk::test
