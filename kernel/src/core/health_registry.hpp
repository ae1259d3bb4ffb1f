#pragma once

// What `/health` shows: one entry per kernel component and per enabled plugin, each asked
// live when /health is read (never a remembered answer). Overall: down if the database is
// down, degraded if anything else is not ok, ok otherwise.
// Thread-safe; check functions run on a blocking worker and must return within about a second.

#include "unidesk/health.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace unidesk::kernel {

//! One entry as /health shows it: {"status": "ok|degraded|down", "reason": "..."}, the reason
//! left out when ok.
nlohmann::json health_entry_json(const HealthReport& r);

class HealthRegistry {
public:
    enum class Group { component, plugin };

    //! Replaces an entry of the same group and name. `extra` (an object) adds fixed fields to
    //! the entry, e.g. {"backend": "local"}.
    void set_check(Group group, const std::string& name, std::function<HealthReport()> check,
                   nlohmann::json extra = nullptr);
    void remove(Group group, const std::string& name);

    //! {"status": "ok|degraded|down", "components": {name: {status, reason}},
    //!  "plugins": {name: {status, reason}}}
    //! A check that throws is shown down with the exception's message.
    nlohmann::json report() const;
    //! Names and states of every plugin entry (for /metrics).
    std::vector<std::pair<std::string, HealthState>> plugin_states() const;

private:
    struct Entry {
        Group group;
        std::string name;
        std::function<HealthReport()> check;
        nlohmann::json extra;
    };
    mutable std::mutex mu_;
    std::vector<Entry> entries_;
};

}  // namespace unidesk::kernel
