// The agent running tasks for real: the unidesk-agent program against the test peer, with the
// machine's Docker engine, a base image made here from busybox, and code and env repositories
// made here with git at known commits (file:// remotes).

#include "agent/child_process.hpp"
#include "agent/docker_fixture.hpp"
#include "agent/test_peer.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

using namespace unidesk::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace protocol = unidesk::protocol;
using protocol::Message;

namespace {

const std::string kToken = "udn_" + std::string(64, 'e');

// Code and env repositories and a node with a config of its own.
struct Fixture {
    std::string dir = make_temp_dir();
    std::string code_url = "file://" + dir + "/code";
    std::string env_url = "file://" + dir + "/env";
    std::string code_commit;
    std::string env_commit;
    std::unique_ptr<TestPeer> peer = std::make_unique<TestPeer>(kToken);
    std::unique_ptr<ChildProcess> agent;
    std::string node = "task-node-" + std::to_string(::getpid());

    Fixture() {
        ensure_base_image();
        code_commit = commit_repo(dir + "/code", {{"hello.txt", "hello from the code\n"}});
        // A marker unique to this fixture, so the first build here really builds.
        env_commit = commit_repo(
            dir + "/env",
            {{"Dockerfile", "FROM " + kBaseImage + "\nRUN echo built-" +
                                fs::path(dir).filename().string() + " > /built.txt\n"}});
        start_agent();
    }

    ~Fixture() {
        if (agent) {
            agent->signal(SIGKILL);
        }
        shell("docker rm -f $(docker ps -aq --filter label=unidesk.node=" + node +
              ") >/dev/null 2>&1");
    }

    void start_agent(const std::string& tasks_settings = "slots = 2\n") {
        std::ofstream(dir + "/agent.toml")
            << "server = \"ws://127.0.0.1:" << peer->port() << "\"\n"
            << "token = \"" << kToken << "\"\nname = \"" << node << "\"\n"
            << "work_dir = \"" << dir << "/work\"\n"
            << "[reconnect]\nbase_s = 0.1\ncap_s = 0.5\n[tasks]\n"
            << tasks_settings << "[git]\nallow_local_remotes = true\n";
        agent = std::make_unique<ChildProcess>(
            UNIDESK_AGENT_BINARY, std::vector<std::string>{"--config", dir + "/agent.toml"},
            std::map<std::string, std::string>{{"PATH", "/usr/bin:/bin"}});
        REQUIRE(peer->wait_for([](const auto& m) { return count_type(m, "register") >= 1; }, 30s));
    }

    //! kill -9 the agent, then a new peer and a new agent with these [tasks] settings.
    void restart_agent(const std::string& tasks_settings) {
        agent->signal(SIGKILL);
        agent->wait_exit(10s);
        peer = std::make_unique<TestPeer>(kToken);
        start_agent(tasks_settings);
    }

