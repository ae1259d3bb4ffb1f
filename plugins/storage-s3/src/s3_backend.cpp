#include "s3_backend.hpp"

#include "crypto.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <ctime>
#include <mutex>

namespace unidesk::storage {
namespace {

Error unavailable(const std::string& what) {
    return make_error(Errc::unavailable, "storage_unavailable", what);
}

Error not_found(const std::string& key) {
    return make_error(Errc::not_found, "object_not_found", "no object '" + key + "'");
}

// An answer the store gave that the call did not expect, with the store's own error code.
Error store_error(const std::string& what, const S3Response& r) {
    std::string code = xml_value(r.body, "Code");
    std::string message = what + ": the store answered " + std::to_string(r.status) +
                          (code.empty() ? "" : " " + code);
    if (r.status == 403) {
        return make_error(Errc::unavailable, "storage_denied", message);
    }
    if (r.status >= 500 || r.status == 0) {
        return unavailable(message);
    }
    return make_error(Errc::internal, "storage_error", message);
}

std::string decode_entities(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '&') {
            out.push_back(s[i]);
            continue;
        }
        auto semi = s.find(';', i);
        if (semi == std::string::npos) {
            out.push_back(s[i]);
            continue;
        }
        std::string entity = s.substr(i + 1, semi - i - 1);
        if (entity == "amp") {
            out.push_back('&');
        } else if (entity == "lt") {
            out.push_back('<');
        } else if (entity == "gt") {
            out.push_back('>');
        } else if (entity == "quot") {
            out.push_back('"');
        } else if (entity == "apos") {
            out.push_back('\'');
        } else if (!entity.empty() && entity[0] == '#') {
            unsigned long cp = entity.size() > 1 && entity[1] == 'x'
                                   ? std::strtoul(entity.c_str() + 2, nullptr, 16)
                                   : std::strtoul(entity.c_str() + 1, nullptr, 10);
            // UTF-8 encoding of the code point.
            if (cp < 0x80) {
                out.push_back(static_cast<char>(cp));
            } else if (cp < 0x800) {
                out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
                out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
            } else if (cp < 0x10000) {
                out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
                out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
                out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
            } else {
                out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
                out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
                out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
                out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
            }
        } else {
            out += "&" + entity + ";";
        }
        i = semi;
    }
    return out;
}

std::string xml_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        default: out.push_back(c);
        }
    }
    return out;
}

std::string unquoted(std::string s) {
    std::erase(s, '"');
    return s;
}

// "Wed, 12 Oct 2009 17:50:00 GMT" or "2009-10-12T17:50:00.000Z"; the epoch when neither.
std::chrono::system_clock::time_point parse_time(const std::string& s) {
    std::tm tm{};
    const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == nullptr) {
        end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S", &tm);
    }
    if (end == nullptr) {
        return {};
    }
    return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::once_flag curl_once;

std::size_t collect_body(char* data, std::size_t size, std::size_t n, void* user) {
    static_cast<std::string*>(user)->append(data, size * n);
    return size * n;
}

std::size_t collect_header(char* data, std::size_t size, std::size_t n, void* user) {
    std::string line(data, size * n);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), ::tolower);
        std::string value = line.substr(colon + 1);
        auto b = value.find_first_not_of(" \t");
        auto e = value.find_last_not_of(" \t\r\n");
        (*static_cast<std::map<std::string, std::string>*>(user))[name] =
            b == std::string::npos ? "" : value.substr(b, e - b + 1);
    }
    return size * n;
}

struct Upload {
    const std::string* body;
    std::size_t offset = 0;
};

std::size_t send_body(char* out, std::size_t size, std::size_t n, void* user) {
    auto* u = static_cast<Upload*>(user);
    std::size_t len = std::min(size * n, u->body->size() - u->offset);
    std::copy_n(u->body->data() + u->offset, len, out);
    u->offset += len;
    return len;
}

bool valid_bucket(const std::string& b) {
    return b.size() >= 3 && b.size() <= 63 &&
           b.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-") == std::string::npos;
}

}  // namespace

