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

TEST_CASE("a repeatable option keeps every value in order", "[cli][args]") {
    auto inv = parse_args({"submit", "--env", "A=1", "--label=x=y", "--env=B=2"});
    REQUIRE(inv);
    CHECK(inv->values_of("env") == std::vector<std::string>{"A=1", "B=2"});
    CHECK(inv->values_of("label") == std::vector<std::string>{"x=y"});
    CHECK(inv->values_of("role").empty());
}

TEST_CASE("the words after a double dash are told apart, and -f is --follow", "[cli][args]") {
    auto inv = parse_args({"submit", "--wait", "--", "python3", "-f", "--epochs", "3"});
    REQUIRE(inv);
    CHECK(inv->words == std::vector<std::string>{"submit", "python3", "-f", "--epochs", "3"});
    CHECK(inv->words_before_dashes == 1u);
    CHECK_FALSE(inv->has("follow"));

    inv = parse_args({"logs", "12", "-f"});
    REQUIRE(inv);
    CHECK(inv->has("follow"));
    CHECK_FALSE(inv->words_before_dashes);
}
