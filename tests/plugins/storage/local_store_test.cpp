// The storage-local store on its own, without HTTP: signing and checking URLs, writing objects
// whole or not at all, ranges, multipart, listing. The same store behind the kernel's public
// listener is tested by backend_suite_test.cpp.

#include "local_store.hpp"

#include "support/process.hpp"
#include "transfer.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>

using namespace unidesk;
using namespace unidesk::storage;
using namespace std::chrono_literals;

namespace {

class ManualClock final : public Clock {
public:
    time_point now() const override { return now_; }
    void advance(std::chrono::seconds s) { now_ += s; }

private:
    time_point now_ = std::chrono::system_clock::from_time_t(1800000000);
};

struct Store {
    test::TempDir dir;
    ManualClock clock;
    std::shared_ptr<LocalStore> store;

    explicit Store(char secret = 's') {
        LocalStoreOptions o;
        o.data_dir = dir.path() / "data";
        o.secret = std::string(40, secret);
        o.public_url = "http://files.test/";
        o.sync_writes = false;
        store = LocalStore::open(o, clock).value();
    }

    // The request a client holding `url` would send with `method`.
    static SignedRequest request_for(const std::string& method, const std::string& url) {
        SignedRequest r;
        r.method = method;
        auto path_start = url.find("/v1/storage/local/") + std::strlen("/v1/storage/local/");
        auto q = url.find('?');
        r.key = url.substr(path_start, q - path_start);  // the tests' keys need no decoding
        std::string query = url.substr(q + 1);
        for (std::size_t at = 0; at < query.size();) {
            auto amp = query.find('&', at);
            auto pair = query.substr(at, amp == std::string::npos ? amp : amp - at);
            auto eq = pair.find('=');
            auto name = pair.substr(0, eq);
            auto value = pair.substr(eq + 1);
            if (name == "expires") {
                r.expires = value;
            } else if (name == "sig") {
                r.signature = value;
            } else if (name == "upload") {
                r.upload_id = value;
            } else if (name == "part") {
                r.part = value;
            }
            at = amp == std::string::npos ? query.size() : amp + 1;
        }
        return r;
    }

    Result<ObjectInfo> put(const SignedRequest& r, const std::string& content,
                           std::optional<std::uint64_t> declared = std::nullopt,
                           std::size_t fail_after = SIZE_MAX) {
        std::size_t offset = 0;
        ByteSource source = [&](char* out, std::size_t max) -> Result<std::size_t> {
            if (offset >= fail_after) {
                return make_error(Errc::unavailable, "peer_gone", "the peer left");
            }
            std::size_t n = std::min({max, content.size() - offset, fail_after - offset});
            std::memcpy(out, content.data() + offset, n);
            offset += n;
            return n;
        };
        return store->receive_put(r, declared ? declared : content.size(), source);
    }

    struct Got {
        ServeHead head;
        std::string body;
    };
    Got get(const SignedRequest& r, const std::string& range = {}) {
        Got g;
        auto done = store->serve_get(
            r, range,
            [&](const ServeHead& h) -> Result<void> {
                g.head = h;
                return {};
            },
            [&](std::string_view d) -> Result<void> {
                g.body.append(d);
                return {};
            });
        REQUIRE(done);
        return g;
    }

    std::size_t temp_files() const {
        std::size_t n = 0;
        for ([[maybe_unused]] const auto& e :
             std::filesystem::directory_iterator(dir.path() / "data" / "tmp")) {
            ++n;
        }
        return n;
    }
};

}  // namespace

