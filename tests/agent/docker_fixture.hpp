#pragma once

// What the task tests and the task benchmark share: shell commands, a base image made from the
// static busybox (no registry is reachable here), and git repositories made with the `git`
// command. Failures throw std::runtime_error with the command's output.

#include <map>
#include <string>
#include <utility>

namespace unidesk::test {

//! The tag of the base image that ensure_base_image() makes.
inline const std::string kBaseImage = "unidesk-test/busybox:1";

//! Runs a shell command; its output (stdout and stderr) and whether it exited 0.
std::pair<std::string, bool> shell(const std::string& command);

//! Runs a shell command that must succeed; its output.
std::string must(const std::string& command);

//! Makes kBaseImage once per process unless the engine has it already.
void ensure_base_image();

//! The git-daemon program itself. `git daemon` runs it as a child of its own, which a kill of
//! `git` would leave running; tests start this one directly so that ending it ends the server.
std::string git_daemon_program();

//! Writes `files` (path -> content) into the repository at `dir` (made when missing) and
//! commits them; the commit id.
std::string commit_repo(const std::string& dir, const std::map<std::string, std::string>& files);

}  // namespace unidesk::test
