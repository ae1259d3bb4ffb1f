// Tasks of the scheduler plugin: /v1/tasks, /v1/tasks/{id}, its log, cancel and retry.

#include "command.hpp"
#include "exit_codes.hpp"
#include "git_checkout.hpp"
#include "table.hpp"
#include "task_follow.hpp"
#include "task_spec.hpp"
#include "time_format.hpp"

#include <cstdio>
#include <ostream>

namespace unidesk::cli {

namespace {

// Wide enough to tell commands apart, narrow enough that the table fits a terminal.
constexpr std::size_t kShortCommandBytes = 40;

std::string task_path(const std::string& id) {
    return "/v1/tasks/" + path_segment(id);
}

//! argv as a person would type it: words with blanks or quotes in single quotes.
std::string command_text(const nlohmann::json& task) {
    const auto it = task.find("command");
    if (it == task.end() || !it->is_array()) {
        return {};
    }
    std::string out;
    for (const auto& word : *it) {
        std::string w = word.is_string() ? word.get<std::string>() : word.dump();
        if (w.empty() || w.find_first_of(" \t'\"") != std::string::npos) {
            std::string quoted = "'";
            for (const char c : w) {
                quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
            }
            w = quoted + "'";
        }
        out += (out.empty() ? "" : " ") + w;
    }
    return out;
}

//! The command cut to about kShortCommandBytes, never inside a UTF-8 character.
std::string short_command(const nlohmann::json& task) {
    std::string text = command_text(task);
    if (text.size() <= kShortCommandBytes) {
        return text;
    }
    std::size_t cut = kShortCommandBytes - 3;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
        --cut;
    }
    return text.substr(0, cut) + "...";
}

// submit

Result<std::optional<CodeSource>> code_from_checkout(CommandContext& ctx) {
    const auto dir = ctx.inv.value("from-checkout");
    if (!dir) {
        return std::optional<CodeSource>();
    }
    auto checkout = inspect_checkout(*dir);
    if (!checkout) {
        return checkout.error();
    }
    if (!checkout->head_on_remote) {
        ctx.io.err << "unidesk: warning: commit " << checkout->code.commit_id
                   << " is on no branch of remote " << checkout->remote_name
                   << " yet; push it, or the node may not be able to fetch it\n";
    }
    return std::optional<CodeSource>(checkout->code);
}

Result<int> submit(CommandContext& ctx) {
    const bool wait = ctx.inv.has("wait");
    if (ctx.inv.has("quiet") && !wait) {
        return usage_error("--quiet goes with --wait");
    }
    auto code = code_from_checkout(ctx);
    if (!code) {
        return code.error();
    }
    auto spec = build_task_spec(ctx.inv, ctx.tail, *code);
    if (!spec) {
        return spec.error();
    }

    auto answer = ctx.client.call("POST", "/v1/tasks", *spec);
    if (!answer) {
        return answer.error();
    }
    const auto task = object_field(*answer, "task");
    const auto id = cell(task, "id");
    if (id.empty()) {
        return make_error(Errc::internal, "unexpected_answer",
                          "the server's answer names no task id");
    }
    if (ctx.json) {
        print_raw(ctx.io.out, *answer);
    } else {
        ctx.io.out << id << '\n';
    }
    ctx.io.out.flush();
    if (!wait) {
        return kExitOk;
    }

    const bool quiet = ctx.inv.has("quiet");
    return follow_task(ctx, id, {.to_end = true, .show_log = !quiet, .show_states = !quiet});
}

// tasks

Result<std::string> list_query(const CommandContext& ctx) {
    std::string query;
    for (const char* name : {"state", "project", "node", "limit"}) {
        const auto value = ctx.inv.value(name);
        if (!value) {
            continue;
        }
        if (std::string(name) == "limit") {
            if (auto n = parse_integer(*value, "limit", 1, 500); !n) {
                return n.error();
            }
        }
        query += (query.empty() ? "?" : "&") + std::string(name) + "=" + path_segment(*value);
    }
    return query;
}

std::vector<std::string> task_row(const nlohmann::json& t, bool utc) {
    const bool queued = cell(t, "state") == "queued";
    return {cell(t, "id"),       cell(t, "state"),
            cell(t, "project"),  cell(t, "node"),
            cell(t, "priority"), time_cell(t, "created_at", utc),
            short_command(t),    queued ? cell(t, "pending_reason") : std::string()};
}

Result<int> tasks(CommandContext& ctx) {
    auto query = list_query(ctx);
    if (!query) {
        return query.error();
    }
    Table table(
        {"ID", "STATE", "PROJECT", "NODE", "PRIORITY", "CREATED", "COMMAND", "PENDING REASON"});
    std::string path = "/v1/tasks" + *query;
    while (true) {
        auto answer = ctx.client.call("GET", path);
        if (!answer) {
            return answer.error();
        }
        if (ctx.json) {
            print_raw(ctx.io.out, *answer);
        } else {
            auto list = array_field(*answer, "tasks");
            if (!list) {
                return list.error();
            }
            for (const auto& t : *list) {
                table.add_row(task_row(t, ctx.utc));
            }
        }

        const auto next = cell(answer->json, "next");
        if (!ctx.inv.has("all") || next.empty()) {
            break;
        }
        path = "/v1/tasks" + *query + (query->empty() ? "?" : "&") + "before=" + path_segment(next);
    }
    if (!ctx.json) {
        ctx.io.out << table.render();
    }
    return kExitOk;
}

// task show

void add_spec_rows(Table& facts, const nlohmann::json& t) {
    facts.add_row({"command", command_text(t)});
    facts.add_row({"code repo", cell(t, "code_repo_url")});
    facts.add_row({"code commit", cell(t, "code_commit_id")});
    facts.add_row({"env repo", cell(t, "env_repo_url")});
    facts.add_row({"env commit", cell(t, "env_commit_id")});
    facts.add_row({"dockerfile", cell(t, "dockerfile_path")});
    if (const auto env = t.find("env"); env != t.end() && env->is_object()) {
        for (const auto& [key, value] : env->items()) {
            facts.add_row({"env " + key, value.is_string() ? value.get<std::string>() : ""});
        }
    }

    const auto r = t.value("resources", nlohmann::json::object());
    if (const auto millis = r.find("cpu_millis"); millis != r.end() && millis->is_number()) {
        char cores[32];
        std::snprintf(cores, sizeof cores, "%g", millis->get<double>() / 1000.0);
        facts.add_row({"cpu cores", cores});
    }
    facts.add_row({"memory", human_bytes(r.value("memory_bytes", nlohmann::json()))});
    facts.add_row({"gpus", cell(r, "gpu_count") +
                               (cell(r, "gpu_model").empty() ? "" : " " + cell(r, "gpu_model"))});
    if (const auto labels = r.find("labels"); labels != r.end() && labels->is_object()) {
        for (const auto& [key, value] : labels->items()) {
            facts.add_row(
                {"label " + key, value.is_string() ? value.get<std::string>() : value.dump()});
        }
    }
    facts.add_row({"time limit (s)", cell(t, "time_limit_s")});
    const auto retry = t.value("retry", nlohmann::json::object());
    facts.add_row({"max attempts", cell(retry, "max_attempts")});
    facts.add_row({"retry on exit", cell(retry, "on_exit_nonzero")});
}

void print_task(CommandContext& ctx, const nlohmann::json& t) {
    Table facts({"FIELD", "VALUE"});
    for (const char* key : {"id", "state", "project", "priority", "node", "attempts"}) {
        facts.add_row({key, cell(t, key)});
    }
    if (cell(t, "state") == "queued") {
        facts.add_row({"pending reason", cell(t, "pending_reason")});
    }
    for (const char* key : {"exit_code", "cause", "message"}) {
        facts.add_row({std::string(key) == "exit_code" ? "exit code" : key, cell(t, key)});
    }
    add_spec_rows(facts, t);
    facts.add_row({"submitted by", cell(t, "submitted_by")});
    for (const auto& [label, key] : {std::pair{"created", "created_at"},
                                     {"started", "started_at"},
                                     {"ended", "ended_at"},
                                     {"updated", "updated_at"}}) {
        facts.add_row({label, time_cell(t, key, ctx.utc)});
    }
    ctx.io.out << facts.render();
}

void print_attempts(CommandContext& ctx, const nlohmann::json& attempts) {
    if (!attempts.is_array() || attempts.empty()) {
        return;
    }
    Table table({"ATTEMPT", "ID", "NODE", "STATE", "CREATED", "ENDED", "EXIT", "CAUSE", "MESSAGE"});
    Table phases({"ATTEMPT", "PHASE", "AT"});
    for (const auto& a : attempts) {
        table.add_row({cell(a, "number"), cell(a, "id"), cell(a, "node"), cell(a, "state"),
                       time_cell(a, "created_at", ctx.utc), time_cell(a, "ended_at", ctx.utc),
                       cell(a, "exit_code"), cell(a, "cause"), cell(a, "message")});
        if (const auto p = a.find("phases"); p != a.end() && p->is_array()) {
            for (const auto& phase : *p) {
                phases.add_row(
                    {cell(a, "number"), cell(phase, "phase"), time_cell(phase, "at", ctx.utc)});
            }
        }
    }
    ctx.io.out << '\n' << table.render();
    if (phases.rows() > 0) {
        ctx.io.out << '\n' << phases.render();
    }
}

Result<int> task_show(CommandContext& ctx) {
    auto id = id_arg(ctx, "task");
    if (!id) {
        return id.error();
    }
    return call_and_show(ctx, "GET", task_path(*id), std::nullopt, [&ctx](const Answer& answer) {
        print_task(ctx, object_field(answer, "task"));
        print_attempts(ctx, answer.json.value("attempts", nlohmann::json()));
    });
}

// logs, cancel, retry

Result<int> logs(CommandContext& ctx) {
    auto id = id_arg(ctx, "task");
    if (!id) {
        return id.error();
    }
    return follow_task(ctx, *id, {.to_end = ctx.inv.has("follow")});
}

Result<int> change(CommandContext& ctx, const char* action) {
    auto id = id_arg(ctx, "task");
    if (!id) {
        return id.error();
    }
    return call_and_show(
        ctx, "POST", task_path(*id) + "/" + action, std::nullopt, [&ctx](const Answer& answer) {
            const auto task = object_field(answer, "task");
            ctx.io.out << "task " << cell(task, "id") << " " << cell(task, "state");
            // A retried task's next attempt is made when it is placed.
            if (const auto n = cell(task, "attempts"); !n.empty()) {
                ctx.io.out << " (" << n << (n == "1" ? " attempt" : " attempts") << " so far)";
            }
            ctx.io.out << '\n';
        });
}

}  // namespace

