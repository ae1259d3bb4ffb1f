#include "core/logging.hpp"

#include <catch2/catch.hpp>

using namespace unidesk::kernel;

TEST_CASE("a component logger is made once and then reused", "[kernel][logging]") {
    auto a = get_logger("kernel.test");
    auto b = get_logger("kernel.test");
    REQUIRE(a == b);
    REQUIRE(a->name() == "kernel.test");
}
