#include "matching.hpp"
#include "task_spec.hpp"

#include <catch2/catch.hpp>

using namespace unidesk::scheduler;
using nlohmann::json;

namespace {

NodeState node(const std::string& name, std::uint64_t cores, std::vector<NodeGpu> gpus = {},
               std::map<std::string, std::string> labels = {}) {
    NodeState n;
    n.name = name;
    n.cpu_millis = cores * 1000;
    n.memory_bytes = 64ull << 30;
    n.gpus = std::move(gpus);
    n.labels = std::move(labels);
    return n;
}

QueuedTask task(std::int64_t id, const std::string& project, int priority, Needs needs = {}) {
    if (needs.cpu_millis == 0) {
        needs.cpu_millis = 1000;
    }
    return {id, project, priority, needs};
}

}  // namespace

TEST_CASE("a task gets free GPUs of its model on a node with its labels", "[scheduler]") {
    auto n = node("gpu-1", 8, {{0, "A100"}, {1, "T4"}, {2, "A100"}}, {{"zone", "a"}});
    Needs two{1000, 0, 2, "A100", {{"zone", "a"}}};
    auto got = fit(two, n);
    REQUIRE(got);
    CHECK(*got == std::vector<std::uint32_t>{0, 2});

    take(n, two, *got);
    CHECK_FALSE(fit(Needs{1000, 0, 1, "A100", {}}, n));
    CHECK(fit(Needs{1000, 0, 1, "", {}}, n) == std::vector<std::uint32_t>{1});
    CHECK_FALSE(fit(Needs{1000, 0, 0, "", {{"zone", "b"}}}, n));
    CHECK_FALSE(fit(Needs{8000, 0, 0, "", {}}, n));
}

TEST_CASE("a task that fits no node says why in words", "[scheduler]") {
    std::vector<NodeState> nodes = {node("a", 4, {{0, "T4"}}, {{"zone", "a"}}), node("b", 2)};
    CHECK(pending_reason(Needs{1000, 0, 2, "A100", {}}, nodes) ==
          "no online node has 2 GPUs of model A100");
    CHECK(pending_reason(Needs{1000, 0, 0, "", {{"zone", "c"}}}, nodes) ==
          "no online node has the labels zone=c");
    CHECK(pending_reason(Needs{64000, 0, 0, "", {}}, nodes) == "no online node has 64 cores");
    CHECK(pending_reason(Needs{1000, 0, 0, "", {}}, {}) == "no node is online");
    nodes[0].used_cpu_millis = 4000;
    nodes[1].used_cpu_millis = 2000;
    CHECK_THAT(pending_reason(Needs{1000, 0, 0, "", {}}, nodes), Catch::Contains("busy"));
}

TEST_CASE("higher priority goes first, then the least served project, then the oldest",
          "[scheduler]") {
    std::vector<NodeState> nodes = {node("n", 3)};
    std::vector<QueuedTask> tasks = {task(1, "big", 0), task(2, "big", 0), task(3, "small", 0),
                                     task(4, "big", 5)};
    auto p = plan(tasks, nodes, {{"big", 2}});
    REQUIRE(p.placements.size() == 3);
    CHECK(p.placements[0].task_id == 4);  // priority
    CHECK(p.placements[1].task_id == 3);  // the project with nothing running
    CHECK(p.placements[2].task_id == 1);  // then age
    CHECK(p.pending.at(2) == "waiting for resources: every node that could run it (1) is busy");
}

TEST_CASE("a task spec is completed with defaults and checked field by field", "[scheduler]") {
    const std::string c(40, 'a');
    auto ok = normalize_spec({{"code_repo_url", "https://h/c.git"},
                              {"code_commit_id", c},
                              {"env_repo_url", "https://h/e.git"},
                              {"env_commit_id", c}});
    REQUIRE(ok);
    CHECK((*ok)["dockerfile_path"] == "Dockerfile");
    CHECK((*ok)["project"] == "default");
    CHECK((*ok)["resources"]["cpu_millis"] == 1000);
    CHECK((*ok)["retry"]["max_attempts"] == 3);

    auto bad = normalize_spec({{"code_repo_url", "u"},
                               {"code_commit_id", "abc123"},
                               {"env_repo_url", "u"},
                               {"env_commit_id", c}});
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code == "invalid_commit");
    CHECK_THAT(bad.error().message, Catch::Contains("code_commit_id"));

    auto missing = normalize_spec({{"code_repo_url", "u"}});
    REQUIRE_FALSE(missing);
    CHECK_THAT(missing.error().message, Catch::Contains("env_repo_url"));

    auto escape = normalize_spec({{"code_repo_url", "u"},
                                  {"code_commit_id", c},
                                  {"env_repo_url", "u"},
                                  {"env_commit_id", c},
                                  {"dockerfile_path", "../x"}});
    CHECK_FALSE(escape);
    CHECK_FALSE(normalize_spec({{"surprise", 1}}));
}

TEST_CASE("a node takes no more attempts than the slots it declared", "[scheduler]") {
    std::vector<NodeState> nodes = {node("n", 8)};
    nodes[0].slots = 2;
    auto p = plan({task(1, "p", 0), task(2, "p", 0), task(3, "p", 0)}, nodes, {});
    CHECK(p.placements.size() == 2);
    CHECK(p.pending.count(3) == 1);
}

TEST_CASE("fair share alternates between projects and full nodes leave every task its reason",
          "[scheduler]") {
    std::vector<NodeState> nodes = {node("n", 64)};
    nodes[0].slots = 4;
    std::vector<QueuedTask> tasks;
    for (int i = 1; i <= 6; ++i) {
        tasks.push_back(task(i, "a", 0));
    }
    tasks.push_back(task(7, "b", 0));
    tasks.push_back(task(8, "b", 0));
    auto p = plan(tasks, nodes, {});
    REQUIRE(p.placements.size() == 4);
    // a, b, a, b: the project with fewer placed goes next, the older one on a tie.
    CHECK(p.placements[0].task_id == 1);
    CHECK(p.placements[1].task_id == 7);
    CHECK(p.placements[2].task_id == 2);
    CHECK(p.placements[3].task_id == 8);
    REQUIRE(p.pending.size() == 4);
    for (int id : {3, 4, 5, 6}) {
        CHECK_THAT(p.pending.at(id), Catch::Contains("busy"));
    }
}
