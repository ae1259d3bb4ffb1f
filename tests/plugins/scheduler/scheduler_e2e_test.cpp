// The main job end to end: the real unidesk-kernel with the scheduler plugin, real
// unidesk-agent processes running tasks with the machine's Docker engine, a real PostgreSQL,
// and code and env repositories made here with git. Timings are shortened in config
// (heartbeats, offline limit, grace, retry delay) so the failure cases pass while a test waits.

#include "agent/docker_fixture.hpp"
#include "support/kernel_under_test.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <csignal>
#include <fstream>
#include <map>
#include <set>
#include <thread>

using namespace std::chrono_literals;
using nlohmann::json;
using unidesk::test::ChildProcess;
using unidesk::test::KernelUnderTest;
using unidesk::test::TempDir;
using unidesk::test::wait_until;
namespace test = unidesk::test;

namespace {

const std::set<std::string> kEnded = {"succeeded", "failed", "cancelled", "lost"};

// A main server (one or two kernel instances on one database) and its nodes.
struct Cluster {
    test::TestDatabase db;
    TempDir dir;
    std::string code_url;
    std::string env_url;
    std::string code_commit;
    std::string env_commit;
    std::vector<std::unique_ptr<KernelUnderTest>> kernels;
    std::map<std::string, std::unique_ptr<ChildProcess>> agents;
    std::map<std::string, std::string> agent_configs;
    int lost_grace_s = 600;
    std::string db_url = db.url();  // another for a test that restarts its own cluster
    int offline_after_s = 3;

    explicit Cluster(int grace_s = 600) : lost_grace_s(grace_s) {
        test::ensure_base_image();
        const auto d = dir.path().string();
        code_commit = test::commit_repo(d + "/code", {{"hello.txt", "hello from the code\n"}});
        env_commit = test::commit_repo(
            d + "/env", {{"Dockerfile", "FROM " + test::kBaseImage + "\nRUN echo env-" +
                                            dir.path().filename().string() + " > /env.txt\n"}});
        code_url = "file://" + d + "/code";
        env_url = "file://" + d + "/env";
    }

    ~Cluster() {
        for (auto& [name, a] : agents) {
            a->signal(SIGKILL);
        }
        for (auto& [name, cfg] : agent_configs) {
            test::shell("docker rm -f $(docker ps -aq --filter label=unidesk.node=" + node(name) +
                        ") >/dev/null 2>&1");
        }
    }

    //! The node's name as the kernel knows it: unique to this test process, since the tests
    //! running at once share one Docker engine and its container labels.
    static std::string node(const std::string& base) {
        return base + "-" + std::to_string(::getpid());
    }

    KernelUnderTest& start_kernel() {
        auto k = std::make_unique<KernelUnderTest>();
        const std::string extra =
            "[provider]\nheartbeat_interval_s = 1\noffline_after_s = " +
            std::to_string(offline_after_s) + "\nflush_interval_ms = 200\n[plugins]\ndir = \"" +
            std::string(UNIDESK_PLUGIN_DIR) +
            "\"\nenabled = [\"scheduler\"]\n"
            "[plugin.scheduler]\ndispatch_interval_ms = 100\naccept_timeout_s = 20\n"
            "lost_grace_s = " +
            std::to_string(lost_grace_s) + "\nretry_base_delay_s = 1\n";
        k->start(k->write_config(db_url, extra));
        REQUIRE(wait_until([&] { return k->health_is("ok"); }, 30s));
        if (kernels.empty()) {
            // The first admin is made just after the database is ready, so it may still be
            // in the making when the kernel answers ok; a second instance started before it
            // is done could make it instead, and the token would not be in this one's folder.
            k->admin_token();
        }
        kernels.push_back(std::move(k));
        return *kernels.back();
    }

    KernelUnderTest& kernel(std::size_t i = 0) { return *kernels.at(i); }

    //! A call to instance `via` as the first admin (whose token only the first instance wrote).
    test::HttpClientResponse call(std::size_t via, const std::string& method,
                                  const std::string& target, const std::string& body = {}) {
        return kernel(via).client().request(
            method, target, body, {{"Authorization", "Bearer " + kernel(0).admin_token()}});
    }

