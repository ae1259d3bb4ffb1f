// A node that sends its reports without waiting for each acknowledgement: the real kernel with
// the scheduler and PostgreSQL, and a WebSocket client of the tests' own as the node, so that
// the reports arrive faster than one transaction each could store them.

#include "support/kernel_under_test.hpp"
#include "support/pg_cluster.hpp"
#include "support/ws_client.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <unidesk/protocol/codec.hpp>

using namespace std::chrono_literals;
using nlohmann::json;
using unidesk::test::KernelUnderTest;
using unidesk::test::wait_until;
using unidesk::test::WsClient;
namespace protocol = unidesk::protocol;

namespace {

std::string frame(std::uint64_t n, protocol::Body body) {
    return protocol::encode(
        {"a-" + std::to_string(n), std::nullopt, protocol::kProtocolVersion, std::move(body)});
}

}  // namespace

TEST_CASE("a burst of reports is stored in order, each once, and every one is acknowledged",
          "[scheduler][e2e][db]") {
    unidesk::test::TestDatabase db;
    KernelUnderTest kernel;
    kernel.start(kernel.write_config(
        db.url(), "[plugins]\ndir = \"" + std::string(UNIDESK_PLUGIN_DIR) +
                      "\"\nenabled = [\"scheduler\"]\n[plugin.scheduler]\ndispatch_interval_ms = "
                      "50\n"));
    REQUIRE(wait_until([&] { return kernel.health_is("ok"); }, 30s));
    auto token = kernel.call("POST", "/v1/node-tokens", json{{"node_name", "burst"}}.dump());
    REQUIRE(token.status == 201);

    WsClient ws(static_cast<std::uint16_t>(kernel.provider_port));
    REQUIRE(ws.connect(token.json()["secret"].get<std::string>()) == 101);
    ws.send_text(WsClient::register_frame("burst"));
    auto registered = ws.read();
    REQUIRE(registered);
    REQUIRE(json::parse(*registered)["type"] == "registered");

    const std::string commit(40, 'a');
    auto submitted = kernel.call("POST", "/v1/tasks",
                                 json{{"code_repo_url", "https://example.invalid/code.git"},
                                      {"code_commit_id", commit},
                                      {"env_repo_url", "https://example.invalid/env.git"},
                                      {"env_commit_id", commit},
                                      {"command", {"true"}}}
                                     .dump());
    REQUIRE(submitted.status == 201);
    const auto task_id = submitted.json()["task"]["id"].get<std::int64_t>();

    std::string attempt;
    while (attempt.empty()) {
        auto f = ws.read();
        REQUIRE(f);
        auto j = json::parse(*f);
        if (j["type"] == "task.assign") {
            attempt = j["body"]["attempt_id"].get<std::string>();
        }
    }

    // accepted, running, 300 log chunks, succeeded: sent back to back, twice the last few (as
    // after a reconnect), with no wait for any acknowledgement.
    constexpr std::uint64_t kChunks = 300;
    std::uint64_t seq = 0;
    std::uint64_t n = 1;
    auto status = [&](const std::string& phase) {
        protocol::TaskStatus s;
        s.attempt_id = attempt;
        s.seq = ++seq;
        s.phase = phase;
        s.at = "2026-01-01T00:00:00Z";
        if (phase == "succeeded") {
            s.exit_code = 0;
        }
        return frame(++n, s);
    };
    std::vector<std::string> frames = {status("accepted"), status("running")};
    for (std::uint64_t i = 0; i < kChunks; ++i) {
        protocol::TaskLog l;
        l.attempt_id = attempt;
        l.seq = ++seq;
        l.stream = "stdout";
        l.data = "line " + std::to_string(i) + "\n";
        frames.push_back(frame(++n, l));
    }
    frames.push_back(status("succeeded"));
    const std::uint64_t last = seq;
    for (const auto& f : frames) {
        ws.send_text(f);
    }
    for (std::size_t i = frames.size() - 3; i < frames.size(); ++i) {
        ws.send_text(frames[i]);
    }

    // Every seq is acknowledged, in the order sent (the repeats again, as stored before).
    std::vector<std::uint64_t> acked;
    while (acked.size() < frames.size() + 3) {
        auto f = ws.read();
        REQUIRE(f);
        auto j = json::parse(*f);
        if (j["type"] == "task.ack") {
            CHECK(j["body"]["attempt_id"] == attempt);
            acked.push_back(j["body"]["seq"].get<std::uint64_t>());
        }
    }
    for (std::uint64_t i = 0; i < last; ++i) {
        REQUIRE(acked[i] == i + 1);
    }
    CHECK(acked[last] == last - 2);
    CHECK(acked[last + 2] == last);

    auto t = kernel.call("GET", "/v1/tasks/" + std::to_string(task_id));
    REQUIRE(t.status == 200);
    CHECK(t.json()["task"]["state"] == "succeeded");
    const auto phases = t.json()["attempts"][0]["phases"];
    REQUIRE(phases.size() == 4);  // assigned, accepted, running, succeeded: no repeat
    CHECK(phases[3]["phase"] == "succeeded");

    auto log = kernel.call("GET", "/v1/tasks/" + std::to_string(task_id) + "/log");
    REQUIRE(log.status == 200);
    const auto entries = log.json()["entries"];
    REQUIRE(entries.size() == kChunks);
    for (std::uint64_t i = 0; i < kChunks; ++i) {
        REQUIRE(entries[i]["data"] == "line " + std::to_string(i) + "\n");
    }
}
