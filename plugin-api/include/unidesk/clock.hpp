#pragma once

#include <chrono>

namespace unidesk {

//! Wall-clock time in UTC. The kernel hands every plugin one; tests substitute a clock they
//! drive by hand. Thread-safe: now() may be called from any thread.
class Clock {
public:
    using time_point = std::chrono::system_clock::time_point;
    virtual ~Clock() = default;
    virtual time_point now() const = 0;
};

}  // namespace unidesk