std::string xml_value(const std::string& xml, const std::string& name, std::size_t from) {
    auto open = xml.find("<" + name + ">", from);
    if (open == std::string::npos) {
        return {};
    }
    open += name.size() + 2;
    auto close = xml.find("</" + name + ">", open);
    if (close == std::string::npos) {
        return {};
    }
    return decode_entities(xml.substr(open, close - open));
}

S3Backend::S3Backend(S3Options options, Clock& clock)
    : options_(std::move(options)), clock_(clock) {
    creds_.access_key = options_.access_key;
    creds_.secret_key = options_.secret_key;
    creds_.region = options_.region;
}

Result<std::shared_ptr<S3Backend>> S3Backend::make(S3Options options, Clock& clock) {
    auto bad = [](const std::string& m) {
        return make_error(Errc::invalid_argument, "config_invalid", "storage-s3: " + m);
    };
    for (auto* e : {&options.endpoint, &options.public_endpoint}) {
        while (!e->empty() && e->back() == '/') {
            e->pop_back();
        }
    }
    if (options.public_endpoint.empty()) {
        options.public_endpoint = options.endpoint;
    }
    for (const auto& e : {options.endpoint, options.public_endpoint}) {
        if (e.rfind("http://", 0) != 0 && e.rfind("https://", 0) != 0) {
            return bad("an endpoint must start with http:// or https://, got '" + e + "'");
        }
    }
    if (!valid_bucket(options.bucket)) {
        return bad("bucket must be 3 to 63 lower-case letters, digits, '.' or '-'");
    }
    if (options.access_key.empty() || options.secret_key.empty()) {
        return bad("access_key and secret_key must be set");
    }
    std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    return std::shared_ptr<S3Backend>(new S3Backend(std::move(options), clock));
}

S3Backend::Target S3Backend::target(const std::string& endpoint, const std::string& key) const {
    auto scheme_end = endpoint.find("://") + 3;
    std::string scheme = endpoint.substr(0, scheme_end);
    std::string host = endpoint.substr(scheme_end);
    auto slash = host.find('/');
    std::string base_path;
    if (slash != std::string::npos) {
        base_path = host.substr(slash);
        host = host.substr(0, slash);
    }
    std::string encoded_key = key.empty() ? "" : uri_encode(key, true);
    Target t;
    if (options_.path_style) {
        t.host = host;
        t.path = base_path + "/" + options_.bucket + (key.empty() ? "" : "/" + encoded_key);
    } else {
        t.host = options_.bucket + "." + host;
        t.path = base_path + "/" + encoded_key;
    }
    t.scheme_host = scheme + t.host;
    return t;
}

Result<S3Response> S3Backend::call(const std::string& method, const std::string& key,
                                   const std::map<std::string, std::string>& query,
                                   const std::string& body,
                                   std::map<std::string, std::string> extra_headers,
                                   int timeout_ms) {
    auto t = target(options_.endpoint, key);
    SigV4Request req;
    req.method = method;
    req.path = t.path;
    req.query = query;
    req.payload_hash = sha256_hex(body);
    auto date = amz_date(clock_.now());
    req.headers = std::move(extra_headers);
    req.headers["host"] = t.host;
    req.headers["x-amz-date"] = date;
    req.headers["x-amz-content-sha256"] = req.payload_hash;
    std::string authorization = sigv4_authorization(creds_, req, date);

    std::string url = t.scheme_host + t.path;
    if (auto q = canonical_query(query); !q.empty()) {
        url += "?" + q;
    }
    std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
    curl_slist* list = nullptr;
    for (const auto& [name, value] : req.headers) {
        if (name != "host") {
            list = curl_slist_append(list, (name + ": " + value).c_str());
        }
    }
    list = curl_slist_append(list, ("Authorization: " + authorization).c_str());
    list = curl_slist_append(list, "Expect:");
    std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers(list, curl_slist_free_all);

    S3Response response;
    Upload upload{&body};
    CURL* h = curl.get();
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(timeout_ms > 0 ? timeout_ms : options_.timeout_ms));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &response.body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, collect_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &response.headers);
    if (method == "HEAD") {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (method == "PUT" || method == "POST") {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, send_body);
        curl_easy_setopt(h, CURLOPT_READDATA, &upload);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body.size()));
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
    } else if (method != "GET") {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
    }
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        return unavailable("cannot reach the store at " + options_.endpoint + ": " +
                           curl_easy_strerror(rc));
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
    return response;
}

