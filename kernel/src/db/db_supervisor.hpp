#pragma once

// Keeps the kernel's view of the database true. A thread of its own connects, applies every
// registered namespace's migrations, then marks the Pool available and checks it every
// check_interval_ms. When a check or a pooled connection fails it marks the pool unavailable
// (with the reason) and retries with exponential back-off (retry_initial_ms doubling up to
// retry_max_ms). Owned by the Kernel; started after the plugins declared their migrations.
//
// health() is the supervisor's live view: it was true at most check_interval_ms ago, except
// that a pooled connection found broken in between shows at once (the pool is asked too).
// stop() may wait for a connection attempt in progress (up to connect_timeout_s) or a
// migration that is running; it interrupts every back-off and check wait.

#include "db/pool.hpp"
#include "unidesk/health.hpp"
#include "unidesk/plugin.hpp"

#include <spdlog/logger.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace unidesk::kernel {

class DbSupervisor {
public:
    DbSupervisor(Pool& pool, std::shared_ptr<spdlog::logger> log);
    ~DbSupervisor();  // stops the thread

    //! Before start(): migrations to apply under a namespace, kernel's first.
    void add_migrations(std::string ns, std::vector<Migration> migrations);
    //! Called on the supervisor thread each time the database becomes available (after
    //! migrations), e.g. to create the initial admin. Runs right after the pool is marked
    //! available, so it uses the pool as any caller does. An exception it throws is logged.
    void on_available(std::function<void()> fn);

    void start();
    void stop();

    //! ok when reachable and migrated; down with the reason otherwise.
    HealthReport health() const;

    //! Blocks until the database is available or the timeout passes (tests, start-up).
    bool wait_available(std::chrono::milliseconds timeout) const;

private:
    void run();
    //! Connects and migrates; the check connection on success.
    Result<std::unique_ptr<pqxx::connection>> bring_up();
    void run_callbacks();
    //! Checks `conn` every check_interval_ms until a check fails (its reason) or stop().
    std::string watch(pqxx::connection& conn);
    void mark_up();
    void mark_down(const std::string& reason);
    //! Waits `d` unless stop() comes first; false when stopping.
    bool sleep_for(std::chrono::milliseconds d);

    Pool& pool_;
    std::shared_ptr<spdlog::logger> log_;
    std::vector<std::pair<std::string, std::vector<Migration>>> migrations_;
    std::vector<std::function<void()>> on_available_;
    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    bool stopping_ = false;
    bool down_logged_ = false;  // the current outage was logged already
    HealthReport health_{HealthState::down, "not connected yet"};
    std::thread thread_;
};

}  // namespace unidesk::kernel
