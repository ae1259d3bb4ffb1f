#pragma once

// AWS Signature Version 4 for S3: the canonical request, the string to sign, the derived
// signing key, and the two ways of carrying a signature (an Authorization header for the
// server's own calls, query parameters for presigned URLs). Plain functions of their inputs,
// so that the tests can check them against published examples.

#include <chrono>
#include <map>
#include <string>

namespace unidesk::storage {

struct SigV4Credentials {
    std::string access_key;
    std::string secret_key;
    std::string region;
    std::string service = "s3";
};

//! One request to sign. `path` is already URI-encoded (each segment, '/' kept); `query` and
//! `headers` are raw (headers by lower-case name, and must include "host").
struct SigV4Request {
    std::string method;
    std::string path;
    std::map<std::string, std::string> query;
    std::map<std::string, std::string> headers;
    std::string payload_hash = "UNSIGNED-PAYLOAD";
};

//! "20130524T000000Z" for a time.
std::string amz_date(std::chrono::system_clock::time_point t);

//! The canonical query string: each name and value encoded, sorted by name.
std::string canonical_query(const std::map<std::string, std::string>& query);

//! The hex signature of `req` at `amz_date` (the X-Amz-Date value).
std::string sigv4_signature(const SigV4Credentials& creds, const SigV4Request& req,
                            const std::string& amz_date);

//! The Authorization header value; `req.headers` must already hold x-amz-date and
//! x-amz-content-sha256 (= payload_hash).
std::string sigv4_authorization(const SigV4Credentials& creds, const SigV4Request& req,
                                const std::string& amz_date);

//! The query string of a presigned URL for `req` (whose query may hold partNumber, uploadId
//! ...), valid `expires` seconds from `now`: the request's own parameters, the X-Amz-*
//! parameters and X-Amz-Signature, ready to follow a '?'.
std::string sigv4_presign_query(const SigV4Credentials& creds, SigV4Request req,
                                std::chrono::system_clock::time_point now,
                                std::chrono::seconds expires);

}  // namespace unidesk::storage