    protocol::TaskAssign task(const std::string& attempt, std::vector<std::string> command) {
        protocol::TaskAssign t;
        t.attempt_id = attempt;
        t.task_id = "task-" + attempt;
        t.code_repo_url = code_url;
        t.code_commit_id = code_commit;
        t.env_repo_url = env_url;
        t.env_commit_id = env_commit;
        t.dockerfile_path = "Dockerfile";
        t.command = std::move(command);
        t.time_limit_s = 120;
        return t;
    }
};

std::vector<protocol::TaskStatus> statuses(const std::vector<Message>& msgs,
                                           const std::string& attempt) {
    std::map<std::uint64_t, protocol::TaskStatus> by_seq;
    for (const auto& m : msgs) {
        if (const auto* s = std::get_if<protocol::TaskStatus>(&m.body)) {
            if (s->attempt_id == attempt) {
                by_seq.emplace(s->seq, *s);
            }
        }
    }
    std::vector<protocol::TaskStatus> out;
    for (auto& [seq, s] : by_seq) {
        out.push_back(s);
    }
    return out;
}

// An attempt's output on one stream (or all), each seq once, in seq order.
std::string output(const std::vector<Message>& msgs, const std::string& attempt,
                   const std::string& stream = {}) {
    std::map<std::uint64_t, std::string> by_seq;
    for (const auto& m : msgs) {
        if (const auto* l = std::get_if<protocol::TaskLog>(&m.body)) {
            if (l->attempt_id == attempt && (stream.empty() || l->stream == stream)) {
                by_seq.emplace(l->seq, l->data);
            }
        }
    }
    std::string out;
    for (auto& [seq, d] : by_seq) {
        out += d;
    }
    return out;
}

// Every seq of the attempt, both types, each once.
std::set<std::uint64_t> seqs(const std::vector<Message>& msgs, const std::string& attempt) {
    std::set<std::uint64_t> out;
    for (const auto& m : msgs) {
        if (const auto* s = std::get_if<protocol::TaskStatus>(&m.body);
            s && s->attempt_id == attempt) {
            out.insert(s->seq);
        } else if (const auto* l = std::get_if<protocol::TaskLog>(&m.body);
                   l && l->attempt_id == attempt) {
            out.insert(l->seq);
        }
    }
    return out;
}

bool is_final(const std::string& phase) {
    return phase == "succeeded" || phase == "failed" || phase == "cancelled" || phase == "rejected";
}

// Waits for the attempt's last report; it.
protocol::TaskStatus final_status(TestPeer& peer, const std::string& attempt,
                                  std::chrono::seconds deadline = 120s) {
    protocol::TaskStatus last;
    peer.wait_for(
        [&](const std::vector<Message>& m) {
            auto s = statuses(m, attempt);
            if (!s.empty() && is_final(s.back().phase)) {
                last = s.back();
                return true;
            }
            return false;
        },
        deadline);
    return last;
}

std::vector<std::string> phases(const std::vector<protocol::TaskStatus>& s) {
    std::vector<std::string> out;
    for (const auto& x : s) {
        out.push_back(x.phase);
    }
    return out;
}

// "1\n2\n...n\n", what the counting commands of these tests print.
std::string counted_lines(int n) {
    std::string out;
    for (int i = 1; i <= n; ++i) {
        out += std::to_string(i) + "\n";
    }
    return out;
}

bool contiguous(const std::set<std::uint64_t>& s) {
    return !s.empty() && *s.begin() == 1 && *s.rbegin() == s.size();
}

// Whether the attempt's containers are all gone within `deadline` (polled: the engine has no
// event this test could wait on more simply).
bool containers_gone(const std::string& attempt, std::chrono::milliseconds deadline) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < until) {
        if (shell("docker ps -aq --filter label=unidesk.attempt=" + attempt).first.empty()) {
            return true;
        }
        std::this_thread::sleep_for(100ms);
    }
    return false;
}

}  // namespace

TEST_CASE(
    "a task runs at its commits, reports each phase and its output, and the same env is "
    "built once",
    "[agent][task][docker]") {
    Fixture f;
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(f.peer->send(f.task(
        "att-ok-1", {"sh", "-c", "cat /built.txt; cat hello.txt; echo to-stderr >&2; pwd"})));
    auto last = final_status(*f.peer, "att-ok-1");
    const auto first_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - t0);
    auto msgs = f.peer->received();
    INFO(f.agent->output());
    INFO(output(msgs, "att-ok-1"));
    REQUIRE(last.phase == "succeeded");
    CHECK(last.exit_code == 0u);
    CHECK(phases(statuses(msgs, "att-ok-1")) ==
          std::vector<std::string>{"accepted", "fetching", "building", "running", "succeeded"});
    CHECK_THAT(output(msgs, "att-ok-1", "stdout"), Catch::Contains("built-") &&
                                                       Catch::Contains("hello from the code") &&
                                                       Catch::Contains("/workspace"));
    CHECK(output(msgs, "att-ok-1", "stderr") == "to-stderr\n");
    CHECK_THAT(output(msgs, "att-ok-1", "agent"), Catch::Contains("building environment image"));
    CHECK(contiguous(seqs(msgs, "att-ok-1")));
    CHECK_FALSE(statuses(msgs, "att-ok-1")[3].container_id.empty());
    // The container is removed once its end is reported.
    CHECK(containers_gone("att-ok-1", 10s));

    // The same env again: the image is there, so nothing is built.
    const auto t1 = std::chrono::steady_clock::now();
    REQUIRE(f.peer->send(f.task("att-ok-2", {"cat", "hello.txt"})));
    last = final_status(*f.peer, "att-ok-2");
    const auto second_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - t1);
    msgs = f.peer->received();
    REQUIRE(last.phase == "succeeded");
    CHECK_THAT(output(msgs, "att-ok-2", "agent"), Catch::Contains("not built again"));
    CHECK(output(msgs, "att-ok-2", "stdout") == "hello from the code\n");
    WARN("first task (with image build) " << first_ms.count() << " ms, second (image present) "
                                          << second_ms.count() << " ms");
    CHECK(second_ms < first_ms);
}

