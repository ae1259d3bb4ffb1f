#include "local_store.hpp"

#include "crypto.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace unidesk::storage {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

Error unavailable(const std::string& what) {
    return make_error(Errc::unavailable, "storage_unavailable", what);
}

Error errno_error(const std::string& what) {
    if (errno == ENOSPC || errno == EDQUOT) {
        return make_error(Errc::unavailable, "storage_full", what + ": " + std::strerror(errno));
    }
    return unavailable(what + ": " + std::strerror(errno));
}

Error not_found(const std::string& key) {
    return make_error(Errc::not_found, "object_not_found", "no object '" + key + "'");
}

Error forbidden(const std::string& code, const std::string& message) {
    return make_error(Errc::forbidden, code, message);
}

// Closes a file descriptor on every path out of a scope.
struct Fd {
    int fd = -1;
    explicit Fd(int f) : fd(f) {}
    ~Fd() {
        if (fd >= 0) {
            ::close(fd);
        }
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
};

Result<void> write_all(int fd, const char* data, std::size_t n) {
    while (n > 0) {
        ssize_t w = ::write(fd, data, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno_error("write");
        }
        data += w;
        n -= static_cast<std::size_t>(w);
    }
    return {};
}

std::chrono::system_clock::time_point mtime_of(const struct stat& st) {
    return std::chrono::system_clock::time_point(std::chrono::seconds(st.st_mtim.tv_sec));
}

std::optional<std::uint64_t> parse_u64(const std::string& s) {
    if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos) {
        return std::nullopt;
    }
    return std::stoull(s);
}

struct Range {
    std::uint64_t first = 0;
    std::uint64_t length = 0;
};

// One "bytes=a-b", "bytes=a-" or "bytes=-n" range. nullopt: not satisfiable. Several ranges
// are answered as the whole object (allowed: a server may ignore Range).
std::optional<std::optional<Range>> parse_range(const std::string& header, std::uint64_t size) {
    if (header.rfind("bytes=", 0) != 0 || header.find(',') != std::string::npos) {
        return std::optional<Range>{};
    }
    std::string spec = header.substr(6);
    auto dash = spec.find('-');
    if (dash == std::string::npos) {
        return std::optional<Range>{};
    }
    auto a = spec.substr(0, dash);
    auto b = spec.substr(dash + 1);
    if (a.empty()) {
        auto n = parse_u64(b);
        if (!n || *n == 0 || size == 0) {
            return std::nullopt;
        }
        std::uint64_t len = std::min(*n, size);
        return std::optional<Range>{Range{size - len, len}};
    }
    auto first = parse_u64(a);
    if (!first) {
        return std::optional<Range>{};
    }
    if (*first >= size) {
        return std::nullopt;
    }
    std::uint64_t last = size - 1;
    if (!b.empty()) {
        auto l = parse_u64(b);
        if (!l || *l < *first) {
            return std::optional<Range>{};
        }
        last = std::min(*l, size - 1);
    }
    return std::optional<Range>{Range{*first, last - *first + 1}};
}

bool is_hex_id(const std::string& s) {
    return s.size() == 32 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::string part_prefix(int number) {
    auto digits = std::to_string(number);
    return "part-" + std::string(5 - std::min<std::size_t>(5, digits.size()), '0') + digits + "-";
}

}  // namespace

LocalStore::LocalStore(LocalStoreOptions options, Clock& clock)
    : options_(std::move(options)),
      clock_(clock),
      objects_(options_.data_dir / "objects"),
      meta_(options_.data_dir / "meta"),
      uploads_(options_.data_dir / "uploads"),
      tmp_(options_.data_dir / "tmp") {}

Result<std::shared_ptr<LocalStore>> LocalStore::open(LocalStoreOptions options, Clock& clock) {
    if (options.secret.size() < 32) {
        return make_error(Errc::invalid_argument, "config_invalid",
                          "storage-local needs a secret of at least 32 characters");
    }
    while (!options.public_url.empty() && options.public_url.back() == '/') {
        options.public_url.pop_back();
    }
    std::shared_ptr<LocalStore> store(new LocalStore(std::move(options), clock));
    std::error_code ec;
    for (const auto* dir : {&store->objects_, &store->meta_, &store->uploads_, &store->tmp_}) {
        fs::create_directories(*dir, ec);
        if (ec) {
            return unavailable("cannot create " + dir->string() + ": " + ec.message());
        }
    }

    // A temp file a day old belongs to a transfer that died with its kernel.
    auto now = fs::file_time_type::clock::now();
    for (const auto& e : fs::directory_iterator(store->tmp_, ec)) {
        std::error_code ignored;
        if (now - e.last_write_time(ignored) > std::chrono::hours(24)) {
            fs::remove(e.path(), ignored);
        }
    }
    return store;
}

