#include "backoff.hpp"

#include <algorithm>
#include <memory>
#include <random>

namespace unidesk::agent {

Backoff::Backoff(BackoffPolicy policy, UnitRandom random)
    : policy_(policy), random_(std::move(random)) {
    if (!random_) {
        auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
        random_ = [engine] { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
    }
}

std::chrono::milliseconds Backoff::ceiling() const {
    // Doubling stops once past the cap, so a long outage never overflows the shift.
    auto value = policy_.base;
    for (std::uint32_t i = 0; i < attempt_ && value < policy_.cap; ++i) {
        value *= 2;
    }
    return std::min(value, policy_.cap);
}

std::chrono::milliseconds Backoff::next() {
    const auto top = ceiling();
    const double unit = std::clamp(random_(), 0.0, 1.0);
    if (attempt_ < 64) {
        ++attempt_;
    }
    return std::chrono::milliseconds(
        static_cast<std::chrono::milliseconds::rep>(unit * static_cast<double>(top.count())));
}

void Backoff::connection_ended(std::chrono::milliseconds uptime) {
    if (uptime >= policy_.stable) {
        attempt_ = 0;
    }
}

}  // namespace unidesk::agent
