// unidesk-echo-server: about the smallest WebSocket server Beast makes, the peer against which
// tests/bench/run-link-bench.sh measures what the kernel's provider link costs per connection.
// It accepts the upgrade on any path without looking at the request, then sends every message
// back as it came; it keeps no state beyond the stream and its read buffer.
//
// One thread runs everything: one io_context, one coroutine per connection. It listens on
// loopback only, prints `listening port=N` once bound, and stops on SIGINT or SIGTERM or after
// --max-seconds, whichever comes first.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/program_options.hpp>

#include <sys/resource.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace po = boost::program_options;
namespace websocket = beast::websocket;
using asio::awaitable;
using boost::system::error_code;
using tcp = asio::ip::tcp;

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
constexpr int kMaxSeconds = 3600;

// One accepted connection. Owned by its own coroutine through shared_from_this; runs on the
// one io thread.
class Connection : public std::enable_shared_from_this<Connection> {
public:
    explicit Connection(tcp::socket socket) : ws_(std::move(socket)) {}

    awaitable<void> run() {
        auto self = shared_from_this();
        ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
        auto [aec] = co_await ws_.async_accept(kAwait);
        if (aec) {
            co_return;
        }
        while (true) {
            buffer_.clear();
            auto [rec, n] = co_await ws_.async_read(buffer_, kAwait);
            if (rec) {
                co_return;
            }
            ws_.text(ws_.got_text());
            auto [wec, written] = co_await ws_.async_write(buffer_.data(), kAwait);
            if (wec) {
                co_return;
            }
        }
    }

private:
    websocket::stream<beast::tcp_stream> ws_;
    beast::flat_buffer buffer_;
};

awaitable<void> accept_loop(tcp::acceptor& acceptor) {
    while (acceptor.is_open()) {
        auto [ec, socket] = co_await acceptor.async_accept(kAwait);
        if (ec == asio::error::operation_aborted) {
            co_return;
        }
        if (ec) {
            // Out of descriptors and the like: the load client reports the failed connection.
            std::cerr << "echo-server: accept failed: " << ec.message() << "\n";
            continue;
        }
        auto c = std::make_shared<Connection>(std::move(socket));
        asio::co_spawn(acceptor.get_executor(), c->run(), asio::detached);
    }
}

void raise_fd_limit() {
    rlimit r{};
    if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &r);
    }
}

int serve(const std::string& host, std::uint16_t port, int max_seconds) {
    asio::io_context io(1);
    auto address = asio::ip::make_address(host);
    if (!address.is_loopback()) {
        std::cerr << "echo-server: --host must be a loopback address\n";
        return 2;
    }
    tcp::acceptor acceptor(io);
    tcp::endpoint endpoint(address, port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
    std::cout << "listening port=" << acceptor.local_endpoint().port() << std::endl;

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&io](error_code, int) { io.stop(); });
    asio::steady_timer limit(io, std::chrono::seconds(max_seconds));
    limit.async_wait([&io](error_code ec) {
        if (!ec) {
            std::cerr << "echo-server: --max-seconds reached\n";
            io.stop();
        }
    });
    asio::co_spawn(io, accept_loop(acceptor), asio::detached);
    io.run();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::string host;
    int port = 0;
    int max_seconds = 0;
    po::options_description d("unidesk-echo-server: a minimal WebSocket echo server");
    auto add = d.add_options();
    add("help", "show this help");
    add("host", po::value(&host)->default_value("127.0.0.1"), "loopback address to listen on");
    add("port", po::value(&port)->default_value(0), "port; 0 picks a free one");
    add("max-seconds", po::value(&max_seconds)->default_value(900), "stop after this long");
    try {
        po::variables_map vm;
        po::store(po::parse_command_line(argc, argv, d), vm);
        po::notify(vm);
        if (vm.count("help") != 0) {
            std::cout << d << "\n";
            return 0;
        }
        if (port < 0 || port > 65535 || max_seconds <= 0 || max_seconds > kMaxSeconds) {
            std::cerr << "echo-server: --port must be 0-65535, --max-seconds 1-3600\n";
            return 2;
        }
        raise_fd_limit();
        return serve(host, static_cast<std::uint16_t>(port), max_seconds);
    } catch (const std::exception& e) {
        std::cerr << "echo-server: " << e.what() << "\n";
        return 1;
    }
}