    //! Issues a node token through `via` and starts an agent connected to it.
    void start_agent(const std::string& name, const std::string& labels = "", std::size_t via = 0) {
        auto r = kernel(0).call("POST", "/v1/node-tokens", json{{"node_name", node(name)}}.dump());
        REQUIRE(r.status == 201);
        const auto file = dir.path() / (name + ".toml");
        std::ofstream(file) << "server = \"ws://127.0.0.1:" << kernel(via).provider_port
                            << "\"\ntoken = \"" << r.json()["secret"].get<std::string>()
                            << "\"\nname = \"" << node(name) << "\"\nwork_dir = \""
                            << (dir.path() / (name + "-work")).string() << "\"\n"
                            << "labels = {" << labels << "}\n"
                            << "[reconnect]\nbase_s = 0.2\ncap_s = 1\n"
                            << "[git]\nallow_local_remotes = true\n";
        agent_configs[name] = file.string();
        run_agent(name);
        REQUIRE(wait_until([&] { return node_state(name) == "online"; }, 30s));
    }

    void run_agent(const std::string& name) {
        agents[name] = std::make_unique<ChildProcess>(
            test::built_program("unidesk-agent"),
            std::vector<std::string>{"--config", agent_configs.at(name)});
    }

    std::string node_state(const std::string& name) {
        auto r = kernel(0).call("GET", "/v1/nodes/" + node(name));
        return r.status == 200 ? r.json()["node"]["state"].get<std::string>() : "";
    }

    json spec(std::vector<std::string> command) const {
        return {{"code_repo_url", code_url}, {"code_commit_id", code_commit},
                {"env_repo_url", env_url},   {"env_commit_id", env_commit},
                {"command", command},        {"resources", {{"cpu_millis", 100}}}};
    }

    std::int64_t submit(const json& s, std::size_t via = 0) {
        auto r = call(via, "POST", "/v1/tasks", s.dump());
        INFO(r.body);
        REQUIRE(r.status == 201);
        return r.json()["task"]["id"].get<std::int64_t>();
    }

    json task(std::int64_t id) {
        auto r = kernel(0).call("GET", "/v1/tasks/" + std::to_string(id));
        REQUIRE(r.status == 200);
        return r.json();
    }

    //! Waits until the task is in one of `states`; its last answer.
    json wait_state(std::int64_t id, const std::set<std::string>& states,
                    std::chrono::seconds deadline = 90s) {
        json last;
        wait_until(
            [&] {
                last = task(id);
                return states.count(last["task"]["state"].get<std::string>()) > 0;
            },
            deadline);
        return last;
    }

    std::string log_text(std::int64_t id) {
        auto r = kernel(0).call("GET", "/v1/tasks/" + std::to_string(id) + "/log");
        REQUIRE(r.status == 200);
        std::string out;
        const auto body = r.json();
        for (const auto& e : body["entries"]) {
            if (e["stream"] == "stdout") {
                out += e["data"].get<std::string>();
            }
        }
        return out;
    }

    std::string agent_output(const std::string& name) {
        return agents.count(name) ? agents[name]->stderr_text() : "";
    }
};

std::string state_of(const json& t) {
    return t["task"]["state"].get<std::string>();
}

}  // namespace

