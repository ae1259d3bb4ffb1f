// A task's inputs and outputs end to end: the real kernel with the scheduler and storage-local,
// a real unidesk-agent running the task with the machine's Docker engine. The inputs (one key,
// one prefix) are in the workspace when the command runs; the output folder is uploaded after
// it, although the command fails (a large file in parts); the attempt's whole log is stored as
// an object.

#include "agent/docker_fixture.hpp"
#include "storage_server.hpp"
#include "transfer.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <csignal>
#include <fstream>

using namespace std::chrono_literals;
using nlohmann::json;
using unidesk::test::ChildProcess;
using unidesk::test::StorageServer;
namespace test = unidesk::test;

namespace {

std::string get_object(StorageServer& s, const std::string& key) {
    auto r = test::request_url("GET", s.download_url(key));
    INFO(key << " -> " << r.status);
    REQUIRE(r.status == 200);
    return r.body;
}

// The kernel with the scheduler and storage-local (`scheduler_extra` goes into
// [plugin.scheduler]), a code and an env repository, and a real agent connected as `node`.
struct TaskFiles {
    StorageServer s;
    test::TempDir dir;
    std::string d = dir.path().string();
    std::string code_commit;
    std::string env_commit;
    std::string node;
    std::unique_ptr<ChildProcess> agent;

    TaskFiles(const std::string& node_base, const std::string& scheduler_extra)
        : s(StorageServer::Kind::local, "\"scheduler\", ",
            "[provider]\nheartbeat_interval_s = 1\noffline_after_s = 5\n"
            "flush_interval_ms = 200\n"
            "[plugin.scheduler]\ndispatch_interval_ms = 100\n"
            "public_url = \"{public_url}\"\n" +
                scheduler_extra),
          node(node_base + "-" + std::to_string(::getpid())) {
        test::ensure_base_image();
        code_commit = test::commit_repo(d + "/code", {{"run.sh", "echo from code\n"}});
        env_commit =
            test::commit_repo(d + "/env", {{"Dockerfile", "FROM " + test::kBaseImage + "\n"}});
        auto& k = s.kernel();
        auto token = k.call("POST", "/v1/node-tokens", json{{"node_name", node}}.dump());
        REQUIRE(token.status == 201);
        const auto agent_config = dir.path() / "agent.toml";
        std::ofstream(agent_config)
            << "server = \"ws://127.0.0.1:" << k.provider_port << "\"\ntoken = \""
            << token.json()["secret"].get<std::string>() << "\"\nname = \"" << node
            << "\"\nwork_dir = \"" << d << "/work\"\n[reconnect]\nbase_s = 0.2\ncap_s = 1\n"
            << "[git]\nallow_local_remotes = true\n";
        agent = std::make_unique<ChildProcess>(
            test::built_program("unidesk-agent"),
            std::vector<std::string>{"--config", agent_config.string()});
    }

    ~TaskFiles() {
        agent->signal(SIGTERM);
        agent->wait(15s);
        test::shell("docker rm -f $(docker ps -aq --filter label=unidesk.node=" + node +
                    ") >/dev/null 2>&1");
    }

    //! A spec running `command` at the fixture's commits, tried once.
    json spec(const std::string& command) const {
        return {{"code_repo_url", "file://" + d + "/code"},
                {"code_commit_id", code_commit},
                {"env_repo_url", "file://" + d + "/env"},
                {"env_commit_id", env_commit},
                {"command", {"sh", "-c", command}},
                {"resources", {{"cpu_millis", 100}}},
                {"retry", {{"max_attempts", 1}}}};
    }
};

}  // namespace

