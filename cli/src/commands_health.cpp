// `unidesk health`: the server's /health, which needs no token.

#include "command.hpp"
#include "exit_codes.hpp"
#include "table.hpp"
#include "time_format.hpp"

#include <ostream>

namespace unidesk::cli {

namespace {

void add_entries(Table& table, const nlohmann::json& report, const char* group, const char* kind) {
    const auto it = report.find(group);
    if (it == report.end() || !it->is_object()) {
        return;
    }
    for (const auto& [name, entry] : it->items()) {
        table.add_row({kind, name, cell(entry, "status"), cell(entry, "reason")});
    }
}

Result<int> health(CommandContext& ctx) {
    auto answer = ctx.client.send("GET", "/health");
    if (!answer) {
        return answer.error();
    }

    // A down server answers 503 with the report itself: that is an answer, not a failure to
    // reach it, so show the report.
    const auto& report = answer->json;
    if (!report.is_object() || !report.contains("status") || !report["status"].is_string()) {
        return error_from_answer(answer->status, answer->raw);
    }
    const std::string status = report["status"].get<std::string>();
    const int code = status == "ok" ? kExitOk : kExitFailed;
    if (ctx.json) {
        print_raw(ctx.io.out, *answer);
        return code;
    }

    ctx.io.out << "status: " << status;
    if (report.contains("version")) {
        ctx.io.out << "  version: " << cell(report, "version");
    }
    if (report.contains("time")) {
        ctx.io.out << "  time: " << time_cell(report, "time", ctx.utc);
    }
    ctx.io.out << '\n';

    Table table({"KIND", "NAME", "STATUS", "REASON"});
    add_entries(table, report, "components", "component");
    add_entries(table, report, "plugins", "plugin");
    if (table.rows() > 0) {
        ctx.io.out << table.render();
    }
    return code;
}

}  // namespace

std::vector<Command> health_commands() {
    return {
        {{"health"}, {}, {}, "", "show the server's health (exit 0 when ok, 1 otherwise)", health},
    };
}

}  // namespace unidesk::cli
