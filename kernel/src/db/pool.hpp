#pragma once

// The PostgreSQL connection pool and the kernel's Database implementation.
//
// Owned by the Kernel. Thread-safe; every method blocks and must run on a blocking worker,
// never on a network thread. Connections are made lazily and remade after they break; a
// broken connection marks the pool unavailable until the DbSupervisor sees the database
// answer again. Nothing here answers from memory: while unavailable, transact() fails at
// once with `database_unavailable`.
//
// A pooled connection that throws pqxx::broken_connection is dropped, and the pool is marked
// unavailable with the reason; when marked unavailable it also drops its idle connections,
// since after an outage they are most likely dead too.

#include "core/kernel_config.hpp"
#include "unidesk/database.hpp"

#include <spdlog/logger.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace unidesk::kernel {

struct PoolStats {
    int size = 0;    // configured maximum
    int open = 0;    // connections currently open
    int in_use = 0;  // lent out right now
    std::uint64_t waits_timed_out = 0;
};

class Pool final : public Database {
public:
    Pool(DatabaseConfig config, std::shared_ptr<spdlog::logger> log);
    ~Pool() override;

    Result<void> transact_void(const std::function<void(pqxx::work&)>& fn) override;
    bool available() const override { return available_.load(); }

    //! Set by the DbSupervisor once the database answers and migrations are applied, and
    //! cleared by it (or by a broken connection) when it stops answering.
    void set_available(bool v, std::string reason = {});
    std::string unavailable_reason() const;

    //! A fresh connection outside the pool, for LISTEN and for the supervisor's checks.
    //! Throws pqxx::broken_connection when the database cannot be reached.
    std::unique_ptr<pqxx::connection> connect_direct() const;

    //! Runs fn in a transaction even while the pool is marked unavailable; used by the
    //! supervisor to apply migrations before it declares the database available.
    Result<void> transact_unchecked(const std::function<void(pqxx::work&)>& fn);

    PoolStats stats() const;
    const DatabaseConfig& config() const { return config_; }

private:
    //! Lends a connection: an idle one, a new one while fewer than pool_size are open, or the
    //! first one returned within acquire_timeout_ms.
    Result<std::unique_ptr<pqxx::connection>> acquire();
    void release(std::unique_ptr<pqxx::connection> conn, bool broken);
    Result<void> run(const std::function<void(pqxx::work&)>& fn);

    DatabaseConfig config_;
    std::string conninfo_;  // config_.url with connect and TCP timeouts added
    std::shared_ptr<spdlog::logger> log_;
    std::atomic<bool> available_{false};
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::unique_ptr<pqxx::connection>> idle_;
    int open_ = 0;
    int in_use_ = 0;
    std::uint64_t waits_timed_out_ = 0;
    std::string reason_ = "not connected yet";
};

}  // namespace unidesk::kernel
