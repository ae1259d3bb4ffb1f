#include "plugins/plugin_host.hpp"

#include <fmt/format.h>
#include <boost/dll/shared_library.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <type_traits>
#include <utility>

namespace unidesk::kernel {
namespace {

constexpr const char* kEntrySymbol = "unidesk_plugin_entry";

std::filesystem::path library_path(const std::filesystem::path& dir, const std::string& name) {
    return dir / ("libunidesk-plugin-" + name + ".so");
}

// Runs one call into a plugin. An exception becomes an Error that names the plugin and the
// call, so that no exception from plugin code travels further into the kernel.
template <class F>
auto guarded(const std::string& plugin, const char* call, F&& fn)
    -> Result<std::invoke_result_t<F>> {
    using R = std::invoke_result_t<F>;
    // Results are placed explicitly: for start() the value is itself a Result, which an Error
    // would otherwise convert to as well.
    auto failure = [&](std::string message) {
        return Result<R>(boost::system::in_place_error,
                         make_error(Errc::internal, "plugin_exception", std::move(message)));
    };
    try {
        if constexpr (std::is_void_v<R>) {
            fn();
            return {};
        } else {
            return Result<R>(boost::system::in_place_value, fn());
        }
    } catch (const std::exception& e) {
        return failure(fmt::format("plugin {} threw from {}(): {}", plugin, call, e.what()));
    } catch (...) {
        return failure(
            fmt::format("plugin {} threw a non-standard exception from {}()", plugin, call));
    }
}

// Boost.DLL puts dlerror()'s text inside a longer message; the loader's own words are what a
// person needs.
std::string loader_message(const std::string& what) {
    const std::string marker = "dlerror system message: ";
    auto from = what.find(marker);
    auto to = what.rfind(')');
    if (from == std::string::npos || to == std::string::npos || to < from) {
        return what;
    }
    from += marker.size();
    return what.substr(from, to - from);
}

// What /health and status() see of one plugin; shared with the health check, which may run
// on another thread and may outlive the host.
struct PluginLive {
    std::mutex mu;
    std::string name;
    Plugin* object = nullptr;  // set only while running; health() is called only then
    HealthReport stored{HealthState::down, "not loaded"};
    bool health_failure_logged = false;
};

// TODO: health() runs under the plugin's lock with no time limit, so a plugin whose health()
// hangs stalls every /health request and, at shutdown, its own stop(). Running it with a
// deadline needs a thread that can be abandoned, which the plugin's unloading then must wait
// for.
HealthReport check_live(PluginLive& live, spdlog::logger& log) {
    std::lock_guard lock(live.mu);
    if (live.object == nullptr) {
        return live.stored;
    }

    auto r = guarded(live.name, "health", [&] { return live.object->health(); });
    if (r) {
        live.health_failure_logged = false;
        return *r;
    }

    // /health is read often; one line per run of failures is enough.
    if (!live.health_failure_logged) {
        log.error("plugin health check failed plugin={} error={}", live.name, r.error().message);
        live.health_failure_logged = true;
    }
    return HealthReport{HealthState::down, r.error().message};
}

}  // namespace

struct PluginHost::Loaded {
    enum class Stage { down, loaded, running, stopped };

    std::string name;  // as configured; also its /health entry
    std::filesystem::path file;
    Stage stage = Stage::down;

    // Declared before anything that may hold plugin code so that, should a Loaded ever be
    // destroyed with an object still alive, the library is unmapped last.
    boost::dll::shared_library library;
    const PluginEntry* entry = nullptr;
    std::optional<PluginDescriptor> descriptor;  // a kernel-owned copy
    nlohmann::json config;                       // resolved section
    std::unique_ptr<KernelContext> context;
    Plugin* object = nullptr;