HealthReport LocalStore::health() {
    // Writable and not full: a file can be made in tmp/.
    auto probe = tmp_ / ("health-" + random_hex(8));
    int fd = ::open(probe.c_str(), O_CREAT | O_WRONLY | O_EXCL, 0600);
    if (fd < 0) {
        return {HealthState::down,
                "cannot write in " + tmp_.string() + ": " + std::strerror(errno)};
    }
    ::close(fd);
    ::unlink(probe.c_str());
    return {};
}

std::string LocalStore::signature(const std::string& method, const std::string& key,
                                  const std::string& expires, const std::string& upload_id,
                                  const std::string& part) const {
    std::string msg = "unidesk-storage-v1\n" + method + "\n" + key + "\n" + expires + "\n" +
                      upload_id + "\n" + part;
    return to_hex(hmac_sha256(options_.secret, msg));
}

PresignedUrl LocalStore::make_url(StorageMethod method, const std::string& key,
                                  std::chrono::seconds lifetime, const std::string& upload_id,
                                  const std::string& part) const {
    auto expires_at = clock_.now() + lifetime;
    auto expires = std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(expires_at.time_since_epoch()).count());
    std::string url =
        options_.public_url + "/v1/storage/local/" + uri_encode(key, true) + "?expires=" + expires;
    if (!upload_id.empty()) {
        url += "&upload=" + upload_id + "&part=" + part;
    }
    url += "&sig=" + signature(to_string(method), key, expires, upload_id, part);
    PresignedUrl out;
    out.method = to_string(method);
    out.url = std::move(url);
    out.expires_at = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::seconds>(expires_at.time_since_epoch()));
    return out;
}

Result<PresignedUrl> LocalStore::presign(StorageMethod method, const std::string& key,
                                         std::chrono::seconds lifetime) {
    if (auto r = require_storage_key(key); !r) {
        return r.error();
    }
    return make_url(method, key, lifetime, "", "");
}

Result<void> LocalStore::verify(const SignedRequest& req) const {
    if (req.signature.empty() || req.expires.empty()) {
        return forbidden("signature_invalid", "the URL is not signed");
    }
    // HEAD reads what GET reads.
    std::string method = req.method == "HEAD" ? "GET" : req.method;
    auto expected = signature(method, req.key, req.expires, req.upload_id, req.part);
    if (!constant_time_equal(expected, req.signature)) {
        return forbidden("signature_invalid",
                         "the URL's signature does not match its method, key and expiry");
    }
    auto expires = parse_u64(req.expires);
    auto now = std::chrono::duration_cast<std::chrono::seconds>(clock_.now().time_since_epoch());
    if (!expires || static_cast<std::int64_t>(*expires) < now.count()) {
        return forbidden("url_expired", "the URL has expired");
    }
    if (auto r = require_storage_key(req.key); !r) {
        return r.error();
    }
    return {};
}

Result<ObjectInfo> LocalStore::stat(const std::string& key) {
    if (auto r = require_storage_key(key); !r) {
        return r.error();
    }
    struct stat st {};
    auto path = objects_ / key;
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
        return not_found(key);
    }
    ObjectInfo info;
    info.key = key;
    info.size = static_cast<std::uint64_t>(st.st_size);
    info.modified = mtime_of(st);

    std::ifstream in(meta_ / key);
    auto meta = json::parse(in, nullptr, false);
    if (!meta.is_discarded() && meta.value("size", std::uint64_t{0}) == info.size) {
        info.sha256 = meta.value("sha256", "");
    }
    info.etag = info.sha256;
    return info;
}

