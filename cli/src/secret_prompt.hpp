#pragma once

// Asks for a secret on the controlling terminal with echo turned off, so that a password
// never shows on screen nor lands in shell history. Main thread only.

#include "unidesk/result.hpp"

#include <string>

namespace unidesk::cli {

//! Errors: `usage` when there is no terminal to ask on (use --password-stdin then).
Result<std::string> prompt_secret_on_tty(const std::string& prompt);

}  // namespace unidesk::cli
