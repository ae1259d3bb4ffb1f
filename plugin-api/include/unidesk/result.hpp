#pragma once

// Expected failures as values. Every fallible call in the kernel and in plugins returns
// Result<T>: either a value or an Error with a stable code that REST answers carry unchanged.

#include <boost/system/result.hpp>

#include <ostream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace unidesk {

//! The broad class of a failure; decides the HTTP status of a REST answer.
enum class Errc {
    invalid_argument,  // 400: the caller sent something malformed or out of range
    unauthenticated,   // 401: no credential, or a wrong, expired or revoked one
    forbidden,         // 403: a valid credential without the needed role
    not_found,         // 404
    conflict,          // 409: the request clashes with current state
    too_large,         // 413
    unavailable,       // 503: an authoritative path (database, plugin, node) is down
    timeout,           // 504
    internal,          // 500: a bug or an unexpected failure
};

//! A failure: its class, a stable machine-readable code (`database_unavailable`,
//! `token_revoked` ...) and a message for people.
struct Error {
    Errc errc = Errc::internal;
    std::string code;
    std::string message;
};

//! For logs and test output: "code: message".
inline std::ostream& operator<<(std::ostream& os, const Error& e) {
    return os << e.code << ": " << e.message;
}

//! Thrown only by Result::value() on an error; callers that check first never see it.
class ResultError : public std::runtime_error {
public:
    explicit ResultError(Error e)
        : std::runtime_error(e.code + ": " + e.message), error_(std::move(e)) {}
    const Error& error() const noexcept { return error_; }

private:
    Error error_;
};

[[noreturn]] inline void throw_exception_from_error(const Error& e, const boost::source_location&) {
    throw ResultError(e);
}

template <class T>
using Result = boost::system::result<T, Error>;

//! A success holding v. Needed where T converts implicitly to Error (nlohmann::json does,
//! through its conversion operator), which makes `return v;` ambiguous.
template <class T>
Result<std::decay_t<T>> ok_value(T&& v) {
    return Result<std::decay_t<T>>(boost::system::in_place_value, std::forward<T>(v));
}

inline Error make_error(Errc errc, std::string code, std::string message) {
    return Error{errc, std::move(code), std::move(message)};
}

inline int http_status(Errc errc) noexcept {
    switch (errc) {
    case Errc::invalid_argument: return 400;
    case Errc::unauthenticated: return 401;
    case Errc::forbidden: return 403;
    case Errc::not_found: return 404;
    case Errc::conflict: return 409;
    case Errc::too_large: return 413;
    case Errc::unavailable: return 503;
    case Errc::timeout: return 504;
    case Errc::internal: return 500;
    }
    return 500;
}

}  // namespace unidesk