Result<ObjectPage> LocalStore::list(const std::string& prefix, const std::string& after,
                                    int limit) {
    limit = std::clamp(limit, 1, 1000);
    // Walk only the deepest folder the prefix names whole; keys come out sorted by a set.
    auto slash = prefix.rfind('/');
    fs::path start = objects_;
    if (slash != std::string::npos) {
        start = objects_ / prefix.substr(0, slash);
    }
    std::set<std::string> keys;
    std::error_code ec;
    std::error_code missing;
    if (fs::is_directory(start, missing)) {
        for (auto it = fs::recursive_directory_iterator(start, ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            if (!it->is_regular_file(ec)) {
                continue;
            }
            auto key = fs::relative(it->path(), objects_, ec).generic_string();
            if (key.rfind(prefix, 0) == 0 && key > after) {
                keys.insert(std::move(key));
                if (keys.size() > static_cast<std::size_t>(limit)) {
                    keys.erase(std::prev(keys.end()));
                    // TODO: a listing walks every file under the prefix's folder for each page;
                    // a folder of millions of objects makes each page slow. An index would fix it.
                }
            }
        }
    }
    if (ec) {
        return unavailable("cannot list " + start.string() + ": " + ec.message());
    }

    ObjectPage page;
    for (const auto& key : keys) {
        auto info = stat(key);
        if (info) {
            page.objects.push_back(std::move(*info));
        }
    }
    if (keys.size() == static_cast<std::size_t>(limit)) {
        page.next = *keys.rbegin();
    }
    return page;
}

Result<void> LocalStore::remove(const std::string& key) {
    if (auto r = require_storage_key(key); !r) {
        return r.error();
    }
    auto path = objects_ / key;
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
        return make_error(Errc::conflict, "key_is_prefix",
                          "'" + key + "' is a prefix of other objects, not an object");
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        return errno_error("cannot delete " + key);
    }
    ::unlink((meta_ / key).c_str());

    // Empty folders left behind are removed, up to the top; one that a writer refills meanwhile
    // is not empty and stays.
    for (auto dir = fs::path(key).parent_path(); !dir.empty(); dir = dir.parent_path()) {
        if (::rmdir((objects_ / dir).c_str()) != 0) {
            break;
        }
        ::rmdir((meta_ / dir).c_str());
    }
    return {};
}

Result<LocalStore::Received> LocalStore::receive_to_temp(
    std::optional<std::uint64_t> expected_length, const ByteSource& source) {
    Received r;
    r.temp = tmp_ / ("put-" + random_hex(12));
    Fd fd(::open(r.temp.c_str(), O_CREAT | O_WRONLY | O_EXCL | O_CLOEXEC, 0644));
    if (fd.fd < 0) {
        return errno_error("cannot create a temp file");
    }
    auto fail = [&](Error e) -> Result<Received> {
        ::unlink(r.temp.c_str());
        return e;
    };

    std::string buffer(kReceiveBytes, '\0');
    Sha256 hash;
    for (;;) {
        auto n = source(buffer.data(), buffer.size());
        if (!n) {
            return fail(n.error());
        }
        if (*n == 0) {
            break;
        }
        hash.update(std::string_view(buffer.data(), *n));
        if (auto w = write_all(fd.fd, buffer.data(), *n); !w) {
            return fail(w.error());
        }
        r.size += *n;
    }
    if (expected_length && r.size != *expected_length) {
        return fail(make_error(Errc::invalid_argument, "body_incomplete",
                               "the body ended after " + std::to_string(r.size) + " of " +
                                   std::to_string(*expected_length) + " bytes"));
    }
    if (options_.sync_writes && ::fdatasync(fd.fd) != 0) {
        return fail(errno_error("cannot sync a temp file"));
    }
    r.sha256 = hash.hex_digest();
    return r;
}

Result<ObjectInfo> LocalStore::publish(const std::string& key, const Received& r) {
    auto target = objects_ / key;
    auto meta_target = meta_ / key;
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    fs::create_directories(meta_target.parent_path(), ec);
    if (fs::is_directory(target, ec)) {
        ::unlink(r.temp.c_str());
        return make_error(Errc::conflict, "key_is_prefix",
                          "'" + key + "' is already a prefix of other objects");
    }

    // The checksum goes first: a reader who finds the content finds its checksum too (stat
    // ignores a checksum whose size does not match, for the moment between the two renames).
    auto meta_temp = tmp_ / ("meta-" + random_hex(12));
    {
        std::ofstream out(meta_temp, std::ios::trunc);
        out << json{{"size", r.size}, {"sha256", r.sha256}}.dump();
        if (!out) {
            ::unlink(r.temp.c_str());
            return unavailable("cannot write the checksum of " + key);
        }
    }
    if (::rename(meta_temp.c_str(), meta_target.c_str()) != 0 ||
        ::rename(r.temp.c_str(), target.c_str()) != 0) {
        auto e = errno_error("cannot store " + key);
        ::unlink(meta_temp.c_str());
        ::unlink(r.temp.c_str());
        return e;
    }
    ObjectInfo info;
    info.key = key;
    info.size = r.size;
    info.sha256 = r.sha256;
    info.etag = r.sha256;
    info.modified = clock_.now();
    return info;
}

