#pragma once

// The storage-local backend: objects as files under one data folder, and the signed URLs that
// let people and agents read and write them through the kernel's public listener.
//
// Layout under the data folder:
//   objects/KEY          the content, written whole or not at all (temp file, then rename)
//   meta/KEY             {"size": N, "sha256": "..."} of that content, written just before it
//   uploads/ID/key       the key a multipart upload ID is for
//   uploads/ID/part-NNNNN-SHA256   one finished part, named by its number and checksum
//   tmp/                 files being written; a stale one (a day old) is removed at start
//
// A signed URL is PUBLIC_URL/v1/storage/local/KEY?expires=T&sig=S (plus &upload=ID&part=N for a
// multipart part), where S is the hex HMAC-SHA256 under the configured secret of
// "unidesk-storage-v1\nMETHOD\nKEY\nT\nID\nN". A request is checked before any file is touched:
// wrong method, altered key or query, or a time past T all get 403 `signature_invalid` or
// `url_expired`.
//
// Thread-safe: any number of requests may run at once. Two writers of one key race and the last
// rename wins, each object always whole. Memory per transfer is one buffer (kBufferBytes).

#include "unidesk/clock.hpp"
#include "unidesk/storage.hpp"

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace unidesk::storage {

struct LocalStoreOptions {
    std::filesystem::path data_dir;
    std::string secret;       // the HMAC key of signed URLs; at least 32 characters
    std::string public_url;   // how clients reach the public listener, e.g. https://desk.example
    bool sync_writes = true;  // fdatasync each object before it becomes visible
};

//! Pulls the next piece of a request body: bytes read, 0 at the end, or an error.
using ByteSource = std::function<Result<std::size_t>(char*, std::size_t)>;
//! Takes the next piece of an answer; fails when the peer went away.
using ByteSink = std::function<Result<void>(std::string_view)>;

//! What a signed request asks for, from the URL's path and query.
struct SignedRequest {
    std::string method;  // "GET", "HEAD" or "PUT"
    std::string key;
    std::string expires;
    std::string signature;
    std::string upload_id;  // multipart part only
    std::string part;       // multipart part only
};

//! The start of an answer to a GET: status, headers and length; the body follows through the
//! sink given to serve_get.
struct ServeHead {
    int status = 200;
    std::uint64_t length = 0;
    std::vector<std::pair<std::string, std::string>> headers;
};

class LocalStore final : public StorageBackend {
public:
    static constexpr std::size_t kBufferBytes = 1024 * 1024;
    //! Uploads are received in smaller pieces: a piece that stays in the CPU cache between the
    //! socket read and the file write makes the copy into the page cache much cheaper.
    static constexpr std::size_t kReceiveBytes = 128 * 1024;

    //! Creates the folders; fails with `storage_unavailable` when it cannot.
    static Result<std::shared_ptr<LocalStore>> open(LocalStoreOptions options, Clock& clock);

    std::string name() const override { return "local"; }
    HealthReport health() override;
    Result<PresignedUrl> presign(StorageMethod method, const std::string& key,
                                 std::chrono::seconds lifetime) override;
    Result<std::string> start_multipart(const std::string& key) override;
    Result<PresignedUrl> presign_part(const std::string& key, const std::string& upload_id,
                                      int number, std::chrono::seconds lifetime) override;
    Result<ObjectInfo> complete_multipart(const std::string& key, const std::string& upload_id,
                                          const std::vector<UploadedPart>& parts) override;
    Result<void> abort_multipart(const std::string& key, const std::string& upload_id) override;
    Result<ObjectInfo> stat(const std::string& key) override;
    Result<ObjectPage> list(const std::string& prefix, const std::string& after,
                            int limit) override;
    Result<void> remove(const std::string& key) override;
    Result<ObjectInfo> put_small(const std::string& key, std::string_view content) override;

    //! Checks a signed request: `forbidden` (`signature_invalid`, `url_expired`) or
    //! `invalid_argument` before anything on disk is looked at.
    Result<void> verify(const SignedRequest& req) const;

    //! Answers a verified GET or HEAD: `range` is the Range header or empty. `begin` is called
    //! once with the head (200, 206 or 416), then the body goes to `sink` unless HEAD.
    Result<void> serve_get(const SignedRequest& req, const std::string& range,
                           const std::function<Result<void>(const ServeHead&)>& begin,
                           const ByteSink& sink);

    //! Stores a verified PUT's body from `source`: the object (or the part) appears only once
    //! the whole body arrived and, when `expected_length` is known, had exactly that length.
    Result<ObjectInfo> receive_put(const SignedRequest& req,
                                   std::optional<std::uint64_t> expected_length,
                                   const ByteSource& source);

    const std::filesystem::path& data_dir() const { return options_.data_dir; }

private:
    LocalStore(LocalStoreOptions options, Clock& clock);

    std::string signature(const std::string& method, const std::string& key,
                          const std::string& expires, const std::string& upload_id,
                          const std::string& part) const;
    PresignedUrl make_url(StorageMethod method, const std::string& key,
                          std::chrono::seconds lifetime, const std::string& upload_id,
                          const std::string& part) const;

    //! Streams `source` into a new temp file, hashing it; the temp path and checksum, or an
    //! error after removing the temp file.
    struct Received {
        std::filesystem::path temp;
        std::uint64_t size = 0;
        std::string sha256;
    };
    Result<Received> receive_to_temp(std::optional<std::uint64_t> expected_length,
                                     const ByteSource& source);
    //! Moves a temp file into place as `key`, with its metadata.
    Result<ObjectInfo> publish(const std::string& key, const Received& r);
    Result<std::filesystem::path> upload_dir(const std::string& key,
                                             const std::string& upload_id) const;

    LocalStoreOptions options_;
    Clock& clock_;
    std::filesystem::path objects_;
    std::filesystem::path meta_;
    std::filesystem::path uploads_;
    std::filesystem::path tmp_;
};

}  // namespace unidesk::storage