TEST_CASE("a submitted task runs on a node and ends succeeded with its log and its events",
          "[scheduler][e2e][docker][db]") {
    Cluster c;
    auto& k = c.start_kernel();
    c.start_agent("node-a", "zone = \"a\"");

    // The output ends with a NUL byte inside a line, which PostgreSQL's text cannot hold.
    const auto id =
        c.submit(c.spec({"sh", "-c", "cat /env.txt; cat hello.txt; printf 'nul:\\000:end\\n'"}));
    auto t = c.wait_state(id, kEnded);
    INFO(t.dump(2) << "\n" << c.agent_output("node-a") << k.proc->stderr_text());
    REQUIRE(state_of(t) == "succeeded");
    CHECK(t["task"]["exit_code"] == 0);
    CHECK(t["task"]["node"] == c.node("node-a"));
    REQUIRE(t["attempts"].size() == 1);
    std::vector<std::string> phases;
    for (const auto& p : t["attempts"][0]["phases"]) {
        phases.push_back(p["phase"]);
    }
    CHECK(phases == std::vector<std::string>{"assigned", "accepted", "fetching", "building",
                                             "running", "succeeded"});
    CHECK_THAT(c.log_text(id), Catch::Contains("env-") && Catch::Contains("hello from the code") &&
                                   Catch::Contains("nul:\xEF\xBF\xBD:end"));

    // The whole story is on the bus, facts from the node apart from the scheduler's decisions.
    auto kinds = test::must("psql '" + c.db.url() +
                            "' -tAc \"SELECT string_agg(kind || '/' || "
                            "split_part(actor, ':', 1), ' ' ORDER BY id) FROM events WHERE "
                            "subject = 'task:" +
                            std::to_string(id) + "'\"");
    CHECK_THAT(kinds, Catch::StartsWith("task.submitted/user task.assigned/plugin "
                                        "task.reported/node"));
    CHECK_THAT(kinds, Catch::Contains("task.ended/plugin"));
}

TEST_CASE("bad input is refused, failures carry their cause, and an unfit task says why it waits",
          "[scheduler][e2e][docker][db]") {
    Cluster c;
    auto& k = c.start_kernel();
    c.start_agent("node-a", "zone = \"a\"");

    auto s = c.spec({"true"});
    s["code_commit_id"] = "main";
    auto r = k.call("POST", "/v1/tasks", s.dump());
    CHECK(r.status == 400);
    CHECK(r.json()["error"]["code"] == "invalid_commit");
    CHECK(k.call("POST", "/v1/tasks", "{not json").status == 400);
    auto nul = c.spec({"echo", std::string("a\0b", 3)});
    r = k.call("POST", "/v1/tasks", nul.dump());
    CHECK(r.status == 400);
    CHECK(r.json()["error"]["code"] == "invalid_request");
    CHECK_THAT(r.json()["error"]["message"].get<std::string>(), Catch::Contains("NUL"));
    CHECK(k.call("GET", "/v1/tasks/999999").status == 404);

    const auto exit3 = c.submit(c.spec({"sh", "-c", "exit 3"}));
    auto unknown_spec = c.spec({"true"});
    unknown_spec["code_commit_id"] = std::string(40, 'a');
    const auto unknown = c.submit(unknown_spec);
    auto gpu_spec = c.spec({"true"});
    gpu_spec["resources"] = {{"gpu_count", 2}, {"gpu_model", "A100"}};
    const auto gpu = c.submit(gpu_spec);
    auto label_spec = c.spec({"true"});
    label_spec["resources"] = {{"labels", {{"zone", "b"}}}};
    const auto label = c.submit(label_spec);

    auto t = c.wait_state(exit3, kEnded);
    CHECK(state_of(t) == "failed");
    CHECK(t["task"]["cause"] == "exit_nonzero");
    CHECK(t["task"]["exit_code"] == 3);
    CHECK(t["attempts"].size() == 1);  // a user's non-zero exit is not retried by default

    t = c.wait_state(unknown, kEnded);
    CHECK(state_of(t) == "failed");
    CHECK(t["task"]["cause"] == "git_fetch_failed");

    CHECK(wait_until([&] { return !c.task(gpu)["task"]["pending_reason"].is_null(); }, 10s));
    CHECK(c.task(gpu)["task"]["pending_reason"] == "no online node has 2 GPUs of model A100");
    CHECK(state_of(c.task(gpu)) == "queued");
    CHECK(c.task(label)["task"]["pending_reason"] == "no online node has the labels zone=b");

    // A queued task cancelled never starts.
    auto cancelled = k.call("POST", "/v1/tasks/" + std::to_string(gpu) + "/cancel");
    CHECK(cancelled.status == 202);
    CHECK(state_of(c.task(gpu)) == "cancelled");
    CHECK(k.call("POST", "/v1/tasks/" + std::to_string(gpu) + "/cancel").status == 409);
}

