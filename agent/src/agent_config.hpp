#pragma once

// The agent's settings, from four layers: command-line flags over environment variables over
// the TOML file named by --config over built-in defaults. agent/README.md lists every key.
//
// Loading happens once at start-up, on the main thread; a bad value throws ConfigError naming
// the key, and main() prints it and exits with code 2.

#include "backoff.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace unidesk::agent {

//! A configuration mistake: the key (as written in the file, env or flag) and what is wrong.
class ConfigError : public std::runtime_error {
public:
    ConfigError(std::string key, const std::string& message)
        : std::runtime_error("config error: " + key + ": " + message), key_(std::move(key)) {}
    const std::string& key() const { return key_; }

private:
    std::string key_;
};

//! Where the link goes: ws://host[:port][/prefix] or wss://..., plus the fixed endpoint path.
struct ServerUrl {
    bool tls = false;
    std::string host;
    std::string port;    // "80" / "443" when the URL gives none
    std::string target;  // prefix + "/v1/provider/connect"
};

//! A GPU declared in the config instead of detected (for test nodes without one).
struct DeclaredGpu {
    std::string model;
    std::uint64_t memory_mb = 0;
};

//! A credential for fetching task repositories from one host, from `[[git.credentials]]`. Tasks
//! never carry credentials: the node's owner decides which hosts the agent may log in to.
struct GitCredential {
    std::string host;      // matched against the host of a repository URL (with or without port)
    std::string username;  // empty: "git" over ssh, "x-access-token" over http(s)
    std::string token;     // password or access token for http(s)
    std::string ssh_key;   // private key file for ssh
    std::string ssh_public_key;  // optional; libssh2 derives it from the private key when empty
};

struct AgentConfig {
    std::string server;  // as given; `url` is its parsed form
    ServerUrl url;
    std::string token;
    std::string node_name;  // default: the host name
    std::map<std::string, std::string> labels;
    std::string work_dir = "/var/lib/unidesk-agent";
    std::string ca_file;  // empty: the system's trust store
    BackoffPolicy reconnect;
    std::uint64_t max_frame_bytes = 1024 * 1024;
    std::vector<DeclaredGpu> gpus;  // non-empty replaces detection
    std::vector<GitCredential> git_credentials;
    // file:// URLs and local paths as task repositories: for tests and single-machine setups
    // only, since a task could then read any repository on the node's disks.
    bool git_allow_local_remotes = false;
    std::string docker_socket = "/var/run/docker.sock";
    std::uint32_t task_slots = 2;                    // attempts run at once
    std::uint64_t disk_budget_bytes = 50ull << 30;   // task folders + env images; 0: none
    std::uint64_t report_buffer_bytes = 8ull << 20;  // unacknowledged task reports
    std::string log_level = "info";
    std::string log_format = "text";

    bool show_help = false;
    bool show_version = false;
    std::string help_text;
};

//! Reads an environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

//! `args` excludes the program name. Throws ConfigError.
AgentConfig load_agent_config(const std::vector<std::string>& args, const EnvLookup& env);

//! The process environment.
std::optional<std::string> process_env(const std::string& name);

}  // namespace unidesk::agent
