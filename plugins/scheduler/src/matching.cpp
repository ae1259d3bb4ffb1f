#include "matching.hpp"

#include <algorithm>
#include <deque>
#include <functional>
#include <set>

namespace unidesk::scheduler {
namespace {

bool labels_match(const Needs& needs, const NodeState& node) {
    return std::all_of(needs.labels.begin(), needs.labels.end(), [&](const auto& kv) {
        auto it = node.labels.find(kv.first);
        return it != node.labels.end() && it->second == kv.second;
    });
}

// GPUs of the wanted model (any when none is named), free or not.
std::vector<std::uint32_t> gpus_of_model(const Needs& needs, const NodeState& node) {
    std::vector<std::uint32_t> out;
    for (const auto& g : node.gpus) {
        if (needs.gpu_model.empty() || g.model == needs.gpu_model) {
            out.push_back(g.index);
        }
    }
    return out;
}

std::string cores(std::uint64_t millis) {
    if (millis % 1000 == 0) {
        return std::to_string(millis / 1000);
    }
    return std::to_string(millis / 1000) + "." + std::to_string((millis % 1000) / 100);
}

std::string gib(std::uint64_t bytes) {
    const auto tenths = (bytes * 10 + (1ull << 29)) >> 30;
    return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " GiB";
}

}  // namespace

std::optional<std::vector<std::uint32_t>> fit(const Needs& needs, const NodeState& node) {
    if (!labels_match(needs, node) || (node.slots > 0 && node.active >= node.slots)) {
        return std::nullopt;
    }
    if (node.used_cpu_millis + needs.cpu_millis > node.cpu_millis ||
        node.used_memory_bytes + needs.memory_bytes > node.memory_bytes) {
        return std::nullopt;
    }
    std::vector<std::uint32_t> free;
    for (auto i : gpus_of_model(needs, node)) {
        if (std::find(node.used_gpus.begin(), node.used_gpus.end(), i) == node.used_gpus.end()) {
            free.push_back(i);
        }
    }
    if (free.size() < needs.gpu_count) {
        return std::nullopt;
    }
    free.resize(needs.gpu_count);
    return free;
}

std::string pending_reason(const Needs& needs, const std::vector<NodeState>& nodes) {
    if (nodes.empty()) {
        return "no node is online";
    }
    // Narrow down by what a node has at all, ignoring use, and name the first thing nobody has.
    std::vector<const NodeState*> left;
    for (const auto& n : nodes) {
        if (labels_match(needs, n)) {
            left.push_back(&n);
        }
    }
    if (left.empty()) {
        std::string wanted;
        for (const auto& [k, v] : needs.labels) {
            wanted += (wanted.empty() ? "" : ",") + k + "=" + v;
        }
        return "no online node has the labels " + wanted;
    }
    if (needs.gpu_count > 0) {
        std::erase_if(left, [&](const NodeState* n) {
            return gpus_of_model(needs, *n).size() < needs.gpu_count;
        });
        if (left.empty()) {
            return "no online node has " + std::to_string(needs.gpu_count) +
                   (needs.gpu_count == 1 ? " GPU" : " GPUs") +
                   (needs.gpu_model.empty() ? "" : " of model " + needs.gpu_model);
        }
    }
    std::erase_if(left, [&](const NodeState* n) { return n->cpu_millis < needs.cpu_millis; });
    if (left.empty()) {
        return "no online node has " + cores(needs.cpu_millis) + " cores";
    }
    std::erase_if(left, [&](const NodeState* n) { return n->memory_bytes < needs.memory_bytes; });
    if (left.empty()) {
        return "no online node has " + gib(needs.memory_bytes) + " of memory";
    }
    return "waiting for resources: every node that could run it (" + std::to_string(left.size()) +
           ") is busy";
}

void take(NodeState& node, const Needs& needs, const std::vector<std::uint32_t>& gpus) {
    node.used_cpu_millis += needs.cpu_millis;
    node.used_memory_bytes += needs.memory_bytes;
    node.used_gpus.insert(node.used_gpus.end(), gpus.begin(), gpus.end());
    ++node.active;
}

namespace {

// pending_reason() looks only at the needs and what nodes have, not at what they use, so one
// answer serves every task of a pass with the same needs.
std::string needs_key(const Needs& n) {
    std::string key = std::to_string(n.cpu_millis) + "|" + std::to_string(n.memory_bytes) + "|" +
                      std::to_string(n.gpu_count) + "|" + n.gpu_model;
    for (const auto& [k, v] : n.labels) {
        key += "|" + k + "=" + v;
    }
    return key;
}

bool any_room(const std::vector<NodeState>& nodes) {
    return std::any_of(nodes.begin(), nodes.end(),
                       [](const NodeState& n) { return n.slots == 0 || n.active < n.slots; });
}

}  // namespace

Plan plan(const std::vector<QueuedTask>& tasks, std::vector<NodeState>& nodes,
          std::map<std::string, int> active_per_project) {
    Plan out;
    // The tasks left: by priority, highest first; in each, a queue per project, oldest first.
    std::map<int, std::map<std::string, std::deque<const QueuedTask*>>, std::greater<>> left;
    for (const auto& t : tasks) {
        left[t.priority][t.project].push_back(&t);
    }
    std::map<std::string, std::string> reasons;
    auto pend = [&](const QueuedTask& t) {
        auto [it, fresh] = reasons.try_emplace(needs_key(t.needs));
        if (fresh) {
            it->second = pending_reason(t.needs, nodes);
        }
        out.pending[t.id] = it->second;
    };

    // Greedy: take the best task left (priority, then the least-served project, then age),
    // place it or give its reason, and go on; the project counts change as tasks are placed.
    for (auto& [priority, projects] : left) {
        for (auto& [name, queue] : projects) {
            std::sort(queue.begin(), queue.end(),
                      [](const QueuedTask* a, const QueuedTask* b) { return a->id < b->id; });
        }
        while (!projects.empty()) {
            auto best = projects.begin();
            for (auto it = std::next(best); it != projects.end(); ++it) {
                const int la = active_per_project[it->first];
                const int lb = active_per_project[best->first];
                if (la < lb || (la == lb && it->second.front()->id < best->second.front()->id)) {
                    best = it;
                }
            }
            const QueuedTask& t = *best->second.front();
            best->second.pop_front();
            if (best->second.empty()) {
                projects.erase(best);
            }

            if (!any_room(nodes)) {
                pend(t);  // every node is at its slots: nothing more fits this pass
                continue;
            }
            NodeState* chosen = nullptr;
            std::vector<std::uint32_t> gpus;
            for (auto& n : nodes) {
                if (auto g = fit(t.needs, n)) {
                    // The node with the most free cores left, so load spreads.
                    if (!chosen || n.cpu_millis - n.used_cpu_millis >
                                       chosen->cpu_millis - chosen->used_cpu_millis) {
                        chosen = &n;
                        gpus = *g;
                    }
                }
            }
            if (!chosen) {
                pend(t);
                continue;
            }
            take(*chosen, t.needs, gpus);
            ++active_per_project[t.project];
            out.placements.push_back({t.id, chosen->name, gpus});
        }
    }
    return out;
}

}  // namespace unidesk::scheduler
