// One suite, two backends: every case below runs once against storage-local (objects on the
// kernel's disk, URLs served by its public listener) and once against storage-s3 (a real Ceph
// RADOS Gateway), through the storage REST API and the presigned URLs it hands out, as agents
// and people use them.

#include "storage_server.hpp"
#include "transfer.hpp"

#include "unidesk/storage.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

using namespace std::chrono_literals;
using nlohmann::json;
using unidesk::test::StorageServer;
namespace test = unidesk::test;

namespace {

std::string url_encode_query(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            char buf[4];
            std::snprintf(buf, sizeof buf, "%%%02X", c);
            out += buf;
        }
    }
    return out;
}

json stat(StorageServer& s, const std::string& key, int expect = 200) {
    return s.call("GET", "/v1/storage/object?key=" + url_encode_query(key), nullptr, expect);
}

void round_trip_of_a_large_object(StorageServer& s) {
    const std::uint64_t size = 1ull << 30;
    const auto key = s.prefix() + "large.bin";
    auto put = test::put_generated(s.upload_url(key), 11, size);
    INFO(put.error << put.body);
    REQUIRE(put.status == 200);
    const auto expected = test::generated_sha256(11, size);
    CHECK(put.sha256.size() == 64);

    auto info = stat(s, key)["object"];
    CHECK(info["size"] == size);
    if (s.kind() == StorageServer::Kind::local) {
        CHECK(info["sha256"] == expected);
    }

    auto got = test::request_url("GET", s.download_url(key));
    REQUIRE(got.status == 200);
    CHECK(got.bytes == size);
    CHECK(got.sha256 == expected);
    s.call("DELETE", "/v1/storage/object?key=" + url_encode_query(key));
}

void ranged_reads(StorageServer& s) {
    const std::uint64_t size = 3 * 1024 * 1024 + 5;
    const auto key = s.prefix() + "ranged";
    REQUIRE(test::put_generated(s.upload_url(key), 5, size).status == 200);
    auto url = s.download_url(key);

    auto middle = test::request_url("GET", url, {}, "1000-1999");
    CHECK(middle.status == 206);
    CHECK(middle.body == test::generated(5, 1000, 1000));
    CHECK(middle.headers["content-range"] == "bytes 1000-1999/" + std::to_string(size));

    auto tail = test::request_url("GET", url, {}, "-10");
    CHECK(tail.status == 206);
    CHECK(tail.body == test::generated(5, size - 10, 10));

    auto open_end = test::request_url("GET", url, {}, std::to_string(size - 100) + "-");
    CHECK(open_end.status == 206);
    CHECK(open_end.body == test::generated(5, size - 100, 100));

    auto beyond = test::request_url("GET", url, {}, std::to_string(size + 10) + "-");
    CHECK(beyond.status == 416);
}

void multipart_with_a_retried_part(StorageServer& s) {
    const auto key = s.prefix() + "multi/part.bin";
    auto started = s.call("POST", "/v1/storage/multipart", {{"key", key}}, 201);
    std::string id = started["upload_id"];
    auto part_url = [&](int n) {
        return s
            .call("POST", "/v1/storage/multipart/part-url",
                  {{"key", key}, {"upload_id", id}, {"part", n}})["url"]
            .get<std::string>();
    };
    const std::uint64_t part = unidesk::kMinPartSize;
    auto first = test::put_generated(part_url(1), 21, part);
    REQUIRE(first.status == 200);
    // The same part again, with other content: as a retry after a lost answer would.
    auto again = test::put_generated(part_url(1), 22, part);
    REQUIRE(again.status == 200);
    auto last = test::put_generated(part_url(2), 23, 1000);
    REQUIRE(last.status == 200);
    CHECK(stat(s, key, 404)["error"]["code"] == "object_not_found");

    auto stale = s.raw_call("POST", "/v1/storage/multipart/complete",
                            {{"key", key},
                             {"upload_id", id},
                             {"parts",
                              {{{"number", 1}, {"etag", first.headers["etag"]}},
                               {{"number", 2}, {"etag", last.headers["etag"]}}}}});
    CHECK(stale.status == 400);

    auto done = s.call("POST", "/v1/storage/multipart/complete",
                       {{"key", key},
                        {"upload_id", id},
                        {"parts",
                         {{{"number", 1}, {"etag", again.headers["etag"]}},
                          {{"number", 2}, {"etag", last.headers["etag"]}}}}});
    CHECK(done["object"]["size"] == part + 1000);

    auto got = test::request_url("GET", s.download_url(key));
    REQUIRE(got.status == 200);
    CHECK(got.bytes == part + 1000);
    CHECK(got.body.substr(0, 64) == test::generated(22, 0, 64));
    CHECK(got.body.substr(part) == test::generated(23, 0, 1000));

    // An aborted upload is gone, and so is its second abort.
    auto other = s.call("POST", "/v1/storage/multipart", {{"key", key + ".2"}}, 201);
    s.call("POST", "/v1/storage/multipart/abort",
           {{"key", key + ".2"}, {"upload_id", other["upload_id"]}});
    auto twice = s.raw_call("POST", "/v1/storage/multipart/abort",
                            {{"key", key + ".2"}, {"upload_id", other["upload_id"]}});
    CHECK(twice.status == 404);
}