TEST_CASE("many short lines of output come as few reports, every byte in order",
          "[agent][task][docker]") {
    Fixture f;
    REQUIRE(f.peer->send(f.task("att-lines", {"seq", "1", "100000"})));
    auto last = final_status(*f.peer, "att-lines");
    auto msgs = f.peer->received();
    INFO(f.agent->output());
    REQUIRE(last.phase == "succeeded");
    std::string expected;
    for (int i = 1; i <= 100000; ++i) {
        expected += std::to_string(i) + "\n";
    }
    CHECK(output(msgs, "att-lines", "stdout") == expected);
    CHECK(contiguous(seqs(msgs, "att-lines")));
    // The engine sends a frame a line; lines that arrive together go in one report (at most
    // 64 KiB), so 100,000 lines (589 KB) take far fewer than 100,000 reports.
    std::size_t logs = 0;
    for (const auto& m : msgs) {
        if (const auto* l = std::get_if<protocol::TaskLog>(&m.body);
            l && l->attempt_id == "att-lines") {
            ++logs;
            CHECK(l->data.size() <= 64 * 1024);
        }
    }
    WARN("100,000 lines came in " << logs << " reports");
    CHECK(logs < 20000);  // about 4,300 here: some 20 lines a report
}

TEST_CASE("an unknown commit fails the task with git_fetch_failed", "[agent][task][docker]") {
    Fixture f;
    auto t = f.task("att-nocommit", {"true"});
    t.code_commit_id = std::string(40, 'a');
    REQUIRE(f.peer->send(t));
    auto last = final_status(*f.peer, "att-nocommit");
    INFO(f.agent->output());
    CHECK(last.phase == "failed");
    CHECK(last.cause == "git_fetch_failed");
    CHECK_FALSE(last.message.empty());
    // The task's own log says so too, for whoever reads only the log.
    CHECK(output(f.peer->received(), "att-nocommit", "agent") ==
          "attempt failed (git_fetch_failed): " + last.message + "\n");

    // The node goes on working.
    REQUIRE(f.peer->send(f.task("att-after", {"true"})));
    CHECK(final_status(*f.peer, "att-after").phase == "succeeded");
}

TEST_CASE("a Dockerfile that fails to build fails the task with the builder's message",
          "[agent][task][docker]") {
    Fixture f;
    f.env_commit = commit_repo(
        f.dir + "/env", {{"Dockerfile", "FROM " + kBaseImage + "\nRUN echo broken; exit 7\n"}});
    REQUIRE(f.peer->send(f.task("att-badbuild", {"true"})));
    auto last = final_status(*f.peer, "att-badbuild");
    INFO(f.agent->output());
    CHECK(last.phase == "failed");
    CHECK(last.cause == "image_build_failed");
    CHECK_THAT(last.message, Catch::Contains("7"));
    CHECK_THAT(output(f.peer->received(), "att-badbuild", "agent"), Catch::Contains("broken"));
}

