#pragma once

// Following a task: its log (`unidesk logs [-f]`) and, for `submit --wait`, its state until it
// ends. The log's entries are printed as they came: `stdout` ones on the output stream,
// `stderr` and `agent` ones on the error stream. State lines go to the error stream too, so
// that the output stream holds only what the task itself printed. Runs on the command's
// thread; each call blocks for at most the server's long-poll wait plus the client timeout.

#include "command.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace unidesk::cli {

//! Long-poll waits (`wait_s`) of the log route: the route allows at most 30 s and the client
//! gives up after 30 s, so 25 leaves room. While states are shown the wait is shorter, since
//! a state change writes nothing to the log and would otherwise show late.
inline constexpr int kLogWaitS = 25;
inline constexpr int kStateWaitS = 5;

struct FollowOptions {
    bool to_end = false;       // keep going until the log says `ended`
    bool show_log = true;      // print the entries
    bool show_states = false;  // print each state the task is seen in
};

//! Without to_end: prints the log as far as it is written and gives kExitOk. With to_end:
//! follows until the task has ended and every entry is read, then gives the exit code of its
//! end state (exit_code_for_task_state). A failed call gives its error.
Result<int> follow_task(CommandContext& ctx, const std::string& id, const FollowOptions& options);

//! "2026-03-02T00:30:05.123+08:00  task 12 running on gpu-07", with the pending reason of a
//! queued task and the exit code, cause and message of an ended one. The time is the task's
//! updated_at, in Beijing time unless `utc`.
std::string state_line(const nlohmann::json& task, bool utc);

}  // namespace unidesk::cli
