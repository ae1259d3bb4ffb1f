// Compute nodes: /v1/nodes and /v1/nodes/{name}.

#include "command.hpp"
#include "exit_codes.hpp"
#include "table.hpp"
#include "time_format.hpp"

#include <map>
#include <ostream>

namespace unidesk::cli {

namespace {

//! "2x NVIDIA A100 (80.0 GiB)", or "" for a node without GPUs.
std::string gpu_summary(const nlohmann::json& node) {
    const auto it = node.find("gpus");
    if (it == node.end() || !it->is_array() || it->empty()) {
        return {};
    }
    // Machines usually hold one model; group them so the column stays short.
    std::map<std::string, int> by_model;
    for (const auto& g : *it) {
        const auto memory = human_bytes(g.value("memory_bytes", nlohmann::json()));
        by_model[cell(g, "model") + (memory.empty() ? "" : " (" + memory + ")")] += 1;
    }
    std::string out;
    for (const auto& [model, count] : by_model) {
        out += (out.empty() ? "" : ", ") + std::to_string(count) + "x " + model;
    }
    return out;
}

std::string os_arch(const nlohmann::json& node) {
    const auto os = cell(node, "os");
    const auto arch = cell(node, "arch");
    if (os.empty() || arch.empty()) {
        return os + arch;
    }
    return os + "/" + arch;
}

Result<int> nodes(CommandContext& ctx) {
    return show_list(
        ctx, "/v1/nodes", "nodes",
        {"NAME", "STATE", "OS/ARCH", "CPUS", "MEMORY", "GPUS", "AGENT", "LAST HEARTBEAT"},
        [&ctx](const nlohmann::json& n) -> std::vector<std::string> {
            return {cell(n, "name"),
                    cell(n, "state"),
                    os_arch(n),
                    cell(n, "cpu_cores"),
                    human_bytes(n.value("memory_bytes", nlohmann::json())),
                    gpu_summary(n),
                    cell(n, "agent_version"),
                    time_cell(n, "last_heartbeat_at", ctx.utc)};
        });
}

void print_node(CommandContext& ctx, const nlohmann::json& n) {
    Table facts({"FIELD", "VALUE"});
    facts.add_row({"name", cell(n, "name")});
    facts.add_row({"state", cell(n, "state")});
    facts.add_row({"agent version", cell(n, "agent_version")});
    facts.add_row({"os/arch", os_arch(n)});
    facts.add_row({"cpu cores", cell(n, "cpu_cores")});
    facts.add_row({"memory", human_bytes(n.value("memory_bytes", nlohmann::json()))});
    facts.add_row({"disk", human_bytes(n.value("disk_bytes", nlohmann::json()))});
    facts.add_row({"connected at", time_cell(n, "connected_at", ctx.utc)});
    facts.add_row({"last heartbeat", time_cell(n, "last_heartbeat_at", ctx.utc)});
    if (const auto labels = n.find("labels"); labels != n.end() && labels->is_object()) {
        for (const auto& [key, value] : labels->items()) {
            facts.add_row(
                {"label " + key, value.is_string() ? value.get<std::string>() : value.dump()});
        }
    }
    ctx.io.out << facts.render();

    const auto gpus = n.find("gpus");
    if (gpus != n.end() && gpus->is_array() && !gpus->empty()) {
        Table table({"GPU", "MODEL", "MEMORY", "DRIVER"});
        for (const auto& g : *gpus) {
            table.add_row({cell(g, "index"), cell(g, "model"),
                           human_bytes(g.value("memory_bytes", nlohmann::json())),
                           cell(g, "driver")});
        }
        ctx.io.out << '\n' << table.render();
    }
}

Result<int> node_show(CommandContext& ctx) {
    return call_and_show(
        ctx, "GET", "/v1/nodes/" + path_segment(ctx.args[0]), std::nullopt,
        [&ctx](const Answer& answer) { print_node(ctx, object_field(answer, "node")); });
}

}  // namespace

std::vector<Command> node_commands() {
    return {
        {{"nodes"}, {}, {}, "", "list compute nodes", nodes},
        {{"node", "show"}, {"NAME"}, {}, "", "show one compute node", node_show},
    };
}

}  // namespace unidesk::cli
