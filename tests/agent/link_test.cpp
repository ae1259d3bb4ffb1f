#include "agent/child_process.hpp"
#include "agent/test_peer.hpp"

#include "unidesk/protocol/close_reason.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <thread>

using namespace unidesk::test;
using namespace std::chrono_literals;
using unidesk::protocol::Message;

namespace {

const std::string kToken = "udn_" + std::string(64, 'c');

// Short backoff so that reconnection is quick on a loaded machine.
std::string write_config(unsigned short port, const std::string& token) {
    const std::string dir = make_temp_dir();
    std::ofstream(dir + "/agent.toml") << "server = \"ws://127.0.0.1:" << port << "\"\n"
                                       << "token = \"" << token << "\"\n"
                                       << "name = \"test-node\"\n"
                                       << "work_dir = \"" << dir << "/work\"\n"
                                       << "labels = { zone = \"test\" }\n"
                                       << "[reconnect]\nbase_s = 0.2\ncap_s = 1\n"
                                       << "[log]\nlevel = \"debug\"\n";
    return dir + "/agent.toml";
}

std::map<std::string, std::string> base_env() {
    return {{"PATH", "/usr/bin:/bin"}};
}

auto has(std::string_view type, std::size_t n) {
    return [type, n](const std::vector<Message>& m) { return count_type(m, type) >= n; };
}

}  // namespace

TEST_CASE(
    "the agent registers, heartbeats, comes back after a server restart and leaves on "
    "SIGTERM",
    "[agent][link]") {
    auto peer = std::make_unique<TestPeer>(kToken);
    const unsigned short port = peer->port();
    ChildProcess agent(UNIDESK_AGENT_BINARY, {"--config", write_config(port, kToken)}, base_env());

    REQUIRE(peer->wait_for(has("register", 1), 30s));
    REQUIRE(peer->wait_for(has("heartbeat", 2), 30s));
    peer->wait_for(
        [](const std::vector<Message>& m) {
            const auto& r = std::get<unidesk::protocol::Register>(m.front().body);
            REQUIRE(r.node_name == "test-node");
            REQUIRE(r.cpu_cores >= 1);
            REQUIRE(r.labels.at("zone") == "test");
            return true;
        },
        1s);

    // The server dies and comes back on the same port: the agent finds it again by itself.
    peer.reset();
    peer = std::make_unique<TestPeer>(kToken, port);
    INFO(agent.output());
    REQUIRE(peer->wait_for(has("register", 1), 30s));
    REQUIRE(peer->wait_for(has("heartbeat", 1), 30s));

    agent.signal(SIGTERM);
    REQUIRE(peer->wait_for(has("leaving", 1), 20s));
    REQUIRE(agent.wait_exit(20s) == 0);
    REQUIRE_THAT(agent.output(), Catch::Contains("link leaving reason=shutdown"));
}

TEST_CASE("a refused token is retried with backoff and logged clearly", "[agent][link]") {
    TestPeer peer(kToken);
    ChildProcess agent(UNIDESK_AGENT_BINARY,
                       {"--config", write_config(peer.port(), "udn_" + std::string(64, 'd'))},
                       base_env());

    REQUIRE(peer.wait_unauthorized(3, 30s));
    REQUIRE(peer.wait_for(has("register", 0), 1s));
    agent.signal(SIGTERM);
    REQUIRE(agent.wait_exit(20s) == 0);
    REQUIRE_THAT(agent.output(), Catch::Contains("link refused by server status=401"));
}

TEST_CASE("a close from the server is logged with its reason and followed by a reconnect",
          "[agent][link]") {
    TestPeer peer(kToken, 0,
                  static_cast<std::uint16_t>(unidesk::protocol::CloseReason::token_revoked));
    ChildProcess agent(UNIDESK_AGENT_BINARY, {"--config", write_config(peer.port(), kToken)},
                       base_env());

    REQUIRE(peer.wait_for(has("register", 2), 30s));
    agent.signal(SIGTERM);
    REQUIRE(agent.wait_exit(20s) == 0);
    REQUIRE_THAT(agent.output(), Catch::Contains("code=4001 reason=token_revoked"));
}