std::vector<Command> task_commands() {
    return {
        {{"submit"},
         {},
         {"code-repo", "code-commit", "env-repo", "env-commit",    "dockerfile",    "env",
          "cpu",       "memory",      "gpus",     "gpu-model",     "label",         "priority",
          "project",   "time-limit",  "retries",  "retry-on-exit", "from-checkout", "wait",
          "quiet",     "input",       "output"},
         "(--code-repo URL --code-commit SHA | --from-checkout DIR) --env-repo URL "
         "--env-commit SHA [options] [--wait [--quiet]] [-- COMMAND ...]",
         "submit a task; prints its id (see cli/README.md for every option)",
         submit,
         true},
        {{"tasks"},
         {},
         {"state", "project", "node", "limit", "all"},
         "[--state S] [--project P] [--node N] [--limit N] [--all]",
         "list tasks, newest first (--all: every page)",
         tasks},
        {{"task", "show"}, {"ID"}, {}, "", "show a task, its attempts and their phases", task_show},
        {{"logs"},
         {"ID"},
         {"follow"},
         "[-f]",
         "print a task's log (-f: follow it until the task ends)",
         logs},
        {{"cancel"},
         {"ID"},
         {},
         "",
         "cancel a task",
         [](CommandContext& ctx) { return change(ctx, "cancel"); }},
        {{"retry"},
         {"ID"},
         {},
         "",
         "run a failed, cancelled or lost task again",
         [](CommandContext& ctx) { return change(ctx, "retry"); }},
    };
}

}  // namespace unidesk::cli