    std::shared_ptr<PluginLive> live = std::make_shared<PluginLive>();
};

PluginHost::PluginHost(const KernelConfig& config, HealthRegistry& health,
                       std::shared_ptr<spdlog::logger> log)
    : config_(config), health_(health), log_(std::move(log)) {}

PluginHost::~PluginHost() {
    stop_all({});
}

void PluginHost::mark_down(Loaded& p, const std::string& reason) {
    p.stage = Loaded::Stage::down;
    {
        std::lock_guard lock(p.live->mu);
        p.live->object = nullptr;
        p.live->stored = HealthReport{HealthState::down, reason};
    }
    log_->error("plugin down plugin={} reason={}", p.name, reason);
}

Result<void> PluginHost::open_library(Loaded& p) {
    // The name becomes part of a file path: nothing in it may lead out of plugin_dir.
    bool plain = !p.name.empty() && std::all_of(p.name.begin(), p.name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
    if (!plain) {
        return make_error(Errc::invalid_argument, "plugin_name_invalid",
                          "a plugin name may hold only a-z, 0-9, '_' and '-'");
    }

    p.file = library_path(config_.plugin_dir, p.name);
    std::error_code exists_ec;
    if (!std::filesystem::exists(p.file, exists_ec)) {
        return make_error(Errc::not_found, "plugin_not_found",
                          "library not found: " + p.file.string());
    }

    try {
        p.library.load(boost::dll::fs::path(p.file.string()),
                       boost::dll::load_mode::rtld_lazy | boost::dll::load_mode::rtld_local);
    } catch (const std::exception& e) {
        return make_error(Errc::unavailable, "plugin_load_failed",
                          "cannot load library: " + loader_message(e.what()));
    }

    if (!p.library.has(kEntrySymbol)) {
        return make_error(Errc::invalid_argument, "plugin_invalid",
                          fmt::format("library {} exports no {}", p.file.string(), kEntrySymbol));
    }
    p.entry = &p.library.get_alias<const PluginEntry>(kEntrySymbol);

    // Only plain data is read here: nothing of the plugin runs before its version matches.
    if (p.entry->api_version != kPluginApiVersion) {
        return make_error(Errc::invalid_argument, "plugin_api_mismatch",
                          fmt::format("api version {}, kernel speaks {}", p.entry->api_version,
                                      kPluginApiVersion));
    }
    if (p.entry->descriptor == nullptr || p.entry->create == nullptr) {
        return make_error(Errc::invalid_argument, "plugin_invalid",
                          fmt::format("library {} exports an entry without descriptor or create",
                                      p.file.string()));
    }
    return {};
}

Result<void> PluginHost::read_descriptor(Loaded& p) {
    auto d = guarded(p.name, "descriptor", [&] { return p.entry->descriptor(); });
    if (!d) {
        return d.error();
    }
    PluginDescriptor desc = std::move(*d);

    if (desc.api_version != kPluginApiVersion) {
        return make_error(Errc::invalid_argument, "plugin_api_mismatch",
                          fmt::format("descriptor says api version {}, kernel speaks {}",
                                      desc.api_version, kPluginApiVersion));
    }
    for (const auto& other : plugins_) {
        if (other->descriptor && other->descriptor->name == desc.name) {
            return make_error(
                Errc::conflict, "plugin_duplicate",
                fmt::format("plugin name {} is already taken by a loaded plugin", desc.name));
        }
    }
    if (desc.name != p.name) {
        return make_error(Errc::invalid_argument, "plugin_name_mismatch",
                          fmt::format("library {} declares the name {}, expected {}",
                                      p.file.filename().string(), desc.name, p.name));
    }

    p.descriptor = std::move(desc);
    return {};
}

std::optional<Error> PluginHost::load_one(Loaded& p) {
    auto opened = open_library(p);
    auto described = opened ? read_descriptor(p) : Result<void>(opened.error());
    if (!described) {
        mark_down(p, described.error().message);
        p.entry = nullptr;
        p.library.unload();
        return std::nullopt;
    }

    auto raw = config_.plugin_sections.find(p.name);
    auto resolved = resolve_plugin_section(
        p.name, raw == config_.plugin_sections.end() ? nlohmann::json::object() : raw->second,
        p.descriptor->config);
    if (!resolved) {
        mark_down(p, resolved.error().message);
        return resolved.error();
    }

    p.config = std::move(*resolved);
    p.stage = Loaded::Stage::loaded;
    {
        std::lock_guard lock(p.live->mu);
        p.live->stored = HealthReport{HealthState::down, "loaded, not started"};
    }
    log_->info("plugin loaded plugin={} version={} kind={}", p.name, p.descriptor->version,
               to_string(p.descriptor->kind));
    return std::nullopt;
}

Result<void> PluginHost::load_all() {
    std::optional<Error> config_error;
    std::set<std::string> seen;

    for (const auto& name : config_.plugins_enabled) {
        if (!seen.insert(name).second) {
            log_->error("plugin refused plugin={} reason=enabled twice", name);
            continue;
        }
        auto p = std::make_unique<Loaded>();
        p->name = name;
        p->live->name = name;
        health_.set_check(HealthRegistry::Group::plugin, name,
                          [live = p->live, log = log_] { return check_live(*live, *log); });

        auto error = load_one(*p);
        if (error && !config_error) {
            config_error = std::move(error);
        }
        plugins_.push_back(std::move(p));
    }

    for (const auto& [section, _] : config_.plugin_sections) {
        if (!seen.count(section)) {
            log_->warn("plugin section ignored plugin={} reason=not enabled", section);
        }
    }

    order_by_dependencies();
    if (config_error) {
        return *config_error;
    }
    return {};
}

// The state of one depth-first walk over depends_on.
struct PluginHost::DependencyWalk {
    std::map<std::string, Loaded*> by_name;
    std::map<const Loaded*, bool> finished;  // false while the plugin is on `path`
    std::vector<Loaded*> path;
    std::vector<Loaded*> order;  // each plugin after everything it depends on
};

void PluginHost::mark_cycle(DependencyWalk& walk, const Loaded& closing) {
    auto first = std::find(walk.path.begin(), walk.path.end(), &closing);
    std::string cycle;
    for (auto c = first; c != walk.path.end(); ++c) {
        cycle += (*c)->name + " -> ";
    }
    cycle += closing.name;

    for (auto c = first; c != walk.path.end(); ++c) {
        mark_down(**c, "dependency cycle: " + cycle);
    }
}

bool PluginHost::visit(Loaded& p, DependencyWalk& walk) {
    if (walk.finished.count(&p)) {
        return p.stage == Loaded::Stage::loaded;
    }
    walk.finished[&p] = false;
    walk.path.push_back(&p);

    const auto deps =
        p.stage == Loaded::Stage::loaded ? p.descriptor->depends_on : std::vector<std::string>{};
    for (const auto& dep : deps) {
        auto it = walk.by_name.find(dep);
        if (it == walk.by_name.end()) {
            mark_down(p, fmt::format("depends on {}, which is not enabled", dep));
            break;
        }
        Loaded& d = *it->second;
        if (auto f = walk.finished.find(&d); f != walk.finished.end() && !f->second) {
            mark_cycle(walk, d);
            break;
        }
        // A plugin on a cycle further down is already marked; keep its reason.
        if (!visit(d, walk) && p.stage == Loaded::Stage::loaded) {
            mark_down(p, fmt::format("depends on {}, which is down", dep));
            break;
        }
    }

    walk.path.pop_back();
    walk.finished[&p] = true;
    if (p.stage == Loaded::Stage::loaded) {
        walk.order.push_back(&p);
    }
    return p.stage == Loaded::Stage::loaded;
}

void PluginHost::order_by_dependencies() {
    DependencyWalk walk;
    for (auto& p : plugins_) {
        walk.by_name[p->name] = p.get();
    }
    for (auto& p : plugins_) {
        visit(*p, walk);
    }

    // Start order first, then everything that will not start (kept for status()).
    std::vector<std::unique_ptr<Loaded>> sorted;
    for (Loaded* p : walk.order) {
        auto owned = std::find_if(plugins_.begin(), plugins_.end(),
                                  [p](const auto& o) { return o.get() == p; });
        sorted.push_back(std::move(*owned));
    }
    for (auto& owned : plugins_) {
        if (owned) {
            sorted.push_back(std::move(owned));
        }
    }
    plugins_ = std::move(sorted);
}

std::vector<std::pair<std::string, std::vector<Migration>>> PluginHost::migrations() const {
    std::vector<std::pair<std::string, std::vector<Migration>>> out;
    for (const auto& p : plugins_) {
        if (p->stage == Loaded::Stage::loaded || p->stage == Loaded::Stage::running) {
            out.emplace_back(p->name, p->descriptor->migrations);
        }
    }
    return out;
}

bool PluginHost::is_running(const std::string& name) const {
    for (const auto& p : plugins_) {
        if (p->name == name) {
            return p->stage == Loaded::Stage::running;
        }
    }
    return false;
}

void PluginHost::start_all(const ContextFactory& make_context,
                           const AfterStop& after_failed_start) {
    for (auto& p : plugins_) {
        if (p->stage != Loaded::Stage::loaded) {
            continue;
        }
        std::optional<std::string> not_running;
        for (const auto& dep : p->descriptor->depends_on) {
            if (!is_running(dep)) {
                not_running = dep;
                break;
            }
        }
        if (not_running) {
            mark_down(*p, fmt::format("depends on {}, which is not running", *not_running));
            continue;
        }
        start_one(*p, make_context, after_failed_start);
    }
}

void PluginHost::start_one(Loaded& p, const ContextFactory& make_context,
                           const AfterStop& after_failed_start) {
    auto created = guarded(p.name, "create", [&] { return p.entry->create(); });
    if (!created || *created == nullptr) {
        mark_down(p, created ? fmt::format("plugin {} create() returned no object", p.name)
                             : created.error().message);
        return;
    }
    p.object = *created;
    p.context = make_context(p.name, p.config);

    auto started = guarded(p.name, "start", [&] { return p.object->start(*p.context); });
    if (started && *started) {
        p.stage = Loaded::Stage::running;
        {
            std::lock_guard lock(p.live->mu);
            p.live->object = p.object;
        }
        log_->info("plugin started plugin={} version={}", p.name, p.descriptor->version);
        return;
    }

    if (!started) {
        mark_down(p, started.error().message);
    } else {
        const Error& e = started->error();
        mark_down(p, fmt::format("plugin {} failed to start: {}: {}", p.name, e.code, e.message));
    }

    // It may have begun something before failing; stop() is its chance to undo it.
    auto stopped = guarded(p.name, "stop", [&] { p.object->stop(); });
    if (!stopped) {
        log_->error("plugin stop failed plugin={} error={}", p.name, stopped.error().message);
    }
    if (after_failed_start) {
        after_failed_start(p.name);
    }
    destroy_object(p);
}

void PluginHost::destroy_object(Loaded& p) {
    if (p.object != nullptr) {
        Plugin* object = std::exchange(p.object, nullptr);
        auto deleted = guarded(p.name, "destructor", [&] { delete object; });
        if (!deleted) {
            log_->error("plugin destroy failed plugin={} error={}", p.name,
                        deleted.error().message);
        }
    }
    p.context.reset();
}

void PluginHost::stop_all(const AfterStop& after_stop) {
    for (auto it = plugins_.rbegin(); it != plugins_.rend(); ++it) {
        Loaded& p = **it;
        if (p.stage != Loaded::Stage::running) {
            continue;
        }

        // From here on the health check answers from the stored state, so no health() call
        // can overlap stop() or follow it.
        {
            std::lock_guard lock(p.live->mu);
            p.live->object = nullptr;
            p.live->stored = HealthReport{HealthState::down, "stopping"};
        }

        HealthReport final_state{HealthState::down, "stopped"};
        auto stopped = guarded(p.name, "stop", [&] { p.object->stop(); });
        if (!stopped) {
            log_->error("plugin stop failed plugin={} error={}", p.name, stopped.error().message);
            final_state.reason = stopped.error().message;
        }
        if (after_stop) {
            after_stop(p.name);
        }
        destroy_object(p);

        p.stage = Loaded::Stage::stopped;
        {
            std::lock_guard lock(p.live->mu);
            p.live->stored = final_state;
        }
        log_->info("plugin stopped plugin={}", p.name);
    }

    // Only now is no object of any plugin alive, so no code of any library can still be
    // reached (a plugin may hold something another plugin made).
    for (auto it = plugins_.rbegin(); it != plugins_.rend(); ++it) {
        Loaded& p = **it;
        destroy_object(p);
        p.entry = nullptr;
        p.library.unload();
    }
}

std::vector<PluginStatus> PluginHost::status() const {
    std::vector<PluginStatus> out;
    for (const auto& p : plugins_) {
        PluginStatus s;
        s.name = p->name;
        if (p->descriptor) {
            s.version = p->descriptor->version;
            s.kind = to_string(p->descriptor->kind);
        }
        s.state = check_live(*p->live, *log_);
        out.push_back(std::move(s));
    }
    return out;
}

}  // namespace unidesk::kernel
