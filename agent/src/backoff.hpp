#pragma once

// Reconnection delays: exponential backoff with full jitter. The n-th wait after a failure is
// uniform(0, min(cap, base * 2^n)), so that many agents returning after a server restart spread
// out instead of arriving together. A connection that stays up for `stable` resets n to 0.
//
// Not thread-safe; owned by the link client and used on its thread only.

#include <chrono>
#include <cstdint>
#include <functional>

namespace unidesk::agent {

struct BackoffPolicy {
    std::chrono::milliseconds base{1000};
    std::chrono::milliseconds cap{60000};
    std::chrono::milliseconds stable{60000};
};

class Backoff {
public:
    //! Returns a number uniform in [0, 1]; tests pass a fixed sequence.
    using UnitRandom = std::function<double()>;

    //! The default random source is a std::mt19937_64 seeded from std::random_device.
    explicit Backoff(BackoffPolicy policy, UnitRandom random = {});

    //! The ceiling the next wait is drawn under: min(cap, base * 2^attempt).
    std::chrono::milliseconds ceiling() const;

    //! The wait before the next attempt; each call raises the attempt count by one.
    std::chrono::milliseconds next();

    //! Tells how long the connection that just ended stayed up; a long enough one means the
    //! link was healthy, so the next failure starts again from `base`.
    void connection_ended(std::chrono::milliseconds uptime);

    void reset() { attempt_ = 0; }
    std::uint32_t attempt() const { return attempt_; }
    const BackoffPolicy& policy() const { return policy_; }

private:
    BackoffPolicy policy_;
    UnitRandom random_;
    std::uint32_t attempt_ = 0;
};

}  // namespace unidesk::agent