HealthReport S3Backend::health() {
    auto r = call("HEAD", "", {}, "", {}, 1000);
    if (!r) {
        return {HealthState::down, r.error().message};
    }
    if (r->status != 200) {
        return {HealthState::down,
                "bucket " + options_.bucket + ": the store answered " + std::to_string(r->status)};
    }
    return {};
}

Result<PresignedUrl> S3Backend::presign_with(StorageMethod method, const std::string& key,
                                             std::map<std::string, std::string> query,
                                             std::chrono::seconds lifetime) {
    if (auto r = require_storage_key(key); !r) {
        return r.error();
    }
    if (lifetime.count() < 1 || lifetime.count() > 7 * 24 * 3600) {
        return make_error(Errc::invalid_argument, "invalid_lifetime", "a URL lives 1 s to 7 days");
    }
    auto t = target(options_.public_endpoint, key);
    SigV4Request req;
    req.method = to_string(method);
    req.path = t.path;
    req.query = std::move(query);
    req.headers["host"] = t.host;
    auto now = std::chrono::time_point_cast<std::chrono::seconds>(clock_.now());
    PresignedUrl out;
    out.method = req.method;
    out.url = t.scheme_host + t.path + "?" + sigv4_presign_query(creds_, req, now, lifetime);
    out.expires_at = now + lifetime;
    return out;
}

Result<PresignedUrl> S3Backend::presign(StorageMethod method, const std::string& key,
                                        std::chrono::seconds lifetime) {
    return presign_with(method, key, {}, lifetime);
}

Result<std::string> S3Backend::start_multipart(const std::string& key) {
    if (auto r = require_storage_key(key); !r) {
        return r.error();
    }
    auto r = call("POST", key, {{"uploads", ""}}, "");
    if (!r) {
        return r.error();
    }
    auto id = xml_value(r->body, "UploadId");
    if (r->status != 200 || id.empty()) {
        return store_error("cannot start an upload of " + key, *r);
    }
    return id;
}

Result<PresignedUrl> S3Backend::presign_part(const std::string& key, const std::string& upload_id,
                                             int number, std::chrono::seconds lifetime) {
    if (number < 1 || number > kMaxParts) {
        return make_error(Errc::invalid_argument, "invalid_part", "a part number is 1 to 10000");
    }
    if (upload_id.empty()) {
        return make_error(Errc::not_found, "upload_not_found", "no upload ''");
    }
    return presign_with(StorageMethod::put, key,
                        {{"partNumber", std::to_string(number)}, {"uploadId", upload_id}},
                        lifetime);
}

Result<ObjectInfo> S3Backend::complete_multipart(const std::string& key,
                                                 const std::string& upload_id,
                                                 const std::vector<UploadedPart>& parts) {
    if (auto r = require_storage_key(key); !r) {
        return r.error();
    }
    std::string xml = "<CompleteMultipartUpload>";
    for (const auto& p : parts) {
        xml += "<Part><PartNumber>" + std::to_string(p.number) + "</PartNumber><ETag>\"" +
               xml_escape(unquoted(p.etag)) + "\"</ETag></Part>";
    }
    xml += "</CompleteMultipartUpload>";
    auto r = call("POST", key, {{"uploadId", upload_id}}, xml);
    if (!r) {
        return r.error();
    }
    // The store may answer 200 and still report an error in the body.
    auto code = xml_value(r->body, "Code");
    if (r->status == 404 || code == "NoSuchUpload") {
        return make_error(Errc::not_found, "upload_not_found", "no upload '" + upload_id + "'");
    }
    if (code == "InvalidPart" || code == "InvalidPartOrder" || code == "EntityTooSmall") {
        return make_error(Errc::invalid_argument, "invalid_part",
                          "the store refused the parts: " + code);
    }
    if (r->status != 200 || !code.empty()) {
        return store_error("cannot complete the upload of " + key, *r);
    }
    return stat(key);
}