TEST_CASE("a running task is cancelled on its node and a time limit ends one",
          "[scheduler][e2e][docker][db]") {
    Cluster c;
    auto& k = c.start_kernel();
    c.start_agent("node-a");

    const auto slow = c.submit(c.spec({"sh", "-c", "echo started; sleep 60"}));
    auto timed = c.spec({"sleep", "60"});
    timed["time_limit_s"] = 2;
    const auto limited = c.submit(timed);

    REQUIRE(state_of(c.wait_state(slow, {"running"})) == "running");
    CHECK(k.call("POST", "/v1/tasks/" + std::to_string(slow) + "/cancel").status == 202);
    auto t = c.wait_state(slow, kEnded, 30s);
    INFO(c.agent_output("node-a"));
    CHECK(state_of(t) == "cancelled");

    t = c.wait_state(limited, kEnded, 60s);
    CHECK(state_of(t) == "failed");
    CHECK(t["task"]["cause"] == "timeout");

    // A failed task can be tried again by hand.
    auto again = k.call("POST", "/v1/tasks/" + std::to_string(limited) + "/retry");
    CHECK(again.status == 201);
    CHECK(k.call("POST", "/v1/tasks/" + std::to_string(slow) + "/retry").status == 201);
    CHECK(c.wait_state(limited, {"running", "failed"})["attempts"].size() == 2);
}

TEST_CASE("an agent killed mid-task that returns within the grace keeps its task",
          "[scheduler][e2e][docker][db]") {
    Cluster c;
    c.start_kernel();
    c.start_agent("node-a");

    const auto id = c.submit(
        c.spec({"sh", "-c", "i=1; while [ $i -le 40 ]; do echo $i; i=$((i+1)); sleep 0.1; done"}));
    REQUIRE(state_of(c.wait_state(id, {"running"})) == "running");
    c.agents["node-a"]->signal(SIGKILL);
    c.agents["node-a"]->wait(10s);
    REQUIRE(wait_until([&] { return c.node_state("node-a") == "offline"; }, 20s));

    c.run_agent("node-a");
    auto t = c.wait_state(id, kEnded);
    INFO(t.dump(2) << c.agent_output("node-a"));
    CHECK(state_of(t) == "succeeded");
    CHECK(t["attempts"].size() == 1);
    std::string expected;
    for (int i = 1; i <= 40; ++i) {
        expected += std::to_string(i) + "\n";
    }
    CHECK(c.log_text(id) == expected);
}

TEST_CASE(
    "a node whose agent died is offline at once and given no task, whatever its heartbeat "
    "limit",
    "[scheduler][e2e][docker][db]") {
    Cluster c;
    c.offline_after_s = 120;
    c.start_kernel();
    c.start_agent("node-a");
    c.agents["node-a"]->signal(SIGKILL);
    c.agents["node-a"]->wait(10s);
    REQUIRE(wait_until([&] { return c.node_state("node-a") == "offline"; }, 5s));

    // Nothing is sent to the dead node: the task waits with its reason, with no attempt.
    const auto id = c.submit(c.spec({"true"}));
    REQUIRE(wait_until([&] { return !c.task(id)["task"]["pending_reason"].is_null(); }, 10s));
    std::this_thread::sleep_for(2s);
    const auto waiting = c.task(id);
    INFO(waiting.dump(2));
    CHECK(state_of(waiting) == "queued");
    CHECK(waiting["attempts"].empty());

    c.run_agent("node-a");
    const auto t = c.wait_state(id, kEnded);
    CHECK(state_of(t) == "succeeded");
    CHECK(t["attempts"].size() == 1);
}

