#pragma once

// Runs a real program of ours as a child process for end-to-end tests: arguments, extra
// environment, stdout and stderr captured to files the test can read while it runs. The child
// is killed (SIGKILL) when the object dies if it still runs.

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace unidesk::test {

class ChildProcess {
public:
    ChildProcess(std::string program, std::vector<std::string> args,
                 std::map<std::string, std::string> env = {});
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    pid_t pid() const { return pid_; }
    bool running();
    void signal(int sig);
    //! Waits for the exit; nullopt on timeout. Exit code, or 128 + signal when killed.
    std::optional<int> wait(std::chrono::milliseconds timeout);

    std::string stdout_text() const;
    std::string stderr_text() const;

private:
    pid_t pid_ = -1;
    std::optional<int> exit_code_;
    std::filesystem::path out_;
    std::filesystem::path err_;
};

//! Polls pred every 20 ms until it holds or the deadline passes; returns whether it held.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

//! A temporary folder removed with the object.
class TempDir {
public:
    TempDir();
    ~TempDir();
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

}  // namespace unidesk::test
