// storage-s3's own calls against the test run's RADOS Gateway: a wrong secret is refused by
// the store (on the server's calls and on the URLs it signs), health says so, and the server's
// small writes carry their checksum.

#include "s3_backend.hpp"
#include "storage_server.hpp"
#include "transfer.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using namespace unidesk;
using namespace unidesk::storage;

namespace {

class WallClock final : public Clock {
public:
    time_point now() const override { return std::chrono::system_clock::now(); }
};

std::shared_ptr<S3Backend> backend(const std::string& secret_override = {},
                                   bool path_style = true) {
    static WallClock clock;
    auto env = test::s3_settings_from_env();
    S3Options o;
    o.endpoint = env.endpoint;
    o.path_style = path_style;
    if (!path_style) {
        // The bucket becomes part of the host name: BUCKET.localhost resolves to loopback, and
        // tools/ceph-rgw.sh tells the gateway that localhost is its DNS name.
        auto at = o.endpoint.find("127.0.0.1");
        if (at != std::string::npos) {
            o.endpoint.replace(at, 9, "localhost");
        }
    }
    o.bucket = env.bucket;
    o.access_key = env.access_key;
    o.secret_key = secret_override.empty() ? env.secret_key : secret_override;
    return S3Backend::make(o, clock).value();
}

}  // namespace

TEST_CASE("a wrong secret is refused by the store and shows in health", "[storage][s3]") {
    auto good = backend();
    auto bad = backend("not-the-secret-0123456789");
    CHECK(good->health().state == HealthState::ok);
    auto h = bad->health();
    CHECK(h.state == HealthState::down);
    CHECK(h.reason.find("403") != std::string::npos);

    const std::string key = "wrong-secret/" + std::to_string(::getpid());
    REQUIRE(good->put_small(key, "content"));
    CHECK(bad->stat(key).error().code == "storage_denied");
    auto url = bad->presign(StorageMethod::get, key, 60s).value();
    CHECK(test::request_url("GET", url.url).status == 403);
    auto put = bad->presign(StorageMethod::put, key, 60s).value();
    CHECK(test::request_url("PUT", put.url, "forged").status == 403);
    CHECK(test::request_url("GET", good->presign(StorageMethod::get, key, 60s)->url).body ==
          "content");
    REQUIRE(good->remove(key));
}

TEST_CASE("the server's small writes carry their checksum and deletes are idempotent",
          "[storage][s3]") {
    auto b = backend();
    const std::string key = "small/" + std::to_string(::getpid()) + "/log.txt";
    auto info = b->put_small(key, "line one\nline two\n").value();
    auto st = b->stat(key).value();
    CHECK(st.size == 18);
    CHECK(st.sha256 == info.sha256);
    CHECK(st.sha256.size() == 64);
    REQUIRE(b->remove(key));
    REQUIRE(b->remove(key));
    CHECK(b->stat(key).error().code == "object_not_found");
}

TEST_CASE("a presigned URL past its lifetime is refused by the store", "[storage][s3]") {
    auto b = backend();
    const std::string key = "expiry/" + std::to_string(::getpid());
    REQUIRE(b->put_small(key, "x"));
    auto url = b->presign(StorageMethod::get, key, 1s).value();
    REQUIRE(test::wait_until([&] { return test::request_url("GET", url.url).status == 403; }, 10s));
    REQUIRE(b->remove(key));
}

TEST_CASE("virtual-host style reaches the same bucket as path style", "[storage][s3]") {
    auto path = backend();
    auto vhost = backend("", false);
    const std::string key = "vhost/" + std::to_string(::getpid()) + "/a b.txt";
    REQUIRE(path->put_small(key, "both ways"));
    auto st = vhost->stat(key);
    REQUIRE(st);
    CHECK(st->size == 9);
    auto url = vhost->presign(StorageMethod::get, key, 60s).value();
    CHECK(url.url.find("://" + test::s3_settings_from_env().bucket + ".localhost:") !=
          std::string::npos);
    CHECK(test::request_url("GET", url.url).body == "both ways");
    CHECK(vhost->list("vhost/" + std::to_string(::getpid()) + "/", "", 10)->objects.size() == 1);
    REQUIRE(vhost->remove(key));
    CHECK(path->stat(key).error().code == "object_not_found");
}
