#pragma once

// What the scheduler tests that need no agent share: the config that loads the scheduler, and a
// task whose repositories nobody fetches (no real node takes it; a test's own node gets only
// its references).

#include "support/kernel_under_test.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace unidesk::test {

//! The kernel config sections that enable the scheduler; `more` goes into [plugin.scheduler].
inline std::string scheduler_config(const std::string& more = "dispatch_interval_ms = 50\n") {
    return "[plugins]\ndir = \"" + std::string(UNIDESK_PLUGIN_DIR) +
           "\"\nenabled = [\"scheduler\"]\n[plugin.scheduler]\n" + more;
}

//! Submits a task that runs `true` from two repositories nobody can reach; its id.
inline std::int64_t submit_placeholder_task(const KernelUnderTest& kernel) {
    const std::string commit(40, 'a');
    auto submitted =
        kernel.call("POST", "/v1/tasks",
                    nlohmann::json{{"code_repo_url", "https://example.invalid/code.git"},
                                   {"code_commit_id", commit},
                                   {"env_repo_url", "https://example.invalid/env.git"},
                                   {"env_commit_id", commit},
                                   {"command", {"true"}}}
                        .dump());
    REQUIRE(submitted.status == 201);
    return submitted.json()["task"]["id"].get<std::int64_t>();
}

}  // namespace unidesk::test
