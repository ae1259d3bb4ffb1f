#include "core/kernel_config.hpp"

#include <catch2/catch.hpp>

using namespace unidesk;
using namespace unidesk::kernel;

namespace {

const char* kMinimal = R"(
[database]
url = "postgresql://localhost/unidesk"
)";

std::string error_of(const std::string& text) {
    auto r = parse_kernel_config(text, "/etc/unidesk/kernel.toml");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "config_invalid");
    CHECK(r.error().errc == Errc::invalid_argument);
    return r.error().message;
}

}  // namespace

TEST_CASE("a minimal config gets every documented default", "[kernel][config]") {
    auto r = parse_kernel_config(kMinimal, "/etc/unidesk/kernel.toml");
    REQUIRE(r);
    CHECK(r->database.url == "postgresql://localhost/unidesk");
    CHECK(r->database.pool_size == 8);
    CHECK(r->internal_listener.host == "127.0.0.1");
    CHECK(r->internal_listener.port == 7700);
    CHECK_FALSE(r->public_listener.enabled());
    CHECK(r->plugins_enabled.empty());
    CHECK(r->plugin_dir == "/etc/unidesk/plugins");
    CHECK(r->log_format == "text");
    CHECK_FALSE(r->instance_name.empty());
}

TEST_CASE("an unknown key is refused by its full name", "[kernel][config]") {
    auto msg = error_of(std::string(kMinimal) + "pool_sise = 3\n");
    CHECK(msg.find("unknown key database.pool_sise") != std::string::npos);
    CHECK(msg.find("/etc/unidesk/kernel.toml") != std::string::npos);
}

TEST_CASE("an unknown section is refused", "[kernel][config]") {
    auto msg = error_of(std::string(kMinimal) + "[databse]\nurl = \"x\"\n");
    CHECK(msg.find("databse") != std::string::npos);
}

TEST_CASE("a key of the wrong type is refused with the type it needs", "[kernel][config]") {
    auto msg = error_of(std::string(kMinimal) + "pool_size = \"eight\"\n");
    CHECK(msg.find("database.pool_size must be an integer") != std::string::npos);
}

TEST_CASE("bad values are refused with the key named", "[kernel][config]") {
    CHECK(error_of("[database]\n").find("database.url is required") != std::string::npos);
    CHECK(error_of(std::string(kMinimal) + "pool_size = 0\n").find("database.pool_size") !=
          std::string::npos);
    CHECK(error_of(std::string(kMinimal) + "[listeners]\ninternal = \"nohost\"\n")
              .find("listeners.internal") != std::string::npos);
    CHECK(error_of(std::string(kMinimal) + "[listeners]\ninternal = \"a:99999\"\n")
              .find("bad port") != std::string::npos);
    CHECK(error_of(std::string(kMinimal) + "[kernel]\nlog_level = \"loud\"\n")
              .find("kernel.log_level") != std::string::npos);
}

TEST_CASE("broken TOML is refused with its line", "[kernel][config]") {
    CHECK(error_of("[database\nurl=1").find("line 1") != std::string::npos);
}

TEST_CASE("plugin sections belong to enabled plugins", "[kernel][config]") {
    auto ok = parse_kernel_config(std::string(kMinimal) +
                                      "[plugins]\nenabled = [\"scheduler\"]\n"
                                      "[plugin.scheduler]\ngrace_s = 5\n",
                                  "k.toml");
    REQUIRE(ok);
    CHECK(ok->plugin_sections.at("scheduler")["grace_s"] == 5);

    auto msg = error_of(std::string(kMinimal) + "[plugin.gateway]\nx = 1\n");
    CHECK(msg.find("plugin.gateway") != std::string::npos);
    CHECK(error_of(std::string(kMinimal) + "[plugins]\nenabled = [\"a\", \"a\"]\n")
              .find("listed twice") != std::string::npos);
}

TEST_CASE("a plugin section is checked against the plugin's declared keys", "[kernel][config]") {
    ConfigSchema schema{{"grace_s", ConfigType::integer, 600, "grace"},
                        {"labels", ConfigType::string_list, nlohmann::json::array(), "labels"}};
    auto filled = resolve_plugin_section("scheduler", nlohmann::json::object(), schema);
    REQUIRE(filled);
    CHECK((*filled)["grace_s"] == 600);

    auto wrong = resolve_plugin_section("scheduler", {{"grace_s", "ten"}}, schema);
    REQUIRE_FALSE(wrong);
    CHECK(wrong.error().message.find("plugin.scheduler.grace_s") != std::string::npos);

    auto unknown = resolve_plugin_section("scheduler", {{"grace", 1}}, schema);
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().message.find("unknown key plugin.scheduler.grace") != std::string::npos);

    auto bad_list = resolve_plugin_section("scheduler", {{"labels", {1, 2}}}, schema);
    REQUIRE_FALSE(bad_list);
}

TEST_CASE("every kernel key is documented with a default", "[kernel][config]") {
    for (const auto& k : kernel_config_schema()) {
        INFO(k.name);
        CHECK_FALSE(k.description.empty());
        CHECK_FALSE(k.default_value.is_null());
    }
}
