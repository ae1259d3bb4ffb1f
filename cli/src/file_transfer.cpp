#include "file_transfer.hpp"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <strings.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

namespace unidesk::cli {
namespace {

struct CurlDeleter {
    void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
    void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};

std::string human(double bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) {
        bytes /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
    return buf;
}

class Hasher {
public:
    Hasher() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
    ~Hasher() { EVP_MD_CTX_free(ctx_); }
    Hasher(const Hasher&) = delete;
    Hasher& operator=(const Hasher&) = delete;
    void update(const char* data, std::size_t n) { EVP_DigestUpdate(ctx_, data, n); }
    std::string hex() {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        EVP_DigestFinal_ex(ctx_, md, &len);
        std::string out;
        char buf[3];
        for (unsigned int i = 0; i < len; ++i) {
            std::snprintf(buf, sizeof buf, "%02x", md[i]);
            out += buf;
        }
        return out;
    }

private:
    EVP_MD_CTX* ctx_;
};

struct ProgressHook {
    Progress* progress;
    std::uint64_t base;
};

int on_progress(void* user, curl_off_t, curl_off_t now_down, curl_off_t, curl_off_t now_up) {
    auto* hook = static_cast<ProgressHook*>(user);
    hook->progress->update(hook->base + static_cast<std::uint64_t>(now_down + now_up));
    return 0;
}

struct Source {
    std::ifstream* in;
    std::uint64_t left;
};

std::size_t read_file(char* out, std::size_t size, std::size_t n, void* user) {
    auto* s = static_cast<Source*>(user);
    auto want = static_cast<std::streamsize>(std::min<std::uint64_t>(size * n, s->left));
    s->in->read(out, want);
    auto got = static_cast<std::size_t>(s->in->gcount());
    if (got == 0 && want > 0) {
        return CURL_READFUNC_ABORT;
    }
    s->left -= got;
    return got;
}

struct Sink {
    std::ofstream* out;
    Hasher* hash;
    std::uint64_t bytes = 0;
    std::string error_body;
    long status = 0;
    CURL* curl;
};

std::size_t write_file(char* data, std::size_t size, std::size_t n, void* user) {
    auto* s = static_cast<Sink*>(user);
    if (s->status == 0) {
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
    }
    if (s->status < 200 || s->status >= 300) {
        s->error_body.append(data, std::min<std::size_t>(size * n, 4096));
        return size * n;
    }
    s->out->write(data, static_cast<std::streamsize>(size * n));
    s->hash->update(data, size * n);
    s->bytes += size * n;
    return s->out->good() ? size * n : 0;
}

std::size_t collect(char* data, std::size_t size, std::size_t n, void* user) {
    static_cast<std::string*>(user)->append(data, size * n);
    return size * n;
}

std::size_t etag_header(char* data, std::size_t size, std::size_t n, void* user) {
    std::string line(data, size * n);
    if (line.size() > 5 && strncasecmp(line.c_str(), "etag:", 5) == 0) {
        std::string v = line.substr(5);
        std::string out;
        for (char c : v) {
            if (c != '"' && c != ' ' && c != '\r' && c != '\n') {
                out.push_back(c);
            }
        }
        *static_cast<std::string*>(user) = out;
    }
    return size * n;
}

Error transfer_error(const std::string& what) {
    return make_error(Errc::unavailable, "transfer_failed", what);
}

// What every transfer sets: the URL, progress reports, a connect deadline, a stall limit (under
// 1 KiB/s for a minute is a failed transfer) and, when given, a rate cap.
void set_common(CURL* h, const std::string& url, ProgressHook& hook, CURLoption rate_option,
                std::uint64_t max_rate) {
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &hook);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    if (max_rate > 0) {
        curl_easy_setopt(h, rate_option, static_cast<curl_off_t>(max_rate));
    }
}

// Runs the transfer: an error for a network failure or an answer other than 2xx.
Result<void> perform(CURL* h, const std::string& what, const std::string& error_body) {
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        return transfer_error(what + " failed: " + curl_easy_strerror(rc));
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status >= 300) {
        return transfer_error("the store answered HTTP " + std::to_string(status) + ": " +
                              error_body.substr(0, 300));
    }
    return {};
}

}  // namespace

Progress::Progress(bool enabled, std::uint64_t total, std::uint64_t already)
    : enabled_(enabled),
      total_(total),
      already_(already),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

std::string Progress::line(std::uint64_t done, std::uint64_t total, double rate) {
    std::string out = human(static_cast<double>(done)) + " / " + human(static_cast<double>(total)) +
                      "  " + human(rate) + "/s";
    if (rate > 0 && done < total) {
        auto secs = static_cast<long>(static_cast<double>(total - done) / rate);
        char buf[32];
        std::snprintf(buf, sizeof buf, "  %ld:%02ld left", secs / 60, secs % 60);
        out += buf;
    }
    return out;
}

void Progress::update(std::uint64_t done) {
    auto now = std::chrono::steady_clock::now();
    if (!enabled_ || (now - last_ < std::chrono::milliseconds(250) && done < total_)) {
        return;
    }
    last_ = now;
    double secs = std::chrono::duration<double>(now - start_).count();
    double rate = secs > 0 ? static_cast<double>(done - std::min(done, already_)) / secs : 0;
    std::cerr << "\r" << line(done, total_, rate) << "\033[K" << std::flush;
    shown_ = true;
}

void Progress::finish() {
    if (enabled_ && shown_) {
        update(total_);
        std::cerr << "\n";
    }
}

Result<Sent> put_file_range(const std::string& url, const std::filesystem::path& file,
                            std::uint64_t offset, std::uint64_t length, Progress& progress,
                            std::uint64_t progress_base, std::uint64_t max_rate) {
    std::ifstream in(file, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(offset));
    if (!in) {
        return make_error(Errc::invalid_argument, "file_unreadable",
                          "cannot read " + file.string());
    }
    std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
    std::unique_ptr<curl_slist, CurlDeleter> headers(curl_slist_append(
        curl_slist_append(nullptr, "Expect:"), "Content-Type: application/octet-stream"));
    Source source{&in, length};
    ProgressHook hook{&progress, progress_base};
    std::string body;
    Sent sent;
    CURL* h = curl.get();
    set_common(h, url, hook, CURLOPT_MAX_SEND_SPEED_LARGE, max_rate);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_file);
    curl_easy_setopt(h, CURLOPT_READDATA, &source);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(length));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, etag_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &sent.etag);
    if (auto done = perform(h, "upload", body); !done) {
        return done.error();
    }
    return sent;
}

Result<Received> get_to_file(const std::string& url, const std::filesystem::path& file,
                             Progress& progress, std::uint64_t max_rate) {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    if (!out) {
        return make_error(Errc::invalid_argument, "file_unwritable",
                          "cannot write " + file.string());
    }
    std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
    Hasher hash;
    Sink sink{&out, &hash, 0, {}, 0, curl.get()};
    ProgressHook hook{&progress, 0};
    CURL* h = curl.get();
    set_common(h, url, hook, CURLOPT_MAX_RECV_SPEED_LARGE, max_rate);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_file);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    if (auto done = perform(h, "download", sink.error_body); !done) {
        return done.error();
    }
    out.flush();
    if (!out) {
        return make_error(Errc::unavailable, "file_unwritable", "cannot write " + file.string());
    }
    return Received{sink.bytes, hash.hex()};
}

std::string sha256_of_file(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    Hasher hash;
    std::string buf(1 << 20, '\0');
    while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        hash.update(buf.data(), static_cast<std::size_t>(in.gcount()));
    }
    return hash.hex();
}

}  // namespace unidesk::cli
