#pragma once

// Lets a burst of log lines through per minute and counts the rest, so that a peer sending
// garbage cannot fill the log. Thread-safe; one per kind of line.

#include <chrono>
#include <cstddef>
#include <mutex>
#include <utility>

namespace unidesk::kernel {

class LogLimiter {
public:
    explicit LogLimiter(std::size_t burst = 20) : burst_(burst) {}

    //! True when a line may be written now; `suppressed` says how many were dropped before it.
    bool allow(std::size_t& suppressed) {
        std::lock_guard lock(mu_);
        auto now = std::chrono::steady_clock::now();
        if (now - window_start_ > std::chrono::minutes(1)) {
            window_start_ = now;
            in_window_ = 0;
        }
        if (in_window_ >= burst_) {
            ++suppressed_;
            return false;
        }
        ++in_window_;
        suppressed = std::exchange(suppressed_, 0);
        return true;
    }

private:
    const std::size_t burst_;
    std::mutex mu_;
    std::chrono::steady_clock::time_point window_start_ = std::chrono::steady_clock::now();
    std::size_t in_window_ = 0;
    std::size_t suppressed_ = 0;
};

}  // namespace unidesk::kernel
