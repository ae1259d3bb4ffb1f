#include "db/kernel_schema.hpp"

namespace unidesk::kernel {

std::string events_schema_sql() {
    return R"sql(
CREATE TABLE events (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    kind text NOT NULL,
    subject text NOT NULL,
    actor text NOT NULL,
    payload jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX events_kind_id ON events (kind, id);
CREATE INDEX events_subject_id ON events (subject, id);
CREATE TABLE event_consumers (
    name text PRIMARY KEY,
    position bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
)sql";
}

}  // namespace unidesk::kernel
