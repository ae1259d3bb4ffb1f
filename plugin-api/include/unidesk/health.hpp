#pragma once

#include <string>

namespace unidesk {

//! The state of one component or plugin as `/health` shows it.
enum class HealthState { ok, degraded, down };

inline const char* to_string(HealthState s) noexcept {
    switch (s) {
    case HealthState::ok: return "ok";
    case HealthState::degraded: return "degraded";
    case HealthState::down: return "down";
    }
    return "down";
}

struct HealthReport {
    HealthState state = HealthState::ok;
    std::string reason;  // empty when ok; otherwise says what is wrong in plain words
};

}  // namespace unidesk
