#pragma once

// The EventBus on PostgreSQL: table `events (id bigserial, at timestamptz, kind, subject,
// actor, payload jsonb)` and `event_consumers (name, position)`.
//
// append() takes a transaction-scoped advisory lock before taking the next id, so ids become
// visible in id order and a follower that reads `id > position` can never skip an event that
// commits later with a smaller id. It also sends NOTIFY on channel `unidesk_events`
// (delivered at commit) to wake followers.
//
// Each subscription runs one thread with its own LISTEN connection. On a notification, or
// every poll interval at the latest (a lost notification costs at most that delay), it reads
// the next batch after its position and calls the handler for each event in a transaction
// that also stores the new position. Owned by the Kernel; all subscriptions must be stopped
// before it is destroyed.

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
    Result<std::vector<Event>> read(std::int64_t after_id, std::size_t limit,
                                    const std::vector<std::string>& kind_prefixes) override;
    Result<std::unique_ptr<Subscription>> subscribe(
        SubscribeOptions options, std::function<void(pqxx::work&, const Event&)> handler) override;

private:
    Pool& pool_;
    std::shared_ptr<spdlog::logger> log_;
    std::chrono::milliseconds poll_interval_;
};

}  // namespace unidesk::kernel
