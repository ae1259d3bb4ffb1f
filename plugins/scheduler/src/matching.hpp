#pragma once

// Which queued task goes to which node: pure functions over plain values, so the policy is
// tested without a database. Thread-safe (no state).
//
// A task fits a node when the node is online, carries every label the task asks for, and has
// enough free CPU, memory and GPUs (of the asked model, when one is named) once the attempts
// already assigned to it are counted. Among the tasks that fit somewhere: higher priority
// first, then the project with the fewest active attempts (fair share), then the oldest.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace unidesk::scheduler {

struct Needs {
    std::uint64_t cpu_millis = 0;
    std::uint64_t memory_bytes = 0;
    std::uint32_t gpu_count = 0;
    std::string gpu_model;  // empty: any model
    std::map<std::string, std::string> labels;
};

struct NodeGpu {
    std::uint32_t index = 0;
    std::string model;
};

//! A node as matching sees it: what it has, and what its active attempts already use.
struct NodeState {
    std::string name;
    std::uint64_t cpu_millis = 0;
    std::uint64_t memory_bytes = 0;
    std::vector<NodeGpu> gpus;
    std::map<std::string, std::string> labels;
    std::uint64_t used_cpu_millis = 0;
    std::uint64_t used_memory_bytes = 0;
    std::vector<std::uint32_t> used_gpus;  // indices given to active attempts
    std::uint32_t slots = 0;               // attempts the node runs at once; 0: no limit said
    std::uint32_t active = 0;              // attempts it holds now
};

struct QueuedTask {
    std::int64_t id = 0;
    std::string project;
    int priority = 0;
    Needs needs;
};

//! The GPU indices the task would get on the node, or nothing when it does not fit.
std::optional<std::vector<std::uint32_t>> fit(const Needs& needs, const NodeState& node);

//! Why a task fits no node, for people: "no online node has 2 GPUs of model A100", "no online
//! node has the labels zone=lab-2", "no online node has 64 cores", "every node that could run
//! it is busy" ...
std::string pending_reason(const Needs& needs, const std::vector<NodeState>& nodes);

//! Accounts a placement on the node, so later tasks of the same pass see it used.
void take(NodeState& node, const Needs& needs, const std::vector<std::uint32_t>& gpus);

struct Placement {
    std::int64_t task_id = 0;
    std::string node;
    std::vector<std::uint32_t> gpus;
};

struct Plan {
    std::vector<Placement> placements;
    std::map<std::int64_t, std::string> pending;  // task id -> reason, for those left queued
};

//! One scheduling pass. `tasks` in any order; `active_per_project` counts the attempts
//! already running per project (for fair share). `nodes` is updated with the placements.
Plan plan(const std::vector<QueuedTask>& tasks, std::vector<NodeState>& nodes,
          std::map<std::string, int> active_per_project);

}  // namespace unidesk::scheduler
