// Task specs too large for the provider link: refused at submit when the spec alone is past its
// limit, and failed at dispatch (without closing the node's session) when the assignment frame
// is past the link's frame limit. The real kernel with the scheduler and PostgreSQL; a
// WebSocket client of the tests' own as the node.

#include "scheduler_kernel.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>

using namespace std::chrono_literals;
using nlohmann::json;
using unidesk::test::wait_until;

namespace {

// A task with `bytes` of environment, in variables of at most `each` bytes.
json task_with_env(std::size_t bytes, std::size_t each = 64 * 1024) {
    const std::string commit(40, 'a');
    json env = json::object();
    for (std::size_t i = 0; bytes > 0; ++i) {
        const auto n = std::min(bytes, each);
        env["BIG" + std::to_string(i)] = std::string(n, 'x');
        bytes -= n;
    }
    return json{{"code_repo_url", "https://example.invalid/code.git"},
                {"code_commit_id", commit},
                {"env_repo_url", "https://example.invalid/env.git"},
                {"env_commit_id", commit},
                {"command", {"true"}},
                {"env", env}};
}

}  // namespace

TEST_CASE("a task spec past 256 KiB is refused at submit with 413 and nothing is stored",
          "[scheduler][e2e][db]") {
    unidesk::test::SchedulerKernel k;
    auto& kernel = k.kernel;

    auto refused = kernel.call("POST", "/v1/tasks", task_with_env(300 * 1024).dump());
    CHECK(refused.status == 413);
    CHECK(refused.json()["error"]["code"] == "spec_too_large");
    CHECK(refused.json()["error"]["message"].get<std::string>().find("262144") !=
          std::string::npos);
    CHECK(kernel.call("GET", "/v1/tasks").json()["tasks"].empty());

    // Just under the limit is taken.
    CHECK(kernel.call("POST", "/v1/tasks", task_with_env(250 * 1024).dump()).status == 201);

    // One variable no program could be started with is refused, though the spec is small.
    auto one = kernel.call("POST", "/v1/tasks", task_with_env(130 * 1024, 130 * 1024).dump());
    CHECK(one.status == 400);
    CHECK(one.json()["error"]["message"].get<std::string>().find("Linux allows at most") !=
          std::string::npos);
}

TEST_CASE("an assignment past the link's frame limit fails its task and keeps the node's session",
          "[scheduler][e2e][db]") {
    unidesk::test::SchedulerKernel k("[provider]\nmax_frame_bytes = 16384\n");
    auto& kernel = k.kernel;
    auto ws = unidesk::test::connect_raw_node(kernel, "small");

    auto big = kernel.call("POST", "/v1/tasks", task_with_env(20 * 1024).dump());
    REQUIRE(big.status == 201);
    const auto path = "/v1/tasks/" + std::to_string(big.json()["task"]["id"].get<std::int64_t>());
    REQUIRE(wait_until([&] { return kernel.call("GET", path).json()["task"]["state"] == "failed"; },
                       20s));
    const auto t = kernel.call("GET", path).json()["task"];
    CHECK(t["cause"] == "assign_too_large");
    CHECK(t["attempts"] == 1);  // not retried: it would not fit the next time either
    CHECK(t["message"].get<std::string>().find("16384-byte limit") != std::string::npos);
    // The task's log says why, though no node ever ran it.
    const auto log = kernel.call("GET", path + "/log").json();
    REQUIRE(log["entries"].size() == 1);
    CHECK(log["entries"][0]["stream"] == "agent");
    CHECK(log["entries"][0]["data"].get<std::string>().rfind("attempt failed (assign_too_large): ",
                                                             0) == 0);

    // The node was never sent the frame and still holds its session: the next task reaches it.
    unidesk::test::submit_placeholder_task(kernel);
    for (;;) {
        auto f = ws->read();
        REQUIRE(f);
        if (json::parse(*f)["type"] == "task.assign") {
            break;
        }
    }
}
