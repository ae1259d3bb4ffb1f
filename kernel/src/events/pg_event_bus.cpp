#include "events/pg_event_bus.hpp"

#include "db/db_errors.hpp"

#include <algorithm>
#include <atomic>
#include <thread>

namespace unidesk::kernel {
namespace {

using std::chrono::milliseconds;
using Handler = std::function<void(pqxx::work&, const Event&)>;

constexpr const char* kChannel = "unidesk_events";
constexpr milliseconds kHandlerBackoffInitial{100};
constexpr milliseconds kDbBackoffInitial{250};
constexpr milliseconds kBackoffMax{10000};
constexpr milliseconds kWaitSlice{100};  // how often a waiting subscription checks for stop()
constexpr auto kFailureLogEvery = std::chrono::seconds(10);

constexpr const char* kEventColumns =
    "SELECT id, (extract(epoch FROM at) * 1000000)::bigint, kind, subject, actor, "
    "payload::text FROM events";

Event to_event(const pqxx::row& row) {
    Event e;
    e.id = row[0].as<std::int64_t>();
    e.at = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::microseconds(row[1].as<std::int64_t>())));
    e.kind = row[2].as<std::string>();
    e.subject = row[3].as<std::string>();
    e.actor = row[4].as<std::string>();
    e.payload = nlohmann::json::parse(row[5].as<std::string>());
    return e;
}

// The highest id below which every id is final. Run it in a short transaction of its own: the
// order lock it takes exclusively is held until that transaction ends.
// TODO: it waits for every appending transaction in flight, so one that appends early and then
// runs long holds up every reader, and the appends queued behind the reader (10 s at most).
std::int64_t read_horizon(pqxx::transaction_base& tx) {
    return tx.exec1("SELECT unidesk_events_horizon()")[0].as<std::int64_t>();
}

std::vector<Event> read_events(pqxx::transaction_base& tx, std::int64_t after_id,
                               std::int64_t up_to, std::size_t limit,
                               const std::vector<std::string>& prefixes) {
    std::string sql = std::string(kEventColumns) + " WHERE id > $1 AND id <= $2";
    if (!prefixes.empty()) {
        std::string any;
        for (const auto& p : prefixes) {
            any +=
                (any.empty() ? "" : " OR ") + std::string("starts_with(kind, ") + tx.quote(p) + ")";
        }
        sql += " AND (" + any + ")";
    }
    sql += " ORDER BY id LIMIT $3";

    std::vector<Event> out;
    for (const auto& row : tx.exec_params(sql, after_id, up_to, static_cast<std::int64_t>(limit))) {
        out.push_back(to_event(row));
    }
    return out;
}

// Sets a flag when the bus's channel fires; runs on the subscription thread inside
// await_notification().
class Wakeup final : public pqxx::notification_receiver {
public:
    explicit Wakeup(pqxx::connection_base& c) : pqxx::notification_receiver(c, kChannel) {}
    void operator()(const std::string&, int) override { fired = true; }
    bool fired = false;
};

// One follower: its thread, its LISTEN connection, its position in event_consumers.
class PgSubscription final : public Subscription {
public:
    PgSubscription(Pool& pool, std::shared_ptr<spdlog::logger> log, milliseconds poll,
                   SubscribeOptions options, Handler handler)
        : pool_(pool),
          log_(std::move(log)),
          poll_(poll),
          options_(std::move(options)),
          handler_(std::move(handler)) {}

    ~PgSubscription() override { stop(); }

    void start() {
        thread_ = std::thread([this] { run(); });
    }

    void stop() override {
        {
            std::lock_guard lock(mu_);
            stopping_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) {
            thread_.join();
        }
    }

private:
    enum class Step { more, moved, idle, handler_failed, db_failed };

    void run();
    bool ensure_connected();
    Step run_batch();
    Step handle_one(const Event& event, std::int64_t expected_position);
    void wait_for_wakeup();
    void db_failed(const std::string& reason);
    void handler_failed(const Event& event, const std::string& reason);

    bool stopping() {
        std::lock_guard lock(mu_);
        return stopping_;
    }

    // Waits d unless stop() comes first; false when stopping.
    bool sleep_for(milliseconds d) {
        std::unique_lock lock(mu_);
        return !cv_.wait_for(lock, d, [this] { return stopping_; });
    }

