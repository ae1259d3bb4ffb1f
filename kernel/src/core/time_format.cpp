#include "core/time_format.hpp"

#include <fmt/format.h>

#include <ctime>

namespace unidesk::kernel {

std::string format_utc_iso8601(std::chrono::system_clock::time_point tp) {
    using namespace std::chrono;
    // floor, not duration_cast: a time before the epoch must not round up to the next second.
    const auto ms = floor<milliseconds>(tp);
    const auto secs = floor<seconds>(ms);
    const auto millis = (ms - secs).count();

    const std::time_t t = system_clock::to_time_t(time_point_cast<system_clock::duration>(secs));
    std::tm tm{};
    gmtime_r(&t, &tm);

    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

}  // namespace unidesk::kernel
