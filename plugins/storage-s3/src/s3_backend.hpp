#pragma once

// The storage-s3 backend: any S3-compatible store (Ceph RGW, MinIO, AWS S3 ...). Presigned URLs
// are computed locally with Signature Version 4; stat, list, delete, the multipart calls, small
// writes and the health probe are requests to the store through libcurl, each with a deadline.
//
// Thread-safe: every call makes its own libcurl handle, so calls may run at once from any
// thread. Errors: the common ones of storage.hpp; a 403 from the store (a wrong key or secret,
// a skewed clock) is `unavailable`/`storage_denied` with the store's own code in the message.

#include "sigv4.hpp"

#include "unidesk/clock.hpp"
#include "unidesk/storage.hpp"

#include <memory>
#include <string>

namespace unidesk::storage {

struct S3Options {
    std::string endpoint;         // the store as the server reaches it, e.g. http://127.0.0.1:7480
    std::string public_endpoint;  // as agents and people reach it; empty: the same
    std::string region = "us-east-1";
    std::string bucket;
    std::string access_key;
    std::string secret_key;
    bool path_style = true;  // endpoint/bucket/key; false: bucket.endpoint-host/key
    int timeout_ms = 30000;  // one server-side call, all included
};

//! A raw answer of the store, for the tests and for messages.
struct S3Response {
    long status = 0;
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;
};

class S3Backend final : public StorageBackend {
public:
    //! Checks the options (endpoint scheme, bucket name); makes no request.
    static Result<std::shared_ptr<S3Backend>> make(S3Options options, Clock& clock);

    std::string name() const override { return "s3"; }
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

    //! Creates the bucket (tests and first set-up); an existing bucket of ours is fine.
    Result<void> create_bucket();

private:
    S3Backend(S3Options options, Clock& clock);

    struct Target {
        std::string scheme_host;  // "http://127.0.0.1:7480" or "http://bucket.host:port"
        std::string host;         // the Host header
        std::string path;         // encoded, starting with '/'
    };
    Target target(const std::string& endpoint, const std::string& key) const;

    //! One signed request to the store. Network failures are `storage_unavailable`.
    Result<S3Response> call(const std::string& method, const std::string& key,
                            const std::map<std::string, std::string>& query,
                            const std::string& body,
                            std::map<std::string, std::string> extra_headers = {},
                            int timeout_ms = 0);
    Result<PresignedUrl> presign_with(StorageMethod method, const std::string& key,
                                      std::map<std::string, std::string> query,
                                      std::chrono::seconds lifetime);

    S3Options options_;
    Clock& clock_;
    SigV4Credentials creds_;
};

//! The first <Name>...</Name> in `xml`, entities decoded; empty when absent.
std::string xml_value(const std::string& xml, const std::string& name, std::size_t from = 0);

}  // namespace unidesk::storage
