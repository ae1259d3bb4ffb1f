#include "sigv4.hpp"

#include "crypto.hpp"

#include <ctime>

namespace unidesk::storage {
namespace {

std::string scope(const SigV4Credentials& creds, const std::string& amz_date) {
    return amz_date.substr(0, 8) + "/" + creds.region + "/" + creds.service + "/aws4_request";
}

std::string signed_header_names(const std::map<std::string, std::string>& headers) {
    std::string out;
    for (const auto& [name, value] : headers) {
        out += (out.empty() ? "" : ";") + name;
    }
    return out;
}

// Header values with leading and trailing blanks trimmed and inner runs of blanks folded.
std::string trimmed(const std::string& v) {
    std::string out;
    bool blank = false;
    for (char c : v) {
        if (c == ' ' || c == '\t') {
            blank = !out.empty();
            continue;
        }
        if (blank) {
            out.push_back(' ');
            blank = false;
        }
        out.push_back(c);
    }
    return out;
}

std::string canonical_request(const SigV4Request& req) {
    std::string headers;
    for (const auto& [name, value] : req.headers) {
        headers += name + ":" + trimmed(value) + "\n";
    }
    return req.method + "\n" + req.path + "\n" + canonical_query(req.query) + "\n" + headers +
           "\n" + signed_header_names(req.headers) + "\n" + req.payload_hash;
}

}  // namespace

std::string amz_date(std::chrono::system_clock::time_point t) {
    std::time_t secs = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[20];
    std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
    return buf;
}

std::string canonical_query(const std::map<std::string, std::string>& query) {
    // Sorted by the encoded name; for the names S3 uses, that is the order of the raw names.
    std::map<std::string, std::string> encoded;
    for (const auto& [name, value] : query) {
        encoded[uri_encode(name, false)] = uri_encode(value, false);
    }
    std::string out;
    for (const auto& [name, value] : encoded) {
        out += (out.empty() ? "" : "&") + name + "=" + value;
    }
    return out;
}

std::string sigv4_signature(const SigV4Credentials& creds, const SigV4Request& req,
                            const std::string& amz_date) {
    std::string to_sign = "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope(creds, amz_date) + "\n" +
                          sha256_hex(canonical_request(req));
    std::string key = hmac_sha256("AWS4" + creds.secret_key, amz_date.substr(0, 8));
    key = hmac_sha256(key, creds.region);
    key = hmac_sha256(key, creds.service);
    key = hmac_sha256(key, "aws4_request");
    return to_hex(hmac_sha256(key, to_sign));
}

std::string sigv4_authorization(const SigV4Credentials& creds, const SigV4Request& req,
                                const std::string& amz_date) {
    return "AWS4-HMAC-SHA256 Credential=" + creds.access_key + "/" + scope(creds, amz_date) +
           ",SignedHeaders=" + signed_header_names(req.headers) +
           ",Signature=" + sigv4_signature(creds, req, amz_date);
}

std::string sigv4_presign_query(const SigV4Credentials& creds, SigV4Request req,
                                std::chrono::system_clock::time_point now,
                                std::chrono::seconds expires) {
    auto date = amz_date(now);
    req.query["X-Amz-Algorithm"] = "AWS4-HMAC-SHA256";
    req.query["X-Amz-Credential"] = creds.access_key + "/" + scope(creds, date);
    req.query["X-Amz-Date"] = date;
    req.query["X-Amz-Expires"] = std::to_string(expires.count());
    req.query["X-Amz-SignedHeaders"] = signed_header_names(req.headers);
    auto signature = sigv4_signature(creds, req, date);
    return canonical_query(req.query) + "&X-Amz-Signature=" + signature;
}

}  // namespace unidesk::storage
