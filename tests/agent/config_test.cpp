#include "agent_config.hpp"

#include "agent/child_process.hpp"

#include <catch2/catch.hpp>

#include <fstream>

using namespace unidesk::agent;
using unidesk::test::ChildProcess;

namespace {

const std::string kToken = "udn_" + std::string(64, 'a');
const std::string kOtherToken = "udn_" + std::string(64, 'b');

EnvLookup env_of(std::map<std::string, std::string> vars) {
    return [vars](const std::string& k) -> std::optional<std::string> {
        auto it = vars.find(k);
        return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
}

std::string write_file(const std::string& text) {
    const std::string path = unidesk::test::make_temp_dir() + "/agent.toml";
    std::ofstream(path) << text;
    return path;
}

std::string error_key(const std::vector<std::string>& args,
                      std::map<std::string, std::string> env = {}) {
    try {
        load_agent_config(args, env_of(std::move(env)));
    } catch (const ConfigError& e) {
        return e.key();
    }
    return "(no error)";
}

}  // namespace

TEST_CASE("defaults apply when only server and token are given", "[agent][config]") {
    auto c = load_agent_config({"--server", "ws://kernel.lan:8081"},
                               env_of({{"UNIDESK_NODE_TOKEN", kToken}}));
    REQUIRE(c.url.host == "kernel.lan");
    REQUIRE(c.url.port == "8081");
    REQUIRE_FALSE(c.url.tls);
    REQUIRE(c.url.target == "/v1/provider/connect");
    REQUIRE(c.reconnect.base == std::chrono::milliseconds(1000));
    REQUIRE(c.reconnect.cap == std::chrono::milliseconds(60000));
    REQUIRE(c.reconnect.stable == std::chrono::milliseconds(60000));
    REQUIRE(c.work_dir == "/var/lib/unidesk-agent");
    REQUIRE_FALSE(c.node_name.empty());  // the host name

    auto tls = load_agent_config({"--server", "wss://unidesk.example.org/base/", "--token", kToken},
                                 env_of({}));
    REQUIRE(tls.url.tls);
    REQUIRE(tls.url.port == "443");
    REQUIRE(tls.url.target == "/base/v1/provider/connect");
}

TEST_CASE("flags beat environment, which beats the file", "[agent][config]") {
    const auto file = write_file(R"(
server = "ws://from-file:1"
token = ")" + kToken + R"("
name = "file-node"
work_dir = "/tmp/file-dir"
labels = { zone = "file" }
[reconnect]
base_s = 0.5
cap_s = 10
stable_s = 30
[log]
level = "debug"
[[gpu]]
model = "Fake A100"
memory_mb = 81920
)");

    auto from_file = load_agent_config({"--config", file}, env_of({}));
    REQUIRE(from_file.url.host == "from-file");
    REQUIRE(from_file.node_name == "file-node");
    REQUIRE(from_file.labels == std::map<std::string, std::string>{{"zone", "file"}});
    REQUIRE(from_file.reconnect.base == std::chrono::milliseconds(500));
    REQUIRE(from_file.reconnect.cap == std::chrono::milliseconds(10000));
    REQUIRE(from_file.log_level == "debug");
    REQUIRE(from_file.gpus.size() == 1);

    const std::map<std::string, std::string> env = {{"UNIDESK_NODE_SERVER", "ws://from-env:2"},
                                                    {"UNIDESK_NODE_NAME", "env-node"},
                                                    {"UNIDESK_NODE_TOKEN", kOtherToken},
                                                    {"UNIDESK_LABELS", "zone=env, gpu=yes"},
                                                    {"UNIDESK_WORK_DIR", "/tmp/env-dir"}};
    auto from_env = load_agent_config({"--config", file}, env_of(env));
    REQUIRE(from_env.url.host == "from-env");
    REQUIRE(from_env.node_name == "env-node");
    REQUIRE(from_env.token == kOtherToken);
    REQUIRE(from_env.work_dir == "/tmp/env-dir");
    REQUIRE(from_env.labels == std::map<std::string, std::string>{{"zone", "env"}, {"gpu", "yes"}});

    auto from_flags =
        load_agent_config({"--config", file, "--server", "wss://from-flag", "--name", "flag-node",
                           "--label", "zone=flag", "--work-dir", "/tmp/flag-dir"},
                          env_of(env));
    REQUIRE(from_flags.url.host == "from-flag");
    REQUIRE(from_flags.node_name == "flag-node");
    REQUIRE(from_flags.work_dir == "/tmp/flag-dir");
    REQUIRE(from_flags.labels == std::map<std::string, std::string>{{"zone", "flag"}});
    REQUIRE(from_flags.token == kOtherToken);  // no flag given: the environment's stays
}

TEST_CASE("a bad setting is reported with the key that holds it", "[agent][config]") {
    const std::map<std::string, std::string> ok = {{"UNIDESK_NODE_SERVER", "ws://k"},
                                                   {"UNIDESK_NODE_TOKEN", kToken}};
    REQUIRE(error_key({}, {{"UNIDESK_NODE_SERVER", "ws://k"}}) == "token");
    REQUIRE(error_key({}, {{"UNIDESK_NODE_TOKEN", kToken}}) == "server");
    REQUIRE(error_key({}, {{"UNIDESK_NODE_SERVER", "ws://k"}, {"UNIDESK_NODE_TOKEN", "udn_12"}}) ==
            "UNIDESK_NODE_TOKEN");
    REQUIRE(error_key({"--server", "http://k"}, ok) == "--server");
    REQUIRE(error_key({"--name", "bad name!"}, ok) == "--name");
    // The kernel's rule for node tokens: lower case, a letter or digit first.
    REQUIRE(error_key({"--name", "Gpu-07"}, ok) == "--name");
    REQUIRE(error_key({"--name", "-gpu"}, ok) == "--name");
    REQUIRE(error_key({"--name", "07-gpu.lab_a"}, ok) == "(no error)");
    REQUIRE(error_key({"--name", std::string(65, 'a')}, ok) == "--name");
    REQUIRE(error_key({}, {{"UNIDESK_NODE_SERVER", "ws://k"},
                           {"UNIDESK_NODE_TOKEN", kToken},
                           {"UNIDESK_LABELS", "novalue"}}) == "UNIDESK_LABELS");
    REQUIRE(error_key({"--bogus"}, ok) == "--bogus");
    REQUIRE(error_key({"--config", write_file("colour = \"red\"\n")}, ok) == "colour");
    REQUIRE(error_key({"--config", write_file("[reconnect]\nbase_s = 5\ncap_s = 1\n")}, ok) ==
            "reconnect.cap_s");
    REQUIRE(error_key({"--config", write_file("[reconnect]\nbase_s = \"soon\"\n")}, ok) ==
            "reconnect.base_s");
    REQUIRE(error_key({"--config", write_file("[[gpu]]\nmodel = \"X\"\n")}, ok) == "gpu[0]");
    REQUIRE(error_key({"--config", write_file("server = \n")}, ok) == "config");
    REQUIRE(error_key({"--config", "/no/such/file.toml"}, ok) == "config");
    REQUIRE(error_key({"--log-level", "loud"}, ok) == "--log-level");
}

TEST_CASE("the agent exits with code 2 and names the key on a bad config", "[agent][config]") {
    const auto file = write_file("server = \"ws://127.0.0.1:1\"\n[reconnect]\nbase_s = -3\n");
    ChildProcess agent(UNIDESK_AGENT_BINARY, {"--config", file}, {{"UNIDESK_NODE_TOKEN", kToken}});
    REQUIRE(agent.wait_exit(std::chrono::seconds(20)) == 2);
    REQUIRE_THAT(agent.output(), Catch::Contains("config error: reconnect.base_s"));

    ChildProcess no_token(UNIDESK_AGENT_BINARY, {"--server", "ws://127.0.0.1:1"}, {});
    REQUIRE(no_token.wait_exit(std::chrono::seconds(20)) == 2);
    REQUIRE_THAT(no_token.output(), Catch::Contains("config error: token: is required"));
}

TEST_CASE("git credentials are read from [[git.credentials]] tables", "[agent][config]") {
    const std::map<std::string, std::string> ok = {{"UNIDESK_NODE_SERVER", "ws://k"},
                                                   {"UNIDESK_NODE_TOKEN", kToken}};
    const auto file = write_file(R"(
[[git.credentials]]
host = "git.example.org"
token = "secret"

[[git.credentials]]
host = "github.com"
username = "deploy"
ssh_key = "/etc/unidesk/id_ed25519"
ssh_public_key = "/etc/unidesk/id_ed25519.pub"
)");
    auto c = load_agent_config({"--config", file}, env_of(ok));
    REQUIRE(c.git_credentials.size() == 2);
    REQUIRE(c.git_credentials[0].host == "git.example.org");
    REQUIRE(c.git_credentials[0].token == "secret");
    REQUIRE(c.git_credentials[0].username.empty());
    REQUIRE(c.git_credentials[1].username == "deploy");
    REQUIRE(c.git_credentials[1].ssh_key == "/etc/unidesk/id_ed25519");
    REQUIRE(c.git_credentials[1].ssh_public_key == "/etc/unidesk/id_ed25519.pub");

    REQUIRE(error_key({"--config", write_file("[[git.credentials]]\ntoken = \"t\"\n")}, ok) ==
            "git.credentials[0].host");
    REQUIRE(error_key({"--config", write_file("[[git.credentials]]\nhost = \"h\"\n")}, ok) ==
            "git.credentials[0]");
    REQUIRE(error_key({"--config",
                       write_file("[[git.credentials]]\nhost = \"h\"\ntoken = \"t\"\npass = 1\n")},
                      ok) == "git.credentials[0].pass");
    REQUIRE(error_key({"--config", write_file("[git]\nmirror = \"x\"\n")}, ok) == "git.mirror");
}