TEST_CASE("a Dockerfile the env repository lacks fails the task naming it, not the engine's API",
          "[agent][task][docker]") {
    Fixture f;
    auto t = f.task("att-nodockerfile", {"true"});
    t.dockerfile_path = "Missing.Dockerfile";
    REQUIRE(f.peer->send(t));
    auto last = final_status(*f.peer, "att-nodockerfile");
    INFO(f.agent->output());
    CHECK(last.phase == "failed");
    CHECK(last.cause == "image_build_failed");
    CHECK_THAT(last.message, Catch::Contains("Missing.Dockerfile"));
    CHECK_THAT(last.message, !Catch::Contains("/build?"));
}

TEST_CASE("a command that exits 3 fails with exit_nonzero and its code", "[agent][task][docker]") {
    Fixture f;
    REQUIRE(f.peer->send(f.task("att-exit3", {"sh", "-c", "echo before; exit 3"})));
    auto last = final_status(*f.peer, "att-exit3");
    CHECK(last.phase == "failed");
    CHECK(last.cause == "exit_nonzero");
    CHECK(last.exit_code == 3u);
    CHECK(output(f.peer->received(), "att-exit3", "stdout") == "before\n");
}

TEST_CASE("the time limit stops a task and reports timeout", "[agent][task][docker]") {
    Fixture f;
    auto t = f.task("att-slow", {"sleep", "60"});
    t.time_limit_s = 2;
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(f.peer->send(t));
    auto last = final_status(*f.peer, "att-slow", 60s);
    INFO(f.agent->output());
    CHECK(last.phase == "failed");
    CHECK(last.cause == "timeout");
    // busybox sleep ignores nothing: SIGTERM ends it at once, well before the grace period.
    CHECK(std::chrono::steady_clock::now() - t0 < 40s);
}

TEST_CASE("a task cancelled while it runs is stopped and reported cancelled",
          "[agent][task][docker]") {
    Fixture f;
    REQUIRE(f.peer->send(f.task("att-cancel", {"sh", "-c", "echo started; sleep 60"})));
    REQUIRE(f.peer->wait_for(
        [](const auto& m) { return output(m, "att-cancel", "stdout") == "started\n"; }, 60s));
    REQUIRE(f.peer->send(protocol::TaskCancel{"att-cancel", "cancelled", 2}));
    auto last = final_status(*f.peer, "att-cancel", 30s);
    INFO(f.agent->output());
    CHECK(last.phase == "cancelled");
    CHECK(last.cause == "cancelled");
}

TEST_CASE("two tasks on the same repositories run at once", "[agent][task][docker]") {
    Fixture f;
    REQUIRE(f.peer->send(f.task("att-par-1", {"sh", "-c", "sleep 1; cat hello.txt"})));
    REQUIRE(f.peer->send(f.task("att-par-2", {"sh", "-c", "sleep 1; cat hello.txt"})));
    auto a = final_status(*f.peer, "att-par-1");
    auto b = final_status(*f.peer, "att-par-2");
    INFO(f.agent->output());
    CHECK(a.phase == "succeeded");
    CHECK(b.phase == "succeeded");
    const auto msgs = f.peer->received();
    CHECK(output(msgs, "att-par-1", "stdout") == "hello from the code\n");
    CHECK(output(msgs, "att-par-2", "stdout") == "hello from the code\n");
}

