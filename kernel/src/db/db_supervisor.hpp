#pragma once

// Keeps the kernel's view of the database true. A thread of its own connects, applies every
// registered namespace's migrations, then marks the Pool available and checks it every
// check_interval_ms. When a check or a pooled connection fails it marks the pool unavailable
// (with the reason) and retries with exponential back-off (retry_initial_ms doubling up to
// retry_max_ms). Owned by the Kernel; started after the plugins declared their migrations.

#include "db/pool.hpp"
#include "unidesk/health.hpp"
#include "unidesk/plugin.hpp"

#include <spdlog/logger.h>

#include <condition_variable>
#include <functional>
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
    //! migrations), e.g. to create the initial admin.
    void on_available(std::function<void()> fn);

    void start();
    void stop();

    //! ok when reachable and migrated; down with the reason otherwise.
    HealthReport health() const;

    //! Blocks until the database is available or the timeout passes (tests, start-up).
    bool wait_available(std::chrono::milliseconds timeout) const;

private:
    void run();
    // ... members as the implementation needs
    Pool& pool_;
    std::shared_ptr<spdlog::logger> log_;
    std::vector<std::pair<std::string, std::vector<Migration>>> migrations_;
    std::vector<std::function<void()>> on_available_;
    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    bool stopping_ = false;
    HealthReport health_{HealthState::down, "not connected yet"};
    std::thread thread_;
};

}  // namespace unidesk::kernel
