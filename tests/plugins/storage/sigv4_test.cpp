// Signature Version 4 against the examples AWS publishes in its S3 documentation (the same
// keys, bucket, times and expected signatures), so that a mistake in the canonical form shows
// here before any store is involved.

#include "sigv4.hpp"

#include "crypto.hpp"

#include <catch2/catch.hpp>

using namespace unidesk::storage;

namespace {

SigV4Credentials example_credentials() {
    SigV4Credentials c;
    c.access_key = "AKIAIOSFODNN7EXAMPLE";
    c.secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    c.region = "us-east-1";
    return c;
}

// 2013-05-24T00:00:00Z
std::chrono::system_clock::time_point example_time() {
    return std::chrono::system_clock::from_time_t(1369353600);
}

}  // namespace

TEST_CASE("a presigned GET matches the published example", "[storage][sigv4]") {
    SigV4Request req;
    req.method = "GET";
    req.path = "/test.txt";
    req.headers["host"] = "examplebucket.s3.amazonaws.com";
    auto query = sigv4_presign_query(example_credentials(), req, example_time(),
                                     std::chrono::seconds(86400));
    CHECK(query.find("X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2F"
                     "aws4_request") != std::string::npos);
    CHECK(query.find("X-Amz-Expires=86400") != std::string::npos);
    CHECK(query.find("&X-Amz-Signature="
                     "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404") !=
          std::string::npos);
}

TEST_CASE("a header-signed ranged GET matches the published example", "[storage][sigv4]") {
    SigV4Request req;
    req.method = "GET";
    req.path = "/test.txt";
    req.payload_hash = sha256_hex("");
    req.headers = {{"host", "examplebucket.s3.amazonaws.com"},
                   {"range", "bytes=0-9"},
                   {"x-amz-content-sha256", req.payload_hash},
                   {"x-amz-date", "20130524T000000Z"}};
    auto auth = sigv4_authorization(example_credentials(), req, "20130524T000000Z");
    CHECK(auth ==
          "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
          "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
          "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST_CASE("query names and values are encoded and sorted in the canonical query",
          "[storage][sigv4]") {
    CHECK(canonical_query({{"uploadId", "a b/c"}, {"partNumber", "3"}}) ==
          "partNumber=3&uploadId=a%20b%2Fc");
    CHECK(canonical_query({{"uploads", ""}}) == "uploads=");
    CHECK(uri_encode("dir/a b+c~.txt", true) == "dir/a%20b%2Bc~.txt");
}