TEST_CASE("a task's inputs are fetched before it runs and its outputs uploaded after it fails",
          "[storage][local][docker][e2e]") {
    TaskFiles f("files", "capability_secret = \"test-capability\"\n");
    auto& s = f.s;
    auto& k = s.kernel();
    const auto p = s.prefix();
    REQUIRE(test::request_url("PUT", s.upload_url(p + "in/data.txt"), "hello input\n").status ==
            200);
    REQUIRE(test::request_url("PUT", s.upload_url(p + "in/set/a.txt"), "A").status == 200);
    REQUIRE(test::request_url("PUT", s.upload_url(p + "in/set/deep/b.txt"), "BB").status == 200);

    json spec = f.spec(
        "mkdir -p out/sub && cat in/data.txt > out/copy.txt && cat set/a.txt set/deep/b.txt > "
        "out/sub/joined.txt && dd if=/dev/zero of=out/big.bin bs=1048576 count=70 && "
        "echo task-says-hello && exit 3");
    spec["time_limit_s"] = 600;
    spec["inputs"] = {{{"key", p + "in/data.txt"}, {"path", "in/data.txt"}},
                      {{"prefix", p + "in/set/"}, {"path", "set"}}};
    spec["outputs"] = {{{"path", "out"}, {"prefix", p + "results"}}};
    auto submitted = k.call("POST", "/v1/tasks", spec.dump());
    INFO(submitted.body);
    REQUIRE(submitted.status == 201);
    const auto id = submitted.json()["task"]["id"].get<std::int64_t>();

    json t;
    bool ended = test::wait_until(
        [&] {
            t = k.call("GET", "/v1/tasks/" + std::to_string(id)).json();
            const std::string state = t["task"]["state"];
            return state == "succeeded" || state == "failed" || state == "cancelled";
        },
        120s);
    INFO(t.dump(2) << "\nagent:\n"
                   << f.agent->stderr_text() << "\nkernel:\n"
                   << k.proc->stderr_text());
    REQUIRE(ended);
    CHECK(t["task"]["state"] == "failed");
    CHECK(t["task"]["exit_code"] == 3);
    std::vector<std::string> phases;
    for (const auto& ph : t["attempts"][0]["phases"]) {
        phases.push_back(ph["phase"]);
    }
    CHECK(phases == std::vector<std::string>{"assigned", "accepted", "fetching", "building",
                                             "running", "uploading", "failed"});

    CHECK(get_object(s, p + "results/copy.txt") == "hello input\n");
    CHECK(get_object(s, p + "results/sub/joined.txt") == "ABB");
    // Above 64 MiB: sent in two parts through the capability URL.
    auto big = s.call("GET", "/v1/storage/object?key=" + p + "results/big.bin");
    CHECK(big["object"]["size"] == 70 * 1048576);
    const std::string attempt = t["attempts"][0]["id"];
    std::string log;
    REQUIRE(test::wait_until(
        [&] {
            auto r = test::request_url(
                "GET", s.download_url("tasks/" + std::to_string(id) + "/" + attempt + ".log"));
            log = r.body;
            return r.status == 200;
        },
        10s));
    CHECK(log.find("task-says-hello") != std::string::npos);
    CHECK(log.find("fetched " + p + "in/data.txt") != std::string::npos);

    // An input that does not exist fails the attempt before it reaches the node.
    json missing = spec;
    missing["inputs"] = {{{"key", p + "in/nothing.txt"}, {"path", "x"}}};
    missing["outputs"] = json::array();
    auto second = k.call("POST", "/v1/tasks", missing.dump());
    REQUIRE(second.status == 201);
    const auto second_id = second.json()["task"]["id"].get<std::int64_t>();
    REQUIRE(test::wait_until(
        [&] {
            t = k.call("GET", "/v1/tasks/" + std::to_string(second_id)).json();
            return t["task"]["state"] == "failed";
        },
        60s));
    CHECK(t["task"]["cause"] == "input_missing");
}

TEST_CASE("a task's outputs are uploaded although its kernel restarted while it ran",
          "[storage][local][docker][e2e]") {
    // No capability_secret in the config: the one kept in the database signs the upload URL
    // before the restart and checks it after.
    TaskFiles f("restart", "");
    auto& s = f.s;
    auto& k = s.kernel();
    const auto p = s.prefix();
    json spec = f.spec("sleep 6; mkdir -p out; echo fin > out/f.txt");
    spec["outputs"] = {{{"path", "out"}, {"prefix", p + "after-restart"}}};
    auto submitted = k.call("POST", "/v1/tasks", spec.dump());
    REQUIRE(submitted.status == 201);
    const auto path = "/v1/tasks/" + std::to_string(submitted.json()["task"]["id"].get<int>());
    REQUIRE(test::wait_until(
        [&] { return k.call("GET", path).json()["task"]["state"] == "running"; }, 60s));

    k.stop();
    k.start(k.dir.path() / "kernel.toml");
    REQUIRE(test::wait_until([&] { return k.health_is("ok"); }, 30s));

    json t;
    REQUIRE(test::wait_until(
        [&] {
            t = k.call("GET", path).json();
            return t["task"]["state"] == "succeeded" || t["task"]["state"] == "failed";
        },
        90s));
    INFO(t.dump(2) << "\nagent:\n" << f.agent->stderr_text());
    CHECK(t["task"]["state"] == "succeeded");
    CHECK(get_object(s, p + "after-restart/f.txt") == "fin\n");
}
