#pragma once

// The control bus: the append-only `events` table. Appends happen inside the caller's
// transaction, together with the state change they describe. Consumers follow the table by
// id from a durable position (LISTEN/NOTIFY only wakes them), so a restarted consumer misses
// nothing and, because its position advances in the same transaction as its handler's work,
// sees nothing twice.

#include "unidesk/result.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace unidesk {

struct EventDraft {
    std::string kind;  // dotted, e.g. "task.cancel_requested"; listed in docs/reference/events.md
    std::string subject;  // what it is about, e.g. "task:42", "node:gpu-07", "user:3"
    std::string actor;    // who caused it, e.g. "user:alice", "node:gpu-07", "plugin:scheduler"
    nlohmann::json payload = nlohmann::json::object();
};

struct Event {
    std::int64_t id = 0;
    std::chrono::system_clock::time_point at;  // UTC, set by PostgreSQL at append
    std::string kind;
    std::string subject;
    std::string actor;
    nlohmann::json payload;
};

//! Ends a subscription when destroyed or stopped; after stop() returns the handler is not
//! running and will not be called again (a plugin must stop its subscriptions in stop()).
class Subscription {
public:
    virtual ~Subscription() = default;
    virtual void stop() = 0;
};

struct SubscribeOptions {
    std::string consumer;                    // durable name; its position is stored in PostgreSQL
    std::vector<std::string> kind_prefixes;  // empty: every kind; else kinds starting with one
    std::size_t batch_size = 100;
};

//! Thread-safe. Handlers run on the bus's own worker thread (one per subscription), never on a
//! network thread, and may block on the database.
class EventBus {
public:
    virtual ~EventBus() = default;

    //! Appends one event in the caller's transaction and returns its id. Appending
    //! transactions commit in any order, but a reader sees an id only once every smaller id is
    //! final, so a follower reading by id never skips an event committed later with a smaller
    //! id. Throws what pqxx throws (it runs inside Database::transact).
    virtual std::int64_t append(pqxx::work& tx, const EventDraft& event) = 0;

    //! Appends several events in the caller's transaction, in order, and returns their ids;
    //! a bus may do it in one round trip.
    virtual std::vector<std::int64_t> append_all(pqxx::work& tx,
                                                 const std::vector<EventDraft>& events) {
        std::vector<std::int64_t> ids;
        for (const auto& e : events) {
            ids.push_back(append(tx, e));
        }
        return ids;
    }

    //! Events with id > after_id, oldest first, at most limit of them.
    virtual Result<std::vector<Event>> read(std::int64_t after_id, std::size_t limit,
                                            const std::vector<std::string>& kind_prefixes) = 0;

    //! Calls handler for every event after the consumer's saved position, in id order, each in
    //! its own transaction that also advances the position. If the handler throws, that
    //! transaction rolls back and the same event is offered again after a back-off.
    virtual Result<std::unique_ptr<Subscription>> subscribe(
        SubscribeOptions options, std::function<void(pqxx::work&, const Event&)> handler) = 0;
};

}  // namespace unidesk
