#include "agent_config.hpp"

#include "unidesk/protocol/messages.hpp"

#include <toml++/toml.h>
#include <boost/program_options.hpp>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace unidesk::agent {
namespace {

namespace po = boost::program_options;

// Which key set each setting last, so that an error names what the user actually wrote.
using Origins = std::map<std::string, std::string>;

bool valid_name(const std::string& s, std::size_t max, const std::string& extra) {
    if (s.empty() || s.size() > max || !std::isalnum(static_cast<unsigned char>(s[0]))) {
        return false;
    }
    return std::all_of(s.begin(), s.end(), [&](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || extra.find(c) != std::string::npos;
    });
}

std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t");
    const auto e = s.find_last_not_of(" \t");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

void add_label(std::map<std::string, std::string>& labels, const std::string& key,
               const std::string& k, const std::string& v) {
    if (!valid_name(k, 63, "._-/")) {
        throw ConfigError(key, "label name '" + k +
                                   "' must be 1-63 letters, digits or . _ - / and start with a "
                                   "letter or digit");
    }
    if (v.size() > 255) {
        throw ConfigError(key, "label '" + k + "' has a value longer than 255 characters");
    }
    labels[k] = v;
}

std::map<std::string, std::string> parse_label_list(const std::string& key,
                                                    const std::vector<std::string>& items) {
    std::map<std::string, std::string> labels;
    for (const auto& raw : items) {
        const std::string item = trim(raw);
        if (item.empty()) {
            continue;
        }
        const auto eq = item.find('=');
        if (eq == std::string::npos) {
            throw ConfigError(key, "label '" + item + "' is not written as name=value");
        }
        add_label(labels, key, trim(item.substr(0, eq)), trim(item.substr(eq + 1)));
    }
    return labels;
}

std::vector<std::string> split_commas(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream in(s);
    for (std::string part; std::getline(in, part, ',');) {
        out.push_back(part);
    }
    return out;
}

std::string toml_string(const toml::node& node, const std::string& key) {
    if (auto v = node.value_exact<std::string>()) {
        return *v;
    }
    throw ConfigError(key, "must be a string");
}

std::chrono::milliseconds toml_seconds(const toml::node& node, const std::string& key) {
    std::optional<double> v;
    if (node.is_integer()) {
        v = static_cast<double>(*node.value<std::int64_t>());
    } else if (node.is_floating_point()) {
        v = *node.value<double>();
    }
    if (!v || !std::isfinite(*v) || *v < 0 || *v > 86400) {
        throw ConfigError(key, "must be a number of seconds from 0 to 86400");
    }
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(*v * 1000)));
}

std::uint64_t toml_positive(const toml::node& node, const std::string& key) {
    auto v = node.value_exact<std::int64_t>();
    if (!v || *v <= 0) {
        throw ConfigError(key, "must be a positive integer");
    }
    return static_cast<std::uint64_t>(*v);
}

void apply_reconnect_table(AgentConfig& c, const toml::node& node) {
    const toml::table* t = node.as_table();
    if (t == nullptr) {
        throw ConfigError("reconnect", "must be a table");
    }
    for (auto&& [k, v] : *t) {
        const std::string key = "reconnect." + std::string(k.str());
        if (k == "base_s") {
            c.reconnect.base = toml_seconds(v, key);
        } else if (k == "cap_s") {
            c.reconnect.cap = toml_seconds(v, key);
        } else if (k == "stable_s") {
            c.reconnect.stable = toml_seconds(v, key);
        } else {
            throw ConfigError(key, "is not a known key");
        }
    }
}

void apply_log_table(AgentConfig& c, const toml::node& node) {
    const toml::table* t = node.as_table();
    if (t == nullptr) {
        throw ConfigError("log", "must be a table");
    }
    for (auto&& [k, v] : *t) {
        const std::string key = "log." + std::string(k.str());
        if (k == "level") {
            c.log_level = toml_string(v, key);
        } else if (k == "format") {
            c.log_format = toml_string(v, key);
        } else {
            throw ConfigError(key, "is not a known key");
        }
    }
}

void apply_tasks_table(AgentConfig& c, const toml::node& node) {
    const toml::table* t = node.as_table();
    if (t == nullptr) {
        throw ConfigError("tasks", "must be a table");
    }
    for (auto&& [k, v] : *t) {
        const std::string key = "tasks." + std::string(k.str());
        if (k == "slots") {
            c.task_slots =
                static_cast<std::uint32_t>(std::min<std::uint64_t>(toml_positive(v, key), 1024));
        } else if (k == "disk_budget_mb") {
            auto mb = v.value_exact<std::int64_t>();
            if (!mb || *mb < 0) {
                throw ConfigError(key, "must be a whole number of MiB, 0 for no budget");
            }
            c.disk_budget_bytes = static_cast<std::uint64_t>(*mb) << 20;
        } else if (k == "report_buffer_mb") {
            c.report_buffer_bytes = toml_positive(v, key) << 20;
        } else {
            throw ConfigError(key, "is not a known key");
        }
    }
}

