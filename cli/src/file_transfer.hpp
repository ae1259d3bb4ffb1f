#pragma once

// Moving a file to or from a presigned URL with libcurl, for `unidesk storage put|get`: whole
// files or byte ranges of them, a SHA-256 computed on the way, and a progress line (bytes, rate,
// time left) on a terminal. One transfer at a time; not thread-safe.

#include "unidesk/result.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace unidesk::cli {

//! Shows how a long transfer goes, on one line of a terminal rewritten in place.
class Progress {
public:
    //! `enabled` false: shows nothing (not a terminal, or --quiet).
    Progress(bool enabled, std::uint64_t total, std::uint64_t already = 0);
    //! `done` bytes of the total are moved now (including `already`).
    void update(std::uint64_t done);
    //! Ends the line.
    void finish();

    //! "1.5 MiB / 1.0 GiB  12.0 MiB/s  1:23 left", as update() shows it.
    static std::string line(std::uint64_t done, std::uint64_t total, double rate_bytes_s);

private:
    bool enabled_;
    std::uint64_t total_;
    std::uint64_t already_;
    std::chrono::steady_clock::time_point start_;
    std::chrono::steady_clock::time_point last_;
    bool shown_ = false;
};

struct Sent {
    std::string etag;  // without quotes
};

//! PUTs bytes [offset, offset + length) of `file` to `url`. `max_rate` (bytes/s, 0 for none)
//! slows the transfer. Fails with `transfer_failed` (unavailable) on a network error or a
//! non-2xx answer (then with the store's status in the message).
Result<Sent> put_file_range(const std::string& url, const std::filesystem::path& file,
                            std::uint64_t offset, std::uint64_t length, Progress& progress,
                            std::uint64_t progress_base, std::uint64_t max_rate);

struct Received {
    std::uint64_t bytes = 0;
    std::string sha256;
};

//! GETs `url` into `file` (created or truncated).
Result<Received> get_to_file(const std::string& url, const std::filesystem::path& file,
                             Progress& progress, std::uint64_t max_rate);

std::string sha256_of_file(const std::filesystem::path& file);

}  // namespace unidesk::cli
