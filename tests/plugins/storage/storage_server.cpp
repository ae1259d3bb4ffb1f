#include "storage_server.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <cstdlib>

using namespace std::chrono_literals;

namespace unidesk::test {

S3Settings s3_settings_from_env() {
    auto env = [](const char* name) {
        const char* v = std::getenv(name);
        return std::string(v ? v : "");
    };
    S3Settings s{env("UNIDESK_TEST_S3_ENDPOINT"), env("UNIDESK_TEST_S3_ACCESS_KEY"),
                 env("UNIDESK_TEST_S3_SECRET_KEY"), env("UNIDESK_TEST_S3_BUCKET")};
    if (s.endpoint.empty() || s.access_key.empty() || s.secret_key.empty() || s.bucket.empty()) {
        FAIL(
            "UNIDESK_TEST_S3_ENDPOINT, _ACCESS_KEY, _SECRET_KEY and _BUCKET must name an "
            "S3-compatible store: tools/test.sh starts one with tools/ceph-rgw.sh");
    }
    return s;
}

StorageServer::StorageServer(Kind kind, const std::string& plugins_extra,
                             const std::string& extra_config)
    : kind_(kind) {
    static std::atomic<int> counter{0};
    prefix_ = "t" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
              std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 100000) +
              "/";
    std::string config;
    if (kind == Kind::local) {
        kernel_.public_port = free_port();
        data_dir_ = kernel_.dir.path() / "objects";
        config = "[storage]\nbackend = \"local\"\n[plugins]\ndir = \"" +
                 std::string(UNIDESK_PLUGIN_DIR) + "\"\nenabled = [" + plugins_extra +
                 "\"storage-local\"]\n[plugin.storage-local]\ndata_dir = \"" + data_dir_.string() +
                 "\"\nsecret = \"0123456789abcdef0123456789abcdef-test\"\npublic_url = "
                 "\"http://127.0.0.1:" +
                 std::to_string(kernel_.public_port) + "\"\nsync_writes = false\n";
    } else {
        auto s3 = s3_settings_from_env();
        config = "[storage]\nbackend = \"s3\"\n[plugins]\ndir = \"" +
                 std::string(UNIDESK_PLUGIN_DIR) + "\"\nenabled = [" + plugins_extra +
                 "\"storage-s3\"]\n[plugin.storage-s3]\nendpoint = \"" + s3.endpoint +
                 "\"\nbucket = \"" + s3.bucket + "\"\naccess_key = \"" + s3.access_key +
                 "\"\nsecret_key = \"" + s3.secret_key + "\"\n";
    }
    // The public listener's address, for extra config that names it (the scheduler's).
    std::string extra = extra_config;
    const std::string public_url = "http://127.0.0.1:" + std::to_string(kernel_.public_port);
    for (auto at = extra.find("{public_url}"); at != std::string::npos;
         at = extra.find("{public_url}")) {
        extra.replace(at, 12, public_url);
    }
    kernel_.start(kernel_.write_config(db_.url(), config + extra));
    bool healthy = wait_until(
        [&] {
            try {
                return kernel_.health()["components"]["storage"]["status"] == "ok";
            } catch (const std::exception&) {
                return false;  // not listening yet
            }
        },
        30s);
    if (!healthy) {
        FAIL("storage did not become healthy; kernel stderr:\n" << kernel_.proc->stderr_text());
    }
}

HttpClientResponse StorageServer::raw_call(const std::string& method, const std::string& target,
                                           const nlohmann::json& body) {
    return kernel_.call(method, target, body.is_null() ? std::string() : body.dump());
}

nlohmann::json StorageServer::call(const std::string& method, const std::string& target,
                                   const nlohmann::json& body, int expect) {
    auto r = raw_call(method, target, body);
    INFO(method << " " << target << " -> " << r.status << " " << r.body);
    REQUIRE(r.status == expect);
    return r.json();
}

std::string StorageServer::upload_url(const std::string& key, int lifetime_s) {
    return call("POST", "/v1/storage/upload-url",
                {{"key", key}, {"lifetime_s", lifetime_s}})["url"];
}

std::string StorageServer::download_url(const std::string& key, int lifetime_s) {
    return call("POST", "/v1/storage/download-url",
                {{"key", key}, {"lifetime_s", lifetime_s}})["url"];
}

}  // namespace unidesk::test
