// Temporary stand-in for the HealthRegistry until health_registry.cpp provides it: keeps the
// checks and asks each one live, as the header describes.

#include "core/health_registry.hpp"

#include <algorithm>

namespace unidesk::kernel {

void HealthRegistry::set_check(Group group, const std::string& name,
                               std::function<HealthReport()> check) {
    std::lock_guard lock(mu_);
    for (auto& e : entries_) {
        if (e.group == group && e.name == name) {
            e.check = std::move(check);
            return;
        }
    }
    entries_.push_back(Entry{group, name, std::move(check)});
}

void HealthRegistry::remove(Group group, const std::string& name) {
    std::lock_guard lock(mu_);
    std::erase_if(entries_, [&](const Entry& e) { return e.group == group && e.name == name; });
}

nlohmann::json HealthRegistry::report() const {
    std::vector<Entry> copy;
    {
        std::lock_guard lock(mu_);
        copy = entries_;
    }

    nlohmann::json out{{"status", "ok"},
                       {"components", nlohmann::json::object()},
                       {"plugins", nlohmann::json::object()}};
    HealthState overall = HealthState::ok;
    for (const auto& e : copy) {
        HealthReport r = e.check();
        const char* group = e.group == Group::component ? "components" : "plugins";
        out[group][e.name] = {{"status", to_string(r.state)}, {"reason", r.reason}};
        if (r.state != HealthState::ok && overall == HealthState::ok) {
            overall = HealthState::degraded;
        }
        if (r.state == HealthState::down && e.group == Group::component && e.name == "database") {
            overall = HealthState::down;
        }
    }
    out["status"] = to_string(overall);
    return out;
}

std::vector<std::pair<std::string, HealthState>> HealthRegistry::plugin_states() const {
    std::vector<Entry> copy;
    {
        std::lock_guard lock(mu_);
        copy = entries_;
    }

    std::vector<std::pair<std::string, HealthState>> out;
    for (const auto& e : copy) {
        if (e.group == Group::plugin) {
            out.emplace_back(e.name, e.check().state);
        }
    }
    return out;
}

}  // namespace unidesk::kernel
