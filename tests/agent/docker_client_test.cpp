#include "docker_client.hpp"
#include "task_manager.hpp"

#include <catch2/catch.hpp>

#include <vector>

using namespace unidesk::agent;

namespace {

std::string frame(char stream, const std::string& payload) {
    std::string f(8, '\0');
    f[0] = stream;
    const auto n = payload.size();
    f[4] = static_cast<char>((n >> 24) & 0xff);
    f[5] = static_cast<char>((n >> 16) & 0xff);
    f[6] = static_cast<char>((n >> 8) & 0xff);
    f[7] = static_cast<char>(n & 0xff);
    return f + payload;
}

}  // namespace

TEST_CASE("container output frames are split however the bytes arrive", "[agent][docker]") {
    const std::string bytes =
        frame(1, "out one\n") + frame(2, "err\n") + frame(1, std::string(70000, 'z'));
    for (std::size_t step : {std::size_t{1}, std::size_t{7}, std::size_t{4096}, bytes.size()}) {
        LogDemuxer demux;
        std::vector<std::pair<std::string, std::string>> got;
        for (std::size_t at = 0; at < bytes.size(); at += step) {
            demux.feed(std::string_view(bytes).substr(at, step),
                       [&](std::string_view s, std::string_view d) {
                           got.emplace_back(std::string(s), std::string(d));
                       });
        }
        REQUIRE(got.size() == 3);
        CHECK(got[0] == std::pair<std::string, std::string>{"stdout", "out one\n"});
        CHECK(got[1] == std::pair<std::string, std::string>{"stderr", "err\n"});
        CHECK(got[2].second.size() == 70000);
    }
}

TEST_CASE("the engine's error message is read from its JSON body", "[agent][docker]") {
    CHECK(docker_message(R"({"message":"No such image: x"})") == "No such image: x");
    CHECK(docker_message("plain text") == "plain text");
}

TEST_CASE("an env image tag depends on the repository, the commit and the Dockerfile",
          "[agent][docker]") {
    const std::string c(40, 'a');
    const auto tag = env_image_tag("https://h/env.git", c, "Dockerfile");
    CHECK(tag.rfind("unidesk-env:", 0) == 0);
    CHECK(tag.size() == 12 + 64);
    CHECK(tag == env_image_tag("https://h/env.git", c, "Dockerfile"));
    CHECK(tag != env_image_tag("https://h/env2.git", c, "Dockerfile"));
    CHECK(tag != env_image_tag("https://h/env.git", std::string(40, 'b'), "Dockerfile"));
    CHECK(tag != env_image_tag("https://h/env.git", c, "gpu/Dockerfile"));
}

TEST_CASE("an engine that is not there is a clear unavailable error", "[agent][docker]") {
    DockerClient docker("/nonexistent/docker.sock");
    auto r = docker.image_exists("x");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "docker_unavailable");
    CHECK_THAT(r.error().message, Catch::Contains("/nonexistent/docker.sock"));
}
