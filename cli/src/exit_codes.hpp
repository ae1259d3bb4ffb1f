#pragma once

// The exit codes of `unidesk`, so that scripts can tell failures apart without reading text.
// Documented in cli/README.md; changing one breaks scripts.

#include "unidesk/result.hpp"

#include <string_view>

namespace unidesk::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;       // the server refused the request, or health not ok
inline constexpr int kExitUsage = 2;        // bad command line, settings or config file
inline constexpr int kExitAuth = 3;         // 401 or 403: no, wrong or revoked token, or role
inline constexpr int kExitNotFound = 4;     // 404
inline constexpr int kExitUnavailable = 5;  // server unreachable, or it answered 503 or 504
// A task that was followed to its end (`submit --wait`, `logs -f`) and did not succeed.
inline constexpr int kExitTaskFailed = 6;
inline constexpr int kExitTaskCancelled = 7;
inline constexpr int kExitTaskLost = 8;  // its node stayed away past the grace period

//! Error code of a mistake on the command line itself.
inline constexpr const char* kUsageError = "usage";

int exit_code_for(const Error& e) noexcept;

//! The exit code of a followed task in `state`: 0 for `succeeded`, 6, 7 or 8 for `failed`,
//! `cancelled` or `lost`, and 1 for a state that is not an end (the follow stopped early).
int exit_code_for_task_state(std::string_view state) noexcept;

}  // namespace unidesk::cli
