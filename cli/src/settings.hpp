#pragma once

// Where the CLI finds its server and API token. Each value is taken from the first place that
// has it: command-line flags, then the environment (UNIDESK_SERVER, UNIDESK_TOKEN), then the
// config file (--config FILE, default ~/.config/unidesk/cli.toml, or
// $XDG_CONFIG_HOME/unidesk/cli.toml when that is set) with the keys `server` and `token`.
// Pure functions apart from reading the config file; thread-safe.

#include "unidesk/result.hpp"

#include <functional>
#include <optional>
#include <string>

namespace unidesk::cli {

//! Error codes of this module; both mean a usage problem (exit code 2).
inline constexpr const char* kServerMissing = "server_missing";
inline constexpr const char* kConfigInvalid = "config_invalid";

struct Settings {
    std::string server;  // base URL without a trailing '/', e.g. "https://desk.example.org"
    std::string token;   // empty when none was given: only open routes will answer
};

//! What the command line said; an empty optional means the flag was not given.
struct SettingsFlags {
    std::optional<std::string> server;
    std::optional<std::string> token;
    std::optional<std::string> config_file;
};

//! Looks up an environment variable; std::nullopt when it is unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

//! The process environment as an EnvLookup.
EnvLookup process_env();

//! Errors (errc invalid_argument): `server_missing` when no place names a server;
//! `config_invalid` when the file named by --config does not exist, or any config file cannot
//! be parsed, has a key of the wrong type, or holds a token while its group or others may read
//! or write it. A missing default file is not an error.
Result<Settings> resolve_settings(const SettingsFlags& flags, const EnvLookup& env);

//! The config file used when --config is not given; empty when neither HOME nor
//! XDG_CONFIG_HOME is set.
std::string default_config_path(const EnvLookup& env);

}  // namespace unidesk::cli
