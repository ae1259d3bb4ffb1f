#include "db/pool.hpp"

#include "db/db_errors.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>
#include <vector>

namespace unidesk::kernel {
namespace {

// Adds libpq parameters the URL does not set itself. URLs and key=value strings take
// parameters differently.
std::string with_defaults(std::string url,
                          const std::vector<std::pair<std::string, std::string>>& params) {
    const bool is_uri = url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
    for (const auto& [key, value] : params) {
        if (url.find(key + "=") != std::string::npos) {
            continue;
        }
        if (!is_uri) {
            url += (url.empty() ? "" : " ") + key + "=" + value;
        } else {
            url += (url.find('?') == std::string::npos ? "?" : "&") + key + "=" + value;
        }
    }
    return url;
}

// How long to wait for a new connection, and when an open one counts as broken: what the
// kernel sent stays unacknowledged for tcp_timeout_s (tcp_user_timeout), or an idle connection
// stops answering keepalive probes. Without these a database host that vanishes without closing
// its connections leaves queries and the health check waiting until the TCP stack gives up,
// many minutes later.
std::string conninfo_of(const DatabaseConfig& c) {
    std::vector<std::pair<std::string, std::string>> params;
    if (c.connect_timeout_s > 0) {
        params.emplace_back("connect_timeout", std::to_string(c.connect_timeout_s));
    }
    if (c.tcp_timeout_s > 0) {
        const auto probe = std::to_string(std::max(1, c.tcp_timeout_s / 3));
        params.insert(params.end(), {{"keepalives", "1"},
                                     {"keepalives_idle", probe},
                                     {"keepalives_interval", probe},
                                     {"keepalives_count", "3"},
                                     {"tcp_user_timeout", std::to_string(c.tcp_timeout_s * 1000)}});
    }
    return with_defaults(c.url, params);
}

}  // namespace

Pool::Pool(DatabaseConfig config, std::shared_ptr<spdlog::logger> log)
    : config_(std::move(config)), conninfo_(conninfo_of(config_)), log_(std::move(log)) {
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
