#include "settings.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>

using namespace unidesk::cli;

namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
        const auto it = vars.find(name);
        return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
}

//! A temporary home folder, removed at the end of the test.
struct TempHome {
    std::filesystem::path dir;
    TempHome() {
        char name[] = "/tmp/unidesk-cli-home-XXXXXX";
        dir = ::mkdtemp(name);
    }
    ~TempHome() { std::filesystem::remove_all(dir); }

    //! Readable and writable by its owner alone unless `mode` says otherwise.
    std::string write(const std::string& relative, const std::string& text,
                      std::filesystem::perms mode = std::filesystem::perms::owner_read |
                                                    std::filesystem::perms::owner_write) const {
        const auto path = dir / relative;
        std::filesystem::create_directories(path.parent_path());
        std::ofstream(path) << text;
        std::filesystem::permissions(path, mode);
        return path.string();
    }
};

}  // namespace

TEST_CASE("flags win over the environment, which wins over the config file", "[cli][settings]") {
    TempHome home;
    const auto file = home.write("cli.toml", "server = \"http://file\"\ntoken = \"udk_file\"\n");
    const auto env = env_of({{"UNIDESK_SERVER", "http://env"}, {"UNIDESK_TOKEN", "udk_env"}});

    auto s = resolve_settings({"http://flag", "udk_flag", file}, env);
    REQUIRE(s);
    CHECK(s->server == "http://flag");
    CHECK(s->token == "udk_flag");

    s = resolve_settings({std::nullopt, std::nullopt, file}, env);
    REQUIRE(s);
    CHECK(s->server == "http://env");
    CHECK(s->token == "udk_env");

    s = resolve_settings({std::nullopt, std::nullopt, file}, env_of({}));
    REQUIRE(s);
    CHECK(s->server == "http://file");
    CHECK(s->token == "udk_file");
}

TEST_CASE("each setting is taken from its own first source", "[cli][settings]") {
    TempHome home;
    const auto file = home.write("cli.toml", "server = \"http://file\"\ntoken = \"udk_file\"\n");
    auto s = resolve_settings({std::nullopt, "udk_flag", file},
                              env_of({{"UNIDESK_SERVER", "http://env"}}));
    REQUIRE(s);
    CHECK(s->server == "http://env");
    CHECK(s->token == "udk_flag");
}

TEST_CASE("an empty environment variable counts as unset", "[cli][settings]") {
    TempHome home;
    const auto file = home.write("cli.toml", "server = \"http://file\"\n");
    auto s = resolve_settings({std::nullopt, std::nullopt, file},
                              env_of({{"UNIDESK_SERVER", ""}, {"UNIDESK_TOKEN", ""}}));
    REQUIRE(s);
    CHECK(s->server == "http://file");
    CHECK(s->token.empty());
}

TEST_CASE("the default config file is read from the home folder", "[cli][settings]") {
    TempHome home;
    home.write(".config/unidesk/cli.toml", "server = \"http://home/\"\n");
    auto s = resolve_settings({}, env_of({{"HOME", home.dir.string()}}));
    REQUIRE(s);
    CHECK(s->server == "http://home");  // trailing slash dropped

    home.write("xdg/unidesk/cli.toml", "server = \"http://xdg\"\n");
    s = resolve_settings({}, env_of({{"HOME", home.dir.string()},
                                     {"XDG_CONFIG_HOME", (home.dir / "xdg").string()}}));
    REQUIRE(s);
    CHECK(s->server == "http://xdg");
}

TEST_CASE("no server anywhere is a clear error naming every place to give one", "[cli][settings]") {
    TempHome home;
    auto s = resolve_settings({}, env_of({{"HOME", home.dir.string()}}));
    REQUIRE_FALSE(s);
    CHECK(s.error().code == kServerMissing);
    CHECK_THAT(s.error().message, Catch::Contains("--server") &&
                                      Catch::Contains("UNIDESK_SERVER") &&
                                      Catch::Contains(".config/unidesk/cli.toml"));
}

TEST_CASE("a missing default config file is fine but a missing --config file is not",
          "[cli][settings]") {
    TempHome home;
    auto s = resolve_settings({"http://flag", std::nullopt, std::nullopt},
                              env_of({{"HOME", home.dir.string()}}));
    REQUIRE(s);
    CHECK(s->token.empty());

    s = resolve_settings({"http://flag", std::nullopt, (home.dir / "nope.toml").string()},
                         env_of({}));
    REQUIRE_FALSE(s);
    CHECK(s.error().code == kConfigInvalid);
    CHECK_THAT(s.error().message, Catch::Contains("nope.toml"));
}

TEST_CASE("a config file that does not parse or has a wrong type is refused", "[cli][settings]") {
    TempHome home;
    const auto broken = home.write("broken.toml", "server = \n");
    auto s = resolve_settings({std::nullopt, std::nullopt, broken}, env_of({}));
    REQUIRE_FALSE(s);
    CHECK(s.error().code == kConfigInvalid);
    CHECK_THAT(s.error().message, Catch::Contains("broken.toml"));

    const auto typed = home.write("typed.toml", "server = 7\n");
    s = resolve_settings({std::nullopt, std::nullopt, typed}, env_of({}));
    REQUIRE_FALSE(s);
    CHECK_THAT(s.error().message, Catch::Contains("'server' must be a string"));
}

TEST_CASE("a config file holding a token that others may read or change is refused",
          "[cli][settings]") {
    TempHome home;
    using std::filesystem::perms;
    const auto owner = perms::owner_read | perms::owner_write;
    for (const auto mode :
         {owner | perms::group_read, owner | perms::others_read, owner | perms::group_write}) {
        const auto file =
            home.write("cli.toml", "server = \"http://file\"\ntoken = \"udk_x\"\n", mode);
        auto s = resolve_settings({std::nullopt, std::nullopt, file}, env_of({}));
        REQUIRE_FALSE(s);
        CHECK(s.error().code == kConfigInvalid);
        CHECK_THAT(s.error().message, Catch::Contains("chmod 600 " + file));
    }
    // Without a token there is nothing to leak.
    const auto open_file =
        home.write("open.toml", "server = \"http://file\"\n", owner | perms::others_read);
    CHECK(resolve_settings({std::nullopt, std::nullopt, open_file}, env_of({})));
}