void apply_gpu_array(AgentConfig& c, const toml::node& node) {
    const toml::array* a = node.as_array();
    if (a == nullptr) {
        throw ConfigError("gpu", "must be an array of tables, written [[gpu]]");
    }
    c.gpus.clear();
    for (std::size_t i = 0; i < a->size(); ++i) {
        const std::string at = "gpu[" + std::to_string(i) + "]";
        const toml::table* t = (*a)[i].as_table();
        if (t == nullptr) {
            throw ConfigError(at, "must be a table with model and memory_mb");
        }
        DeclaredGpu g;
        for (auto&& [k, v] : *t) {
            if (k == "model") {
                g.model = toml_string(v, at + ".model");
            } else if (k == "memory_mb") {
                g.memory_mb = toml_positive(v, at + ".memory_mb");
            } else {
                throw ConfigError(at + "." + std::string(k.str()), "is not a known key");
            }
        }
        if (g.model.empty() || g.memory_mb == 0) {
            throw ConfigError(at, "needs both model and memory_mb");
        }
        c.gpus.push_back(g);
    }
}

GitCredential git_credential_table(const toml::node& node, const std::string& at) {
    const toml::table* t = node.as_table();
    if (t == nullptr) {
        throw ConfigError(at, "must be a table with host and token or ssh_key");
    }
    GitCredential g;
    for (auto&& [k, v] : *t) {
        const std::string key = at + "." + std::string(k.str());
        if (k == "host") {
            g.host = toml_string(v, key);
        } else if (k == "username") {
            g.username = toml_string(v, key);
        } else if (k == "token") {
            g.token = toml_string(v, key);
        } else if (k == "ssh_key") {
            g.ssh_key = toml_string(v, key);
        } else if (k == "ssh_public_key") {
            g.ssh_public_key = toml_string(v, key);
        } else {
            throw ConfigError(key, "is not a known key");
        }
    }
    if (g.host.empty()) {
        throw ConfigError(at + ".host", "is required");
    }
    if (g.token.empty() && g.ssh_key.empty()) {
        throw ConfigError(at, "needs a token (http or https) or an ssh_key (ssh)");
    }
    return g;
}

void apply_git_table(AgentConfig& c, const toml::node& node) {
    const toml::table* t = node.as_table();
    if (t == nullptr) {
        throw ConfigError("git", "must be a table");
    }
    for (auto&& [k, v] : *t) {
        const std::string key = "git." + std::string(k.str());
        if (k == "allow_local_remotes") {
            auto on = v.value_exact<bool>();
            if (!on) {
                throw ConfigError(key, "must be true or false");
            }
            c.git_allow_local_remotes = *on;
            continue;
        }
        if (k != "credentials") {
            throw ConfigError(key, "is not a known key");
        }
        const toml::array* a = v.as_array();
        if (a == nullptr) {
            throw ConfigError(key, "must be an array of tables, written [[git.credentials]]");
        }
        c.git_credentials.clear();
        for (std::size_t i = 0; i < a->size(); ++i) {
            c.git_credentials.push_back(
                git_credential_table((*a)[i], key + "[" + std::to_string(i) + "]"));
        }
    }
}

void apply_labels_table(AgentConfig& c, const toml::node& node) {
    const toml::table* t = node.as_table();
    if (t == nullptr) {
        throw ConfigError("labels", "must be a table of name = \"value\"");
    }
    std::map<std::string, std::string> labels;
    for (auto&& [k, v] : *t) {
        const std::string name(k.str());
        add_label(labels, "labels." + name, name, toml_string(v, "labels." + name));
    }
    c.labels = std::move(labels);
}

