#pragma once

// Times go to and from PostgreSQL as integer microseconds since the epoch, which both sides
// hold exactly (a timestamptz has microsecond resolution). The macros wrap a column or a
// parameter in SQL; the functions convert on the C++ side. Pure; thread-safe.

#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <optional>

//! SQL: a timestamptz column as bigint microseconds since the epoch (NULL stays NULL).
#define UNIDESK_MICROS(col) "(extract(epoch FROM " col ") * 1000000)::bigint"
//! SQL: a bigint parameter of microseconds since the epoch as a timestamptz.
#define UNIDESK_TS(param) "('epoch'::timestamptz + " param "::bigint * interval '1 microsecond')"

namespace unidesk::kernel {

using TimePoint = std::chrono::system_clock::time_point;

inline std::int64_t to_micros(TimePoint tp) {
    return std::chrono::duration_cast<std::chrono::microseconds>(tp.time_since_epoch()).count();
}

inline TimePoint from_micros(std::int64_t us) {
    return TimePoint(
        std::chrono::duration_cast<TimePoint::duration>(std::chrono::microseconds(us)));
}

//! A field read through UNIDESK_MICROS; nullopt for NULL.
inline std::optional<TimePoint> optional_time(const pqxx::field& f) {
    if (f.is_null()) {
        return std::nullopt;
    }
    return from_micros(f.as<std::int64_t>());
}

}  // namespace unidesk::kernel
