#pragma once

// Loads, starts and stops plugins. For each name in `[plugins] enabled` it opens
// `<plugin_dir>/libunidesk-plugin-<name>.so` with Boost.DLL, reads the exported PluginEntry's
// api_version before calling anything, refuses a version other than kPluginApiVersion and a
// name already loaded, validates the plugin's config section against its descriptor (a config
// error is a start-up error), orders plugins so that dependencies start first, and calls every
// plugin function inside a guard that catches exceptions and names the plugin.
//
// A plugin that is missing, incompatible, has a missing dependency or fails to start is logged
// once at error level and shown `down` with its reason in /health; the kernel runs on. A
// library stays loaded until its plugin object is destroyed and its routes removed.
//
// Owned by the Kernel; load/start/stop run on the start-up thread.

#include "core/health_registry.hpp"
#include "core/kernel_config.hpp"
#include "unidesk/plugin.hpp"

#include <spdlog/logger.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace unidesk::kernel {

struct PluginStatus {
    std::string name;
    std::string version;  // empty when it never loaded
    std::string kind;
    HealthReport state;  // down with a reason when it failed; else its own health()
};

class PluginHost {
public:
    //! Makes the KernelContext a plugin receives; called once per started plugin with its
    //! name and resolved config section.
    using ContextFactory =
        std::function<std::unique_ptr<KernelContext>(const std::string&, nlohmann::json)>;

    PluginHost(const KernelConfig& config, HealthRegistry& health,
               std::shared_ptr<spdlog::logger> log);
    //! Stops whatever still runs, but without an after_stop hook: the kernel must call
    //! stop_all() itself first, or routes of a plugin would outlive its library.
    ~PluginHost();

    //! Opens every enabled library and reads its descriptor. Returns an error only for a
    //! config error in a loaded plugin's section (a start-up error); other failures mark the
    //! plugin down and carry on.
    Result<void> load_all();

    //! Migrations of every loaded plugin, by plugin name, for the DbSupervisor.
    std::vector<std::pair<std::string, std::vector<Migration>>> migrations() const;

    //! Called with a plugin's name after its stop() and before its object is destroyed; the
    //! kernel removes the plugin's routes there. It must return only once no handler of that
    //! plugin is running any more (a copied handler still in flight runs the library's code and
    //! may use the object about to be deleted).
    using AfterStop = std::function<void(const std::string&)>;

    //! Starts loaded plugins in dependency order; a plugin whose dependency is not running is
    //! not started and shown down. A plugin whose start() fails or throws is shown down, gets
    //! its stop() at once, then after_failed_start(name), and is destroyed; its library stays
    //! mapped until stop_all().
    void start_all(const ContextFactory& make_context, const AfterStop& after_failed_start = {});

    //! Stops running plugins in reverse start order: stop(), after_stop(name), destroy. Only
    //! when every plugin object is gone are the libraries unloaded.
    void stop_all(const AfterStop& after_stop);

    //! Thread-safe once load_all() has returned.
    std::vector<PluginStatus> status() const;

private:
    struct Loaded;
    struct DependencyWalk;

    //! Returns the config error of a plugin that otherwise loaded.
    std::optional<Error> load_one(Loaded& p);
    Result<void> open_library(Loaded& p);
    Result<void> read_descriptor(Loaded& p);
    void order_by_dependencies();
    bool visit(Loaded& p, DependencyWalk& walk);
    void mark_cycle(DependencyWalk& walk, const Loaded& closing);
    void start_one(Loaded& p, const ContextFactory& make_context,
                   const AfterStop& after_failed_start);
    void destroy_object(Loaded& p);
    void mark_down(Loaded& p, const std::string& reason);
    bool is_running(const std::string& name) const;

    const KernelConfig& config_;
    HealthRegistry& health_;
    std::shared_ptr<spdlog::logger> log_;
    std::vector<std::unique_ptr<Loaded>> plugins_;  // in start order once started
};

}  // namespace unidesk::kernel
