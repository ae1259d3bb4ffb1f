#include "task_spec.hpp"

#include "command.hpp"

#include <cctype>

namespace unidesk::cli {

namespace {

Error bad_value(std::string_view option, std::string_view text, std::string_view expected) {
    return usage_error("--" + std::string(option) + ": '" + std::string(text) + "' is not " +
                       std::string(expected));
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

//! The whole number at the front of `text` (at least one digit), moving `pos` past it; unset
//! when there is no digit or the number does not fit.
std::optional<std::int64_t> take_number(std::string_view text, std::size_t& pos) {
    const std::size_t start = pos;
    std::int64_t n = 0;
    while (pos < text.size() && is_digit(text[pos])) {
        if (__builtin_mul_overflow(n, 10, &n) || __builtin_add_overflow(n, text[pos] - '0', &n)) {
            return std::nullopt;
        }
        ++pos;
    }
    if (pos == start) {
        return std::nullopt;
    }
    return n;
}

std::optional<std::int64_t> times(std::int64_t n, std::int64_t unit) {
    std::int64_t out = 0;
    if (__builtin_mul_overflow(n, unit, &out)) {
        return std::nullopt;
    }
    return out;
}

std::int64_t size_unit(char suffix) {
    switch (std::toupper(static_cast<unsigned char>(suffix))) {
    case 'K': return std::int64_t{1} << 10;
    case 'M': return std::int64_t{1} << 20;
    case 'G': return std::int64_t{1} << 30;
    case 'T': return std::int64_t{1} << 40;
    default: return 0;
    }
}

std::int64_t duration_unit(char suffix) {
    switch (suffix) {
    case 's': return 1;
    case 'm': return 60;
    case 'h': return 3600;
    case 'd': return 86400;
    default: return 0;
    }
}

Result<std::string> commit_option(const Invocation& inv, const char* option) {
    const auto value = inv.value(option);
    if (!value) {
        return usage_error(std::string("submit needs --") + option);
    }
    if (!is_commit_id(*value)) {
        return usage_error(std::string("--") + option + ": '" + *value +
                           "' is not a commit id (40 lower-case hex digits; `git rev-parse "
                           "HEAD` prints one)");
    }
    return *value;
}

Result<void> add_code(nlohmann::json& spec, const Invocation& inv,
                      const std::optional<CodeSource>& code) {
    if (code) {
        if (inv.value("code-repo") || inv.value("code-commit")) {
            return usage_error(
                "--from-checkout gives the code's repository and commit; drop --code-repo and "
                "--code-commit");
        }
        spec["code_repo_url"] = code->repo_url;
        spec["code_commit_id"] = code->commit_id;
        return {};
    }
    const auto repo = inv.value("code-repo");
    if (!repo || repo->empty()) {
        return usage_error("submit needs --code-repo URL (or --from-checkout DIR)");
    }
    auto commit = commit_option(inv, "code-commit");
    if (!commit) {
        return commit.error();
    }
    spec["code_repo_url"] = *repo;
    spec["code_commit_id"] = *commit;
    return {};
}

Result<void> add_env_repo(nlohmann::json& spec, const Invocation& inv) {
    const auto repo = inv.value("env-repo");
    if (!repo || repo->empty()) {
        return usage_error("submit needs --env-repo URL, the repository holding the Dockerfile");
    }
    auto commit = commit_option(inv, "env-commit");
    if (!commit) {
        return commit.error();
    }
    spec["env_repo_url"] = *repo;
    spec["env_commit_id"] = *commit;

    if (const auto path = inv.value("dockerfile")) {
        if (path->empty() || path->front() == '/') {
            return bad_value("dockerfile", *path, "a path relative to the env repository");
        }
        spec["dockerfile_path"] = *path;
    }
    return {};
}

Result<void> add_resources(nlohmann::json& spec, const Invocation& inv) {
    nlohmann::json resources = nlohmann::json::object();
    if (const auto cpu = inv.value("cpu")) {
        auto millis = parse_cpu_millis(*cpu, "cpu");
        if (!millis) {
            return millis.error();
        }
        resources["cpu_millis"] = *millis;
    }
    if (const auto memory = inv.value("memory")) {
        auto bytes = parse_size(*memory, "memory");
        if (!bytes) {
            return bytes.error();
        }
        resources["memory_bytes"] = *bytes;
    }
    if (const auto gpus = inv.value("gpus")) {
        auto count = parse_integer(*gpus, "gpus", 0, 1024);
        if (!count) {
            return count.error();
        }
        resources["gpu_count"] = *count;
    }
    if (const auto model = inv.value("gpu-model")) {
        resources["gpu_model"] = *model;
    }
    if (const auto labels = inv.values_of("label"); !labels.empty()) {
        auto object = parse_pairs(labels, "label");
        if (!object) {
            return object.error();
        }
        resources["labels"] = *object;
    }
    if (!resources.empty()) {
        spec["resources"] = resources;
    }
    return {};
}

Result<void> add_scheduling(nlohmann::json& spec, const Invocation& inv) {
    if (const auto priority = inv.value("priority")) {
        auto n = parse_integer(*priority, "priority", -1000, 1000);
        if (!n) {
            return n.error();
        }
        spec["priority"] = *n;
    }
    if (const auto project = inv.value("project")) {
        if (project->empty()) {
            return usage_error("--project: the name is empty");
        }
        spec["project"] = *project;
    }
    if (const auto limit = inv.value("time-limit")) {
        auto seconds = parse_duration(*limit, "time-limit");
        if (!seconds) {
            return seconds.error();
        }
        spec["time_limit_s"] = *seconds;
    }

    nlohmann::json retry = nlohmann::json::object();
    if (const auto retries = inv.value("retries")) {
        // max_attempts counts the first attempt too, so 0 would never run the task.
        auto n = parse_integer(*retries, "retries", 1, 100);
        if (!n) {
            return n.error();
        }
        retry["max_attempts"] = *n;
    }
    if (inv.has("retry-on-exit")) {
        retry["on_exit_nonzero"] = true;
    }
    if (!retry.empty()) {
        spec["retry"] = retry;
    }
    return {};
}

}  // namespace

bool is_commit_id(std::string_view s) noexcept {
    if (s.size() != 40) {
        return false;
    }
    for (const char c : s) {
        if (!is_digit(c) && !(c >= 'a' && c <= 'f')) {
            return false;
        }
    }
    return true;
}

Result<std::int64_t> parse_size(std::string_view text, std::string_view option) {
    const auto expected = "a size (bytes, or a whole number with K, M, G or T: 512M, 4G)";
    std::size_t pos = 0;
    const auto n = take_number(text, pos);
    if (!n) {
        return bad_value(option, text, expected);
    }
    if (pos == text.size()) {
        return *n;
    }
    const std::int64_t unit = size_unit(text[pos]);
    if (unit == 0 || pos + 1 != text.size()) {
        return bad_value(option, text, expected);
    }
    const auto bytes = times(*n, unit);
    if (!bytes) {
        return bad_value(option, text, "a size this machine can count");
    }
    return *bytes;
}

Result<std::int64_t> parse_duration(std::string_view text, std::string_view option) {
    const auto expected = "a duration (seconds, or whole numbers with s, m, h or d: 90m, 1h30m)";
    std::size_t pos = 0;
    const auto first = take_number(text, pos);
    if (!first) {
        return bad_value(option, text, expected);
    }
    if (pos == text.size()) {
        return *first;
    }

    std::int64_t total = 0;
    pos = 0;
    while (pos < text.size()) {
        const auto n = take_number(text, pos);
        if (!n || pos == text.size() || duration_unit(text[pos]) == 0) {
            return bad_value(option, text, expected);
        }
        const auto seconds = times(*n, duration_unit(text[pos]));
        if (!seconds || __builtin_add_overflow(total, *seconds, &total)) {
            return bad_value(option, text, "a duration this machine can count");
        }
        ++pos;
    }
    return total;
}

Result<std::int64_t> parse_cpu_millis(std::string_view text, std::string_view option) {
    const auto expected = "a number of CPU cores (1, 0.5, 2.25)";
    std::size_t pos = 0;
    const auto whole = take_number(text, pos);
    if (!whole) {
        return bad_value(option, text, expected);
    }
    std::int64_t millis = 0;
    if (__builtin_mul_overflow(*whole, 1000, &millis)) {
        return bad_value(option, text, expected);
    }
    if (pos == text.size()) {
        return millis;
    }

    if (text[pos] != '.' || pos + 1 == text.size()) {
        return bad_value(option, text, expected);
    }
    const std::string_view fraction = text.substr(pos + 1);
    if (fraction.size() > 3) {
        return bad_value(option, text, "a number of CPU cores with at most three decimals");
    }
    std::int64_t scale = 100;
    for (const char c : fraction) {
        if (!is_digit(c)) {
            return bad_value(option, text, expected);
        }
        millis += (c - '0') * scale;
        scale /= 10;
    }
    return millis;
}

Result<std::int64_t> parse_integer(std::string_view text, std::string_view option, std::int64_t min,
                                   std::int64_t max) {
    const bool negative = !text.empty() && text.front() == '-';
    std::size_t pos = negative ? 1 : 0;
    const auto n = take_number(text, pos);
    const std::string range =
        "a whole number from " + std::to_string(min) + " to " + std::to_string(max);
    if (!n || pos != text.size()) {
        return bad_value(option, text, range);
    }
    const std::int64_t value = negative ? -*n : *n;
    if (value < min || value > max) {
        return bad_value(option, text, range);
    }
    return value;
}

Result<nlohmann::json> parse_pairs(const std::vector<std::string>& pairs, std::string_view option) {
    nlohmann::json object = nlohmann::json::object();
    for (const auto& pair : pairs) {
        const auto eq = pair.find('=');
        if (eq == std::string::npos || eq == 0) {
            return bad_value(option, pair, "KEY=VALUE");
        }
        const std::string key = pair.substr(0, eq);
        if (object.contains(key)) {
            return usage_error("--" + std::string(option) + ": " + key + " is given twice");
        }
        object[key] = pair.substr(eq + 1);
    }
    return ok_value(std::move(object));
}

// --input KEY=PATH (a KEY ending in '/' is a prefix: every object under it goes under the
// folder PATH) and --output FOLDER=PREFIX, each repeatable; the server checks the keys and paths.
Result<void> add_storage(nlohmann::json& spec, const Invocation& inv) {
    for (const auto& given : inv.values_of("input")) {
        const auto eq = given.rfind('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == given.size()) {
            return usage_error("--input takes KEY=PATH or PREFIX/=FOLDER, not '" + given + "'");
        }
        const auto source = given.substr(0, eq);
        const bool prefix = source.back() == '/';
        spec["inputs"].push_back(
            {{prefix ? "prefix" : "key", source}, {"path", given.substr(eq + 1)}});
    }
    for (const auto& given : inv.values_of("output")) {
        const auto eq = given.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == given.size()) {
            return usage_error("--output takes FOLDER=PREFIX, not '" + given + "'");
        }
        spec["outputs"].push_back(
            {{"path", given.substr(0, eq)}, {"prefix", given.substr(eq + 1)}});
    }
    return {};
}

Result<nlohmann::json> build_task_spec(const Invocation& inv,
                                       const std::vector<std::string>& command,
                                       const std::optional<CodeSource>& code) {
    nlohmann::json spec = nlohmann::json::object();
    using Step = Result<void> (*)(nlohmann::json&, const Invocation&);
    auto code_step = add_code(spec, inv, code);
    if (!code_step) {
        return code_step.error();
    }
    for (const Step step : {Step(add_env_repo), Step(add_resources), Step(add_scheduling)}) {
        if (auto done = step(spec, inv); !done) {
            return done.error();
        }
    }
    if (const auto env = inv.values_of("env"); !env.empty()) {
        auto object = parse_pairs(env, "env");
        if (!object) {
            return object.error();
        }
        spec["env"] = *object;
    }
    if (auto files = add_storage(spec, inv); !files) {
        return files.error();
    }
    if (!command.empty()) {
        spec["command"] = command;
    }
    return ok_value(std::move(spec));
}

}  // namespace unidesk::cli
