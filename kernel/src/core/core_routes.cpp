#include "core/core_routes.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <ctime>

namespace unidesk::kernel {

std::string utc_now_iso8601() {
    auto now = std::chrono::system_clock::now();
    auto secs = std::chrono::time_point_cast<std::chrono::seconds>(now);
    auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now - secs).count();
    std::time_t t = std::chrono::system_clock::to_time_t(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", tm, millis);
}

Result<void> register_core_routes(RouteTable& routes, HealthRegistry& health, Metrics& metrics) {
    RouteOptions open;
    open.min_role = std::nullopt;

    auto added = routes.add(
        "kernel", Listener::internal, "GET", "/health",
        [&health](const HttpRequest&) {
            auto body = health.report();
            body["version"] = UNIDESK_VERSION;
            body["time"] = utc_now_iso8601();
            return HttpResponse::json(body, body["status"] == "down" ? 503 : 200);
        },
        open);
    if (!added) {
        return added;
    }

    added = routes.add(
        "kernel", Listener::internal, "GET", "/metrics",
        [&metrics](const HttpRequest&) {
            HttpResponse r;
            r.content_type = "text/plain; version=0.0.4";
            r.body = metrics.render();
            return r;
        },
        open);
    if (!added) {
        return added;
    }

    metrics.add_labelled_gauge(
        "unidesk_plugin_up", "1 when the plugin is running (ok or degraded), 0 when it is down.",
        "plugin", [&health] {
            std::vector<std::pair<std::string, double>> up;
            for (const auto& [name, state] : health.plugin_states()) {
                up.emplace_back(name, state == HealthState::down ? 0.0 : 1.0);
            }
            return up;
        });
    return {};
}

}  // namespace unidesk::kernel
