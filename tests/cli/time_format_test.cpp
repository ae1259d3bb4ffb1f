#include "time_format.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>

using unidesk::cli::display_time;
using unidesk::cli::time_cell;

namespace {

//! Sets TZ for one test and puts the old value back afterwards.
class ScopedTz {
public:
    explicit ScopedTz(const char* tz) {
        if (const char* old = std::getenv("TZ")) {
            old_ = old;
        }
        ::setenv("TZ", tz, 1);
        ::tzset();
    }
    ~ScopedTz() {
        if (old_) {
            ::setenv("TZ", old_->c_str(), 1);
        } else {
            ::unsetenv("TZ");
        }
        ::tzset();
    }

private:
    std::optional<std::string> old_;
};

}  // namespace

TEST_CASE("a UTC time is shown as Beijing time whatever the local zone is", "[cli][time]") {
    const char* zone = GENERATE("America/New_York", "UTC", "Asia/Tokyo");
    ScopedTz tz(zone);
    INFO("TZ=" << zone);

    CHECK(display_time("2026-03-01T16:30:05.123Z", false) == "2026-03-02T00:30:05.123+08:00");
    CHECK(display_time("2026-03-01T03:00:00Z", false) == "2026-03-01T11:00:00+08:00");
    // Daylight saving in New York starts on 2026-03-08: Beijing has none, so no shift appears.
    CHECK(display_time("2026-03-08T07:30:00Z", false) == "2026-03-08T15:30:00+08:00");
    CHECK(display_time("2026-07-01T12:00:00Z", false) == "2026-07-01T20:00:00+08:00");
}

TEST_CASE("Beijing time crosses day, month, year and leap-day boundaries", "[cli][time]") {
    CHECK(display_time("2025-12-31T16:00:00Z", false) == "2026-01-01T00:00:00+08:00");
    CHECK(display_time("2024-02-28T20:15:00Z", false) == "2024-02-29T04:15:00+08:00");
    CHECK(display_time("2023-02-28T20:15:00Z", false) == "2023-03-01T04:15:00+08:00");
    CHECK(display_time("1969-12-31T20:00:00.5Z", false) == "1970-01-01T04:00:00.5+08:00");
}

TEST_CASE("the --utc option shows the server's time unchanged", "[cli][time]") {
    CHECK(display_time("2026-03-01T16:30:05.123Z", true) == "2026-03-01T16:30:05.123Z");
}

TEST_CASE("text that is not a UTC time is shown as it came", "[cli][time]") {
    for (const char* s :
         {"", "yesterday", "2026-03-01T16:30:05+02:00", "2026-02-30T00:00:00Z",
          "2026-03-01 16:30:05Z", "2026-03-01T16:30:05.Z", "2026-03-01T25:00:00Z"}) {
        INFO(s);
        CHECK(display_time(s, false) == s);
    }
}

TEST_CASE("a time cell shows null or missing fields as empty", "[cli][time]") {
    const nlohmann::json obj{{"at", "2026-03-01T16:30:05Z"}, {"gone", nullptr}};
    CHECK(time_cell(obj, "at", false) == "2026-03-02T00:30:05+08:00");
    CHECK(time_cell(obj, "gone", false).empty());
    CHECK(time_cell(obj, "missing", false).empty());
    CHECK(time_cell(nlohmann::json::array(), "at", false).empty());
}
