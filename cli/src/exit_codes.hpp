#pragma once

// The exit codes of `unidesk`, so that scripts can tell failures apart without reading text.
// Documented in cli/README.md; changing one breaks scripts.

#include "unidesk/result.hpp"

namespace unidesk::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;       // the server refused the request, or health not ok
inline constexpr int kExitUsage = 2;        // bad command line, settings or config file
inline constexpr int kExitAuth = 3;         // 401 or 403: no, wrong or revoked token, or role
inline constexpr int kExitNotFound = 4;     // 404
inline constexpr int kExitUnavailable = 5;  // server unreachable, or it answered 503 or 504

//! Error code of a mistake on the command line itself.
inline constexpr const char* kUsageError = "usage";

int exit_code_for(const Error& e) noexcept;

}  // namespace unidesk::cli
