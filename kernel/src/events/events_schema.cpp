#include "db/kernel_schema.hpp"
#include "events/pg_event_bus.hpp"

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

// Appends stop queueing behind one another: each takes the order lock shared, so they commit
// in parallel, and a reader takes it exclusively for an instant to learn the highest id below
// which every id is final. A function each, so that either is one round trip; an append takes
// the events of a transaction together, in the order given.
std::string events_horizon_sql() {
    const std::string key = std::to_string(PgEventBus::kAppendLockKey);
    return R"sql(
CREATE FUNCTION unidesk_append_events(p_events jsonb) RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
BEGIN
    -- Before the ids are taken: a reader holding the lock exclusively knows none is in flight.
    PERFORM pg_advisory_xact_lock_shared()sql" +
           key + R"sql();
    RETURN QUERY
        INSERT INTO events (kind, subject, actor, payload)
        SELECT v.e->>'kind', v.e->>'subject', v.e->>'actor', coalesce(v.e->'payload', '{}')
        FROM jsonb_array_elements(p_events) WITH ORDINALITY AS v(e, n)
        ORDER BY v.n
        RETURNING id;
    PERFORM pg_notify('unidesk_events', '');
END
$$;
CREATE FUNCTION unidesk_events_horizon() RETURNS bigint
LANGUAGE plpgsql SET lock_timeout = '10s' AS $$
BEGIN
    -- Waits for the appending transactions in flight to end; the next statement's snapshot
    -- then sees every id taken so far, committed or gone for good.
    PERFORM pg_advisory_xact_lock()sql" +
           key + R"sql();
    RETURN (SELECT coalesce(max(id), 0) FROM events);
END
$$;
)sql";
}

}  // namespace unidesk::kernel