TEST_CASE("a signed URL is checked against its method, key and expiry", "[storage][local]") {
    Store s;
    auto url = s.store->presign(StorageMethod::get, "a/b.txt", 60s).value();
    CHECK(url.url.rfind("http://files.test/v1/storage/local/a/b.txt?expires=", 0) == 0);

    auto good = Store::request_for("GET", url.url);
    CHECK(s.store->verify(good));
    auto head = Store::request_for("HEAD", url.url);
    CHECK(s.store->verify(head));

    auto wrong_method = Store::request_for("PUT", url.url);
    CHECK(s.store->verify(wrong_method).error().code == "signature_invalid");

    auto other_key = good;
    other_key.key = "a/c.txt";
    CHECK(s.store->verify(other_key).error().code == "signature_invalid");

    auto longer = good;
    longer.expires = std::to_string(std::stoll(good.expires) + 3600);
    CHECK(s.store->verify(longer).error().code == "signature_invalid");

    auto tampered = good;
    tampered.signature[5] = tampered.signature[5] == 'a' ? 'b' : 'a';
    CHECK(s.store->verify(tampered).error().errc == Errc::forbidden);

    s.clock.advance(61s);
    auto expired = s.store->verify(good);
    CHECK(expired.error().code == "url_expired");
    CHECK(expired.error().errc == Errc::forbidden);
}

TEST_CASE("a URL signed under another secret is refused", "[storage][local]") {
    Store a('a');
    Store b('b');
    auto url = a.store->presign(StorageMethod::get, "k", 60s).value();
    CHECK(b.store->verify(Store::request_for("GET", url.url)).error().code == "signature_invalid");
}

TEST_CASE("an object is stored with its size and checksum and read back whole or by range",
          "[storage][local]") {
    Store s;
    auto content = test::generated(7, 0, 3 * 1024 * 1024 + 17);
    auto put = Store::request_for("PUT", s.store->presign(StorageMethod::put, "d/x", 60s)->url);
    auto info = s.put(put, content).value();
    CHECK(info.size == content.size());
    CHECK(info.sha256 == test::generated_sha256(7, content.size()));

    auto st = s.store->stat("d/x").value();
    CHECK(st.size == content.size());
    CHECK(st.sha256 == info.sha256);

    auto get = Store::request_for("GET", s.store->presign(StorageMethod::get, "d/x", 60s)->url);
    auto whole = s.get(get);
    CHECK(whole.head.status == 200);
    CHECK(whole.body == content);

    auto part = s.get(get, "bytes=1000-1999");
    CHECK(part.head.status == 206);
    CHECK(part.head.length == 1000);
    CHECK(part.body == content.substr(1000, 1000));

    auto tail = s.get(get, "bytes=-10");
    CHECK(tail.body == content.substr(content.size() - 10));
    auto open_end = s.get(get, "bytes=" + std::to_string(content.size() - 5) + "-");
    CHECK(open_end.body == content.substr(content.size() - 5));

    auto beyond = s.get(get, "bytes=" + std::to_string(content.size()) + "-");
    CHECK(beyond.head.status == 416);
    CHECK(beyond.body.empty());
}

TEST_CASE("an upload that breaks off or comes up short leaves nothing visible",
          "[storage][local]") {
    Store s;
    auto put = Store::request_for("PUT", s.store->presign(StorageMethod::put, "half", 60s)->url);
    auto content = test::generated(3, 0, 4 * 1024 * 1024);

    auto broken = s.put(put, content, std::nullopt, 1024 * 1024 + 5);
    CHECK(broken.error().code == "peer_gone");
    CHECK(s.store->stat("half").error().code == "object_not_found");
    CHECK(s.temp_files() == 0);

    auto shorter = s.put(put, content, content.size() + 10);
    CHECK(shorter.error().code == "body_incomplete");
    CHECK(s.store->stat("half").error().code == "object_not_found");
    CHECK(s.temp_files() == 0);

    // An earlier version stays whole when a replacement breaks.
    REQUIRE(s.put(put, "old"));
    CHECK_FALSE(s.put(put, content, std::nullopt, 100));
    CHECK(s.store->stat("half")->size == 3);
}

