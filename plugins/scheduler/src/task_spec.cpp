#include "task_spec.hpp"

#include "unidesk/storage.hpp"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <set>

namespace unidesk::scheduler {
namespace {

using nlohmann::json;

Error invalid(const std::string& message) {
    return make_error(Errc::invalid_argument, "invalid_request", message);
}

bool is_commit(const std::string& s) {
    return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

// A string field; required ones must be non-empty.
Result<std::string> text(const json& in, const char* key, bool required, std::string fallback) {
    if (!in.contains(key)) {
        if (required) {
            return invalid("field '" + std::string(key) + "' is missing");
        }
        return fallback;
    }
    if (!in[key].is_string() || (required && in[key].get<std::string>().empty())) {
        return invalid("field '" + std::string(key) + "' must be a non-empty string");
    }
    return in[key].get<std::string>();
}

Result<std::int64_t> integer(const json& in, const char* key, std::int64_t fallback,
                             std::int64_t min, std::int64_t max) {
    if (!in.contains(key)) {
        return fallback;
    }
    const auto& v = in[key];
    if (!v.is_number_integer() || v.get<std::int64_t>() < min || v.get<std::int64_t>() > max) {
        return invalid("field '" + std::string(key) + "' must be an integer from " +
                       std::to_string(min) + " to " + std::to_string(max));
    }
    return v.get<std::int64_t>();
}

Result<json> string_map(const json& in, const char* key) {
    if (!in.contains(key)) {
        return ok_value(json::object());
    }
    if (!in[key].is_object()) {
        return invalid("field '" + std::string(key) + "' must be an object of strings");
    }
    for (const auto& [k, v] : in[key].items()) {
        if (!v.is_string() || k.empty()) {
            return invalid("field '" + std::string(key) + "." + k + "' must be a string");
        }
    }
    return ok_value(in[key]);
}

bool is_workspace_path(const std::string& p) {
    return !p.empty() && p.size() <= 1024 && p[0] != '/' && !check_storage_key(p) &&
           p.find('\0') == std::string::npos;
}

// inputs: [{"key": K | "prefix": P, "path": "in/file"}]; outputs: [{"path": "out", "prefix":
// "results/"}]. Paths are relative to the workspace and stay inside it.
Result<void> normalize_storage(const json& in, json& out) {
    out["inputs"] = json::array();
    out["outputs"] = json::array();
    const json inputs = in.value("inputs", json::array());
    if (!inputs.is_array() || inputs.size() > 100) {
        return invalid("field 'inputs' must be a list of at most 100 inputs");
    }
    for (const auto& i : inputs) {
        if (!i.is_object() || !i.contains("path") || !i["path"].is_string() ||
            i.contains("key") == i.contains("prefix")) {
            return invalid("each input must be {\"key\" or \"prefix\", \"path\"}");
        }
        const bool whole = i.contains("key");
        const json& name = whole ? i["key"] : i["prefix"];
        if (!name.is_string() || (whole && check_storage_key(name.get<std::string>())) ||
            (!whole && name.get<std::string>().empty())) {
            return invalid("an input's key or prefix is not a valid storage key");
        }
        auto path = i["path"].get<std::string>();
        while (!whole && !path.empty() && path.back() == '/') {
            path.pop_back();
        }
        if (!is_workspace_path(path)) {
            return invalid(
                "an input's path must be a relative path inside the workspace, "
                "without '.' or '..' segments");
        }
        out["inputs"].push_back({{whole ? "key" : "prefix", name}, {"path", path}});
    }
    const json outputs = in.value("outputs", json::array());
    if (!outputs.is_array() || outputs.size() > 10) {
        return invalid("field 'outputs' must be a list of at most 10 outputs");
    }
    for (const auto& o : outputs) {
        if (!o.is_object() || !o.contains("path") || !o["path"].is_string() ||
            !o.contains("prefix") || !o["prefix"].is_string()) {
            return invalid("each output must be {\"path\", \"prefix\"}");
        }
        auto path = o["path"].get<std::string>();
        while (!path.empty() && path.back() == '/') {
            path.pop_back();
        }
        auto prefix = o["prefix"].get<std::string>();
        auto trimmed = prefix;
        while (!trimmed.empty() && trimmed.back() == '/') {
            trimmed.pop_back();
        }
        if (!is_workspace_path(path) || check_storage_key(trimmed)) {
            return invalid(
                "an output needs a relative folder in the workspace and a valid "
                "storage prefix");
        }
        out["outputs"].push_back({{"path", path}, {"prefix", trimmed + "/"}});
    }
    return {};
}

}  // namespace

Result<json> normalize_spec(const json& in) {
    if (!in.is_object()) {
        return invalid("the body must be a JSON object");
    }
    static const std::set<std::string> known = {"code_repo_url", "code_commit_id",  "env_repo_url",
                                                "env_commit_id", "dockerfile_path", "command",
                                                "env",           "resources",       "priority",
                                                "project",       "time_limit_s",    "retry",
                                                "inputs",        "outputs"};
    for (const auto& [k, v] : in.items()) {
        if (!known.count(k)) {
            return invalid("field '" + k + "' is not part of a task");
        }
    }

    json out;
    for (const char* key : {"code_repo_url", "env_repo_url"}) {
        auto v = text(in, key, true, "");
        if (!v) {
            return v.error();
        }
        out[key] = *v;
    }
    for (const char* key : {"code_commit_id", "env_commit_id"}) {
        auto v = text(in, key, true, "");
        if (!v) {
            return v.error();
        }
        if (!is_commit(*v)) {
            return make_error(Errc::invalid_argument, "invalid_commit",
                              "field '" + std::string(key) +
                                  "' must be a full commit id: 40 "
                                  "lower-case hex digits, not '" +
                                  v->substr(0, 60) + "'");
        }
        out[key] = *v;
    }

    auto dockerfile = text(in, "dockerfile_path", false, "Dockerfile");
    if (!dockerfile) {
        return dockerfile.error();
    }
    const std::filesystem::path df(*dockerfile);
    if (dockerfile->empty() || df.is_absolute() ||
        std::any_of(df.begin(), df.end(), [](const auto& p) { return p == ".."; })) {
        return invalid("field 'dockerfile_path' must be a relative path inside the env repository");
    }
    out["dockerfile_path"] = *dockerfile;

    out["command"] = json::array();
    if (in.contains("command")) {
        if (!in["command"].is_array() ||
            !std::all_of(in["command"].begin(), in["command"].end(),
                         [](const json& a) { return a.is_string(); })) {
            return invalid("field 'command' must be an array of strings");
        }
        out["command"] = in["command"];
    }
    auto env = string_map(in, "env");
    if (!env) {
        return env.error();
    }
    out["env"] = *env;
    // Linux refuses to start a program with one argument or variable past 128 KiB
    // (MAX_ARG_STRLEN, its NUL included); the task would fail on its node instead.
    constexpr std::size_t kMaxArg = 128 * 1024 - 1;
    for (const auto& a : out["command"]) {
        if (a.get_ref<const std::string&>().size() > kMaxArg) {
            return invalid("an argument of 'command' is " +
                           std::to_string(a.get_ref<const std::string&>().size()) +
                           " bytes; Linux allows at most " + std::to_string(kMaxArg) +
                           " in one; pass large data as an input");
        }
    }
    for (const auto& [k, v] : out["env"].items()) {
        if (const auto n = k.size() + 1 + v.get_ref<const std::string&>().size(); n > kMaxArg) {
            return invalid("env '" + k + "' is " + std::to_string(n) +
                           " bytes as K=V; Linux allows at most " + std::to_string(kMaxArg) +
                           " in one variable; pass large data as an input");
        }
    }

    const json res = in.value("resources", json::object());
    if (!res.is_object()) {
        return invalid("field 'resources' must be an object");
    }
    constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
    auto cpu = integer(res, "cpu_millis", 1000, 0, 1 << 20);
    auto mem = integer(res, "memory_bytes", 0, 0, kMax);
    auto gpus = integer(res, "gpu_count", 0, 0, 64);
    auto model = text(res, "gpu_model", false, "");
    auto labels = string_map(res, "labels");
    for (const auto* e : {&cpu, &mem, &gpus}) {
        if (!*e) {
            return e->error();
        }
    }
    if (!model) {
        return model.error();
    }
    if (!labels) {
        return labels.error();
    }
    out["resources"] = {{"cpu_millis", *cpu},
                        {"memory_bytes", *mem},
                        {"gpu_count", *gpus},
                        {"gpu_model", *model},
                        {"labels", *labels}};

    auto priority = integer(in, "priority", 0, -1000, 1000);
    if (!priority) {
        return priority.error();
    }
    out["priority"] = *priority;
    auto project = text(in, "project", false, "default");
    if (!project || project->empty() || project->size() > 100) {
        return invalid("field 'project' must be a string of 1 to 100 characters");
    }
    out["project"] = *project;
    auto limit = integer(in, "time_limit_s", 0, 0, 366ll * 86400);
    if (!limit) {
        return limit.error();
    }
    out["time_limit_s"] = *limit;

    const json retry = in.value("retry", json::object());
    if (!retry.is_object()) {
        return invalid("field 'retry' must be an object");
    }
    auto attempts = integer(retry, "max_attempts", 3, 1, 100);
    if (!attempts) {
        return attempts.error();
    }
    if (retry.contains("on_exit_nonzero") && !retry["on_exit_nonzero"].is_boolean()) {
        return invalid("field 'retry.on_exit_nonzero' must be true or false");
    }
    out["retry"] = {{"max_attempts", *attempts},
                    {"on_exit_nonzero", retry.value("on_exit_nonzero", false)}};
    if (auto r = normalize_storage(in, out); !r) {
        return r.error();
    }
    if (const auto size = out.dump().size(); size > kMaxSpecBytes) {
        return make_error(Errc::too_large, "spec_too_large",
                          "the task spec is " + std::to_string(size) + " bytes as JSON; at most " +
                              std::to_string(kMaxSpecBytes) +
                              " (command, env and labels together); pass large data as an input");
    }
    return ok_value(std::move(out));
}

}  // namespace unidesk::scheduler
