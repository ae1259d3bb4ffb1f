#pragma once

// The kernel's own open routes on the internal listener, owned by "kernel":
//   GET /health   the HealthRegistry's live report plus "version" and "time" (UTC, ISO 8601
//                 with Z); 200 when ok or degraded, 503 when down.
//   GET /metrics  Metrics::render() as text/plain; version=0.0.4.
// Also registers the gauge unidesk_plugin_up{plugin} (1 unless the plugin is down).
// Called once at start-up; the registry and metrics must outlive the route table's use.

#include "core/health_registry.hpp"
#include "core/metrics.hpp"
#include "http/route_table.hpp"

namespace unidesk::kernel {

//! Fails with `route_conflict` when /health or /metrics is already taken.
Result<void> register_core_routes(RouteTable& routes, HealthRegistry& health, Metrics& metrics);

//! Now as "2024-05-01T12:34:56.789Z".
std::string utc_now_iso8601();

}  // namespace unidesk::kernel