TEST_CASE("a multipart upload joins its parts, the last copy of a part sent twice winning",
          "[storage][local]") {
    Store s;
    auto id = s.store->start_multipart("big/file").value();
    auto part = [&](int n) {
        return Store::request_for("PUT", s.store->presign_part("big/file", id, n, 60s)->url);
    };
    auto first = test::generated(1, 0, kMinPartSize);
    auto retried = test::generated(2, 0, kMinPartSize);
    auto last = test::generated(3, 0, 1000);
    auto p1_old = s.put(part(1), first).value();
    auto p1 = s.put(part(1), retried).value();
    auto p2 = s.put(part(2), last).value();
    CHECK(s.store->stat("big/file").error().code == "object_not_found");

    auto stale = s.store->complete_multipart("big/file", id, {{1, p1_old.etag}, {2, p2.etag}});
    CHECK(stale.error().code == "invalid_part");
    auto wrong_order = s.store->complete_multipart("big/file", id, {{2, p2.etag}, {1, p1.etag}});
    CHECK(wrong_order.error().code == "invalid_part");

    auto info =
        s.store->complete_multipart("big/file", id, {{1, p1.etag}, {2, "\"" + p2.etag + "\""}});
    REQUIRE(info);
    CHECK(info->size == kMinPartSize + 1000);
    auto get =
        Store::request_for("GET", s.store->presign(StorageMethod::get, "big/file", 60s)->url);
    CHECK(s.get(get).body == retried + last);

    // The upload is gone once completed.
    CHECK(s.store->abort_multipart("big/file", id).error().code == "upload_not_found");
    CHECK(s.store->presign_part("big/file", id, 1, 60s).error().code == "upload_not_found");
}

TEST_CASE("a small first part and an aborted upload are refused", "[storage][local]") {
    Store s;
    auto id = s.store->start_multipart("m").value();
    auto url = s.store->presign_part("m", id, 1, 60s).value();
    auto p1 = s.put(Store::request_for("PUT", url.url), "tiny").value();
    auto p2 =
        s.put(Store::request_for("PUT", s.store->presign_part("m", id, 2, 60s)->url), "x").value();
    CHECK(s.store->complete_multipart("m", id, {{1, p1.etag}, {2, p2.etag}}).error().code ==
          "invalid_part");
    CHECK(s.store->presign_part("other", id, 1, 60s).error().code == "upload_not_found");
    REQUIRE(s.store->abort_multipart("m", id));
    CHECK(s.store->abort_multipart("m", id).error().code == "upload_not_found");
    CHECK(s.store->stat("m").error().code == "object_not_found");
}

TEST_CASE("listing pages through the objects under a prefix in key order", "[storage][local]") {
    Store s;
    for (auto key : {"p/c", "p/a", "p/b/1", "p/b/2", "q/z", "pz", "p/d"}) {
        REQUIRE(s.store->put_small(key, key));
    }
    auto first = s.store->list("p/", "", 2).value();
    REQUIRE(first.objects.size() == 2);
    CHECK(first.objects[0].key == "p/a");
    CHECK(first.objects[1].key == "p/b/1");
    CHECK(first.next == "p/b/1");
    auto second = s.store->list("p/", first.next, 2).value();
    REQUIRE(second.objects.size() == 2);
    CHECK(second.objects[0].key == "p/b/2");
    CHECK(second.objects[1].key == "p/c");
    auto third = s.store->list("p/", second.next, 2).value();
    REQUIRE(third.objects.size() == 1);
    CHECK(third.objects[0].key == "p/d");
    CHECK(third.next.empty());

    CHECK(s.store->list("p", "", 100)->objects.size() == 6);
    CHECK(s.store->list("", "", 100)->objects.size() == 7);
    CHECK(s.store->list("p/b/", "", 100)->objects.size() == 2);
    CHECK(s.store->list("nothing/here/", "", 100)->objects.empty());

    REQUIRE(s.store->remove("p/b/1"));
    REQUIRE(s.store->remove("p/b/2"));
    REQUIRE(s.store->remove("p/b/2"));
    CHECK_FALSE(std::filesystem::exists(s.dir.path() / "data" / "objects" / "p" / "b"));
    CHECK(s.store->list("p/", "", 100)->objects.size() == 3);
}

TEST_CASE("bad keys are refused before anything is touched", "[storage][local]") {
    Store s;
    for (auto key : {"", "/abs", "a//b", "a/../b", "..", "a/./b", "tab\there", "back\\slash"}) {
        CAPTURE(key);
        CHECK(s.store->presign(StorageMethod::put, key, 60s).error().code == "invalid_key");
        CHECK(s.store->stat(key).error().code == "invalid_key");
    }
    CHECK(s.store->presign(StorageMethod::put, std::string(1025, 'k'), 60s).error().code ==
          "invalid_key");
}
