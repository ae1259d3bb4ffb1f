#include "task_follow.hpp"

#include "exit_codes.hpp"
#include "time_format.hpp"

#include <ostream>

namespace unidesk::cli {

namespace {

void print_entries(CommandContext& ctx, const nlohmann::json& entries) {
    for (const auto& e : entries) {
        const auto data = cell(e, "data");
        if (cell(e, "stream") == "stdout") {
            ctx.io.out << data;
        } else {
            ctx.io.err << data;
        }
    }
    // A person watching wants each batch now, not when a buffer fills.
    ctx.io.out.flush();
    ctx.io.err.flush();
}

Result<nlohmann::json> get_task(CommandContext& ctx, const std::string& base) {
    auto answer = ctx.client.call("GET", base);
    if (!answer) {
        return answer.error();
    }
    return ok_value(object_field(*answer, "task"));
}

//! Prints the task's state line when its state differs from `last`, which it then becomes.
Result<nlohmann::json> report_state(CommandContext& ctx, const std::string& base,
                                    std::string& last) {
    auto task = get_task(ctx, base);
    if (!task) {
        return task.error();
    }
    const auto state = cell(*task, "state");
    if (state != last) {
        ctx.io.err << state_line(*task, ctx.utc) << '\n';
        ctx.io.err.flush();
        last = state;
    }
    return task;
}

}  // namespace

std::string state_line(const nlohmann::json& task, bool utc) {
    std::string line = time_cell(task, "updated_at", utc);
    line += (line.empty() ? "" : "  ") + std::string("task ") + cell(task, "id") + " " +
            cell(task, "state");
    if (const auto node = cell(task, "node"); !node.empty()) {
        line += " on " + node;
    }
    if (const auto reason = cell(task, "pending_reason");
        !reason.empty() && cell(task, "state") == "queued") {
        line += ": " + reason;
    }

    std::string end;
    if (const auto code = cell(task, "exit_code"); !code.empty()) {
        end += "exit code " + code;
    }
    if (const auto cause = cell(task, "cause"); !cause.empty()) {
        end += (end.empty() ? "" : ", ") + std::string("cause ") + cause;
    }
    if (const auto message = cell(task, "message"); !message.empty()) {
        end += (end.empty() ? "" : ": ") + message;
    }
    if (!end.empty() && !cell(task, "ended_at").empty()) {
        line += " (" + end + ")";
    }
    return line;
}

Result<int> follow_task(CommandContext& ctx, const std::string& id, const FollowOptions& options) {
    const std::string base = "/v1/tasks/" + path_segment(id);
    const int wait_s = options.show_states ? kStateWaitS : kLogWaitS;
    std::string last_state;
    std::string after = "0";
    bool first = true;

    while (true) {
        if (options.show_states) {
            if (auto task = report_state(ctx, base, last_state); !task) {
                return task.error();
            }
        }

        // The first call shows at once what is already written; later ones wait for more.
        std::string target = base + "/log?after=" + after;
        if (!first && options.to_end) {
            target += "&wait_s=" + std::to_string(wait_s);
        }
        auto answer = ctx.client.call("GET", target);
        if (!answer) {
            return answer.error();
        }
        auto entries = array_field(*answer, "entries");
        if (!entries) {
            return entries.error();
        }
        if (options.show_log && ctx.json) {
            // For scripts: each page's body as it came, one a line.
            ctx.io.out << answer->json.dump() << '\n';
            ctx.io.out.flush();
        } else if (options.show_log) {
            print_entries(ctx, *entries);
        }

        if (const auto next = cell(answer->json, "next"); !next.empty()) {
            after = next;
        }
        if (answer->json.value("ended", false)) {
            break;
        }
        if (!options.to_end && entries->empty()) {
            return kExitOk;
        }
        first = false;
    }

    if (!options.to_end) {
        return kExitOk;
    }
    auto task = options.show_states ? report_state(ctx, base, last_state) : get_task(ctx, base);
    if (!task) {
        return task.error();
    }
    return exit_code_for_task_state(cell(*task, "state"));
}

}  // namespace unidesk::cli
