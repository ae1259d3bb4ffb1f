#pragma once

// A real unidesk-kernel with one storage backend active, for tests that go through the storage
// REST API and the presigned URLs it hands out: storage-local (the public listener serves the
// URLs) or storage-s3 (the test run's RADOS Gateway, named by UNIDESK_TEST_S3_* variables that
// tools/test.sh sets from tools/ceph-rgw.sh).

#include "support/kernel_under_test.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace unidesk::test {

struct S3Settings {
    std::string endpoint;
    std::string access_key;
    std::string secret_key;
    std::string bucket;
};

//! From the environment; fails the test with a message saying how to start a gateway when unset.
S3Settings s3_settings_from_env();

class StorageServer {
public:
    enum class Kind { local, s3 };

    //! Starts the kernel and waits until /health shows the backend ok. `plugins_extra` is added
    //! to the [plugins] enabled list (e.g. "\"scheduler\", "); `extra_config` is appended to
    //! the config file, with "{public_url}" replaced by the public listener's URL (local only).
    explicit StorageServer(Kind kind, const std::string& plugins_extra = "",
                           const std::string& extra_config = "");

    Kind kind() const { return kind_; }
    KernelUnderTest& kernel() { return kernel_; }
    //! A key prefix of this server's own, so that tests sharing one bucket never meet.
    const std::string& prefix() const { return prefix_; }
    //! The folder storage-local keeps objects in (local only).
    const std::filesystem::path& data_dir() const { return data_dir_; }

    //! A REST call as the first admin; fails the test unless the status is `expect`.
    nlohmann::json call(const std::string& method, const std::string& target,
                        const nlohmann::json& body = nullptr, int expect = 200);
    HttpClientResponse raw_call(const std::string& method, const std::string& target,
                                const nlohmann::json& body = nullptr);

    std::string upload_url(const std::string& key, int lifetime_s = 3600);
    std::string download_url(const std::string& key, int lifetime_s = 3600);

private:
    Kind kind_;
    TestDatabase db_;
    KernelUnderTest kernel_;
    std::string prefix_;
    std::filesystem::path data_dir_;
};

}  // namespace unidesk::test
