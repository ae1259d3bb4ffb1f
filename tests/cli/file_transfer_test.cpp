// The progress line `unidesk storage put|get` shows on a terminal.

#include "file_transfer.hpp"

#include <catch2/catch.hpp>

using unidesk::cli::Progress;

TEST_CASE("the progress line shows bytes, rate and time left", "[cli][storage]") {
    CHECK(Progress::line(512ull << 20, 1ull << 30, 64.0 * (1 << 20)) ==
          "512.0 MiB / 1.0 GiB  64.0 MiB/s  0:08 left");
    CHECK(Progress::line(1ull << 30, 1ull << 30, 100.0 * (1 << 20)) ==
          "1.0 GiB / 1.0 GiB  100.0 MiB/s");
    CHECK(Progress::line(0, 10ull << 30, 0) == "0 B / 10.0 GiB  0 B/s");
    CHECK(Progress::line(1, 3600ull * 1024 * 2, 1024) == "1 B / 7.0 MiB  1.0 KiB/s  119:59 left");
}
