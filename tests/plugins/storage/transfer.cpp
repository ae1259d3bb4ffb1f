#include "transfer.hpp"

#include "crypto.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>

namespace unidesk::test {
namespace {

// splitmix64 of the 8-byte block number: any block can be made without the ones before it.
std::uint64_t block(std::uint64_t seed, std::uint64_t index) {
    std::uint64_t z = seed * 0x9e3779b97f4a7c15ull + index + 1;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

struct Generator {
    std::uint64_t seed;
    std::uint64_t offset = 0;
    std::uint64_t end;
    std::uint64_t cut;
};

std::size_t read_generated(char* out, std::size_t size, std::size_t n, void* user) {
    auto* g = static_cast<Generator*>(user);
    if (g->offset >= g->cut && g->cut < g->end) {
        return CURL_READFUNC_ABORT;
    }
    auto want = static_cast<std::size_t>(
        std::min<std::uint64_t>(size * n, std::min(g->end, g->cut) - g->offset));
    auto bytes = generated(g->seed, g->offset, want);
    std::memcpy(out, bytes.data(), want);
    g->offset += want;
    return want;
}

struct Sink {
    TransferResult* result;
    storage::Sha256 hash;
};

std::size_t write_body(char* data, std::size_t size, std::size_t n, void* user) {
    auto* s = static_cast<Sink*>(user);
    std::string_view piece(data, size * n);
    s->hash.update(piece);
    s->result->bytes += piece.size();
    if (s->result->body.size() < 16 * 1024 * 1024) {
        s->result->body.append(piece.substr(0, 16 * 1024 * 1024 - s->result->body.size()));
    }
    return size * n;
}

std::size_t write_header(char* data, std::size_t size, std::size_t n, void* user) {
    std::string line(data, size * n);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), ::tolower);
        auto value = line.substr(colon + 1);
        auto b = value.find_first_not_of(" \t");
        auto e = value.find_last_not_of(" \t\r\n");
        (*static_cast<std::map<std::string, std::string>*>(user))[name] =
            b == std::string::npos ? "" : value.substr(b, e - b + 1);
    }
    return size * n;
}

struct Body {
    const std::string* data;
    std::size_t offset = 0;
};

std::size_t read_body(char* out, std::size_t size, std::size_t n, void* user) {
    auto* b = static_cast<Body*>(user);
    std::size_t len = std::min(size * n, b->data->size() - b->offset);
    std::memcpy(out, b->data->data() + b->offset, len);
    b->offset += len;
    return len;
}

TransferResult perform(CURL* h) {
    TransferResult result;
    Sink sink{&result, {}};
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, write_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &result.headers);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 600L);
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        result.error = curl_easy_strerror(rc);
        return result;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &result.status);
    result.sha256 = sink.hash.hex_digest();
    return result;
}

}  // namespace

std::string generated(std::uint64_t seed, std::uint64_t offset, std::size_t n) {
    std::string out(n, '\0');
    std::size_t i = 0;
    while (i < n) {
        std::uint64_t index = (offset + i) / 8;
        std::uint64_t v = block(seed, index);
        auto skip = static_cast<std::size_t>((offset + i) % 8);
        std::size_t take = std::min<std::size_t>(8 - skip, n - i);
        std::memcpy(out.data() + i, reinterpret_cast<const char*>(&v) + skip, take);
        i += take;
    }
    return out;
}

std::string generated_sha256(std::uint64_t seed, std::uint64_t size) {
    storage::Sha256 hash;
    for (std::uint64_t at = 0; at < size; at += 1 << 20) {
        auto n = static_cast<std::size_t>(std::min<std::uint64_t>(1 << 20, size - at));
        hash.update(generated(seed, at, n));
    }
    return hash.hex_digest();
}

TransferResult put_generated(const std::string& url, std::uint64_t seed, std::uint64_t size,
                             std::optional<std::uint64_t> cut_after) {
    std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
    Generator g{seed, 0, size, cut_after.value_or(size)};
    curl_slist* list = curl_slist_append(nullptr, "Expect:");
    list = curl_slist_append(list, "Content-Type: application/octet-stream");
    std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers(list, curl_slist_free_all);
    CURL* h = curl.get();
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_generated);
    curl_easy_setopt(h, CURLOPT_READDATA, &g);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(size));
    return perform(h);
}

TransferResult request_url(const std::string& method, const std::string& url,
                           const std::string& body, const std::string& range) {
    std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
    CURL* h = curl.get();
    curl_slist* list = curl_slist_append(nullptr, "Expect:");
    if (method == "PUT") {
        list = curl_slist_append(list, "Content-Type: application/octet-stream");
    }
    std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers(list, curl_slist_free_all);
    Body b{&body};
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    if (!range.empty()) {
        curl_easy_setopt(h, CURLOPT_RANGE, range.c_str());
    }
    if (method == "PUT") {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, read_body);
        curl_easy_setopt(h, CURLOPT_READDATA, &b);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body.size()));
    } else if (method == "HEAD") {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (method != "GET") {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
    }
    return perform(h);
}

}  // namespace unidesk::test
