#include "exit_codes.hpp"

#include "settings.hpp"

namespace unidesk::cli {

int exit_code_for(const Error& e) noexcept {
    // Local mistakes are told apart by code: a 400 from the server shares their errc.
    if (e.code == kUsageError || e.code == kServerMissing || e.code == kConfigInvalid) {
        return kExitUsage;
    }
    switch (e.errc) {
    case Errc::unauthenticated:
    case Errc::forbidden: return kExitAuth;
    case Errc::not_found: return kExitNotFound;
    case Errc::unavailable:
    case Errc::timeout: return kExitUnavailable;
    default: return kExitFailed;
    }
}

int exit_code_for_task_state(std::string_view state) noexcept {
    if (state == "succeeded") {
        return kExitOk;
    }
    if (state == "failed") {
        return kExitTaskFailed;
    }
    if (state == "cancelled") {
        return kExitTaskCancelled;
    }
    if (state == "lost") {
        return kExitTaskLost;
    }
    return kExitFailed;
}

}  // namespace unidesk::cli
