#include "exit_codes.hpp"

#include "client.hpp"
#include "settings.hpp"

#include <catch2/catch.hpp>

using namespace unidesk;
using namespace unidesk::cli;

TEST_CASE("server answers map to the documented exit codes", "[cli][exit]") {
    CHECK(exit_code_for(error_from_answer(400, "")) == kExitFailed);
    CHECK(exit_code_for(error_from_answer(401, "")) == kExitAuth);
    CHECK(exit_code_for(error_from_answer(403, "")) == kExitAuth);
    CHECK(exit_code_for(error_from_answer(404, "")) == kExitNotFound);
    CHECK(exit_code_for(error_from_answer(409, "")) == kExitFailed);
    CHECK(exit_code_for(error_from_answer(500, "")) == kExitFailed);
    CHECK(exit_code_for(error_from_answer(503, "")) == kExitUnavailable);
    CHECK(exit_code_for(error_from_answer(504, "")) == kExitUnavailable);
}

TEST_CASE("local mistakes exit 2 and an unreachable server exits 5", "[cli][exit]") {
    CHECK(exit_code_for(make_error(Errc::invalid_argument, kUsageError, "x")) == kExitUsage);
    CHECK(exit_code_for(make_error(Errc::invalid_argument, kServerMissing, "x")) == kExitUsage);
    CHECK(exit_code_for(make_error(Errc::invalid_argument, kConfigInvalid, "x")) == kExitUsage);
    CHECK(exit_code_for(make_error(Errc::unavailable, kServerUnreachable, "x")) ==
          kExitUnavailable);
}

TEST_CASE("an error answer keeps the server's code and message", "[cli][exit]") {
    const auto e =
        error_from_answer(401, R"({"error":{"code":"token_revoked","message":"token revoked"}})");
    CHECK(e.errc == Errc::unauthenticated);
    CHECK(e.code == "token_revoked");
    CHECK(e.message == "token revoked");
}

TEST_CASE("an error answer without the error shape still says what happened", "[cli][exit]") {
    auto e = error_from_answer(502, "<html>bad gateway</html>");
    CHECK(e.code == "http_502");
    CHECK(e.message == "the server answered HTTP 502");

    e = error_from_answer(400, R"({"error":{"code":7}})");
    CHECK(e.code == "http_400");
}

TEST_CASE("path segments are percent-encoded", "[cli][exit]") {
    CHECK(path_segment("gpu-07.lab_a~") == "gpu-07.lab_a~");
    CHECK(path_segment("a b/c?") == "a%20b%2Fc%3F");
    CHECK(path_segment("节") == "%E8%8A%82");
}
