#pragma once

// The typed description of configuration keys. The kernel declares its own keys with it and
// every plugin declares its section's keys in its descriptor; the kernel validates the TOML file
// against these declarations (unknown key or wrong type is a start-up error naming the key) and
// fills in defaults, so a plugin always receives a complete section.

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace unidesk {

enum class ConfigType { string, integer, boolean, number, string_list };

inline const char* to_string(ConfigType t) noexcept {
    switch (t) {
    case ConfigType::string: return "string";
    case ConfigType::integer: return "integer";
    case ConfigType::boolean: return "boolean";
    case ConfigType::number: return "number";
    case ConfigType::string_list: return "string list";
    }
    return "?";
}

struct ConfigKey {
    std::string name;  // key within its section, e.g. "heartbeat_interval_s"
    ConfigType type = ConfigType::string;
    nlohmann::json default_value;  // of the declared type
    std::string description;       // one sentence for docs/reference/config.md
};

using ConfigSchema = std::vector<ConfigKey>;

}  // namespace unidesk
