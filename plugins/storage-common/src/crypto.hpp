#pragma once

// Hashes, MACs and URL encoding for the storage backends, on OpenSSL. Plain functions and one
// small incremental hasher; nothing here allocates more than its answer.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace unidesk::storage {

//! Incremental SHA-256. Not thread-safe; one per stream.
class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;

    void update(std::string_view data);
    //! The digest as 64 lower-case hex digits. Call once.
    std::string hex_digest();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

std::string sha256_hex(std::string_view data);

//! Raw 32-byte HMAC-SHA256 of `data` under `key`.
std::string hmac_sha256(std::string_view key, std::string_view data);

std::string to_hex(std::string_view bytes);

//! Equal contents in time that depends only on the lengths (for comparing signatures).
bool constant_time_equal(std::string_view a, std::string_view b);

//! `n` random bytes from OpenSSL's generator, as hex.
std::string random_hex(std::size_t n);

//! RFC 3986 percent-encoding: unreserved characters (A-Z a-z 0-9 - . _ ~) stay, every other
//! byte becomes %XX with upper-case hex; '/' stays too when `keep_slash`.
std::string uri_encode(std::string_view s, bool keep_slash);

}  // namespace unidesk::storage
