#include "db/pool.hpp"

#include "db/db_errors.hpp"

#include <chrono>
#include <optional>
#include <utility>

namespace unidesk::kernel {
namespace {

// Adds libpq's connect_timeout unless the URL sets it already. URLs and key=value strings
// take parameters differently.
std::string with_connect_timeout(const std::string& url, int seconds) {
    if (url.find("connect_timeout") != std::string::npos || seconds <= 0) {
        return url;
    }
    std::string value = std::to_string(seconds);
    bool is_uri = url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
    if (!is_uri) {
        return url + (url.empty() ? "" : " ") + "connect_timeout=" + value;
    }
    return url + (url.find('?') == std::string::npos ? "?" : "&") + "connect_timeout=" + value;
}

}  // namespace

Pool::Pool(DatabaseConfig config, std::shared_ptr<spdlog::logger> log)
    : config_(std::move(config)),
      conninfo_(with_connect_timeout(config_.url, config_.connect_timeout_s)),
      log_(std::move(log)) {
    if (config_.pool_size < 1) {
        config_.pool_size = 1;
    }
}

Pool::~Pool() = default;

void Pool::set_available(bool v, std::string reason) {
    std::vector<std::unique_ptr<pqxx::connection>> dropped;
    {
        std::lock_guard lock(mu_);
        reason_ = v ? std::string{} : std::move(reason);
        available_.store(v);
        if (!v) {
            open_ -= static_cast<int>(idle_.size());
            dropped.swap(idle_);
        }
    }
    // Closing a connection may block on the network; do it outside the lock.
    dropped.clear();
    cv_.notify_all();
}

std::string Pool::unavailable_reason() const {
    std::lock_guard lock(mu_);
    return reason_;
}

std::unique_ptr<pqxx::connection> Pool::connect_direct() const {
    return std::make_unique<pqxx::connection>(conninfo_);
}

PoolStats Pool::stats() const {
    std::lock_guard lock(mu_);
    return PoolStats{config_.pool_size, open_, in_use_, waits_timed_out_};
}

Result<void> Pool::transact_void(const std::function<void(pqxx::work&)>& fn) {
    if (!available_.load()) {
        return make_error(Errc::unavailable, "database_unavailable",
                          "database unavailable: " + unavailable_reason());
    }
    return run(fn);
}

Result<void> Pool::transact_unchecked(const std::function<void(pqxx::work&)>& fn) {
    return run(fn);
}

Result<std::unique_ptr<pqxx::connection>> Pool::acquire() {
    auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.acquire_timeout_ms);
    std::unique_lock lock(mu_);
    while (idle_.empty() && open_ >= config_.pool_size) {
        if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
            open_ >= config_.pool_size) {
            ++waits_timed_out_;
            return make_error(Errc::unavailable, "database_unavailable",
                              "connection pool exhausted: all " +
                                  std::to_string(config_.pool_size) + " connections busy for " +
                                  std::to_string(config_.acquire_timeout_ms) + " ms");
        }
    }
    ++in_use_;
    if (!idle_.empty()) {
        auto conn = std::move(idle_.back());
        idle_.pop_back();
        return conn;
    }

    // Reserve the slot, then connect without holding the lock.
    ++open_;
    lock.unlock();
    try {
        return connect_direct();
    } catch (...) {
        auto failure = classify_db_exception(std::current_exception());
        {
            std::lock_guard relock(mu_);
            --open_;
            --in_use_;
        }
        cv_.notify_one();
        set_available(false, failure.error.message);
        return make_error(Errc::unavailable, "database_unavailable", failure.error.message);
    }
}

void Pool::release(std::unique_ptr<pqxx::connection> conn, bool broken) {
    bool keep = !broken && conn && conn->is_open();
    {
        std::lock_guard lock(mu_);
        --in_use_;
        if (keep) {
            idle_.push_back(std::move(conn));
        } else {
            --open_;
        }
    }
    conn.reset();
    cv_.notify_one();
}

Result<void> Pool::run(const std::function<void(pqxx::work&)>& fn) {
    auto acquired = acquire();
    if (!acquired) {
        return acquired.error();
    }
    auto conn = std::move(*acquired);

    std::optional<DbFailure> failure;
    try {
        pqxx::work tx(*conn);
        fn(tx);
        tx.commit();
    } catch (...) {
        failure = classify_db_exception(std::current_exception());
    }

    bool lost = failure && failure->connection_lost;
    release(std::move(conn), lost);
    if (!failure) {
        return {};
    }
    if (lost) {
        log_->warn("database connection lost reason={}", failure->error.message);
        set_available(false, failure->error.message);
    }
    return failure->error;
}

}  // namespace unidesk::kernel