Result<void> S3Backend::abort_multipart(const std::string& key, const std::string& upload_id) {
    auto r = call("DELETE", key, {{"uploadId", upload_id}}, "");
    if (!r) {
        return r.error();
    }
    if (r->status == 404) {
        return make_error(Errc::not_found, "upload_not_found", "no upload '" + upload_id + "'");
    }
    if (r->status != 204 && r->status != 200) {
        return store_error("cannot abort upload " + upload_id, *r);
    }
    return {};
}

Result<ObjectInfo> S3Backend::stat(const std::string& key) {
    if (auto r = require_storage_key(key); !r) {
        return r.error();
    }
    auto r = call("HEAD", key, {}, "");
    if (!r) {
        return r.error();
    }
    if (r->status == 404) {
        return not_found(key);
    }
    if (r->status != 200) {
        return store_error("cannot stat " + key, *r);
    }
    ObjectInfo info;
    info.key = key;
    info.size = std::strtoull(r->headers["content-length"].c_str(), nullptr, 10);
    info.etag = unquoted(r->headers["etag"]);
    // TODO: objects uploaded through presigned URLs carry no SHA-256 (the URL is signed before
    // the content exists), so nodes can check only their size; the store's ETag is an MD5 or,
    // for multipart objects, a digest of digests.
    info.sha256 = r->headers["x-amz-meta-sha256"];
    info.modified = parse_time(r->headers["last-modified"]);
    return info;
}

Result<ObjectPage> S3Backend::list(const std::string& prefix, const std::string& after, int limit) {
    limit = std::clamp(limit, 1, 1000);
    std::map<std::string, std::string> query{{"list-type", "2"},
                                             {"max-keys", std::to_string(limit)}};
    if (!prefix.empty()) {
        query["prefix"] = prefix;
    }
    if (!after.empty()) {
        query["start-after"] = after;
    }
    auto r = call("GET", "", query, "");
    if (!r) {
        return r.error();
    }
    if (r->status != 200) {
        return store_error("cannot list " + prefix, *r);
    }
    ObjectPage page;
    for (std::size_t at = r->body.find("<Contents>"); at != std::string::npos;
         at = r->body.find("<Contents>", at + 1)) {
        auto end = r->body.find("</Contents>", at);
        std::string block = r->body.substr(at, end == std::string::npos ? end : end - at);
        ObjectInfo info;
        info.key = xml_value(block, "Key");
        info.size = std::strtoull(xml_value(block, "Size").c_str(), nullptr, 10);
        info.etag = unquoted(xml_value(block, "ETag"));
        info.modified = parse_time(xml_value(block, "LastModified"));
        page.objects.push_back(std::move(info));
    }
    if (xml_value(r->body, "IsTruncated") == "true" && !page.objects.empty()) {
        page.next = page.objects.back().key;
    }
    return page;
}

Result<void> S3Backend::remove(const std::string& key) {
    if (auto r = require_storage_key(key); !r) {
        return r.error();
    }
    auto r = call("DELETE", key, {}, "");
    if (!r) {
        return r.error();
    }
    if (r->status != 204 && r->status != 200 && r->status != 404) {
        return store_error("cannot delete " + key, *r);
    }
    return {};
}

Result<ObjectInfo> S3Backend::put_small(const std::string& key, std::string_view content) {
    if (auto r = require_storage_key(key); !r) {
        return r.error();
    }
    std::string body(content);
    auto sha = sha256_hex(body);
    auto r = call("PUT", key, {}, body, {{"x-amz-meta-sha256", sha}});
    if (!r) {
        return r.error();
    }
    if (r->status != 200) {
        return store_error("cannot write " + key, *r);
    }
    ObjectInfo info;
    info.key = key;
    info.size = body.size();
    info.sha256 = sha;
    info.etag = unquoted(r->headers["etag"]);
    info.modified = clock_.now();
    return info;
}

Result<void> S3Backend::create_bucket() {
    auto r = call("PUT", "", {}, "");
    if (!r) {
        return r.error();
    }
    if (r->status != 200 && xml_value(r->body, "Code") != "BucketAlreadyOwnedByYou") {
        return store_error("cannot create bucket " + options_.bucket, *r);
    }
    return {};
}

}  // namespace unidesk::storage
