#pragma once

// Runs a program as a child process for tests: given arguments and a whole environment, with
// stdout and stderr written to a file the test can read. Killed (SIGKILL) when destroyed.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace unidesk::test {

class ChildProcess {
public:
    ChildProcess(const std::string& program, const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env);
    ~ChildProcess();

    pid_t pid() const { return pid_; }
    void signal(int signo) const;

    //! The exit code once it exits within `deadline`; -signal if a signal ended it.
    std::optional<int> wait_exit(std::chrono::milliseconds deadline);

    //! Everything it wrote on stdout and stderr so far.
    std::string output() const;

private:
    pid_t pid_ = -1;
    bool exited_ = false;
    std::string output_path_;
};

//! A fresh empty folder under the system temp folder.
std::string make_temp_dir();

}  // namespace unidesk::test