Result<ObjectInfo> LocalStore::put_small(const std::string& key, std::string_view content) {
    if (auto r = require_storage_key(key); !r) {
        return r.error();
    }
    std::size_t offset = 0;
    ByteSource source = [&](char* out, std::size_t max) -> Result<std::size_t> {
        std::size_t n = std::min(max, content.size() - offset);
        std::memcpy(out, content.data() + offset, n);
        offset += n;
        return n;
    };
    auto received = receive_to_temp(content.size(), source);
    if (!received) {
        return received.error();
    }
    return publish(key, *received);
}

Result<std::filesystem::path> LocalStore::upload_dir(const std::string& key,
                                                     const std::string& upload_id) const {
    if (!is_hex_id(upload_id)) {
        return make_error(Errc::not_found, "upload_not_found", "no upload '" + upload_id + "'");
    }
    auto dir = uploads_ / upload_id;
    std::ifstream in(dir / "key");
    std::string stored((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.is_open()) {
        return make_error(Errc::not_found, "upload_not_found", "no upload '" + upload_id + "'");
    }
    if (stored != key) {
        return make_error(Errc::not_found, "upload_not_found",
                          "upload '" + upload_id + "' is not for key '" + key + "'");
    }
    return dir;
}

// TODO: an upload that is neither completed nor aborted keeps its parts in uploads/ for good;
// nothing removes abandoned uploads yet.
Result<std::string> LocalStore::start_multipart(const std::string& key) {
    if (auto r = require_storage_key(key); !r) {
        return r.error();
    }
    auto id = random_hex(16);
    std::error_code ec;
    fs::create_directories(uploads_ / id, ec);
    std::ofstream out(uploads_ / id / "key", std::ios::trunc);
    out << key;
    if (ec || !out) {
        return unavailable("cannot start an upload of " + key);
    }
    return id;
}

Result<PresignedUrl> LocalStore::presign_part(const std::string& key, const std::string& upload_id,
                                              int number, std::chrono::seconds lifetime) {
    if (number < 1 || number > kMaxParts) {
        return make_error(Errc::invalid_argument, "invalid_part", "a part number is 1 to 10000");
    }
    if (auto dir = upload_dir(key, upload_id); !dir) {
        return dir.error();
    }
    return make_url(StorageMethod::put, key, lifetime, upload_id, std::to_string(number));
}

Result<ObjectInfo> LocalStore::receive_put(const SignedRequest& req,
                                           std::optional<std::uint64_t> expected_length,
                                           const ByteSource& source) {
    if (req.upload_id.empty()) {
        auto received = receive_to_temp(expected_length, source);
        if (!received) {
            return received.error();
        }
        return publish(req.key, *received);
    }

    auto number = parse_u64(req.part);
    if (!number || *number < 1 || *number > kMaxParts) {
        return make_error(Errc::invalid_argument, "invalid_part", "a part number is 1 to 10000");
    }
    auto dir = upload_dir(req.key, req.upload_id);
    if (!dir) {
        return dir.error();
    }
    auto received = receive_to_temp(expected_length, source);
    if (!received) {
        return received.error();
    }

    // A part sent again replaces the earlier one: the new file goes in first, then the others
    // of that number go.
    auto prefix = part_prefix(static_cast<int>(*number));
    auto target = *dir / (prefix + received->sha256);
    if (::rename(received->temp.c_str(), target.c_str()) != 0) {
        auto e = errno_error("cannot store a part");
        ::unlink(received->temp.c_str());
        return e;
    }
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(*dir, ec)) {
        auto name = e.path().filename().string();
        if (name.rfind(prefix, 0) == 0 && e.path() != target) {
            fs::remove(e.path(), ec);
        }
    }
    ObjectInfo info;
    info.key = req.key;
    info.size = received->size;
    info.sha256 = received->sha256;
    info.etag = received->sha256;
    info.modified = clock_.now();
    return info;
}