    Pool& pool_;
    std::shared_ptr<spdlog::logger> log_;
    milliseconds poll_;
    SubscribeOptions options_;
    Handler handler_;

    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::thread thread_;

    // Only the subscription thread touches these. The receiver goes before its connection.
    std::unique_ptr<pqxx::connection> conn_;
    std::unique_ptr<Wakeup> wakeup_;
    milliseconds db_backoff_ = kDbBackoffInitial;
    milliseconds handler_backoff_ = kHandlerBackoffInitial;
    bool outage_logged_ = false;
    std::int64_t failing_event_ = 0;
    std::chrono::steady_clock::time_point failure_logged_at_{};
};

void PgSubscription::run() {
    while (!stopping()) {
        if (!ensure_connected()) {
            if (!sleep_for(db_backoff_)) {
                break;
            }
            db_backoff_ = std::min(db_backoff_ * 2, kBackoffMax);
            continue;
        }

        wakeup_->fired = false;
        switch (run_batch()) {
        case Step::more:
        case Step::moved: break;
        case Step::idle: wait_for_wakeup(); break;
        case Step::handler_failed:
            sleep_for(handler_backoff_);
            handler_backoff_ = std::min(handler_backoff_ * 2, kBackoffMax);
            break;
        case Step::db_failed:
            sleep_for(db_backoff_);
            db_backoff_ = std::min(db_backoff_ * 2, kBackoffMax);
            break;
        }
    }
    wakeup_.reset();
    conn_.reset();
}

bool PgSubscription::ensure_connected() {
    // The pool is unavailable until the supervisor saw the database answer and migrated it.
    if (!pool_.available()) {
        db_failed("database unavailable: " + pool_.unavailable_reason());
        return false;
    }
    if (conn_) {
        return true;
    }
    try {
        conn_ = pool_.connect_direct();
        wakeup_ = std::make_unique<Wakeup>(*conn_);
        pqxx::work tx(*conn_);
        tx.exec_params("INSERT INTO event_consumers (name) VALUES ($1) ON CONFLICT DO NOTHING",
                       options_.consumer);
        tx.commit();
    } catch (...) {
        db_failed(classify_db_exception(std::current_exception()).error.message);
        return false;
    }
    if (outage_logged_) {
        log_->info("event subscription reconnected consumer={}", options_.consumer);
        outage_logged_ = false;
    }
    db_backoff_ = kDbBackoffInitial;
    return true;
}

void PgSubscription::db_failed(const std::string& reason) {
    wakeup_.reset();
    conn_.reset();
    if (!outage_logged_) {
        log_->warn("event subscription waiting for the database consumer={} reason={}",
                   options_.consumer, reason);
        outage_logged_ = true;
    }
}

void PgSubscription::handler_failed(const Event& event, const std::string& reason) {
    auto now = std::chrono::steady_clock::now();
    if (event.id != failing_event_ || now - failure_logged_at_ >= kFailureLogEvery) {
        log_->warn("event handler failed consumer={} event={} kind={} error={}", options_.consumer,
                   event.id, event.kind, reason);
        failing_event_ = event.id;
        failure_logged_at_ = now;
    }
}

PgSubscription::Step PgSubscription::run_batch() {
    std::int64_t position = 0;
    std::vector<Event> batch;
    try {
        std::int64_t up_to = 0;
        {
            pqxx::work h(*conn_);
            up_to = read_horizon(h);
            h.commit();
        }
        pqxx::work tx(*conn_);
        tx.exec_params("INSERT INTO event_consumers (name) VALUES ($1) ON CONFLICT DO NOTHING",
                       options_.consumer);
        position = tx.exec_params1("SELECT position FROM event_consumers WHERE name = $1",
                                   options_.consumer)[0]
                       .as<std::int64_t>();
        batch = read_events(tx, position, up_to, std::max<std::size_t>(1, options_.batch_size),
                            options_.kind_prefixes);
        tx.commit();
    } catch (...) {
        db_failed(classify_db_exception(std::current_exception()).error.message);
        return Step::db_failed;
    }

    // TODO: with kind_prefixes the position only moves on matching events, so a consumer
    // interested in rare kinds rescans the non-matching rows after its position on every batch;
    // cheap while the index on id serves it, wasteful on a very long tail.
    for (const auto& event : batch) {
        if (stopping()) {
            return Step::more;
        }
        auto step = handle_one(event, position);
        if (step == Step::moved) {
            return Step::more;  // read again from the new position
        }
        if (step != Step::more) {
            return step;
        }
        position = event.id;
    }
    return batch.size() >= options_.batch_size ? Step::more : Step::idle;
}

