#include "task_files.hpp"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <nlohmann/json.hpp>

#include <strings.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <thread>

namespace unidesk::agent {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A file larger than this goes up in parts of this size (grown so that 10000 hold the file).
constexpr std::uint64_t kPartBytes = 64ull * 1024 * 1024;

struct CurlDeleter {
    void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
    void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};

struct Hash {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    Hash() { EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr); }
    ~Hash() { EVP_MD_CTX_free(ctx); }
    Hash(const Hash&) = delete;
    Hash& operator=(const Hash&) = delete;
    std::string hex() {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        EVP_DigestFinal_ex(ctx, md, &len);
        std::string out;
        char buf[3];
        for (unsigned int i = 0; i < len; ++i) {
            std::snprintf(buf, sizeof buf, "%02x", md[i]);
            out += buf;
        }
        return out;
    }
};

struct Download {
    std::ofstream* out;
    Hash* hash;
    std::uint64_t bytes = 0;
    CURL* curl;
};

std::size_t write_download(char* data, std::size_t size, std::size_t n, void* user) {
    auto* d = static_cast<Download*>(user);
    long status = 0;
    curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status >= 300) {
        return size * n;  // an error page, not content
    }
    d->out->write(data, static_cast<std::streamsize>(size * n));
    EVP_DigestUpdate(d->hash->ctx, data, size * n);
    d->bytes += size * n;
    return d->out->good() ? size * n : 0;
}

std::size_t collect(char* data, std::size_t size, std::size_t n, void* user) {
    static_cast<std::string*>(user)->append(data, size * n);
    return size * n;
}

// One try: the HTTP status, or 0 with `error` set when no answer came.
struct Try {
    long status = 0;
    std::string error;
};

void common_options(CURL* h) {
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 15L);
    // A transfer slower than 1 KiB/s for a minute has stalled.
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
}

Try finish(CURL* h, CURLcode rc) {
    Try t;
    if (rc != CURLE_OK) {
        t.error = curl_easy_strerror(rc);
        return t;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &t.status);
    return t;
}

// Runs `attempt` up to three times while it fails for a reason worth another try.
// TODO: each try starts the transfer again from its first byte; a large input on a flaky link
// may never arrive whole, where a ranged download resuming at the break would.
Result<void> with_retries(const std::string& what, const FileLog& log,
                          const std::function<Result<void>(bool& retry)>& attempt) {
    const std::chrono::seconds waits[] = {std::chrono::seconds(1), std::chrono::seconds(4)};
    for (int i = 0;; ++i) {
        bool retry = false;
        auto r = attempt(retry);
        if (r || !retry || i == 2) {
            return r;
        }
        log(what + " failed (" + r.error().message + "); trying again\n");
        std::this_thread::sleep_for(waits[i]);
    }
}

// Inside the workspace, with no ".." or absolute part (the server checks too).
Result<fs::path> inside(const fs::path& workspace, const std::string& relative, const char* code) {
    fs::path p(relative);
    if (relative.empty() || p.is_absolute()) {
        return make_error(Errc::invalid_argument, code, "path '" + relative + "' is not relative");
    }
    for (const auto& part : p) {
        if (part == ".." || part == ".") {
            return make_error(Errc::invalid_argument, code,
                              "path '" + relative + "' leaves the workspace");
        }
    }
    return workspace / p;
}

Error fetch_error(const std::string& m) {
    return make_error(Errc::unavailable, "input_fetch_failed", m);
}

Error upload_error(const std::string& m) {
    return make_error(Errc::unavailable, "output_upload_failed", m);
}

Result<void> fetch_one(const protocol::TaskInput& in, const fs::path& target) {
    auto partial = target;
    partial += ".unidesk-part";
    std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
    Hash hash;
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    if (!out) {
        return make_error(Errc::invalid_argument, "input_fetch_failed",
                          "cannot write " + partial.string());
    }
    Download d{&out, &hash, 0, curl.get()};
    CURL* h = curl.get();
    common_options(h);
    curl_easy_setopt(h, CURLOPT_URL, in.url.c_str());
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_download);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &d);
    auto t = finish(h, curl_easy_perform(h));
    out.close();
    std::error_code ec;
    if (t.status != 200 || d.bytes != in.size) {
        fs::remove(partial, ec);
        return fetch_error(in.key + ": " +
                           (t.status == 0 ? t.error
                                          : "HTTP " + std::to_string(t.status) + " after " +
                                                std::to_string(d.bytes) + " of " +
                                                std::to_string(in.size) + " bytes"));
    }
    if (!in.sha256.empty() && hash.hex() != in.sha256) {
        fs::remove(partial, ec);
        return fetch_error(in.key + ": the SHA-256 of the download differs from the stored one");
    }
    fs::rename(partial, target, ec);
    if (ec) {
        return fetch_error("cannot move " + in.key + " into place: " + ec.message());
    }
    return {};
}