void refused_urls_touch_nothing(StorageServer& s) {
    const auto key = s.prefix() + "guarded";
    REQUIRE(test::request_url("PUT", s.upload_url(key), "original").status == 200);
    auto get = s.download_url(key);
    CHECK(test::request_url("GET", get).body == "original");

    // A read URL used to write.
    CHECK(test::request_url("PUT", get, "overwritten").status == 403);
    // Another key in the path.
    auto other = get;
    other.replace(other.find("guarded"), 7, "guardee");
    CHECK(test::request_url("GET", other).status == 403);
    // An altered signature.
    auto tampered = get;
    auto& last = tampered.back();
    last = last == '0' ? '1' : '0';
    CHECK(test::request_url("GET", tampered).status == 403);
    // A write URL used to read.
    auto put = s.upload_url(key);
    CHECK(test::request_url("GET", put).status == 403);
    CHECK(test::request_url("GET", get).body == "original");

    // A URL past its lifetime (of one second, counted in whole seconds by either store).
    auto asked = std::chrono::system_clock::now();
    auto short_lived = s.upload_url(key, 1);
    test::wait_until([&] { return std::chrono::system_clock::now() > asked + 2500ms; }, 5s);
    CHECK(test::request_url("PUT", short_lived, "late").status == 403);
    CHECK(test::request_url("GET", get).body == "original");
}

void interrupted_upload_leaves_nothing(StorageServer& s) {
    const auto key = s.prefix() + "interrupted";
    auto cut = test::put_generated(s.upload_url(key), 9, 64ull << 20, 8ull << 20);
    CHECK(cut.status == 0);
    // The server notices the dropped connection on its own time; nothing may ever appear.
    test::wait_until([] { return false; }, 500ms);
    CHECK(stat(s, key, 404)["error"]["code"] == "object_not_found");
    auto listed = s.call("GET", "/v1/storage/objects?prefix=" + url_encode_query(s.prefix()));
    CHECK(listed["objects"].empty());
    if (s.kind() == StorageServer::Kind::local) {
        REQUIRE(
            test::wait_until([&] { return std::filesystem::is_empty(s.data_dir() / "tmp"); }, 10s));
    }
}

void listing_pages(StorageServer& s) {
    std::vector<std::string> keys;
    for (int i = 0; i < 7; ++i) {
        keys.push_back(s.prefix() + "list/k" + std::to_string(i));
        REQUIRE(
            test::request_url("PUT", s.upload_url(keys.back()), "v" + std::to_string(i)).status ==
            200);
    }
    REQUIRE(test::request_url("PUT", s.upload_url(s.prefix() + "other"), "x").status == 200);

    std::vector<std::string> seen;
    std::string after;
    int pages = 0;
    do {
        auto page = s.call(
            "GET", "/v1/storage/objects?limit=3&prefix=" + url_encode_query(s.prefix() + "list/") +
                       "&after=" + url_encode_query(after));
        for (const auto& o : page["objects"]) {
            seen.push_back(o["key"]);
        }
        after = page["next"];
        ++pages;
    } while (!after.empty() && pages < 10);
    CHECK(seen == keys);
    CHECK(pages == 3);

    auto all = s.call("GET", "/v1/storage/objects?prefix=" + url_encode_query(s.prefix()));
    CHECK(all["objects"].size() == 8);
    CHECK(all["objects"][0]["size"] == 2);
}

}  // namespace

#define STORAGE_CASE(name, tags, fn)                          \
    TEST_CASE("local: " name, "[storage][local][e2e]" tags) { \
        StorageServer s(StorageServer::Kind::local);          \
        fn(s);                                                \
    }                                                         \
    TEST_CASE("s3: " name, "[storage][s3][e2e]" tags) {       \
        StorageServer s(StorageServer::Kind::s3);             \
        fn(s);                                                \
    }

STORAGE_CASE("a 1 GiB object makes the round trip with its checksum", "[large]",
             round_trip_of_a_large_object)
STORAGE_CASE("a ranged read returns exactly the bytes asked for", "", ranged_reads)
STORAGE_CASE("a multipart upload with a part sent twice keeps the last copy", "",
             multipart_with_a_retried_part)
STORAGE_CASE("expired, tampered and wrong-method URLs get 403 and change nothing", "",
             refused_urls_touch_nothing)
STORAGE_CASE("an upload cut off halfway leaves no object", "", interrupted_upload_leaves_nothing)
STORAGE_CASE("listing pages through the objects under a prefix in key order", "", listing_pages)
