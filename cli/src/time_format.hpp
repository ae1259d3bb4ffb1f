#pragma once

// The one place where the CLI turns a server time into what a person reads. The server sends
// UTC as ISO 8601 with a `Z` ("2026-03-01T16:30:05.123Z"); people read Beijing time
// (Asia/Shanghai, a fixed UTC+8 with no daylight saving), whatever the zone of the machine
// the CLI runs on. Pure functions; thread-safe; they never consult TZ or the C library's zone.

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace unidesk::cli {

//! "2026-03-01T16:30:05.123Z" -> "2026-03-02T00:30:05.123+08:00" (the fraction kept as given).
//! With utc = true the text comes back unchanged. Text that is not such a time also comes back
//! unchanged, so that nothing the server said is hidden.
std::string display_time(std::string_view utc_iso8601, bool utc);

//! The time field `key` of a JSON object for a table cell: a string goes through
//! display_time; null, a missing key or a non-object gives "" (which a table shows as "-").
std::string time_cell(const nlohmann::json& obj, const char* key, bool utc);

}  // namespace unidesk::cli
