#pragma once

// The server end of the provider link (docs/reference/provider-protocol.md): a WebSocket
// listener (plain, or TLS with a certificate and key from config) on the provider-ingress
// address at /v1/provider/connect.
//
// Each connection is one coroutine on its own strand: TLS handshake, the HTTP upgrade with
// the node token checked through Auth (on a worker), then `register`, recorded through
// NodeStore (on a worker), answered with `registered`, then heartbeats until the session ends.
// A second coroutine on the same strand is the session's only writer. Nothing a node sends
// blocks an io thread or throws out of a handler: a violation is an `error` frame and a close
// with a reason code, logged at a limited rate.
//
// Heartbeats are noted in memory. A housekeeping thread, every flush_interval, writes them in
// one batch, closes the sessions NodeStore says must end (fenced by a newer session of the
// node, token revoked, marked offline), closes sessions silent for offline_after with 4007,
// and sweeps nodes silent for offline_after to `offline` (one instance at a time). After this
// instance starts, it sweeps only once offline_after has passed, so nodes get one full timeout
// to come back after a kernel restart.
//
// Owned by the Kernel; start() and stop() run on the main thread, not on an io thread. stop()
// closes every session with 1001 going_away and waits (up to 10 s) for them to end; the
// io_context must keep running until it returns. send() and the accessors are thread-safe.

#include "link/node_store.hpp"
#include "unidesk/auth.hpp"
#include "unidesk/clock.hpp"
#include "unidesk/health.hpp"
#include "unidesk/provider_link.hpp"

#include <spdlog/logger.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
class thread_pool;
}  // namespace boost::asio

namespace unidesk::kernel {

struct ProviderOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::string instance;  // this kernel instance's name, recorded with each session
    std::chrono::seconds heartbeat_interval{15};
    std::chrono::seconds offline_after{90};
    std::chrono::milliseconds flush_interval{1000};
    std::chrono::seconds register_timeout{15};
    std::size_t max_frame_bytes = 1024 * 1024;
    std::string tls_cert_file;  // both set: TLS; both empty: plain WebSocket
    std::string tls_key_file;
};

class ProviderServer final : public ProviderLink {
public:
    ProviderServer(ProviderOptions options, boost::asio::io_context& io,
                   boost::asio::thread_pool& workers, Auth& auth, NodeStore& nodes, Clock& clock,
                   std::shared_ptr<spdlog::logger> log);
    ~ProviderServer() override;

    //! Binds and returns the bound port. Throws std::runtime_error when the address cannot be
    //! bound or the TLS certificate or key cannot be read (start-up errors).
    std::uint16_t start();
    void stop();

    //! ok while listening and the last heartbeat batch was written; degraded with the reason
    //! when heartbeats could not be written (the database is down); down when not listening.
    HealthReport health() const;
    //! Registered sessions this instance holds now.
    std::size_t session_count() const;

    //! Sends one frame of `type` to the node's session on this instance. Fails with
    //! `node_offline` (Errc::unavailable) when this instance holds no session of that node, and
    //! with `frame_too_large` (Errc::too_large) for a frame past max_frame_bytes.
    Result<void> send(const std::string& node_name, const std::string& type,
                      const nlohmann::json& body) override;

    //! Task reports go to `handler` on a worker and are acknowledged once it returns ok.
    void set_report_handler(NodeReportHandler handler) override;

private:
    struct Impl;
    // Shared with the connection coroutines, which may outlive a stop() that gave up waiting.
    std::shared_ptr<Impl> impl_;
};

}  // namespace unidesk::kernel