TEST_CASE(
    "output made while the link was down arrives after reconnecting, without gaps or "
    "duplicates",
    "[agent][task][docker]") {
    Fixture f;
    REQUIRE(f.peer->send(f.task("att-buffer", {"sh", "-c",
                                               "i=1; while [ $i -le 30 ]; do echo $i; i=$((i+1)); "
                                               "sleep 0.1; done"})));
    REQUIRE(f.peer->wait_for(
        [](const auto& m) { return output(m, "att-buffer", "stdout").size() >= 4; }, 60s));

    // The server dies mid-task and comes back on the same port a little later.
    auto before = f.peer->received();
    const auto port = f.peer->port();
    f.peer.reset();
    std::this_thread::sleep_for(1500ms);
    f.peer = std::make_unique<TestPeer>(kToken, port);
    auto last = final_status(*f.peer, "att-buffer", 60s);
    INFO(f.agent->output());
    REQUIRE(last.phase == "succeeded");

    auto all = before;
    const auto after = f.peer->received();
    all.insert(all.end(), after.begin(), after.end());
    CHECK(output(all, "att-buffer", "stdout") == counted_lines(30));
    CHECK(contiguous(seqs(all, "att-buffer")));
}

TEST_CASE(
    "a restarted agent reports its running containers and goes on or stops as the server "
    "says",
    "[agent][task][docker]") {
    Fixture f;
    REQUIRE(f.peer->send(f.task("att-keep", {"sh", "-c",
                                             "i=1; while [ $i -le 40 ]; do echo $i; i=$((i+1)); "
                                             "sleep 0.1; done"})));
    REQUIRE(f.peer->send(f.task("att-drop", {"sleep", "60"})));
    REQUIRE(f.peer->wait_for(
        [](const auto& m) {
            auto s = statuses(m, "att-drop");
            return output(m, "att-keep", "stdout").size() >= 4 && !s.empty() &&
                   s.back().phase == "running";
        },
        60s));

    // kill -9: nothing is said; the containers go on without their agent.
    f.agent->signal(SIGKILL);
    f.agent->wait_exit(10s);
    const auto before = f.peer->received();
    std::uint64_t last_seq = 0;
    std::string logs_after;
    for (const auto& m : before) {
        if (const auto* l = std::get_if<protocol::TaskLog>(&m.body);
            l && l->attempt_id == "att-keep") {
            last_seq = std::max(last_seq, l->seq);
            logs_after = std::max(logs_after, l->until);
        } else if (const auto* s = std::get_if<protocol::TaskStatus>(&m.body);
                   s && s->attempt_id == "att-keep") {
            last_seq = std::max(last_seq, s->seq);
        }
    }
    std::this_thread::sleep_for(1s);  // output made while no agent runs

    f.peer = std::make_unique<TestPeer>(kToken);
    f.start_agent();
    const auto reg = std::get<protocol::Register>(f.peer->received().front().body);
    std::set<std::string> reported;
    for (const auto& r : reg.running) {
        reported.insert(r.attempt_id);
    }
    CHECK(reported == std::set<std::string>{"att-keep", "att-drop"});

    REQUIRE(f.peer->send(protocol::TaskResume{"att-keep", last_seq, logs_after}));
    REQUIRE(f.peer->send(protocol::TaskCancel{"att-drop", "stale", 1}));
    auto last = final_status(*f.peer, "att-keep", 60s);
    INFO(f.agent->output());
    REQUIRE(last.phase == "succeeded");

    auto all = before;
    const auto after = f.peer->received();
    all.insert(all.end(), after.begin(), after.end());
    CHECK(output(all, "att-keep", "stdout") == counted_lines(40));
    CHECK(contiguous(seqs(all, "att-keep")));

    // The stale attempt's container is stopped and removed, and nothing more is reported of it.
    CHECK(containers_gone("att-drop", 20s));
    CHECK(statuses(after, "att-drop").empty());
}

