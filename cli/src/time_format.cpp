#include "time_format.hpp"

#include <chrono>
#include <cstdio>
#include <optional>

namespace unidesk::cli {

namespace {

constexpr int kBeijingOffsetHours = 8;

struct UtcTime {
    std::chrono::sys_seconds seconds;
    std::string_view fraction;  // ".123" or empty
};

std::optional<int> digits(std::string_view s, std::size_t pos, std::size_t count) {
    if (pos + count > s.size()) {
        return std::nullopt;
    }
    int v = 0;
    for (std::size_t i = pos; i < pos + count; ++i) {
        if (s[i] < '0' || s[i] > '9') {
            return std::nullopt;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

//! Accepts exactly YYYY-MM-DDTHH:MM:SS[.fraction]Z.
std::optional<UtcTime> parse_utc(std::string_view s) {
    if (s.size() < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || s.back() != 'Z') {
        return std::nullopt;
    }
    const auto y = digits(s, 0, 4);
    const auto mo = digits(s, 5, 2);
    const auto d = digits(s, 8, 2);
    const auto h = digits(s, 11, 2);
    const auto mi = digits(s, 14, 2);
    const auto sec = digits(s, 17, 2);
    if (!y || !mo || !d || !h || !mi || !sec || *h > 23 || *mi > 59 || *sec > 60) {
        return std::nullopt;
    }

    const std::string_view fraction = s.substr(19, s.size() - 20);
    if (!fraction.empty() &&
        (fraction[0] != '.' || fraction.size() < 2 || !digits(fraction, 1, fraction.size() - 1))) {
        return std::nullopt;
    }

    const std::chrono::year_month_day date{std::chrono::year{*y},
                                           std::chrono::month{static_cast<unsigned>(*mo)},
                                           std::chrono::day{static_cast<unsigned>(*d)}};
    if (!date.ok()) {
        return std::nullopt;
    }
    const auto seconds = std::chrono::sys_days{date} + std::chrono::hours{*h} +
                         std::chrono::minutes{*mi} + std::chrono::seconds{*sec};
    return UtcTime{seconds, fraction};
}

}  // namespace

std::string display_time(std::string_view utc_iso8601, bool utc) {
    const auto parsed = utc ? std::nullopt : parse_utc(utc_iso8601);
    if (!parsed) {
        return std::string(utc_iso8601);
    }

    // Plain calendar arithmetic on a fixed offset: no zone database and no TZ involved.
    const auto local = parsed->seconds + std::chrono::hours{kBeijingOffsetHours};
    const auto day = std::chrono::floor<std::chrono::days>(local);
    const std::chrono::year_month_day date{day};
    const std::chrono::hh_mm_ss time{local - day};

    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(date.year()),
                  static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                  static_cast<int>(time.hours().count()), static_cast<int>(time.minutes().count()),
                  static_cast<int>(time.seconds().count()));
    return std::string(buf) + std::string(parsed->fraction) + "+08:00";
}

std::string time_cell(const nlohmann::json& obj, const char* key, bool utc) {
    if (!obj.is_object()) {
        return {};
    }
    const auto it = obj.find(key);
    if (it == obj.end() || !it->is_string()) {
        return {};
    }
    return display_time(it->get<std::string>(), utc);
}

}  // namespace unidesk::cli
