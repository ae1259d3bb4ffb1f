#pragma once

// Runs a program to its end with a given environment and standard input, and returns what it
// printed and its exit code. For tests of the real `unidesk` binary. Blocks the caller.

#include <map>
#include <string>
#include <vector>

namespace unidesk::test {

struct ProgramResult {
    int exit_code = -1;  // -1 when the program did not exit normally
    std::string out;
    std::string err;
};

//! env is the whole environment of the program (nothing is inherited).
ProgramResult run_program(const std::string& path, const std::vector<std::string>& args,
                          const std::map<std::string, std::string>& env,
                          const std::string& stdin_text = "");

}  // namespace unidesk::test
