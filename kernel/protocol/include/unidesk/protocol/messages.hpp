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

//! Whether `name` is a valid node name: a-z or 0-9 first, then at most 63 of a-z 0-9 _ . -.
//! The kernel issues node tokens only for such names, and the agent checks its own with it.
bool is_valid_node_name(std::string_view name);
//! What is_valid_node_name() wants, to follow "... must" in an error message.
inline constexpr std::string_view kNodeNameRule =
    "start with a-z or 0-9 and continue with at most 63 of a-z 0-9 _ . -";

// ---- agent -> server ----

struct GpuInfo {
    int index = 0;
    std::string model;
    std::uint64_t memory_bytes = 0;
    std::string driver;  // empty for GPUs declared in the agent's config

    bool operator==(const GpuInfo&) const = default;
};

//! A task attempt the node holds: its phase (`running`, `exited` ...).
struct RunningAttempt {
    std::string attempt_id;
    std::string state;

    bool operator==(const RunningAttempt&) const = default;
};

//! First message of every session: who the node is and what it offers, and the task
//! containers it found still there (after an agent restart), for the server to keep or stop.
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
    std::vector<RunningAttempt> running;  // optional on the wire; empty when absent
    std::uint32_t task_slots = 0;         // attempts it runs at once; optional, 0: not said

    bool operator==(const Register&) const = default;
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

// ---- server -> agent: tasks ----

//! What a task may use on the node. Zero means no limit.
struct TaskResources {
    std::uint64_t cpu_millis = 0;  // 1500: one and a half cores
    std::uint64_t memory_bytes = 0;
    std::vector<std::uint64_t> gpu_indices;  // the node's GPUs given to the task

    bool operator==(const TaskResources&) const = default;
};

//! One object to download before the command: a presigned GET URL and where the file goes.
struct TaskInput {
    std::string key;   // the storage key, for messages
    std::string path;  // relative to the workspace, '/'-separated, no ".." segment
    std::string url;   // presigned GET, valid past the task's time limit
    std::uint64_t size = 0;
    std::string sha256;  // lower-case hex; empty when the backend does not know it

    bool operator==(const TaskInput&) const = default;
};

//! A workspace folder whose files are uploaded after the command, under a storage prefix. The
//! agent asks `upload_url` (a capability URL of this attempt alone, on the server's public
//! listener) for a presigned PUT URL per file; see docs/reference/provider-protocol.md.
struct TaskOutput {
    std::string path;    // folder relative to the workspace
    std::string prefix;  // storage key prefix the files go under
    std::string upload_url;

    bool operator==(const TaskOutput&) const = default;
};

//! Run one attempt of a task. Only references: repository URLs and commits, never contents.
struct TaskAssign {
    std::string attempt_id;
    std::string task_id;
    std::string code_repo_url;
    std::string code_commit_id;  // 40 hex digits
    std::string env_repo_url;
    std::string env_commit_id;         // 40 hex digits
    std::string dockerfile_path;       // inside the env repository, e.g. "Dockerfile"
    std::vector<std::string> command;  // argv; empty: the image's own command
    std::map<std::string, std::string> env;
    TaskResources resources;
    std::uint64_t time_limit_s = 0;   // 0: none
    std::vector<TaskInput> inputs;    // absent from older servers: none
    std::vector<TaskOutput> outputs;  // absent from older servers: none

    bool operator==(const TaskAssign&) const = default;
};

//! Stop an attempt: SIGTERM, then SIGKILL after grace_s. `reason` is `cancelled` (a person
//! asked) or `stale` (the server no longer wants this attempt, e.g. it was replaced).
struct TaskCancel {
    std::string attempt_id;
    std::string reason;
    std::uint64_t grace_s = 10;

    bool operator==(const TaskCancel&) const = default;
};

//! The server has every task.status and task.log of the attempt up to and including `seq`.
struct TaskAck {
    std::string attempt_id;
    std::uint64_t seq = 0;

    bool operator==(const TaskAck&) const = default;
};

// ---- agent -> server: tasks ----

//! A phase of an attempt, as it happened. Phases: accepted, rejected, fetching, building,
//! running, uploading, succeeded, failed, cancelled. Each attempt's task.status and task.log
//! messages share one sequence (1, 2, 3 ...), so the server can store them exactly once.
struct TaskStatus {
    std::string attempt_id;
    std::uint64_t seq = 0;
    std::string phase;
    std::string at;                          // UTC, ISO 8601 with Z
    std::string container_id;                // from `running` on
    std::optional<std::uint64_t> exit_code;  // when the command ended
    std::string cause;    // failed / cancelled / rejected: git_fetch_failed, image_build_failed ...
    std::string message;  // for people

    bool operator==(const TaskStatus&) const = default;
};

//! The most output bytes one task.log carries: well under the link's 1 MiB frame limit even
//! when JSON escapes every byte.
inline constexpr std::size_t kMaxLogData = 64 * 1024;

//! A bounded chunk of an attempt's output. `stream`: stdout, stderr, or agent (build output
//! and the agent's own notes). `data` is UTF-8 text; invalid bytes are replaced when it is
//! sent, and a NUL character when it arrives (decode()), with U+FFFD.
struct TaskLog {
    std::string attempt_id;
    std::uint64_t seq = 0;
    std::string stream;
    std::string data;
    std::string until;  // the engine's time of the chunk's last line (RFC 3339, 9 digits); optional

    bool operator==(const TaskLog&) const = default;
};

//! Keep an attempt the agent reported in `register.running`: go on numbering its reports after
//! `seq` and follow its output after `logs_after` (a TaskLog `until`; empty: from the start).
//! An attempt the server does not want is stopped with task.cancel reason `stale`.
struct TaskResume {
    std::string attempt_id;
    std::uint64_t seq = 0;
    std::string logs_after;

    bool operator==(const TaskResume&) const = default;
};

// ---- either way ----

//! A refusal or a failure; when it ends the session, a close with a reason code follows.
struct ErrorBody {
    std::string code;
    std::string message;

    bool operator==(const ErrorBody&) const = default;
};

using Body = std::variant<Register, Heartbeat, Leaving, Registered, ErrorBody, TaskAssign,
                          TaskCancel, TaskAck, TaskResume, TaskStatus, TaskLog>;

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
