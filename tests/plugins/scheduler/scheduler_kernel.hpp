#pragma once

// What the scheduler tests that need no agent share: the config that loads the scheduler, the
// kernel started with it on a database of its own, a node of the test's own on a raw session,
// and a task whose repositories nobody fetches (no real node takes it; a test's own node gets
// only its references).

#include "support/kernel_under_test.hpp"
#include "support/pg_cluster.hpp"
#include "support/ws_client.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace unidesk::test {

//! The kernel config sections that enable the scheduler; `more` goes into [plugin.scheduler].
inline std::string scheduler_config(const std::string& more = "dispatch_interval_ms = 50\n") {
    return "[plugins]\ndir = \"" + std::string(UNIDESK_PLUGIN_DIR) +
           "\"\nenabled = [\"scheduler\"]\n[plugin.scheduler]\n" + more;
}

//! The kernel with the scheduler on a fresh database, healthy; `sections` (whole config
//! sections, e.g. "[provider]\n...") go before the scheduler's.
struct SchedulerKernel {
    TestDatabase db;
    KernelUnderTest kernel;

    explicit SchedulerKernel(const std::string& sections = "") {
        kernel.start(kernel.write_config(db.url(), sections + scheduler_config()));
        REQUIRE(wait_until([&] { return kernel.health_is("ok"); }, std::chrono::seconds(30)));
    }
};

//! A node named `name` on a raw provider session of the test's own, registered.
inline std::unique_ptr<WsClient> connect_raw_node(const KernelUnderTest& kernel,
                                                  const std::string& name) {
    auto token = kernel.call("POST", "/v1/node-tokens", nlohmann::json{{"node_name", name}}.dump());
    REQUIRE(token.status == 201);
    auto ws = std::make_unique<WsClient>(static_cast<std::uint16_t>(kernel.provider_port));
    REQUIRE(ws->connect(token.json()["secret"].get<std::string>()) == 101);
    ws->send_text(WsClient::register_frame(name));
    auto registered = ws->read();
    REQUIRE(registered);
    REQUIRE(nlohmann::json::parse(*registered)["type"] == "registered");
    return ws;
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
