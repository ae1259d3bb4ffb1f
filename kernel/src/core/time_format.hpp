#pragma once

// Times as the REST API and the logs show them: ISO 8601 in UTC with milliseconds and a `Z`,
// e.g. "2026-12-03T19:18:32.123Z". Pure functions; thread-safe.

#include <chrono>
#include <string>

namespace unidesk::kernel {

//! Truncates to the millisecond (towards the past, also before 1970).
std::string format_utc_iso8601(std::chrono::system_clock::time_point tp);

}  // namespace unidesk::kernel
