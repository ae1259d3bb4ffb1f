#pragma once

// The kernel's configuration, read from one TOML file at start-up. Every key is declared in
// kernel_config.cpp (kKernelSchema) with its type, default and description; that declaration
// is the source of docs/reference/config.md.

#include "unidesk/config_schema.hpp"
#include "unidesk/result.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace unidesk::kernel {

struct ListenAddress {
    std::string host;        // empty: the listener is off
    std::uint16_t port = 0;  // 0: any free port (tests)
    bool enabled() const { return !host.empty(); }
};

struct DatabaseConfig {
    std::string url;  // libpq connection string or URI
    int pool_size = 8;
    int connect_timeout_s = 5;
    int acquire_timeout_ms = 2000;  // waiting for a free pooled connection
    int retry_initial_ms = 250;     // first back-off after a failed connect
    int retry_max_ms = 15000;       // back-off ceiling
    int check_interval_ms = 2000;   // how often a reachable database is checked
    int tcp_timeout_s = 15;         // an open connection the host stops acknowledging is broken
};

//! The provider link's server side ([provider] in the config file).
struct ProviderConfig {
    int heartbeat_interval_s = 15;
    int offline_after_s = 90;
    int flush_interval_ms = 1000;
    int register_timeout_s = 15;
    int max_frame_bytes = 1024 * 1024;
    std::filesystem::path tls_cert_file;  // both set: agents connect with wss://
    std::filesystem::path tls_key_file;
};

struct KernelConfig {
    std::filesystem::path source;  // the file it came from
    std::string instance_name;     // default: host name and pid
    std::string log_level = "info";
    std::string log_format = "text";  // "text" or "json"
    int worker_threads = 8;           // blocking workers for REST handlers and database work

    ListenAddress internal_listener;             // core REST API, /health, /metrics
    ListenAddress public_listener;               // opened only when a plugin routes on it
    std::filesystem::path public_tls_cert_file;  // both set: the public listener speaks HTTPS
    std::filesystem::path public_tls_key_file;
    ListenAddress provider_listener;  // agents connect here

    DatabaseConfig database;
    ProviderConfig provider;

    std::string initial_admin = "admin";
    std::filesystem::path initial_credentials_file;  // empty: print them only

    std::string storage_backend = "local";  // the StorageBackend::name() that is active

    std::filesystem::path plugin_dir;
    std::vector<std::string> plugins_enabled;
    //! Raw [plugin.NAME] sections, validated against each plugin's descriptor once loaded.
    std::map<std::string, nlohmann::json> plugin_sections;
};

//! The kernel's own keys, as "section.key" names.
const ConfigSchema& kernel_config_schema();

//! Reads and validates the file. Errors (Errc::invalid_argument, code `config_invalid`) name
//! the file, the key and what is wrong: an unknown key, a wrong type, a bad value.
Result<KernelConfig> load_kernel_config(const std::filesystem::path& file);

//! The same from TOML text (tests); `origin` names it in messages.
Result<KernelConfig> parse_kernel_config(const std::string& toml_text, const std::string& origin);

//! Checks a plugin's raw section against its declared schema and fills in defaults.
//! Errors name `plugin.NAME.key`.
Result<nlohmann::json> resolve_plugin_section(const std::string& plugin_name,
                                              const nlohmann::json& raw,
                                              const ConfigSchema& schema);

}  // namespace unidesk::kernel
