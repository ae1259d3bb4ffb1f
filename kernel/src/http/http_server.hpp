#pragma once

// An HTTP/1.1 listener (Boost.Beast, C++20 coroutines). One coroutine per connection on its
// own strand; keep-alive; request bodies limited to max_body_bytes (413 beyond). For each
// request it authenticates a bearer token when one is sent (through Auth, on a worker), checks
// the route's role, runs the handler on the worker pool, and writes the answer. Nothing that
// blocks runs on the io threads. Every answer is counted in Metrics.
//
// Answers the server makes itself, all in HttpResponse::error's shape: 400 `invalid_argument`
// (malformed request), 401 `unauthenticated` (with WWW-Authenticate: Bearer), 403 `forbidden`,
// 404 `not_found`, 405 `method_not_allowed` (with Allow), 413 `too_large`, 500 `internal` (a
// handler threw; the message names the route's owner), 503 (Auth answered `unavailable`).
//
// Owned by the Kernel. start() binds and returns the bound port (0 in config picks a free
// one); stop() closes the acceptor and every idle connection, lets a request being handled
// finish its answer, and waits (up to 10 s) for every connection to end. Call start() and
// stop() from a thread that is not one of the io_context's. The io_context must keep running
// until stop() returns.

#include "http/route_table.hpp"
#include "unidesk/auth.hpp"

#include <spdlog/logger.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
class thread_pool;
}  // namespace boost::asio

namespace unidesk::kernel {

class Metrics;

struct HttpServerOptions {
    Listener listener = Listener::internal;
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::size_t max_body_bytes = 8 * 1024 * 1024;
    //! How long a connection may take to send a whole request, idle time included, and how
    //! long writing an answer may take; beyond it the connection is closed.
    std::chrono::seconds request_timeout{30};
    //! Both set: the listener speaks HTTPS only (TLS 1.2 and later) with this PEM chain and key.
    std::string tls_cert_file;
    std::string tls_key_file;
};

class HttpServer {
public:
    HttpServer(HttpServerOptions options, boost::asio::io_context& io,
               boost::asio::thread_pool& workers, RouteTable& routes, Auth& auth, Metrics& metrics,
               std::shared_ptr<spdlog::logger> log);
    ~HttpServer();

    //! Throws std::system_error when the address cannot be bound and std::runtime_error when
    //! the TLS certificate or key cannot be read (start-up errors).
    std::uint16_t start();
    void stop();

private:
    struct Impl;
    // Shared with the connection coroutines, which may outlive a stop() that gave up waiting.
    std::shared_ptr<Impl> impl_;
};

}  // namespace unidesk::kernel