Result<ObjectInfo> LocalStore::complete_multipart(const std::string& key,
                                                  const std::string& upload_id,
                                                  const std::vector<UploadedPart>& parts) {
    auto dir = upload_dir(key, upload_id);
    if (!dir) {
        return dir.error();
    }
    auto invalid = [](const std::string& m) {
        return make_error(Errc::invalid_argument, "invalid_part", m);
    };
    if (parts.empty()) {
        return invalid("an upload needs at least one part");
    }

    // Every part must be there with the ETag its PUT answered, in ascending order, and all but
    // the last at least kMinPartSize.
    std::vector<fs::path> files;
    int previous = 0;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const auto& p = parts[i];
        std::string etag = p.etag;
        std::erase(etag, '"');
        if (p.number <= previous) {
            return invalid("parts must be listed in ascending order of number");
        }
        previous = p.number;
        auto file = *dir / (part_prefix(p.number) + etag);
        std::error_code ec;
        auto size = fs::file_size(file, ec);
        if (ec || etag.find('/') != std::string::npos) {
            return invalid("part " + std::to_string(p.number) + " with that ETag was not uploaded");
        }
        if (i + 1 < parts.size() && size < kMinPartSize) {
            return invalid("part " + std::to_string(p.number) + " is smaller than 5 MiB");
        }
        files.push_back(file);
    }

    // Join the parts into one temp file, hashing as it goes.
    std::size_t index = 0;
    std::optional<Fd> current;
    ByteSource source = [&](char* out, std::size_t max) -> Result<std::size_t> {
        while (index < files.size()) {
            if (!current) {
                current.emplace(::open(files[index].c_str(), O_RDONLY | O_CLOEXEC));
                if (current->fd < 0) {
                    return errno_error("cannot read a part");
                }
            }
            ssize_t n = ::read(current->fd, out, max);
            if (n < 0) {
                return errno_error("cannot read a part");
            }
            if (n > 0) {
                return static_cast<std::size_t>(n);
            }
            current.reset();
            ++index;
        }
        return std::size_t{0};
    };
    auto received = receive_to_temp(std::nullopt, source);
    if (!received) {
        return received.error();
    }
    auto info = publish(key, *received);
    if (info) {
        std::error_code ec;
        fs::remove_all(*dir, ec);
    }
    return info;
}

Result<void> LocalStore::abort_multipart(const std::string& key, const std::string& upload_id) {
    auto dir = upload_dir(key, upload_id);
    if (!dir) {
        return dir.error();
    }
    std::error_code ec;
    fs::remove_all(*dir, ec);
    if (ec) {
        return unavailable("cannot remove upload " + upload_id + ": " + ec.message());
    }
    return {};
}

Result<void> LocalStore::serve_get(const SignedRequest& req, const std::string& range,
                                   const std::function<Result<void>(const ServeHead&)>& begin,
                                   const ByteSink& sink) {
    auto path = objects_ / req.key;
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (fd.fd < 0 || ::fstat(fd.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        return not_found(req.key);
    }
    auto size = static_cast<std::uint64_t>(st.st_size);
    auto info = stat(req.key);

    ServeHead head;
    head.headers.emplace_back("Accept-Ranges", "bytes");
    if (info && !info->sha256.empty()) {
        head.headers.emplace_back("ETag", "\"" + info->sha256 + "\"");
        head.headers.emplace_back("X-Checksum-Sha256", info->sha256);
    }
    Range r{0, size};
    if (!range.empty()) {
        auto parsed = parse_range(range, size);
        if (!parsed) {
            head.status = 416;
            head.length = 0;
            head.headers.emplace_back("Content-Range", "bytes */" + std::to_string(size));
            return begin(head);
        }
        if (*parsed) {
            r = **parsed;
            head.status = 206;
            head.headers.emplace_back("Content-Range", "bytes " + std::to_string(r.first) + "-" +
                                                           std::to_string(r.first + r.length - 1) +
                                                           "/" + std::to_string(size));
        }
    }
    head.length = r.length;
    if (auto b = begin(head); !b) {
        return b.error();
    }
    if (req.method == "HEAD") {
        return {};
    }

    ::posix_fadvise(fd.fd, static_cast<off_t>(r.first), static_cast<off_t>(r.length),
                    POSIX_FADV_SEQUENTIAL);
    std::string buffer(kBufferBytes, '\0');
    std::uint64_t offset = r.first;
    std::uint64_t left = r.length;
    while (left > 0) {
        auto want = static_cast<std::size_t>(std::min<std::uint64_t>(left, buffer.size()));
        ssize_t n = ::pread(fd.fd, buffer.data(), want, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return errno_error("cannot read " + req.key);
        }
        if (auto w = sink(std::string_view(buffer.data(), static_cast<std::size_t>(n))); !w) {
            return w.error();
        }
        offset += static_cast<std::uint64_t>(n);
        left -= static_cast<std::uint64_t>(n);
    }
    return {};
}

}  // namespace unidesk::storage
