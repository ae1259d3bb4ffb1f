#pragma once

// The EventBus on PostgreSQL: table `events (id bigserial, at timestamptz, kind, subject,
// actor, payload jsonb)` and `event_consumers (name, position)`.
//
// Order without a queue: append() and append_all() (SQL function unidesk_append_events) take a
// transaction-scoped advisory lock in shared mode before they take ids, so appending
// transactions run and commit in parallel. A reader first calls unidesk_events_horizon() in a
// short transaction of its own: it takes the same lock exclusively, which waits until the
// appends in flight have ended, and returns the highest id then visible. Every id up to that
// horizon is final (committed, or rolled back for good), so a reader that reads
// `position < id <= horizon` never passes over an event that commits later with a smaller id.
// While a reader waits for the lock, new appends wait behind it; a horizon that cannot be had
// within 10 s is an error for the reader, not for the writers. append() also sends NOTIFY on
// channel `unidesk_events` (delivered at commit, one per transaction) to wake followers.
//
// Each subscription runs one thread with its own LISTEN connection. On a notification, or
// every poll interval at the latest (a lost notification costs at most that delay), it reads
// the next batch after its position and calls the handler for each event in a transaction
// that also stores the new position. Owned by the Kernel; all subscriptions must be stopped
// before it is destroyed, and the Pool must outlive both.
//
// Consumers: a consumer seen for the first time starts at position 0, so it sees the whole
// history (safe: nothing is missed; handlers are idempotent anyway). Several subscriptions
// with the same consumer name (in one kernel or in several instances) are safe: each event's
// transaction locks the consumer's row and checks that the position is still the one it read,
// so every event is handled once by one of them; the others wait on the row lock and move on.
//
// Failures: a handler that throws rolls back its transaction, is logged (at most one line per
// event every 10 s) and the same event is offered again after a back-off (100 ms doubling to
// 10 s). While the Pool is marked unavailable or the subscription's connection fails, the
// subscription waits and reconnects with a back-off (250 ms doubling to 10 s); it logs one line
// per outage. stop() must not be called from inside the handler.

#include "db/pool.hpp"
#include "unidesk/event_bus.hpp"

#include <spdlog/logger.h>

#include <chrono>
#include <memory>

namespace unidesk::kernel {

class PgEventBus final : public EventBus {
public:
    PgEventBus(Pool& pool, std::shared_ptr<spdlog::logger> log,
               std::chrono::milliseconds poll_interval = std::chrono::milliseconds(1000));
    ~PgEventBus() override;

    std::int64_t append(pqxx::work& tx, const EventDraft& event) override;
    std::vector<std::int64_t> append_all(pqxx::work& tx,
                                         const std::vector<EventDraft>& events) override;
    Result<std::vector<Event>> read(std::int64_t after_id, std::size_t limit,
                                    const std::vector<std::string>& kind_prefixes) override;
    Result<std::unique_ptr<Subscription>> subscribe(
        SubscribeOptions options, std::function<void(pqxx::work&, const Event&)> handler) override;

    //! The key of the order lock (in the SQL functions of events_schema.cpp); the same in
    //! every kernel instance.
    static constexpr std::int64_t kAppendLockKey = 0x756e696465736b02;  // "unidesk" + 2

private:
    Pool& pool_;
    std::shared_ptr<spdlog::logger> log_;
    std::chrono::milliseconds poll_interval_;
};

}  // namespace unidesk::kernel