TEST_CASE("task folders and env images beyond the disk budget go, least recently used first",
          "[agent][task][docker]") {
    Fixture f;
    // An env image here is about 2 MB: one fits in the budget, two do not.
    f.restart_agent("disk_budget_mb = 3\n");
    auto images_of = [](const std::string& env_commit) {
        return must("docker images -q --filter label=unidesk.env_commit_id=" + env_commit);
    };

    REQUIRE(f.peer->send(f.task("att-old", {"true"})));
    REQUIRE(final_status(*f.peer, "att-old").phase == "succeeded");
    const std::string old_env = f.env_commit;
    CHECK_FALSE(images_of(old_env).empty());
    CHECK(fs::exists(f.dir + "/work/tasks/att-old"));

    // A second env: its image and the newer task folder are the most recently used.
    f.env_commit = commit_repo(f.dir + "/env",
                               {{"Dockerfile", "FROM " + kBaseImage + "\nRUN echo second > /x\n"}});
    REQUIRE(f.peer->send(f.task("att-new", {"true"})));
    REQUIRE(final_status(*f.peer, "att-new").phase == "succeeded");
    INFO(f.agent->output());

    // The garbage is collected as the attempt ends, right after its last report.
    bool collected = false;
    for (int i = 0; i < 100 && !collected; ++i) {
        collected = images_of(old_env).empty() && !fs::exists(f.dir + "/work/tasks/att-old");
        std::this_thread::sleep_for(100ms);
    }
    CHECK(collected);
    CHECK_FALSE(images_of(f.env_commit).empty());
    CHECK(fs::exists(f.dir + "/work/tasks/att-new"));
    CHECK_THAT(f.agent->output(), Catch::Contains("environment image removed") &&
                                      Catch::Contains("task folder removed"));
}

TEST_CASE("an attempt beyond the node's slots or with a malformed command is rejected",
          "[agent][task][docker]") {
    Fixture f;
    f.restart_agent("slots = 1\n");

    REQUIRE(f.peer->send(f.task("att-slot-1", {"sleep", "5"})));
    REQUIRE(f.peer->send(f.task("att-slot-2", {"true"})));
    auto second = final_status(*f.peer, "att-slot-2", 30s);
    CHECK(second.phase == "rejected");
    CHECK_THAT(second.message, Catch::Contains("slots"));

    auto bad = f.task("att-badcommit", {"true"});
    bad.code_commit_id = "main";
    REQUIRE(f.peer->send(bad));
    auto refused = final_status(*f.peer, "att-badcommit", 30s);
    CHECK(refused.phase == "rejected");
    CHECK_THAT(refused.message, Catch::Contains("40-digit"));

    // The running one is not disturbed, and once it has reported its end its slot is free,
    // even while its container is still being removed.
    CHECK(final_status(*f.peer, "att-slot-1").phase == "succeeded");
    REQUIRE(f.peer->send(f.task("att-slot-3", {"true"})));
    CHECK(final_status(*f.peer, "att-slot-3").phase == "succeeded");
}

TEST_CASE("a task runs from repositories served by git daemon", "[agent][task][docker]") {
    Fixture f;
    for (const char* repo : {"/code", "/env"}) {
        must("git -C " + f.dir + repo + " config uploadpack.allowReachableSHA1InWant true");
    }
    // A free loopback port: bound by the kernel, then given to the daemon.
    const auto port = must(
                          "python3 -c 'import socket; s=socket.socket(); "
                          "s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])'")
                          .substr(0, 5);
    const std::string p = std::to_string(std::stoi(port));
    ChildProcess daemon(git_daemon_program(),
                        {"--reuseaddr", "--export-all", "--base-path=" + f.dir,
                         "--listen=127.0.0.1", "--port=" + p, f.dir},
                        {{"PATH", "/usr/bin:/bin"}, {"HOME", "/tmp"}});
    bool up = false;
    for (int i = 0; i < 100 && !up; ++i) {
        up = shell("git ls-remote git://127.0.0.1:" + p + "/code >/dev/null").second;
        std::this_thread::sleep_for(100ms);
    }
    REQUIRE(up);

    auto t = f.task("att-daemon", {"cat", "hello.txt"});
    t.code_repo_url = "git://127.0.0.1:" + p + "/code";
    t.env_repo_url = "git://127.0.0.1:" + p + "/env";
    REQUIRE(f.peer->send(t));
    auto last = final_status(*f.peer, "att-daemon");
    INFO(f.agent->output());
    CHECK(last.phase == "succeeded");
    CHECK(output(f.peer->received(), "att-daemon", "stdout") == "hello from the code\n");
}
