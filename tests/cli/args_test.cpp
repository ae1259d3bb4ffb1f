#include "args.hpp"

#include <catch2/catch.hpp>

using unidesk::cli::parse_args;

TEST_CASE("options may stand anywhere, with a space or an equals sign", "[cli][args]") {
    auto inv =
        parse_args({"--json", "user", "create", "li", "--role=member", "--server", "http://x"});
    REQUIRE(inv);
    CHECK(inv->words == std::vector<std::string>{"user", "create", "li"});
    CHECK(inv->has("json"));
    CHECK(inv->value("role") == "member");
    CHECK(inv->value("server") == "http://x");
    CHECK_FALSE(inv->value("token"));
}

TEST_CASE("a double dash ends the options", "[cli][args]") {
    auto inv = parse_args({"token", "create", "--", "--odd-name"});
    REQUIRE(inv);
    CHECK(inv->words == std::vector<std::string>{"token", "create", "--odd-name"});
}

TEST_CASE("bad options are usage errors", "[cli][args]") {
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"--bogus"}, {"-x"}, {"--server"}, {"--json=yes"}, {"--json", "--json"}}) {
        auto inv = parse_args(args);
        REQUIRE_FALSE(inv);
        CHECK(inv.error().code == "usage");
    }
}
