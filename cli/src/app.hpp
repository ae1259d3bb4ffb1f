#pragma once

// The whole of `unidesk` as a function, so that tests run it in-process: parse the command
// line, find the command, resolve the settings, run it, and turn an error into the line
// "unidesk: <message> (<code>)" on the error stream and an exit code (exit_codes.hpp).

#include "command.hpp"
#include "settings.hpp"

#include <string>
#include <vector>

namespace unidesk::cli {

//! args excludes the program name. Never throws.
int run_cli(const std::vector<std::string>& args, Io& io, const EnvLookup& env);

//! The help text: every command with its arguments, the common options and the exit codes.
std::string usage_text();

}  // namespace unidesk::cli
