#include "resources.hpp"

#include <catch2/catch.hpp>

using namespace unidesk::agent;

TEST_CASE("resource detection reports this machine's cores, memory and disk", "[agent]") {
    REQUIRE(detect_cpu_cores() >= 1);
    REQUIRE(detect_memory_bytes() > 0);
    REQUIRE(detect_disk_bytes("/tmp") > 0);
    REQUIRE(detect_disk_bytes("/no/such/folder") == 0);

    AgentConfig config;
    config.work_dir = "/tmp";
    auto r = detect_resources(config);
    REQUIRE(r.os == "linux");
    REQUIRE_FALSE(r.arch.empty());
    REQUIRE(r.cpu_cores >= 1);
    REQUIRE(r.gpus.empty());  // no NVIDIA GPU and no nvidia-smi on the test machines
}

TEST_CASE("gpus declared in the config replace detection", "[agent]") {
    AgentConfig config;
    config.work_dir = "/tmp";
    config.gpus = {{"Fake A100", 81920}, {"Fake T4", 16384}};
    auto r = detect_resources(config);
    REQUIRE(r.gpus.size() == 2);
    REQUIRE(r.gpus[1].index == 1);
    REQUIRE(r.gpus[1].model == "Fake T4");
    REQUIRE(r.gpus[1].memory_bytes == 16384ull * 1024 * 1024);
}

TEST_CASE("nvidia-smi csv output is parsed and bad output refused", "[agent]") {
    auto ok = parse_nvidia_smi(
        "0, NVIDIA GeForce RTX 3090, 24576, 535.54.03\n1, Tesla T4, 15360, 535.54.03\n\n");
    REQUIRE(ok.has_value());
    REQUIRE(ok->size() == 2);
    REQUIRE((*ok)[0].model == "NVIDIA GeForce RTX 3090");
    REQUIRE((*ok)[0].memory_bytes == 24576ull * 1024 * 1024);
    REQUIRE((*ok)[1].driver == "535.54.03");

    REQUIRE(parse_nvidia_smi("")->empty());
    REQUIRE_FALSE(parse_nvidia_smi("0, GPU, [N/A], 535\n").has_value());
    REQUIRE_FALSE(
        parse_nvidia_smi("NVIDIA-SMI has failed because it couldn't communicate\n").has_value());
}
