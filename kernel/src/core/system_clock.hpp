#pragma once

#include "unidesk/clock.hpp"

#include <atomic>

namespace unidesk::kernel {

class SystemClock final : public Clock {
public:
    time_point now() const override { return std::chrono::system_clock::now(); }
};

//! A clock that moves only when told; for tests. Thread-safe.
class ManualClock final : public Clock {
public:
    explicit ManualClock(time_point start) : now_(start.time_since_epoch().count()) {}
    time_point now() const override { return time_point(time_point::duration(now_.load())); }
    void advance(time_point::duration d) { now_ += d.count(); }

private:
    std::atomic<time_point::duration::rep> now_;
};

}  // namespace unidesk::kernel
