#pragma once

// The kernel's own schema, as migrations under the namespace "kernel". Each module keeps the
// SQL of the tables it owns next to its code; this list fixes their order. Append only:
// an applied migration is never edited, a change is a new version.

#include "unidesk/plugin.hpp"

#include <string>
#include <vector>

namespace unidesk::kernel {

//! Version 1: events, event_consumers (events/events_schema.cpp).
std::string events_schema_sql();
//! Version 2: users, api_tokens, node_tokens (auth/auth_schema.cpp).
std::string auth_schema_sql();
//! Version 3: nodes (link/nodes_schema.cpp).
std::string nodes_schema_sql();

//! Version 4: the event functions unidesk_append_events and unidesk_events_horizon
//! (events/events_schema.cpp).
std::string events_horizon_sql();

//! Every kernel migration in version order.
const std::vector<Migration>& kernel_migrations();

}  // namespace unidesk::kernel