void apply_file(AgentConfig& c, Origins& origins, const std::string& path) {
    toml::table root;
    try {
        root = toml::parse_file(path);
    } catch (const toml::parse_error& e) {
        std::ostringstream msg;
        msg << "cannot read " << path;
        if (e.source().begin.line > 0) {
            msg << " (line " << e.source().begin.line << ")";
        }
        msg << ": " << e.description();
        throw ConfigError("config", msg.str());
    }

    for (auto&& [k, v] : root) {
        const std::string key(k.str());
        if (key == "server" || key == "token" || key == "name" || key == "work_dir" ||
            key == "ca_file" || key == "docker_socket") {
            const std::string value = toml_string(v, key);
            std::string& target = key == "server"          ? c.server
                                  : key == "token"         ? c.token
                                  : key == "name"          ? c.node_name
                                  : key == "work_dir"      ? c.work_dir
                                  : key == "docker_socket" ? c.docker_socket
                                                           : c.ca_file;
            target = value;
            origins[key] = key + " (in " + path + ")";
        } else if (key == "max_frame_bytes") {
            c.max_frame_bytes = toml_positive(v, key);
        } else if (key == "labels") {
            apply_labels_table(c, v);
        } else if (key == "reconnect") {
            apply_reconnect_table(c, v);
        } else if (key == "log") {
            apply_log_table(c, v);
        } else if (key == "gpu") {
            apply_gpu_array(c, v);
        } else if (key == "git") {
            apply_git_table(c, v);
        } else if (key == "tasks") {
            apply_tasks_table(c, v);
        } else {
            throw ConfigError(key, "is not a known key (in " + path + ")");
        }
    }
}

void apply_env(AgentConfig& c, Origins& origins, const EnvLookup& env) {
    const std::pair<const char*, std::string AgentConfig::*> strings[] = {
        {"UNIDESK_NODE_SERVER", &AgentConfig::server},
        {"UNIDESK_NODE_TOKEN", &AgentConfig::token},
        {"UNIDESK_NODE_NAME", &AgentConfig::node_name},
        {"UNIDESK_WORK_DIR", &AgentConfig::work_dir},
        {"UNIDESK_CA_FILE", &AgentConfig::ca_file},
    };
    const char* fields[] = {"server", "token", "name", "work_dir", "ca_file"};
    for (std::size_t i = 0; i < std::size(strings); ++i) {
        if (auto v = env(strings[i].first); v && !v->empty()) {
            c.*(strings[i].second) = *v;
            origins[fields[i]] = strings[i].first;
        }
    }
    if (auto v = env("UNIDESK_LABELS"); v && !v->empty()) {
        c.labels = parse_label_list("UNIDESK_LABELS", split_commas(*v));
    }
}

po::options_description flag_descriptions() {
    po::options_description d("unidesk-agent options");
    d.add_options()("help,h", "print this help and exit")(
        "version", "print the agent version and exit")("config", po::value<std::string>(),
                                                       "TOML config file")(
        "server", po::value<std::string>(), "kernel address: ws://HOST[:PORT] or wss://...")(
        "token", po::value<std::string>(), "node token (udn_...); prefer UNIDESK_NODE_TOKEN")(
        "name", po::value<std::string>(), "node name (default: the host name)")(
        "label", po::value<std::vector<std::string>>(), "label name=value; repeat for more")(
        "work-dir", po::value<std::string>(), "work folder (git cache, task files)")(
        "ca-file", po::value<std::string>(), "PEM file of CAs to trust instead of the system's")(
        "log-level", po::value<std::string>(), "trace, debug, info, warn, error")(
        "log-format", po::value<std::string>(), "text or json");
    return d;
}

po::variables_map parse_flags(const std::vector<std::string>& args,
                              const po::options_description& desc) {
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(args).options(desc).run(), vm);
        po::notify(vm);
    } catch (const po::error_with_option_name& e) {
        throw ConfigError(e.get_option_name().empty() ? "flags" : e.get_option_name(), e.what());
    } catch (const po::error& e) {
        throw ConfigError("flags", e.what());
    }
    return vm;
}

void apply_flags(AgentConfig& c, Origins& origins, const po::variables_map& vm) {
    const std::pair<const char*, std::string AgentConfig::*> strings[] = {
        {"server", &AgentConfig::server},         {"token", &AgentConfig::token},
        {"name", &AgentConfig::node_name},        {"work-dir", &AgentConfig::work_dir},
        {"ca-file", &AgentConfig::ca_file},       {"log-level", &AgentConfig::log_level},
        {"log-format", &AgentConfig::log_format},
    };
    const char* fields[] = {"server",  "token",     "name",      "work_dir",
                            "ca_file", "log_level", "log_format"};
    for (std::size_t i = 0; i < std::size(strings); ++i) {
        if (vm.count(strings[i].first) != 0) {
            c.*(strings[i].second) = vm[strings[i].first].as<std::string>();
            origins[fields[i]] = std::string("--") + strings[i].first;
        }
    }
    if (vm.count("label") != 0) {
        c.labels = parse_label_list("--label", vm["label"].as<std::vector<std::string>>());
    }
}

