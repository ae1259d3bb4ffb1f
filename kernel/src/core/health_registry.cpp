#include "core/health_registry.hpp"

#include <algorithm>
#include <exception>
#include <utility>

namespace unidesk::kernel {
namespace {

HealthReport run_check(const std::function<HealthReport()>& check) {
    try {
        return check();
    } catch (const std::exception& e) {
        return {HealthState::down, std::string("health check failed: ") + e.what()};
    } catch (...) {
        return {HealthState::down, "health check failed with an unknown exception"};
    }
}

}  // namespace

nlohmann::json health_entry_json(const HealthReport& r) {
    nlohmann::json j{{"status", to_string(r.state)}};
    if (r.state != HealthState::ok) {
        j["reason"] = r.reason;
    }
    return j;
}

void HealthRegistry::set_check(Group group, const std::string& name,
                               std::function<HealthReport()> check, nlohmann::json extra) {
    std::lock_guard lock(mu_);
    for (auto& e : entries_) {
        if (e.group == group && e.name == name) {
            e.check = std::move(check);
            e.extra = std::move(extra);
            return;
        }
    }
    entries_.push_back(Entry{group, name, std::move(check), std::move(extra)});
}

void HealthRegistry::remove(Group group, const std::string& name) {
    std::lock_guard lock(mu_);
    std::erase_if(entries_, [&](const Entry& e) { return e.group == group && e.name == name; });
}

nlohmann::json HealthRegistry::report() const {
    // Checks run outside the lock: they may take a while and may call back into the registry.
    std::vector<Entry> entries;
    {
        std::lock_guard lock(mu_);
        entries = entries_;
    }

    auto components = nlohmann::json::object();
    auto plugins = nlohmann::json::object();
    bool database_down = false;
    bool any_not_ok = false;
    for (const auto& e : entries) {
        HealthReport r = run_check(e.check);
        any_not_ok = any_not_ok || r.state != HealthState::ok;
        auto entry = health_entry_json(r);
        if (e.extra.is_object()) {
            entry.update(e.extra);
        }
        if (e.group == Group::component) {
            database_down = database_down || (e.name == "database" && r.state == HealthState::down);
            components[e.name] = std::move(entry);
        } else {
            plugins[e.name] = std::move(entry);
        }
    }

    HealthState overall = database_down ? HealthState::down
                          : any_not_ok  ? HealthState::degraded
                                        : HealthState::ok;
    return {{"status", to_string(overall)}, {"components", components}, {"plugins", plugins}};
}

std::vector<std::pair<std::string, HealthState>> HealthRegistry::plugin_states() const {
    std::vector<Entry> entries;
    {
        std::lock_guard lock(mu_);
        entries = entries_;
    }

    std::vector<std::pair<std::string, HealthState>> states;
    for (const auto& e : entries) {
        if (e.group == Group::plugin) {
            states.emplace_back(e.name, run_check(e.check).state);
        }
    }
    std::sort(states.begin(), states.end());
    return states;
}

}  // namespace unidesk::kernel