TEST_CASE("the task of a node that does not come back is lost and retried elsewhere",
          "[scheduler][e2e][docker][db]") {
    Cluster c(2);
    c.start_kernel();
    c.start_agent("node-a", "pool = \"x\"");

    auto s = c.spec({"sh", "-c", "sleep 4; echo done"});
    s["resources"]["labels"] = {{"pool", "x"}};
    const auto id = c.submit(s);
    REQUIRE(state_of(c.wait_state(id, {"running"})) == "running");
    c.agents["node-a"]->signal(SIGKILL);
    c.agents["node-a"]->wait(10s);
    c.start_agent("node-b", "pool = \"x\"");

    auto t = c.wait_state(id, kEnded, 120s);
    INFO(t.dump(2));
    CHECK(state_of(t) == "succeeded");
    REQUIRE(t["attempts"].size() == 2);
    CHECK(t["attempts"][0]["state"] == "lost");
    CHECK(t["attempts"][1]["node"] == c.node("node-b"));

    // node-a comes back late with the replaced attempt still in its container: recorded as
    // stale, and stopped.
    const std::string old_attempt = t["attempts"][0]["id"];
    c.run_agent("node-a");
    CHECK(wait_until(
        [&] {
            return test::shell("docker ps -aq --filter label=unidesk.attempt=" + old_attempt)
                .first.empty();
        },
        60s));
    auto stale = test::must("psql '" + c.db.url() +
                            "' -tAc \"SELECT count(*) FROM events WHERE "
                            "kind = 'task.stale_report' AND payload->>'attempt_id' = '" +
                            old_attempt + "'\"");
    CHECK(std::stoi(stale) == 1);
    CHECK(state_of(c.task(id)) == "succeeded");
}

TEST_CASE("two kernel instances never assign one task twice, and a restart loses nothing",
          "[scheduler][e2e][docker][db]") {
    Cluster c;
    c.start_kernel();
    c.start_kernel();
    c.start_agent("node-a", "", 0);
    c.start_agent("node-b", "", 1);

    std::vector<std::int64_t> ids;
    for (int i = 0; i < 12; ++i) {
        ids.push_back(c.submit(c.spec({"sh", "-c", "sleep 1; echo " + std::to_string(i)}),
                               static_cast<std::size_t>(i % 2)));
    }

    // Kernel 0 restarts while its tasks run; its agent comes back and keeps them.
    REQUIRE(wait_until(
        [&] {
            auto r = c.kernel(0).call("GET", "/v1/tasks?state=running&node=" + c.node("node-a"));
            return r.status == 200 && !r.json()["tasks"].empty();
        },
        60s));
    c.kernel(0).stop();
    c.kernel(0).start(c.kernel(0).dir.path() / "kernel.toml");
    REQUIRE(wait_until([&] { return c.kernel(0).health_is("ok"); }, 30s));

    std::set<std::string> nodes;
    for (auto id : ids) {
        auto t = c.wait_state(id, kEnded, 120s);
        INFO(t.dump(2));
        CHECK(state_of(t) == "succeeded");
        CHECK(t["attempts"].size() == 1);
        nodes.insert(t["task"]["node"].get<std::string>());
    }
    CHECK(nodes == std::set<std::string>{c.node("node-a"), c.node("node-b")});
    auto assigned = test::must("psql '" + c.db.url() +
                               "' -tAc \"SELECT count(*) FROM events "
                               "WHERE kind = 'task.assigned'\"");
    CHECK(std::stoi(assigned) == 12);
}

TEST_CASE("the unidesk command submits a task, waits for it and shows its log and its end",
          "[scheduler][e2e][docker][db][cli]") {
    Cluster c;
    auto& k = c.start_kernel();
    c.start_agent("node-a");
    const std::map<std::string, std::string> env = {
        {"UNIDESK_SERVER", "http://127.0.0.1:" + std::to_string(k.port)},
        {"UNIDESK_TOKEN", k.admin_token()}};
    auto unidesk = [&](std::vector<std::string> args) {
        return std::make_unique<ChildProcess>(test::built_program("unidesk"), std::move(args), env);
    };

    auto ok = unidesk({"submit", "--code-repo", c.code_url, "--code-commit", c.code_commit,
                       "--env-repo", c.env_url, "--env-commit", c.env_commit, "--cpu", "0.1",
                       "--wait", "--", "sh", "-c", "cat hello.txt"});
    CHECK(ok->wait(120s) == 0);
    INFO(ok->stdout_text() << ok->stderr_text());
    CHECK_THAT(ok->stdout_text(), Catch::Contains("hello from the code"));
    CHECK_THAT(ok->stderr_text(), Catch::Contains("succeeded") && Catch::Contains("+08:00"));

    auto failed = unidesk({"submit", "--code-repo", c.code_url, "--code-commit", c.code_commit,
                           "--env-repo", c.env_url, "--env-commit", c.env_commit, "--cpu", "0.1",
                           "--wait", "--quiet", "--", "sh", "-c", "exit 3"});
    CHECK(failed->wait(120s) == 6);

    auto list = unidesk({"tasks"});
    CHECK(list->wait(30s) == 0);
    CHECK_THAT(list->stdout_text(), Catch::Contains("succeeded") && Catch::Contains("failed"));
}

