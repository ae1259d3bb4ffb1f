// Task start overhead on a warm node (docs/benchmarks.md): the real unidesk-agent, given
// task.assign by a test peer, against a plain Engine API create + start of the same image with
// the same mount, both measured here in one run.
//
//   unidesk-task-bench --agent build/bin/unidesk-agent [--runs 20] [--results FILE]
//
// The agent's time is from sending task.assign to receiving its `running` report (so it includes
// the link both ways); the agent also logs how long each attempt spent in git and in the image
// check, which is read from its log. Everything runs on this machine; every container and
// process started here is removed or ended here.

#include "agent/child_process.hpp"
#include "agent/docker_fixture.hpp"
#include "agent/test_peer.hpp"
#include "docker_client.hpp"
#include "task_manager.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <set>

namespace {

using namespace unidesk::test;
using namespace std::chrono_literals;
namespace protocol = unidesk::protocol;
using Clock = std::chrono::steady_clock;

const std::string kToken = "udn_" + std::string(64, 'b');

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

struct Summary {
    double median = 0;
    double p90 = 0;
    double min = 0;
};

Summary summarize(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    if (v.empty()) {
        return {};
    }
    return {v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 9 / 10)], v.front()};
}

nlohmann::json to_json(const Summary& s) {
    auto r = [](double x) { return std::round(x * 10) / 10; };
    return {{"median_ms", r(s.median)}, {"p90_ms", r(s.p90)}, {"min_ms", r(s.min)}};
}

std::string phase_of(TestPeer& peer, const std::string& attempt) {
    std::string phase;
    for (const auto& m : peer.received()) {
        if (const auto* s = std::get_if<protocol::TaskStatus>(&m.body);
            s && s->attempt_id == attempt) {
            phase = s->phase;
        }
    }
    return phase;
}

bool wait_phase(TestPeer& peer, const std::string& attempt, const std::set<std::string>& want) {
    return peer.wait_for(
        [&](const std::vector<protocol::Message>& msgs) {
            for (const auto& m : msgs) {
                if (const auto* s = std::get_if<protocol::TaskStatus>(&m.body);
                    s && s->attempt_id == attempt && want.count(s->phase)) {
                    return true;
                }
            }
            return false;
        },
        120s);
}

int run(const std::string& agent_binary, int runs, const std::string& results_file) {
    ensure_base_image();
    const std::string dir = make_temp_dir();
    const auto code_commit = commit_repo(dir + "/code", {{"hello.txt", "hello\n"}});
    const auto env_commit = commit_repo(
        dir + "/env", {{"Dockerfile", "FROM " + kBaseImage + "\nRUN echo bench > /bench.txt\n"}});
    const std::string node = "bench-node-" + std::to_string(::getpid());

    TestPeer peer(kToken);
    std::ofstream(dir + "/agent.toml") << "server = \"ws://127.0.0.1:" << peer.port() << "\"\n"
                                       << "token = \"" << kToken << "\"\nname = \"" << node
                                       << "\"\nwork_dir = \"" << dir << "/work\"\n"
                                       << "[tasks]\nslots = 1\n[git]\nallow_local_remotes = true\n";
    ChildProcess agent(agent_binary, {"--config", dir + "/agent.toml"},
                       {{"PATH", "/usr/bin:/bin"}});
    if (!peer.wait_for([](const auto& m) { return count_type(m, "register") >= 1; }, 30s)) {
        std::cerr << "task-bench: the agent did not register\n" << agent.output();
        return 1;
    }

    auto task = [&](const std::string& attempt) {
        protocol::TaskAssign t;
        t.attempt_id = attempt;
        t.task_id = "bench";
        t.code_repo_url = "file://" + dir + "/code";
        t.code_commit_id = code_commit;
        t.env_repo_url = "file://" + dir + "/env";
        t.env_commit_id = env_commit;
        t.dockerfile_path = "Dockerfile";
        t.command = {"true"};
        return t;
    };

    // Warm: the commits fetched, the image built.
    peer.send(task("warm"));
    if (!wait_phase(peer, "warm", {"succeeded", "failed"}) ||
        phase_of(peer, "warm") != "succeeded") {
        std::cerr << "task-bench: the warm-up task did not succeed\n" << agent.output();
        return 1;
    }

    // The peer: the same image, mount and labels, straight through the Engine API. The two
    // alternate, so that neither gains from running second on a warmer engine.
    unidesk::agent::DockerClient docker;
    docker.negotiate();
    const std::string image =
        unidesk::agent::env_image_tag("file://" + dir + "/env", env_commit, "Dockerfile");
    std::vector<double> agent_ms;
    std::vector<double> plain_ms;
    for (int i = 0; i < runs; ++i) {
        const std::string attempt = "bench-" + std::to_string(i);
        auto t0 = Clock::now();
        peer.send(task(attempt));
        if (!wait_phase(peer, attempt, {"running", "failed"})) {
            std::cerr << "task-bench: " << attempt << " did not start\n" << agent.output();
            return 1;
        }
        agent_ms.push_back(ms_since(t0));
        wait_phase(peer, attempt, {"succeeded", "failed"});

        unidesk::agent::ContainerSpec spec;
        spec.name = "unidesk-plain-" + std::to_string(::getpid()) + "-" + std::to_string(i);
        spec.image = image;
        spec.command = {"true"};
        spec.workspace_dir = dir + "/work/tasks/warm/workspace";
        spec.labels = {{"unidesk.node", node}};
        t0 = Clock::now();
        auto id = docker.create_container(spec);
        if (!id || !docker.start_container(*id)) {
            std::cerr << "task-bench: plain create+start failed\n";
            return 1;
        }
        plain_ms.push_back(ms_since(t0));
        docker.wait_container(*id);
        docker.remove_container(*id);
    }

    // The agent's own account of each measured attempt.
    std::vector<double> checks_ms;
    const std::regex line(
        R"(task running attempt=bench-\d+ \S+ git_ms=([\d.]+) image_ms=([\d.]+))");
    const std::string log = agent.output();
    for (std::sregex_iterator it(log.begin(), log.end(), line), end; it != end; ++it) {
        checks_ms.push_back(std::stod((*it)[1]) + std::stod((*it)[2]));
    }

    agent.signal(SIGTERM);
    agent.wait_exit(20s);
    shell("docker rm -f $(docker ps -aq --filter label=unidesk.node=" + node + ") >/dev/null 2>&1");

    const auto a = summarize(agent_ms);
    const auto p = summarize(plain_ms);
    const auto c = summarize(checks_ms);
    nlohmann::json result = {
        {"runs", runs},
        {"agent_assign_to_running", to_json(a)},
        {"plain_create_start", to_json(p)},
        {"agent_git_and_image_checks", to_json(c)},
        {"ratio_median", std::round(a.median / p.median * 100) / 100},
    };
    std::cout << result.dump(2) << "\n";
    if (!results_file.empty()) {
        std::ofstream(results_file) << result.dump(2) << "\n";
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::string agent_binary;
    std::string results;
    int runs = 20;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        if (flag == "--agent") {
            agent_binary = argv[i + 1];
        } else if (flag == "--runs") {
            runs = std::max(1, std::atoi(argv[i + 1]));
        } else if (flag == "--results") {
            results = argv[i + 1];
        }
    }
    if (agent_binary.empty()) {
        std::cerr << "usage: unidesk-task-bench --agent PATH [--runs N] [--results FILE]\n";
        return 2;
    }
    try {
        return run(agent_binary, runs, results);
    } catch (const std::exception& e) {
        std::cerr << "task-bench: " << e.what() << "\n";
        return 1;
    }
}