ServerUrl parse_server_url(const std::string& key, const std::string& s) {
    ServerUrl u;
    std::string rest;
    if (s.rfind("wss://", 0) == 0) {
        u.tls = true;
        rest = s.substr(6);
    } else if (s.rfind("ws://", 0) == 0) {
        rest = s.substr(5);
    } else {
        throw ConfigError(key, "'" + s + "' must start with ws:// or wss://");
    }

    const auto slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    std::string prefix = slash == std::string::npos ? "" : rest.substr(slash);
    while (!prefix.empty() && prefix.back() == '/') {
        prefix.pop_back();
    }

    const auto colon = authority.rfind(':');
    if (colon != std::string::npos && authority.find(']', colon) == std::string::npos) {
        u.port = authority.substr(colon + 1);
        authority = authority.substr(0, colon);
        const bool digits = !u.port.empty() && u.port.size() <= 5 &&
                            std::all_of(u.port.begin(), u.port.end(), ::isdigit);
        if (!digits || std::stoi(u.port) == 0 || std::stoi(u.port) > 65535) {
            throw ConfigError(key, "'" + s + "' has an invalid port");
        }
    } else {
        u.port = u.tls ? "443" : "80";
    }
    if (authority.size() > 2 && authority.front() == '[' && authority.back() == ']') {
        authority = authority.substr(1, authority.size() - 2);
    }
    if (authority.empty()) {
        throw ConfigError(key, "'" + s + "' names no host");
    }
    u.host = authority;
    u.target = prefix + "/v1/provider/connect";
    return u;
}

std::string where(const Origins& origins, const std::string& field) {
    auto it = origins.find(field);
    return it == origins.end() ? field : it->second;
}

bool valid_token(const std::string& t) {
    if (t.size() != 68 || t.rfind("udn_", 0) != 0) {
        return false;
    }
    return std::all_of(t.begin() + 4, t.end(),
                       [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

void validate(AgentConfig& c, const Origins& origins) {
    if (c.server.empty()) {
        throw ConfigError(
            "server", "is required (--server, UNIDESK_NODE_SERVER or server in the config file)");
    }
    c.url = parse_server_url(where(origins, "server"), c.server);

    if (c.token.empty()) {
        throw ConfigError("token",
                          "is required (UNIDESK_NODE_TOKEN, --token or token in the config file)");
    }
    if (!valid_token(c.token)) {
        throw ConfigError(where(origins, "token"), "must be udn_ followed by 64 hex digits");
    }

    if (c.node_name.empty()) {
        // Host names are case-insensitive, and node names are lower case (DESKTOP-7Q2 is the
        // node desktop-7q2).
        char host[256] = {};
        if (::gethostname(host, sizeof(host) - 1) == 0) {
            c.node_name = host;
            std::transform(c.node_name.begin(), c.node_name.end(), c.node_name.begin(),
                           [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        }
    }
    if (!protocol::is_valid_node_name(c.node_name)) {
        const bool from_host = origins.count("name") == 0;
        throw ConfigError(where(origins, "name"),
                          "'" + c.node_name + "'" + (from_host ? " (the host name)" : "") +
                              " must " + std::string(protocol::kNodeNameRule) +
                              (from_host ? "; choose one with --name" : ""));
    }
    if (c.work_dir.empty()) {
        throw ConfigError(where(origins, "work_dir"), "must not be empty");
    }

    if (c.reconnect.base.count() <= 0) {
        throw ConfigError("reconnect.base_s", "must be above 0");
    }
    if (c.reconnect.cap < c.reconnect.base) {
        throw ConfigError("reconnect.cap_s", "must not be below reconnect.base_s");
    }

    static const char* levels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
    if (std::find(std::begin(levels), std::end(levels), c.log_level) == std::end(levels)) {
        throw ConfigError(
            where(origins, "log_level") == "log_level" ? "log.level" : where(origins, "log_level"),
            "'" + c.log_level + "' is not one of trace, debug, info, warn, error");
    }
    if (c.log_format != "text" && c.log_format != "json") {
        throw ConfigError(where(origins, "log_format") == "log_format"
                              ? "log.format"
                              : where(origins, "log_format"),
                          "'" + c.log_format + "' must be text or json");
    }
}

}  // namespace

AgentConfig load_agent_config(const std::vector<std::string>& args, const EnvLookup& env) {
    const auto desc = flag_descriptions();
    const auto vm = parse_flags(args, desc);

    AgentConfig c;
    if (vm.count("help") != 0 || vm.count("version") != 0) {
        c.show_help = vm.count("help") != 0;
        c.show_version = vm.count("version") != 0;
        std::ostringstream help;
        help << desc;
        c.help_text = help.str();
        return c;
    }

    Origins origins;
    if (vm.count("config") != 0) {
        apply_file(c, origins, vm["config"].as<std::string>());
    }
    apply_env(c, origins, env);
    apply_flags(c, origins, vm);
    validate(c, origins);
    return c;
}

std::optional<std::string> process_env(const std::string& name) {
    const char* v = std::getenv(name.c_str());
    return v == nullptr ? std::nullopt : std::optional<std::string>(v);
}

}  // namespace unidesk::agent
