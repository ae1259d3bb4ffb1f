#include "core/kernel_config.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

using namespace unidesk::kernel;

TEST_CASE("the example config in config/ is valid and shows every default", "[kernel][config]") {
    auto cfg = load_kernel_config(std::string(UNIDESK_SOURCE_DIR) + "/config/kernel.example.toml");
    REQUIRE(cfg);
    CHECK(cfg->database.pool_size == 8);
    CHECK(cfg->internal_listener.port == 7700);
    CHECK(cfg->log_format == "text");
}

TEST_CASE("docs/reference/config.md documents every kernel key", "[kernel][config][docs]") {
    std::ifstream in(std::string(UNIDESK_SOURCE_DIR) + "/docs/reference/config.md");
    std::stringstream doc;
    doc << in.rdbuf();
    for (const auto& k : kernel_config_schema()) {
        INFO(k.name);
        CHECK(doc.str().find("| `" + k.name + "` |") != std::string::npos);
    }
}
