#include "core/time_format.hpp"

#include <catch2/catch.hpp>

using namespace unidesk::kernel;
using namespace std::chrono;

TEST_CASE("times are written as ISO 8601 UTC with milliseconds and a Z", "[kernel][time]") {
    REQUIRE(format_utc_iso8601(system_clock::time_point{}) == "1970-01-01T00:00:00.000Z");

    // 2026-12-03T19:18:32.123456Z: microseconds are cut, not rounded.
    const auto tp = system_clock::time_point{seconds(1796325512) + microseconds(123456)};
    REQUIRE(format_utc_iso8601(tp) == "2026-12-03T19:18:32.123Z");
}

TEST_CASE("a time just before 1970 keeps its own second", "[kernel][time]") {
    const auto tp = system_clock::time_point{} - milliseconds(1);
    REQUIRE(format_utc_iso8601(tp) == "1969-12-31T23:59:59.999Z");
}