TEST_CASE("a task needing a GPU goes to the node that declares one, with its index",
          "[scheduler][e2e][docker][db]") {
    Cluster c;
    c.start_kernel();
    c.start_agent("cpu-node", "kind = \"cpu\"");
    // A node declaring a GPU it does not have: matching sees it, the engine cannot give it.
    c.start_agent("gpu-node", "kind = \"gpu\"");
    c.agents["gpu-node"]->signal(SIGKILL);
    c.agents["gpu-node"]->wait(10s);
    std::ofstream(c.agent_configs["gpu-node"], std::ios::app)
        << "[[gpu]]\nmodel = \"Test GPU\"\nmemory_mb = 1024\n";
    c.run_agent("gpu-node");
    REQUIRE(wait_until(
        [&] {
            auto r = c.kernel(0).call("GET", "/v1/nodes/" + c.node("gpu-node"));
            return r.status == 200 && r.json()["node"]["gpus"].size() == 1 &&
                   r.json()["node"]["state"] == "online";
        },
        30s));

    auto s = c.spec({"true"});
    s["resources"] = {{"gpu_count", 1}, {"gpu_model", "Test GPU"}};
    const auto id = c.submit(s);
    auto t = c.wait_state(id, kEnded);
    INFO(t.dump(2));
    CHECK(t["task"]["node"] == c.node("gpu-node"));
    // No GPU driver on this machine: the container cannot start, and says so.
    CHECK(state_of(t) == "failed");
    CHECK(t["task"]["cause"] == "container_start_failed");
    auto assigned = test::must("psql '" + c.db.url() +
                               "' -tAc \"SELECT payload->>'gpu_indices' "
                               "FROM events WHERE kind = 'task.assigned'\"");
    CHECK_THAT(assigned, Catch::Contains("[0]"));
}

TEST_CASE("output made while the database restarts reaches the log whole, and the task ends once",
          "[scheduler][e2e][docker][db]") {
    test::PgCluster pg;
    Cluster c;
    c.db_url = pg.create_database("restart");
    c.start_kernel();
    c.start_agent("node-a");

    // 40 lines over about 8 s, then exit 3: the end comes while or after the database is away.
    const auto id =
        c.submit(c.spec({"sh", "-c",
                         "i=1; while [ $i -le 40 ]; do echo line $i; i=$((i+1)); sleep 0.2; done; "
                         "exit 3"}));
    REQUIRE(wait_until([&] { return c.log_text(id).find("line 3\n") != std::string::npos; }, 60s));
    pg.stop();
    std::this_thread::sleep_for(5s);  // reports fail to be stored meanwhile
    pg.start();
    REQUIRE(wait_until([&] { return c.kernel(0).health_is("ok"); }, 30s));

    // The agent sends again what was not acknowledged, and the kernel stores it in order.
    const auto t = c.wait_state(id, kEnded, 120s);
    INFO(t.dump(2));
    INFO(c.agent_output("node-a"));
    CHECK(state_of(t) == "failed");
    CHECK(t["task"]["exit_code"] == 3);
    CHECK(t["attempts"].size() == 1);  // ran once: its end was not lost
    std::string expected;
    for (int i = 1; i <= 40; ++i) {
        expected += "line " + std::to_string(i) + "\n";
    }
    CHECK(c.log_text(id) == expected);  // stored in order: every line before the end
}