// POSTs a JSON body to the attempt's capability URL; the answer's JSON.
Result<json> capability_call(const std::string& capability, const json& request) {
    std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
    std::unique_ptr<curl_slist, CurlDeleter> headers(
        curl_slist_append(nullptr, "Content-Type: application/json"));
    const std::string body = request.dump();
    std::string answer;
    CURL* h = curl.get();
    common_options(h);
    curl_easy_setopt(h, CURLOPT_URL, capability.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer);
    auto t = finish(h, curl_easy_perform(h));
    if (t.status != 200) {
        return upload_error(
            "the server's capability URL: " +
            (t.status == 0 ? t.error
                           : "HTTP " + std::to_string(t.status) + " " + answer.substr(0, 200)));
    }
    auto j = json::parse(answer, nullptr, false);
    if (!j.is_object()) {
        return upload_error("the server's capability URL answered something that is not JSON");
    }
    return ok_value(std::move(j));
}

Result<json> ask_urls(const std::string& capability, const std::vector<std::string>& files) {
    auto j = capability_call(capability, json{{"files", files}});
    if (!j) {
        return j.error();
    }
    if (!j->contains("urls") || !(*j)["urls"].is_array() || (*j)["urls"].size() != files.size()) {
        return upload_error("the server's answer for upload URLs has an odd shape");
    }
    return ok_value(std::move((*j)["urls"]));
}

struct Range {
    std::ifstream* in;
    std::uint64_t left;
};

std::size_t read_range(char* out, std::size_t size, std::size_t n, void* user) {
    auto* r = static_cast<Range*>(user);
    auto want = static_cast<std::streamsize>(std::min<std::uint64_t>(size * n, r->left));
    r->in->read(out, want);
    auto got = static_cast<std::size_t>(r->in->gcount());
    r->left -= got;
    return got;
}

std::size_t etag_header(char* data, std::size_t size, std::size_t n, void* user) {
    std::string line(data, size * n);
    if (line.size() > 5 && strncasecmp(line.c_str(), "etag:", 5) == 0) {
        std::string out;
        for (char c : line.substr(5)) {
            if (c != '"' && c != ' ' && c != '\r' && c != '\n') {
                out.push_back(c);
            }
        }
        *static_cast<std::string*>(user) = out;
    }
    return size * n;
}

// PUTs `length` bytes of `file` from `offset`; the store's ETag lands in `etag`.
Try put_file(const std::string& url, const fs::path& file, std::uint64_t offset,
             std::uint64_t length, std::string* etag = nullptr) {
    std::ifstream in(file, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(offset));
    Range range{&in, length};
    std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
    std::unique_ptr<curl_slist, CurlDeleter> headers(curl_slist_append(
        curl_slist_append(nullptr, "Expect:"), "Content-Type: application/octet-stream"));
    std::string answer;
    std::string tag;
    CURL* h = curl.get();
    common_options(h);
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_range);
    curl_easy_setopt(h, CURLOPT_READDATA, &range);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(length));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, etag_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &tag);
    auto t = finish(h, curl_easy_perform(h));
    if (etag != nullptr) {
        *etag = tag;
    }
    return t;
}

Result<void> put_with_retries(const std::string& what, const FileLog& log,
                              const std::function<Try()>& put) {
    return with_retries(what, log, [&](bool& retry) -> Result<void> {
        auto t = put();
        if (t.status >= 200 && t.status < 300) {
            return {};
        }
        retry = t.status == 0 || t.status >= 500;
        return upload_error(what + ": " +
                            (t.status == 0 ? t.error : "HTTP " + std::to_string(t.status)));
    });
}

