#pragma once

// The kernel: builds every component from the config, starts them in order, and stops them in
// reverse. Start-up order: logging (by main) -> workers and io threads -> database pool and
// event bus -> auth -> plugin libraries loaded (their migrations known) -> database supervisor
// (connects, migrates, creates the first admin; retries in the background if the database is
// not there yet) -> core routes -> internal listener -> provider listener -> plugins started ->
// public listener if a plugin routes on it. The kernel never waits for the database to start
// serving: until it is reachable, /health says so and every request that needs it gets a 503.
//
// Owned by main(). start() and stop() run on the main thread.

#include "core/kernel_config.hpp"

#include <chrono>
#include <cstdint>
#include <memory>

namespace unidesk::kernel {

class Kernel {
public:
    explicit Kernel(KernelConfig config);
    ~Kernel();  // stops what still runs

    //! Returns an error for start-up failures that must stop the process: a plugin config
    //! error, a listener address that cannot be bound.
    Result<void> start();
    void stop();

    //! Blocks until SIGINT or SIGTERM, then returns (the caller stops the kernel).
    void wait_for_signal();

    //! The bound internal port (the config may say 0).
    std::uint16_t internal_port() const;
    std::uint16_t public_port() const;
    std::uint16_t provider_port() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace unidesk::kernel
