#pragma once

// The CLI's client of the UniDesk REST API, over libcurl (HTTP and HTTPS). Sends the API token
// as `Authorization: Bearer` when one is set. Errors come back as values carrying the server's
// own {"error": {"code", "message"}}; a server that cannot be reached is errc `unavailable`
// with code `server_unreachable`.
// One Client per command run; not thread-safe. Calls block until the answer or the timeout.

#include "settings.hpp"
#include "unidesk/result.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace unidesk::cli {

inline constexpr const char* kServerUnreachable = "server_unreachable";

//! An answer as it came: its status, the body's bytes, and the body parsed (null when the body
//! is empty or not JSON).
struct Answer {
    long status = 0;
    std::string raw;
    nlohmann::json json;
};

class Client {
public:
    explicit Client(Settings settings,
                    std::chrono::milliseconds timeout = std::chrono::seconds(30));

    //! Any answer the server gives, whatever its status; fails only when no answer came.
    Result<Answer> send(std::string_view method, const std::string& path,
                        const std::optional<nlohmann::json>& body = std::nullopt);

    //! A 2xx answer, or the error the server described.
    Result<Answer> call(std::string_view method, const std::string& path,
                        const std::optional<nlohmann::json>& body = std::nullopt);

    const Settings& settings() const noexcept { return settings_; }

private:
    Settings settings_;
    std::chrono::milliseconds timeout_;
};

//! The error a non-2xx answer stands for: the server's code and message when the body has
//! them, otherwise a code `http_<status>`. The errc follows the status (401 unauthenticated,
//! 403 forbidden, 404 not_found, 503 unavailable ...).
Error error_from_answer(long status, const std::string& body);

//! Errc for an HTTP status (the inverse of unidesk::http_status).
Errc errc_from_status(long status) noexcept;

//! One path segment, percent-encoded (everything but letters, digits and "-._~").
std::string path_segment(std::string_view s);

}  // namespace unidesk::cli