// A large file in parts, each part's URL asked for just before it is sent.
Result<void> upload_in_parts(const std::string& capability, const std::string& rel,
                             const fs::path& file, std::uint64_t size, const FileLog& log) {
    auto started = capability_call(capability, {{"multipart", "start"}, {"file", rel}});
    if (!started) {
        return started.error();
    }
    const std::string upload_id = started->value("upload_id", "");
    const std::uint64_t part_size = std::max(kPartBytes, (size + 9999) / 10000);
    json parts = json::array();
    int number = 1;
    for (std::uint64_t offset = 0; offset < size; offset += part_size, ++number) {
        const std::uint64_t length = std::min(part_size, size - offset);
        std::string etag;
        auto sent =
            put_with_retries("part " + std::to_string(number) + " of " + rel, log, [&]() -> Try {
                json ask = {{"multipart", "part"},
                            {"file", rel},
                            {"upload_id", upload_id},
                            {"part", number}};
                auto url = capability_call(capability, ask);
                if (!url) {
                    Try t;
                    t.error = url.error().message;
                    return t;
                }
                return put_file(url->value("url", ""), file, offset, length, &etag);
            });
        if (!sent) {
            capability_call(capability,
                            {{"multipart", "abort"}, {"file", rel}, {"upload_id", upload_id}});
            return sent.error();
        }
        parts.push_back({{"number", number}, {"etag", etag}});
    }
    json complete = {
        {"multipart", "complete"}, {"file", rel}, {"upload_id", upload_id}, {"parts", parts}};
    auto done = capability_call(capability, complete);
    if (!done) {
        return done.error();
    }
    log("uploaded " + rel + " in " + std::to_string(parts.size()) + " parts\n");
    return {};
}

}  // namespace

Result<void> fetch_inputs(const std::vector<protocol::TaskInput>& inputs, const fs::path& workspace,
                          const FileLog& log) {
    for (const auto& in : inputs) {
        auto target = inside(workspace, in.path, "input_fetch_failed");
        if (!target) {
            return target.error();
        }
        std::error_code ec;
        fs::create_directories(target->parent_path(), ec);
        auto r = with_retries("download of " + in.key, log, [&](bool& retry) -> Result<void> {
            auto got = fetch_one(in, *target);
            // Network errors and a store that is down or busy are worth another try; a
            // refusal (403, 404) or a wrong checksum is not.
            retry = !got && (got.error().message.find("HTTP ") == std::string::npos ||
                             got.error().message.find("HTTP 5") != std::string::npos);
            return got;
        });
        if (!r) {
            return r.error();
        }
        log("fetched " + in.key + " to " + in.path + " (" + std::to_string(in.size) + " bytes)\n");
    }
    return {};
}

Result<std::vector<std::string>> upload_outputs(const std::vector<protocol::TaskOutput>& outputs,
                                                const fs::path& workspace, const FileLog& log) {
    std::vector<std::string> keys;
    for (const auto& out : outputs) {
        auto folder = inside(workspace, out.path, "output_upload_failed");
        if (!folder) {
            return folder.error();
        }
        std::error_code ec;
        if (!fs::is_directory(*folder, ec)) {
            log("output folder " + out.path + " does not exist; nothing to upload\n");
            continue;
        }
        std::vector<std::string> files;
        std::size_t in_parts = 0;
        for (auto it = fs::recursive_directory_iterator(*folder, ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            if (it->is_symlink(ec) || !it->is_regular_file(ec)) {
                continue;
            }
            const auto rel = fs::relative(it->path(), *folder, ec).generic_string();
            const auto size = it->file_size(ec);
            if (size <= kPartBytes) {
                files.push_back(rel);
                continue;
            }
            if (auto r = upload_in_parts(out.upload_url, rel, it->path(), size, log); !r) {
                return r.error();
            }
            keys.push_back(out.prefix + rel);
            ++in_parts;
        }
        for (std::size_t start = 0; start < files.size(); start += 1000) {
            std::vector<std::string> batch(
                files.begin() + static_cast<std::ptrdiff_t>(start),
                files.begin() + static_cast<std::ptrdiff_t>(std::min(files.size(), start + 1000)));
            Result<json> urls = upload_error("not asked");
            auto asked = with_retries("asking for upload URLs", log, [&](bool& retry) {
                urls = ask_urls(out.upload_url, batch);
                retry = !urls && urls.error().message.find("HTTP ") == std::string::npos;
                return urls ? Result<void>() : Result<void>(urls.error());
            });
            if (!asked) {
                return asked.error();
            }
            for (const auto& u : *urls) {
                const std::string path = u.value("path", "");
                const std::string key = u.value("key", "");
                auto sent = put_with_retries("upload of " + path, log, [&] {
                    const auto file = *folder / path;
                    std::error_code size_ec;
                    return put_file(u.value("url", ""), file, 0, fs::file_size(file, size_ec));
                });
                if (!sent) {
                    return sent.error();
                }
                keys.push_back(key);
            }
        }
        log("uploaded " + std::to_string(files.size() + in_parts) + " files from " + out.path +
            " to " + out.prefix + "\n");
    }
    return keys;
}

}  // namespace unidesk::agent
