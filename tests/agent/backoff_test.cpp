#include "backoff.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace unidesk::agent;
using std::chrono::milliseconds;

namespace {

BackoffPolicy policy() {
    return {milliseconds(1000), milliseconds(60000), milliseconds(60000)};
}

}  // namespace

TEST_CASE("the ceiling doubles from base and then stays at the cap", "[agent][backoff]") {
    Backoff b(policy(), [] { return 1.0; });
    const long expected[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000};
    for (long e : expected) {
        REQUIRE(b.ceiling() == milliseconds(e));
        REQUIRE(b.next() == milliseconds(e));
    }
    for (int i = 0; i < 200; ++i) {
        REQUIRE(b.next() == milliseconds(60000));
    }
}

TEST_CASE("every wait lies between zero and the ceiling", "[agent][backoff]") {
    std::mt19937_64 engine(7);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    Backoff b(policy(), [&] { return unit(engine); });
    bool below_half = false;
    for (int i = 0; i < 500; ++i) {
        const auto top = b.ceiling();
        const auto wait = b.next();
        REQUIRE(wait >= milliseconds(0));
        REQUIRE(wait <= top);
        below_half = below_half || wait < top / 2;
    }
    REQUIRE(below_half);  // full jitter, not "half plus jitter"

    Backoff zero(policy(), [] { return 0.0; });
    REQUIRE(zero.next() == milliseconds(0));

    Backoff wild(policy(), [] { return 7.0; });
    REQUIRE(wild.next() == milliseconds(1000));
}

TEST_CASE("a connection that stayed up long enough resets the backoff", "[agent][backoff]") {
    Backoff b(policy(), [] { return 1.0; });
    for (int i = 0; i < 5; ++i) {
        b.next();
    }
    REQUIRE(b.ceiling() == milliseconds(32000));

    b.connection_ended(milliseconds(59999));
    REQUIRE(b.ceiling() == milliseconds(32000));

    b.connection_ended(milliseconds(60000));
    REQUIRE(b.attempt() == 0);
    REQUIRE(b.next() == milliseconds(1000));
}
