#pragma once

// The messages of the provider link, as plain values. Every frame is one JSON object, the
// envelope {"type", "id", "v", "body"}; docs/reference/provider-protocol.md is the contract and
// says who sends each message and what answers it. Encoding and decoding live in codec.hpp.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace unidesk::protocol {

//! The one protocol version this code speaks; the envelope's `v`.
inline constexpr int kProtocolVersion = 1;

//! Frames above this size are refused unless the caller chooses another limit.
inline constexpr std::size_t kDefaultMaxFrameBytes = 1024 * 1024;

// ---- agent -> server ----

struct GpuInfo {
    int index = 0;
    std::string model;
    std::uint64_t memory_bytes = 0;
    std::string driver;  // empty for GPUs declared in the agent's config

    bool operator==(const GpuInfo&) const = default;
};

//! First message of every session: who the node is and what it offers.
struct Register {
    std::string node_name;
    std::string agent_version;
    std::string os;    // uname sysname, lower case: "linux"
    std::string arch;  // uname machine: "x86_64", "aarch64"
    std::uint32_t cpu_cores = 0;
    std::uint64_t memory_bytes = 0;
    std::uint64_t disk_bytes = 0;  // capacity of the file system holding the work folder
    std::vector<GpuInfo> gpus;
    std::map<std::string, std::string> labels;

    bool operator==(const Register&) const = default;
};

//! A task attempt the node is running; empty until the agent runs tasks.
struct RunningAttempt {
    std::string attempt_id;
    std::string state;

    bool operator==(const RunningAttempt&) const = default;
};

struct Heartbeat {
    std::uint64_t seq = 0;  // 1, 2, 3 ... within one agent process
    std::vector<RunningAttempt> running;

    bool operator==(const Heartbeat&) const = default;
};

//! The node is going away on purpose (shutdown, restart); sent just before a normal close.
struct Leaving {
    std::string reason;

    bool operator==(const Leaving&) const = default;
};

// ---- server -> agent ----

//! The answer to `register`.
struct Registered {
    std::uint64_t session_generation = 0;
    std::uint32_t heartbeat_interval_s = 15;
    std::string server_time;  // UTC, ISO 8601 with Z

    bool operator==(const Registered&) const = default;
};

// ---- either way ----

//! A refusal or a failure; when it ends the session, a close with a reason code follows.
struct ErrorBody {
    std::string code;
    std::string message;

    bool operator==(const ErrorBody&) const = default;
};

using Body = std::variant<Register, Heartbeat, Leaving, Registered, ErrorBody>;

//! One frame: the envelope and its typed body. `type` is derived from the body.
struct Message {
    std::string id;                 // chosen by the sender, unique within its session
    std::optional<std::string> re;  // the id of the message this one answers, if any
    int v = kProtocolVersion;
    Body body;

    bool operator==(const Message&) const = default;
};

//! The wire name of a body's type: "register", "heartbeat" ...
std::string_view type_name(const Body& body);

}  // namespace unidesk::protocol
