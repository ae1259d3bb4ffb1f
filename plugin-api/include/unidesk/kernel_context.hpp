#pragma once

// What the kernel gives each plugin. One KernelContext per plugin, owned by the kernel and
// valid from start() until stop() returns. Routes a plugin registers through its context
// are tagged with its name (an error in a handler names the plugin) and removed when it stops.

#include "unidesk/auth.hpp"
#include "unidesk/clock.hpp"
#include "unidesk/database.hpp"
#include "unidesk/event_bus.hpp"
#include "unidesk/http.hpp"
#include "unidesk/provider_link.hpp"
#include "unidesk/storage.hpp"

#include <spdlog/logger.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

namespace unidesk {

class KernelContext {
public:
    virtual ~KernelContext() = default;

    virtual Database& database() = 0;
    virtual EventBus& events() = 0;
    virtual Router& router() = 0;
    virtual Auth& auth() = 0;
    //! nullptr while the kernel runs without a provider link.
    virtual ProviderLink* provider_link() = 0;
    virtual StorageRegistry& storage() = 0;
    virtual Clock& clock() = 0;

    //! The plugin's own logger, named "plugin.NAME".
    virtual std::shared_ptr<spdlog::logger> logger() = 0;
    //! The plugin's config section with every declared key present (defaults filled in).
    virtual const nlohmann::json& config() = 0;
    //! This kernel instance's name, unique among instances sharing one database.
    virtual const std::string& instance_name() = 0;
};

}  // namespace unidesk
