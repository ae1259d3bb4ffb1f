#include "db/db_supervisor.hpp"

#include "db/db_errors.hpp"
#include "db/migrator.hpp"

#include <algorithm>

namespace unidesk::kernel {

DbSupervisor::DbSupervisor(Pool& pool, std::shared_ptr<spdlog::logger> log)
    : pool_(pool), log_(std::move(log)) {}

DbSupervisor::~DbSupervisor() {
    stop();
}

void DbSupervisor::add_migrations(std::string ns, std::vector<Migration> migrations) {
    migrations_.emplace_back(std::move(ns), std::move(migrations));
}

void DbSupervisor::on_available(std::function<void()> fn) {
    on_available_.push_back(std::move(fn));
}

void DbSupervisor::start() {
    {
        std::lock_guard lock(mu_);
        stopping_ = false;
    }
    thread_ = std::thread([this] { run(); });
}

void DbSupervisor::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

HealthReport DbSupervisor::health() const {
    std::lock_guard lock(mu_);
    if (health_.state == HealthState::ok && !pool_.available()) {
        return {HealthState::down, pool_.unavailable_reason()};
    }
    return health_;
}

bool DbSupervisor::wait_available(std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return health_.state == HealthState::ok; });
}

bool DbSupervisor::sleep_for(std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    return !cv_.wait_for(lock, d, [this] { return stopping_; });
}

void DbSupervisor::mark_up() {
    pool_.set_available(true);
    {
        std::lock_guard lock(mu_);
        health_ = HealthReport{HealthState::ok, {}};
        down_logged_ = false;
    }
    cv_.notify_all();
    log_->info("database available");
}

void DbSupervisor::mark_down(const std::string& reason) {
    pool_.set_available(false, reason);
    bool log_it = false;
    {
        std::lock_guard lock(mu_);
        log_it = !down_logged_;
        down_logged_ = true;
        health_ = HealthReport{HealthState::down, reason};
    }
    // Once per change of state: a database down for an hour logs one line, not thousands.
    if (log_it) {
        log_->warn("database unreachable reason={}", reason);
    }
}

Result<std::unique_ptr<pqxx::connection>> DbSupervisor::bring_up() {
    std::unique_ptr<pqxx::connection> conn;
    try {
        conn = pool_.connect_direct();
    } catch (...) {
        return classify_db_exception(std::current_exception()).error;
    }

    for (const auto& [ns, list] : migrations_) {
        auto applied = apply_migrations(pool_, ns, list);
        if (!applied) {
            if (applied.error().code != "database_unavailable") {
                log_->error("migrations failed namespace={} error={}", ns, applied.error().message);
            }
            return applied.error();
        }
        if (*applied > 0) {
            log_->info("migrations applied namespace={} count={}", ns, *applied);
        }
    }
    return conn;
}

void DbSupervisor::run_callbacks() {
    for (const auto& fn : on_available_) {
        try {
            fn();
        } catch (const std::exception& e) {
            log_->error("database available callback failed error={}", e.what());
        }
    }
}

std::string DbSupervisor::watch(pqxx::connection& conn) {
    const auto interval = std::chrono::milliseconds(pool_.config().check_interval_ms);
    while (sleep_for(interval)) {
        // A host that vanished without closing the connection fails this within
        // database.tcp_timeout_s (the pool's connections carry TCP timeouts).
        try {
            pqxx::nontransaction tx(conn);
            tx.exec("SELECT 1");
        } catch (...) {
            return classify_db_exception(std::current_exception()).error.message;
        }

        // A pooled connection broke, yet the database answers: usable again.
        if (!pool_.available()) {
            log_->info("database available again after a broken connection");
            pool_.set_available(true);
        }
    }
    return {};
}

void DbSupervisor::run() {
    const auto initial = std::chrono::milliseconds(std::max(1, pool_.config().retry_initial_ms));
    const auto ceiling = std::max(initial, std::chrono::milliseconds(pool_.config().retry_max_ms));
    auto backoff = initial;

    while (true) {
        {
            std::lock_guard lock(mu_);
            if (stopping_) {
                return;
            }
        }
        auto conn = bring_up();
        if (conn) {
            mark_up();
            run_callbacks();
            backoff = initial;
            std::string reason = watch(**conn);
            if (reason.empty()) {
                return;  // stopping
            }
            mark_down(reason);
        } else {
            mark_down(conn.error().message);
        }

        if (!sleep_for(backoff)) {
            return;
        }
        backoff = std::min(backoff * 2, ceiling);
    }
}

}  // namespace unidesk::kernel
