// Temporary stand-in for resolve_plugin_section() until kernel_config.cpp provides it: fills
// in declared defaults and checks nothing.

#include "core/kernel_config.hpp"

#include <utility>

namespace unidesk::kernel {

Result<nlohmann::json> resolve_plugin_section(const std::string& /*plugin_name*/,
                                              const nlohmann::json& raw,
                                              const ConfigSchema& schema) {
    nlohmann::json out = raw.is_object() ? raw : nlohmann::json::object();
    for (const auto& key : schema) {
        if (!out.contains(key.name)) {
            out[key.name] = key.default_value;
        }
    }
    // json converts to anything, so the value must be placed explicitly.
    return Result<nlohmann::json>(boost::system::in_place_value, std::move(out));
}

}  // namespace unidesk::kernel
