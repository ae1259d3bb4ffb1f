#include "args.hpp"

#include "exit_codes.hpp"

namespace unidesk::cli {

namespace {

Error usage(std::string message) {
    return make_error(Errc::invalid_argument, kUsageError, std::move(message));
}

}  // namespace

std::optional<std::string> Invocation::value(const std::string& name) const {
    const auto it = values.find(name);
    return it == values.end() ? std::nullopt : std::optional<std::string>(it->second);
}

std::vector<std::string> Invocation::values_of(const std::string& name) const {
    const auto it = lists.find(name);
    return it == lists.end() ? std::vector<std::string>() : it->second;
}

std::vector<std::string> Invocation::option_names() const {
    std::vector<std::string> names(switches.begin(), switches.end());
    for (const auto& [name, v] : values) {
        names.push_back(name);
    }
    for (const auto& [name, v] : lists) {
        names.push_back(name);
    }
    return names;
}

const std::set<std::string>& value_options() {
    static const std::set<std::string> kNames{
        "server",    "token",      "config",     "role",       "code-repo", "code-commit",
        "env-repo",  "env-commit", "dockerfile", "cpu",        "memory",    "gpus",
        "gpu-model", "priority",   "project",    "time-limit", "retries",   "from-checkout",
        "state",     "node",       "limit",      "part-size",  "max-rate"};
    return kNames;
}

const std::set<std::string>& list_options() {
    static const std::set<std::string> kNames{"env", "label", "input", "output"};
    return kNames;
}

const std::set<std::string>& switch_options() {
    static const std::set<std::string> kNames{
        "json",           "utc",  "all",   "help",   "version",
        "password-stdin", "wait", "quiet", "follow", "retry-on-exit"};
    return kNames;
}

Result<Invocation> parse_args(const std::vector<std::string>& args) {
    Invocation inv;
    bool options_ended = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (options_ended || a.size() < 2 || a[0] != '-') {
            inv.words.push_back(a);
            continue;
        }
        if (a == "--") {
            options_ended = true;
            inv.words_before_dashes = inv.words.size();
            continue;
        }
        if (a == "-h" || a == "-f") {
            const std::string name = a == "-h" ? "help" : "follow";
            if (inv.switches.count(name) > 0) {
                return usage("option --" + name + " is given twice");
            }
            inv.switches.insert(name);
            continue;
        }
        if (a.rfind("--", 0) != 0) {
            return usage("unknown option " + a);
        }

        const auto eq = a.find('=');
        const std::string name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
        const bool repeatable = list_options().count(name) > 0;
        if (!repeatable && (inv.values.count(name) > 0 || inv.switches.count(name) > 0)) {
            return usage("option --" + name + " is given twice");
        }
        if (switch_options().count(name) > 0) {
            if (eq != std::string::npos) {
                return usage("option --" + name + " takes no value");
            }
            inv.switches.insert(name);
        } else if (value_options().count(name) > 0 || list_options().count(name) > 0) {
            std::string value;
            if (eq != std::string::npos) {
                value = a.substr(eq + 1);
            } else if (i + 1 < args.size()) {
                value = args[++i];
            } else {
                return usage("option --" + name + " needs a value");
            }
            if (list_options().count(name) > 0) {
                inv.lists[name].push_back(std::move(value));
            } else {
                inv.values[name] = std::move(value);
            }
        } else {
            return usage("unknown option --" + name);
        }
    }
    return inv;
}

}  // namespace unidesk::cli
