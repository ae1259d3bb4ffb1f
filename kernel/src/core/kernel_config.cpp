#include "core/kernel_config.hpp"

#define TOML_EXCEPTIONS 1
#include <toml++/toml.h>

#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

namespace unidesk::kernel {
namespace {

using nlohmann::json;

Error config_error(const std::string& origin, const std::string& what) {
    return make_error(Errc::invalid_argument, "config_invalid", origin + ": " + what);
}

// TOML node -> JSON value. Dates and times have no use in our config and are refused.
Result<json> to_json(const toml::node& node, const std::string& where, const std::string& origin) {
    if (auto t = node.as_table()) {
        json out = json::object();
        for (auto&& [k, v] : *t) {
            auto child = to_json(
                v, where.empty() ? std::string(k.str()) : where + "." + std::string(k.str()),
                origin);
            if (!child) {
                return child.error();
            }
            out[std::string(k.str())] = std::move(*child);
        }
        return ok_value(std::move(out));
    }
    if (auto a = node.as_array()) {
        json out = json::array();
        for (auto&& v : *a) {
            auto child = to_json(v, where, origin);
            if (!child) {
                return child.error();
            }
            out.push_back(std::move(*child));
        }
        return ok_value(std::move(out));
    }
    if (auto s = node.as_string()) {
        return ok_value(json(s->get()));
    }
    if (auto i = node.as_integer()) {
        return ok_value(json(i->get()));
    }
    if (auto f = node.as_floating_point()) {
        return ok_value(json(f->get()));
    }
    if (auto b = node.as_boolean()) {
        return ok_value(json(b->get()));
    }
    return config_error(origin, "key " + where + ": dates and times are not accepted here");
}

bool has_type(const json& v, ConfigType t) {
    switch (t) {
    case ConfigType::string: return v.is_string();
    case ConfigType::integer: return v.is_number_integer();
    case ConfigType::boolean: return v.is_boolean();
    case ConfigType::number: return v.is_number();
    case ConfigType::string_list:
        if (!v.is_array()) {
            return false;
        }
        for (const auto& e : v) {
            if (!e.is_string()) {
                return false;
            }
        }
        return true;
    }
    return false;
}

// Checks one table against the keys declared for it (names without the prefix) and returns
// it with defaults filled in. Errors name `prefix.key`.
Result<json> resolve_table(const std::string& prefix, const json& raw,
                           const std::vector<const ConfigKey*>& keys, const std::string& origin) {
    if (!raw.is_object()) {
        return config_error(origin, prefix + " must be a table");
    }
    json out = json::object();
    std::set<std::string> known;
    for (const ConfigKey* k : keys) {
        known.insert(k->name);
        auto it = raw.find(k->name);
        if (it == raw.end()) {
            out[k->name] = k->default_value;
            continue;
        }
        if (!has_type(*it, k->type)) {
            const std::string type = to_string(k->type);
            const bool vowel = std::string_view("aeiou").find(type.front()) != std::string::npos;
            return config_error(origin, "key " + prefix + "." + k->name + " must be " +
                                            (vowel ? "an " : "a ") + type + ", got " + it->dump());
        }
        out[k->name] = *it;
    }
    for (auto it = raw.begin(); it != raw.end(); ++it) {
        if (known.count(it.key()) == 0) {
            return config_error(origin, "unknown key " + prefix + "." + it.key());
        }
    }
    return ok_value(std::move(out));
}

ConfigKey key(std::string name, ConfigType type, json def, std::string description) {
    return ConfigKey{std::move(name), type, std::move(def), std::move(description)};
}

// "host:port" -> ListenAddress; "" -> off.
Result<ListenAddress> parse_listen(const std::string& name, const std::string& value,
                                   const std::string& origin) {
    if (value.empty()) {
        return ListenAddress{};
    }
    auto colon = value.rfind(':');
    if (colon == std::string::npos || colon == 0) {
        return config_error(origin,
                            "key " + name + " must be \"host:port\", got \"" + value + "\"");
    }
    std::string host = value.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    int port = -1;
    try {
        std::size_t used = 0;
        port = std::stoi(value.substr(colon + 1), &used);
        if (used != value.size() - colon - 1) {
            port = -1;
        }
    } catch (const std::exception&) {
        port = -1;
    }
    if (port < 0 || port > 65535) {
        return config_error(origin, "key " + name + " has a bad port in \"" + value + "\"");
    }
    return ListenAddress{host, static_cast<std::uint16_t>(port)};
}

std::string default_instance_name() {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    return std::string(host) + "-" + std::to_string(::getpid());
}

Result<void> check_positive(const std::string& name, int v, const std::string& origin) {
    if (v <= 0) {
        return config_error(origin, "key " + name + " must be positive, got " + std::to_string(v));
    }
    return {};
}

}  // namespace

const ConfigSchema& kernel_config_schema() {
    using T = ConfigType;
    static const ConfigSchema schema{
        key("kernel.instance_name", T::string, "",
            "Name of this kernel instance, unique among instances sharing one database; "
            "empty means host name and process id."),
        key("kernel.log_level", T::string, "info",
            "Least level logged: trace, debug, info, warn, error or critical."),
        key("kernel.log_format", T::string, "text",
            "\"text\" for people, \"json\" for one JSON object per line; --log-format wins."),
        key("kernel.worker_threads", T::integer, 8,
            "Threads that run REST handlers and other blocking work (database, disk)."),
        key("listeners.internal", T::string, "127.0.0.1:7700",
            "host:port of the core REST API, /health and /metrics; keep it on an internal "
            "network. Port 0 picks a free port."),
        key("listeners.public", T::string, "",
            "host:port of the people-facing listener, opened only when a plugin (the gateway) "
            "routes on it; empty keeps it closed."),
        key("listeners.public_tls_cert_file", T::string, "",
            "PEM certificate chain for HTTPS on the public listener; relative to the config "
            "file. Empty: plain HTTP (for example behind a TLS-terminating proxy)."),
        key("listeners.public_tls_key_file", T::string, "",
            "PEM private key that goes with listeners.public_tls_cert_file; both or neither."),
        key("listeners.provider", T::string, "",
            "host:port where agents connect; empty keeps it closed."),
        key("database.url", T::string, "", "PostgreSQL connection string or URI (required)."),
        key("database.pool_size", T::integer, 8, "Most connections the kernel opens."),
        key("database.connect_timeout_s", T::integer, 5,
            "Seconds to wait for a new database connection."),
        key("database.tcp_timeout_s", T::integer, 15,
            "Seconds an open database connection may leave what the kernel sent unacknowledged, "
            "or stay silent to keepalive probes, before it counts as broken (a database host that "
            "vanished without closing it)."),
        key("database.acquire_timeout_ms", T::integer, 2000,
            "Milliseconds a request waits for a free pooled connection before it fails."),
        key("database.retry_initial_ms", T::integer, 250,
            "First wait after the database could not be reached; doubles on each failure."),
        key("database.retry_max_ms", T::integer, 15000, "Longest wait between reconnect attempts."),
        key("database.check_interval_ms", T::integer, 2000,
            "How often a reachable database is checked."),
        key("provider.heartbeat_interval_s", T::integer, 15,
            "Seconds between an agent's heartbeats; the server tells each agent when it "
            "registers."),
        key("provider.offline_after_s", T::integer, 90,
            "A node with no heartbeat for this many seconds is marked offline and its session "
            "closed; after a kernel start, nodes get this long to return first."),
        key("provider.flush_interval_ms", T::integer, 1000,
            "How often heartbeats are written to the database in one batch, and live sessions "
            "checked for a newer session or a revoked token."),
        key("provider.register_timeout_s", T::integer, 15,
            "Seconds a new connection may take to send register before it is closed."),
        key("provider.max_frame_bytes", T::integer, 1048576,
            "Largest frame accepted from an agent; a larger one closes the session (4003)."),
        key("provider.tls_cert_file", T::string, "",
            "PEM certificate chain for wss:// on the provider listener; relative to the config "
            "file. Empty: plain ws:// (for example behind a TLS-terminating proxy)."),
        key("provider.tls_key_file", T::string, "",
            "PEM private key that goes with provider.tls_cert_file."),
        key("auth.initial_admin", T::string, "admin",
            "Name of the administrator created on the first start against an empty database."),
        key("auth.initial_credentials_file", T::string, "",
            "If set, the first admin's password and API token are also written to this file "
            "(mode 0600) on the start that creates them."),
        key("storage.backend", T::string, "local",
            "Name of the active storage backend: \"local\" (plugin storage-local) or \"s3\" "
            "(plugin storage-s3). Its plugin must be enabled; /health shows it."),
        key("plugins.dir", T::string, "plugins",
            "Folder holding libunidesk-plugin-NAME.so files; relative to the config file."),
        key("plugins.enabled", T::string_list, json::array(),
            "Plugins to load, by name, e.g. [\"scheduler\", \"gateway\"]."),
    };
    return schema;
}

Result<nlohmann::json> resolve_plugin_section(const std::string& plugin_name,
                                              const nlohmann::json& raw,
                                              const ConfigSchema& schema) {
    std::vector<const ConfigKey*> keys;
    for (const auto& k : schema) {
        keys.push_back(&k);
    }
    return resolve_table("plugin." + plugin_name, raw.is_null() ? json::object() : raw, keys,
                         "config");
}

Result<KernelConfig> parse_kernel_config(const std::string& toml_text, const std::string& origin) {
    toml::table table;
    try {
        table = toml::parse(toml_text, origin);
    } catch (const toml::parse_error& e) {
        std::ostringstream msg;
        msg << "line " << e.source().begin.line << ": " << e.description();
        return config_error(origin, msg.str());
    }
    auto raw = to_json(table, "", origin);
    if (!raw) {
        return raw.error();
    }

    // Group the kernel's declared keys by section.
    std::map<std::string, std::vector<ConfigKey>> sections;
    for (const auto& k : kernel_config_schema()) {
        auto dot = k.name.find('.');
        sections[k.name.substr(0, dot)].push_back(
            ConfigKey{k.name.substr(dot + 1), k.type, k.default_value, k.description});
    }

    KernelConfig cfg;
    cfg.source = origin;
    std::map<std::string, json> resolved;
    for (auto it = raw->begin(); it != raw->end(); ++it) {
        if (it.key() != "plugin" && sections.count(it.key()) == 0) {
            return config_error(origin, "unknown section or key " + it.key());
        }
    }
    for (const auto& [name, keys] : sections) {
        std::vector<const ConfigKey*> ptrs;
        for (const auto& k : keys) {
            ptrs.push_back(&k);
        }
        auto section = resolve_table(name, raw->value(name, json::object()), ptrs, origin);
        if (!section) {
            return section.error();
        }
        resolved[name] = std::move(*section);
    }

    const json& k = resolved["kernel"];
    cfg.instance_name = k["instance_name"].get<std::string>();
    if (cfg.instance_name.empty()) {
        cfg.instance_name = default_instance_name();
    }
    cfg.log_level = k["log_level"].get<std::string>();
    static const std::set<std::string> levels{"trace", "debug",    "info", "warn",
                                              "error", "critical", "off"};
    if (levels.count(cfg.log_level) == 0) {
        return config_error(origin,
                            "key kernel.log_level must be one of trace, debug, info, "
                            "warn, error, critical, off; got \"" +
                                cfg.log_level + "\"");
    }
    cfg.log_format = k["log_format"].get<std::string>();
    if (cfg.log_format != "text" && cfg.log_format != "json") {
        return config_error(origin, "key kernel.log_format must be \"text\" or \"json\"");
    }
    cfg.worker_threads = k["worker_threads"].get<int>();
    if (auto r = check_positive("kernel.worker_threads", cfg.worker_threads, origin); !r) {
        return r.error();
    }

    const json& l = resolved["listeners"];
    for (auto [name, target] :
         {std::pair{"internal", &cfg.internal_listener}, std::pair{"public", &cfg.public_listener},
          std::pair{"provider", &cfg.provider_listener}}) {
        auto addr =
            parse_listen(std::string("listeners.") + name, l[name].get<std::string>(), origin);
        if (!addr) {
            return addr.error();
        }
        *target = *addr;
    }
    cfg.public_tls_cert_file = l["public_tls_cert_file"].get<std::string>();
    cfg.public_tls_key_file = l["public_tls_key_file"].get<std::string>();
    if (cfg.public_tls_cert_file.empty() != cfg.public_tls_key_file.empty()) {
        return config_error(origin,
                            "keys listeners.public_tls_cert_file and "
                            "listeners.public_tls_key_file must be set together");
    }

    const json& d = resolved["database"];
    cfg.database.url = d["url"].get<std::string>();
    if (cfg.database.url.empty()) {
        return config_error(origin, "key database.url is required");
    }
    cfg.database.pool_size = d["pool_size"].get<int>();
    cfg.database.connect_timeout_s = d["connect_timeout_s"].get<int>();
    cfg.database.acquire_timeout_ms = d["acquire_timeout_ms"].get<int>();
    cfg.database.retry_initial_ms = d["retry_initial_ms"].get<int>();
    cfg.database.retry_max_ms = d["retry_max_ms"].get<int>();
    cfg.database.check_interval_ms = d["check_interval_ms"].get<int>();
    cfg.database.tcp_timeout_s = d["tcp_timeout_s"].get<int>();
    for (auto [name, v] : {std::pair{"pool_size", cfg.database.pool_size},
                           std::pair{"connect_timeout_s", cfg.database.connect_timeout_s},
                           std::pair{"acquire_timeout_ms", cfg.database.acquire_timeout_ms},
                           std::pair{"retry_initial_ms", cfg.database.retry_initial_ms},
                           std::pair{"retry_max_ms", cfg.database.retry_max_ms},
                           std::pair{"check_interval_ms", cfg.database.check_interval_ms},
                           std::pair{"tcp_timeout_s", cfg.database.tcp_timeout_s}}) {
        if (auto r = check_positive(std::string("database.") + name, v, origin); !r) {
            return r.error();
        }
    }

    const json& pr = resolved["provider"];
    cfg.provider.heartbeat_interval_s = pr["heartbeat_interval_s"].get<int>();
    cfg.provider.offline_after_s = pr["offline_after_s"].get<int>();
    cfg.provider.flush_interval_ms = pr["flush_interval_ms"].get<int>();
    cfg.provider.register_timeout_s = pr["register_timeout_s"].get<int>();
    cfg.provider.max_frame_bytes = pr["max_frame_bytes"].get<int>();
    for (auto [name, v] : {std::pair{"heartbeat_interval_s", cfg.provider.heartbeat_interval_s},
                           std::pair{"offline_after_s", cfg.provider.offline_after_s},
                           std::pair{"flush_interval_ms", cfg.provider.flush_interval_ms},
                           std::pair{"register_timeout_s", cfg.provider.register_timeout_s},
                           std::pair{"max_frame_bytes", cfg.provider.max_frame_bytes}}) {
        if (auto r = check_positive(std::string("provider.") + name, v, origin); !r) {
            return r.error();
        }
    }
    if (cfg.provider.offline_after_s <= cfg.provider.heartbeat_interval_s) {
        return config_error(origin,
                            "key provider.offline_after_s must be larger than "
                            "provider.heartbeat_interval_s");
    }
    cfg.provider.tls_cert_file = pr["tls_cert_file"].get<std::string>();
    cfg.provider.tls_key_file = pr["tls_key_file"].get<std::string>();
    if (cfg.provider.tls_cert_file.empty() != cfg.provider.tls_key_file.empty()) {
        return config_error(origin,
                            "keys provider.tls_cert_file and provider.tls_key_file must "
                            "be set together");
    }

    const json& a = resolved["auth"];
    cfg.initial_admin = a["initial_admin"].get<std::string>();
    cfg.initial_credentials_file = a["initial_credentials_file"].get<std::string>();

    cfg.storage_backend = resolved["storage"]["backend"].get<std::string>();
    if (cfg.storage_backend.empty() ||
        cfg.storage_backend.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-_") !=
            std::string::npos) {
        return config_error(origin, "key storage.backend must be a plain name such as \"local\"");
    }

    const json& p = resolved["plugins"];
    std::filesystem::path base = std::filesystem::path(origin).parent_path();
    cfg.plugin_dir = p["dir"].get<std::string>();
    if (cfg.plugin_dir.is_relative()) {
        cfg.plugin_dir = base / cfg.plugin_dir;
    }
    for (auto* path :
         {&cfg.initial_credentials_file, &cfg.provider.tls_cert_file, &cfg.provider.tls_key_file,
          &cfg.public_tls_cert_file, &cfg.public_tls_key_file}) {
        if (!path->empty() && path->is_relative()) {
            *path = base / *path;
        }
    }
    std::set<std::string> seen;
    for (const auto& name : p["enabled"]) {
        auto n = name.get<std::string>();
        if (!seen.insert(n).second) {
            return config_error(origin, "plugin " + n + " is listed twice in plugins.enabled");
        }
        cfg.plugins_enabled.push_back(n);
    }

    if (auto it = raw->find("plugin"); it != raw->end()) {
        if (!it->is_object()) {
            return config_error(origin, "plugin must be a table of [plugin.NAME] sections");
        }
        for (auto s = it->begin(); s != it->end(); ++s) {
            if (seen.count(s.key()) == 0) {
                return config_error(origin, "section plugin." + s.key() +
                                                " is for a plugin not listed in plugins.enabled");
            }
            cfg.plugin_sections[s.key()] = s.value();
        }
    }
    return cfg;
}

Result<KernelConfig> load_kernel_config(const std::filesystem::path& file) {
    std::ifstream in(file);
    if (!in) {
        return config_error(file.string(), "cannot read the file");
    }
    std::stringstream text;
    text << in.rdbuf();
    return parse_kernel_config(text.str(), std::filesystem::absolute(file).string());
}

}  // namespace unidesk::kernel
