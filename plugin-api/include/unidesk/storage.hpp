#pragma once

// Large files live in one active storage backend, chosen in config (`storage.backend`) and
// registered by a storage plugin. Nobody but the backend moves bytes of an object through the
// kernel: people and agents get presigned URLs with a lifetime and talk to the store directly
// (storage-local serves its own URLs on the public listener; storage-s3 hands out URLs of the
// S3-compatible store). The server-side calls here (stat, list, delete, multipart bookkeeping,
// small writes such as a task's log) are blocking and may take as long as one round trip to
// the store; call them from a worker thread, never from a network thread.
//
// Keys are paths of UTF-8 segments joined by '/': no empty, "." or ".." segment, no leading
// '/', no control character, at most 1024 bytes (check_storage_key() says why one is refused).
//
// Errors every call may return: `invalid_argument`/`invalid_key`, `not_found`/`object_not_found`
// or `upload_not_found`, `unavailable`/`storage_unavailable` when the store cannot be reached,
// `internal`/`storage_error` for an answer the backend did not expect (with it in the message).

#include "unidesk/health.hpp"
#include "unidesk/result.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace unidesk {

//! What a presigned URL lets its holder do: read an object, or write an object or one part.
enum class StorageMethod { get, put };

inline const char* to_string(StorageMethod m) noexcept {
    return m == StorageMethod::get ? "GET" : "PUT";
}

//! A URL that carries its own authorization until `expires_at`. The holder sends `method` to
//! `url` with `headers` added (none for the current backends); a PUT answers with an `ETag`
//! header that a multipart part's completion needs.
struct PresignedUrl {
    std::string method;  // "GET" or "PUT"
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;
    std::chrono::system_clock::time_point expires_at;
};

struct ObjectInfo {
    std::string key;
    std::uint64_t size = 0;
    //! Lower-case hex SHA-256 of the content when the backend knows it (storage-local always;
    //! storage-s3 when the object was written with an `x-amz-meta-sha256` or its ETag cannot
    //! say), otherwise empty.
    std::string sha256;
    std::string etag;  // the store's entity tag, without quotes
    std::chrono::system_clock::time_point modified;
};

//! One page of a listing in key order. `next` is empty on the last page; otherwise pass it back
//! as `after` for the next page.
struct ObjectPage {
    std::vector<ObjectInfo> objects;
    std::string next;
};

//! One finished part of a multipart upload: its number (1 to 10000) and the ETag its PUT
//! answered with.
struct UploadedPart {
    int number = 0;
    std::string etag;
};

//! Parts of a multipart upload, except the last, must be at least this large (S3's rule,
//! enforced by storage-local as well so that both behave alike).
inline constexpr std::uint64_t kMinPartSize = 5ull * 1024 * 1024;
inline constexpr int kMaxParts = 10000;
inline constexpr std::size_t kMaxKeyBytes = 1024;

//! Why a key is refused, or nullopt for a good key.
inline std::optional<std::string> check_storage_key(std::string_view key) {
    if (key.empty()) {
        return "the key is empty";
    }
    if (key.size() > kMaxKeyBytes) {
        return "the key is longer than 1024 bytes";
    }
    std::size_t start = 0;
    while (start <= key.size()) {
        auto end = key.find('/', start);
        if (end == std::string_view::npos) {
            end = key.size();
        }
        auto seg = key.substr(start, end - start);
        if (seg.empty() || seg == "." || seg == "..") {
            return "the key has an empty, '.' or '..' segment";
        }
        start = end + 1;
    }
    for (unsigned char c : key) {
        if (c < 0x20 || c == 0x7f || c == '\\') {
            return "the key has a control character or a backslash";
        }
    }
    return std::nullopt;
}

inline Result<void> require_storage_key(std::string_view key) {
    if (auto why = check_storage_key(key)) {
        return make_error(Errc::invalid_argument, "invalid_key",
                          "storage key '" + std::string(key.substr(0, 80)) + "': " + *why);
    }
    return {};
}

//! One store. Thread-safe: every call may come from any thread at the same time. Owned by the
//! plugin that made it and shared with the registry; the plugin unregisters it in stop(), and
//! holders of a shared_ptr must drop it soon after (calls then fail with `unavailable`).
class StorageBackend {
public:
    virtual ~StorageBackend() = default;
    virtual std::string name() const = 0;
    //! Asks the store itself (a small request), within about a second.
    virtual HealthReport health() = 0;

    //! A URL to read (GET, with Range allowed) or write (PUT, whole object) one key, valid for
    //! `lifetime` (at most 7 days). Makes no request to the store.
    virtual Result<PresignedUrl> presign(StorageMethod method, const std::string& key,
                                         std::chrono::seconds lifetime) = 0;

    //! Begins a multipart upload of `key` and returns its upload id.
    virtual Result<std::string> start_multipart(const std::string& key) = 0;
    //! A PUT URL for part `number` (1 to kMaxParts) of the upload; a part may be sent again,
    //! and the last one sent wins.
    virtual Result<PresignedUrl> presign_part(const std::string& key, const std::string& upload_id,
                                              int number, std::chrono::seconds lifetime) = 0;
    //! Joins the listed parts, in the order given (ascending numbers), into the object; the
    //! object appears whole or not at all. `invalid_argument`/`invalid_part` when a part is
    //! missing, its ETag differs or a part but the last is smaller than kMinPartSize.
    virtual Result<ObjectInfo> complete_multipart(const std::string& key,
                                                  const std::string& upload_id,
                                                  const std::vector<UploadedPart>& parts) = 0;
    //! Drops the upload and its parts; a second abort is `upload_not_found`.
    virtual Result<void> abort_multipart(const std::string& key, const std::string& upload_id) = 0;

    virtual Result<ObjectInfo> stat(const std::string& key) = 0;
    //! Objects whose key starts with `prefix` (any string, "" for all) and sorts after `after`,
    //! at most `limit` (1 to 1000) of them, in key order.
    virtual Result<ObjectPage> list(const std::string& prefix, const std::string& after,
                                    int limit) = 0;
    //! Deleting a key that does not exist succeeds (as in S3).
    virtual Result<void> remove(const std::string& key) = 0;
    //! Writes a small object (a task's log, at most a few MiB) from the server itself.
    virtual Result<ObjectInfo> put_small(const std::string& key, std::string_view content) = 0;
};

//! Thread-safe. The backend object is kept alive by the registry until its plugin stops.
class StorageRegistry {
public:
    virtual ~StorageRegistry() = default;
    //! Registers a backend under its name(); the one named in config becomes active.
    virtual void register_backend(std::shared_ptr<StorageBackend> backend) = 0;
    virtual void unregister_backend(const std::string& name) = 0;
    //! The active backend, or nullptr when none is configured or its plugin is not running.
    virtual std::shared_ptr<StorageBackend> active() = 0;
    //! The name config chose (`storage.backend`), whether or not that backend is running.
    virtual std::string active_name() = 0;
};

}  // namespace unidesk
