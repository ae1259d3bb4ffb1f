#pragma once

// The plugin contract. A plugin is a shared library that exports one symbol through Boost.DLL:
// `unidesk_plugin_entry`, a PluginEntry. The kernel reads entry.api_version first and calls
// nothing in a library whose version differs from kPluginApiVersion.
//
// Lifecycle, all on the kernel's start-up/shut-down thread:
//   descriptor() -> create() -> start(ctx) ... health() from any thread ... stop() -> delete.
// No plugin function should throw (the kernel catches it anyway, logs it naming the plugin and
// shows the plugin down); failures are returned as values. After stop() returns, nothing of
// the plugin may run: no route handler, no subscription, no thread. The kernel then destroys
// the object and only after that unloads the library.

#include "unidesk/config_schema.hpp"
#include "unidesk/health.hpp"
#include "unidesk/kernel_context.hpp"
#include "unidesk/result.hpp"

#include <boost/dll/alias.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace unidesk {

//! Bumped whenever any type in plugin-api/ changes layout or meaning.
inline constexpr std::uint32_t kPluginApiVersion = 5;

enum class PluginKind { scheduler, projects, gateway, storage, other };

inline const char* to_string(PluginKind k) noexcept {
    switch (k) {
    case PluginKind::scheduler: return "scheduler";
    case PluginKind::projects: return "projects";
    case PluginKind::gateway: return "gateway";
    case PluginKind::storage: return "storage";
    case PluginKind::other: return "other";
    }
    return "other";
}

//! One schema change, applied once in its own transaction and recorded under the plugin's
//! name in `schema_migrations`. Versions start at 1 and only grow; an applied migration is
//! never edited.
struct Migration {
    int version = 0;
    std::string name;
    std::string sql;
};

struct PluginDescriptor {
    std::string name;  // unique; also the config section [plugin.NAME]
    PluginKind kind = PluginKind::other;
    std::uint32_t api_version = kPluginApiVersion;
    std::string version;  // the plugin's own version
    std::string description;
    std::vector<std::string> depends_on;  // plugins that must start first
    ConfigSchema config;
    std::vector<Migration> migrations;
};

//! Not noexcept on purpose: a throw that escapes a noexcept function ends the whole kernel
//! before the host's guard can catch it, so the guard can only keep the kernel alive if the
//! exception is allowed to reach it. The same goes for the destructor.
class Plugin {
public:
    virtual ~Plugin() noexcept(false) = default;
    //! Returns an Error when the plugin cannot run; stop() is then still called, so it must
    //! undo whatever part of start() had happened.
    virtual Result<void> start(KernelContext& ctx) = 0;
    virtual void stop() = 0;
    //! Called from any thread, never after stop() has begun; must return within a second.
    virtual HealthReport health() = 0;
};

//! What the library exports. Plain data first so the version can be read without running
//! any of the plugin's code.
struct PluginEntry {
    std::uint32_t api_version;
    const PluginDescriptor& (*descriptor)();
    Plugin* (*create)();  // the kernel owns the result and deletes it before unloading
};

}  // namespace unidesk

//! Exports a PluginEntry variable from a plugin library:
//!   static const unidesk::PluginEntry entry{unidesk::kPluginApiVersion, &describe, &make};
//!   UNIDESK_PLUGIN(entry)
#define UNIDESK_PLUGIN(entry_variable) BOOST_DLL_ALIAS(entry_variable, unidesk_plugin_entry)