PgSubscription::Step PgSubscription::handle_one(const Event& event, std::int64_t expected) {
    try {
        pqxx::work tx(*conn_);
        // The row lock orders subscriptions sharing this consumer; a moved position means
        // another one handled the event meanwhile.
        auto current =
            tx.exec_params1("SELECT position FROM event_consumers WHERE name = $1 FOR UPDATE",
                            options_.consumer)[0]
                .as<std::int64_t>();
        if (current != expected) {
            return Step::moved;
        }
        handler_(tx, event);
        tx.exec_params(
            "UPDATE event_consumers SET position = $2, updated_at = now() WHERE name = $1",
            options_.consumer, event.id);
        tx.commit();
    } catch (...) {
        auto failure = classify_db_exception(std::current_exception());
        if (failure.connection_lost) {
            db_failed(failure.error.message);
            return Step::db_failed;
        }
        handler_failed(event, failure.error.message);
        return Step::handler_failed;
    }
    handler_backoff_ = kHandlerBackoffInitial;
    return Step::more;
}

void PgSubscription::wait_for_wakeup() {
    auto deadline = std::chrono::steady_clock::now() + poll_;
    try {
        while (!wakeup_->fired && !stopping() && std::chrono::steady_clock::now() < deadline) {
            conn_->await_notification(0, std::chrono::microseconds(kWaitSlice).count());
        }
    } catch (...) {
        db_failed(classify_db_exception(std::current_exception()).error.message);
    }
}

}  // namespace

PgEventBus::PgEventBus(Pool& pool, std::shared_ptr<spdlog::logger> log,
                       std::chrono::milliseconds poll_interval)
    : pool_(pool), log_(std::move(log)), poll_interval_(poll_interval) {}

PgEventBus::~PgEventBus() = default;

std::int64_t PgEventBus::append(pqxx::work& tx, const EventDraft& event) {
    return append_all(tx, {event}).at(0);
}

std::vector<std::int64_t> PgEventBus::append_all(pqxx::work& tx,
                                                 const std::vector<EventDraft>& events) {
    std::vector<std::int64_t> ids;
    if (events.empty()) {
        return ids;
    }
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& e : events) {
        if (e.kind.empty()) {
            throw ResultError(
                make_error(Errc::invalid_argument, "event_invalid", "an event needs a kind"));
        }
        rows.push_back(
            {{"kind", e.kind}, {"subject", e.subject}, {"actor", e.actor}, {"payload", e.payload}});
    }
    // One round trip: the order lock taken shared, the rows, and the wake-up (sent at commit).
    for (const auto& r : exec_prepared(tx, "unidesk_append_events",
                                       "SELECT unidesk_append_events($1::jsonb)", rows.dump())) {
        ids.push_back(r[0].as<std::int64_t>());
    }
    return ids;
}

Result<std::vector<Event>> PgEventBus::read(std::int64_t after_id, std::size_t limit,
                                            const std::vector<std::string>& kind_prefixes) {
    auto up_to = pool_.transact([](pqxx::work& tx) { return read_horizon(tx); });
    if (!up_to) {
        return up_to.error();
    }
    return pool_.transact(
        [&](pqxx::work& tx) { return read_events(tx, after_id, *up_to, limit, kind_prefixes); });
}

Result<std::unique_ptr<Subscription>> PgEventBus::subscribe(
    SubscribeOptions options, std::function<void(pqxx::work&, const Event&)> handler) {
    if (options.consumer.empty() || !handler) {
        return make_error(Errc::invalid_argument, "subscription_invalid",
                          "a subscription needs a consumer name and a handler");
    }
    options.batch_size = std::max<std::size_t>(1, options.batch_size);
    auto sub = std::make_unique<PgSubscription>(pool_, log_, poll_interval_, std::move(options),
                                                std::move(handler));
    sub->start();
    return std::unique_ptr<Subscription>(std::move(sub));
}

}  // namespace unidesk::kernel
