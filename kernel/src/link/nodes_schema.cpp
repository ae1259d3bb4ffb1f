#include "db/kernel_schema.hpp"

namespace unidesk::kernel {

// One row per node name ever registered. session_generation only grows: each registration
// takes the next one, and a session whose generation is no longer the row's has been fenced
// off. session_instance names the kernel instance holding the newest session.
std::string nodes_schema_sql() {
    return R"sql(
CREATE TABLE nodes (
    name text PRIMARY KEY,
    state text NOT NULL CHECK (state IN ('online', 'offline')),
    agent_version text NOT NULL,
    os text NOT NULL,
    arch text NOT NULL,
    cpu_cores integer NOT NULL,
    memory_bytes bigint NOT NULL,
    disk_bytes bigint NOT NULL,
    gpus jsonb NOT NULL DEFAULT '[]'::jsonb,
    labels jsonb NOT NULL DEFAULT '{}'::jsonb,
    token_id bigint REFERENCES node_tokens (id),
    session_generation bigint NOT NULL DEFAULT 0,
    session_instance text NOT NULL DEFAULT '',
    remote text NOT NULL DEFAULT '',
    first_registered_at timestamptz NOT NULL DEFAULT now(),
    connected_at timestamptz NOT NULL,
    last_heartbeat_at timestamptz NOT NULL,
    offline_at timestamptz
);
CREATE INDEX nodes_online_heartbeat ON nodes (last_heartbeat_at) WHERE state = 'online';
)sql";
}

}  // namespace unidesk::kernel
