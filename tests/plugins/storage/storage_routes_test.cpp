// The storage REST API's roles and /health's storage entry, against a real kernel with
// storage-local: a viewer reads, a member writes, only an admin deletes; the entry names the
// backend, and a backend that is named but not running is down.

#include "storage_server.hpp"
#include "transfer.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using nlohmann::json;
using unidesk::test::StorageServer;
namespace test = unidesk::test;

namespace {

std::string token_for(StorageServer& s, const std::string& name, const std::string& role) {
    auto user = s.call("POST", "/v1/users",
                       {{"name", name}, {"password", "a-long-password-1"}, {"role", role}}, 201);
    auto token =
        s.call("POST", "/v1/tokens", {{"name", "t"}, {"user_id", user["user"]["id"]}}, 201);
    return token["secret"];
}

int status_as(StorageServer& s, const std::string& token, const std::string& method,
              const std::string& target, const json& body = nullptr) {
    return s.kernel()
        .client()
        .request(method, target, body.is_null() ? "" : body.dump(),
                 {{"Authorization", "Bearer " + token}})
        .status;
}

}  // namespace

TEST_CASE("viewers read storage, members write, admins delete", "[storage][local][e2e]") {
    StorageServer s(StorageServer::Kind::local);
    const auto key = s.prefix() + "roles.txt";
    REQUIRE(test::request_url("PUT", s.upload_url(key), "x").status == 200);
    const auto viewer = token_for(s, "viewer1", "viewer");
    const auto member = token_for(s, "member1", "member");
    const auto stat = "/v1/storage/object?key=" + key;

    CHECK(status_as(s, viewer, "GET", "/v1/storage/objects") == 200);
    CHECK(status_as(s, viewer, "GET", stat) == 200);
    CHECK(status_as(s, viewer, "POST", "/v1/storage/download-url", {{"key", key}}) == 200);
    CHECK(status_as(s, viewer, "POST", "/v1/storage/upload-url", {{"key", key}}) == 403);
    CHECK(status_as(s, viewer, "POST", "/v1/storage/multipart", {{"key", key}}) == 403);
    CHECK(status_as(s, member, "POST", "/v1/storage/upload-url", {{"key", key}}) == 200);
    CHECK(status_as(s, member, "DELETE", stat) == 403);
    CHECK(status_as(s, viewer, "DELETE", stat) == 403);
    CHECK(s.kernel().client().get("/v1/storage/objects").status == 401);
    CHECK(status_as(s, member, "POST", "/v1/storage/upload-url", {{"key", "../x"}}) == 400);
    CHECK(status_as(s, member, "POST", "/v1/storage/upload-url",
                    {{"key", key}, {"lifetime_s", 604801}}) == 400);
    s.call("DELETE", stat);
    CHECK(status_as(s, viewer, "GET", stat) == 404);
}

TEST_CASE("health names the storage backend and says whether it answers", "[storage][local][e2e]") {
    StorageServer s(StorageServer::Kind::local);
    auto h = s.kernel().health();
    CHECK(h["components"]["storage"]["status"] == "ok");
    CHECK(h["components"]["storage"]["backend"] == "local");
    CHECK(h["plugins"]["storage-local"]["status"] == "ok");

    // The named backend's plugin is not the one enabled: storage is down, the kernel degraded.
    test::TestDatabase db;
    test::KernelUnderTest k;
    k.public_port = test::free_port();
    k.start(k.write_config(
        db.url(), "[storage]\nbackend = \"s3\"\n[plugins]\ndir = \"" +
                      std::string(UNIDESK_PLUGIN_DIR) +
                      "\"\nenabled = [\"storage-local\"]\n[plugin.storage-local]\ndata_dir = \"" +
                      (k.dir.path() / "objects").string() +
                      "\"\nsecret = \"0123456789abcdef0123456789abcdef-x\"\npublic_url = "
                      "\"http://127.0.0.1:1\"\n"));
    json health;
    REQUIRE(test::wait_until(
        [&] {
            try {
                health = k.health();
                return health["components"]["storage"]["status"] == "down" &&
                       health["components"]["database"]["status"] == "ok";
            } catch (const std::exception&) {
                return false;
            }
        },
        30s));
    CHECK(health["components"]["storage"]["backend"] == "s3");
    CHECK(health["components"]["storage"]["reason"] == "storage backend 's3' is not running");
    CHECK(health["status"] == "degraded");
    CHECK(k.call("GET", "/v1/storage/objects").status == 404);
}
