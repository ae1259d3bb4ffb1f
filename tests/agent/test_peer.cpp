#include "agent/test_peer.hpp"

#include "unidesk/protocol/codec.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

namespace unidesk::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::ip::tcp;
using boost::system::error_code;

using Ws = websocket::stream<beast::tcp_stream>;

// One connection's writes, one at a time, in order (io thread only).
struct PeerSession {
    Ws* ws = nullptr;
    std::deque<std::string> queue;
    bool writing = false;
};

struct TestPeer::Impl {
    std::string token;
    std::uint16_t close_code;
    asio::io_context io;
    tcp::acceptor acceptor{io};
    std::thread thread;
    std::set<beast::tcp_stream*> open;    // touched on the io thread only
    std::shared_ptr<PeerSession> newest;  // io thread only
    std::atomic<bool> auto_ack{true};

    mutable std::mutex mu;
    std::condition_variable cv;
    std::vector<protocol::Message> received;
    int unauthorized = 0;
    bool stopped = false;

    void record(protocol::Message m) {
        std::lock_guard lock(mu);
        received.push_back(std::move(m));
        cv.notify_all();
    }

    asio::awaitable<void> accept_loop() {
        while (true) {
            error_code ec;
            tcp::socket s =
                co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
            if (ec) {
                co_return;
            }
            // The stream goes in by pointer: g++ 12 coroutines mishandle non-trivial by-value
            // parameters.
            auto ws = std::make_unique<websocket::stream<beast::tcp_stream>>(std::move(s));
            asio::co_spawn(io, session(std::move(ws)), asio::detached);
        }
    }

    asio::awaitable<void> session(std::unique_ptr<websocket::stream<beast::tcp_stream>> ws) {
        auto* lowest = &beast::get_lowest_layer(*ws);
        open.insert(lowest);
        auto s = std::make_shared<PeerSession>();
        s->ws = ws.get();
        co_await serve(*ws, s);
        s->ws = nullptr;
        open.erase(lowest);
        // Let a write in progress finish failing before the stream goes.
        while (s->writing) {
            asio::steady_timer t(io, std::chrono::milliseconds(5));
            co_await t.async_wait(asio::use_awaitable);
        }
    }

    // io thread only.
    void enqueue(const std::shared_ptr<PeerSession>& s, std::string frame) {
        s->queue.push_back(std::move(frame));
        if (!s->writing) {
            s->writing = true;
            asio::co_spawn(io, drain(s), asio::detached);
        }
    }

    asio::awaitable<void> drain(std::shared_ptr<PeerSession> s) {
        error_code ec;
        while (!s->queue.empty() && s->ws && !ec) {
            const std::string frame = std::move(s->queue.front());
            s->queue.pop_front();
            s->ws->text(true);
            co_await s->ws->async_write(asio::buffer(frame),
                                        asio::redirect_error(asio::use_awaitable, ec));
        }
        s->writing = false;
    }

    std::string frame_of(protocol::Body body, std::optional<std::string> re = std::nullopt) {
        protocol::Message m{"s-" + std::to_string(++next_id), std::move(re),
                            protocol::kProtocolVersion, std::move(body)};
        return protocol::encode(m);
    }
    std::uint64_t next_id = 0;

    asio::awaitable<void> serve(websocket::stream<beast::tcp_stream>& ws,
                                std::shared_ptr<PeerSession> s) {
        error_code ec;
        auto on = asio::redirect_error(asio::use_awaitable, ec);
        beast::flat_buffer buf;
        http::request<http::string_body> req;
        co_await http::async_read(ws.next_layer(), buf, req, on);
        if (ec) {
            co_return;
        }
        if (req[http::field::authorization] != "Bearer " + token) {
            {
                std::lock_guard lock(mu);
                ++unauthorized;
                cv.notify_all();
            }
            http::response<http::string_body> res{http::status::unauthorized, req.version()};
            res.body() = "unauthenticated";
            res.prepare_payload();
            co_await http::async_write(ws.next_layer(), res, on);
            co_return;
        }
        co_await ws.async_accept(req, on);

        while (!ec) {
            buf.clear();
            co_await ws.async_read(buf, on);
            if (ec) {
                co_return;
            }
            auto msg = protocol::decode(beast::buffers_to_string(buf.data()));
            if (!msg) {
                continue;
            }
            const bool is_register = std::holds_alternative<protocol::Register>(msg->body);
            const std::string id = msg->id;
            std::optional<protocol::TaskAck> ack;
            if (const auto* st = std::get_if<protocol::TaskStatus>(&msg->body)) {
                ack = protocol::TaskAck{st->attempt_id, st->seq};
            } else if (const auto* lg = std::get_if<protocol::TaskLog>(&msg->body)) {
                ack = protocol::TaskAck{lg->attempt_id, lg->seq};
            }
            record(std::move(*msg));
            if (ack && auto_ack) {
                enqueue(s, frame_of(*ack));
            }
            if (is_register) {
                newest = s;
                enqueue(s, frame_of(protocol::Registered{1, 1, "2024-01-01T00:00:00Z"}, id));
                if (close_code != 0) {
                    while (s->writing) {
                        asio::steady_timer t(io, std::chrono::milliseconds(5));
                        co_await t.async_wait(on);
                    }
                    websocket::close_reason reason(close_code);
                    reason.reason = "token_revoked";
                    co_await ws.async_close(reason, on);
                }
            }
        }
    }
};

TestPeer::TestPeer(std::string token, unsigned short port, std::uint16_t close_code)
    : impl_(std::make_unique<Impl>()) {
    impl_->token = std::move(token);
    impl_->close_code = close_code;
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    // A restart on the same port may find the old connections still closing; retry a while.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (true) {
        error_code ec;
        impl_->acceptor.open(ep.protocol());
        impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
        impl_->acceptor.bind(ep, ec);
        if (!ec) {
            break;
        }
        impl_->acceptor.close();
        if (std::chrono::steady_clock::now() > until) {
            throw boost::system::system_error(ec, "test peer bind");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    impl_->acceptor.listen();
    asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
    impl_->thread = std::thread([this] { impl_->io.run(); });
}

TestPeer::~TestPeer() {
    stop();
}

unsigned short TestPeer::port() const {
    return impl_->acceptor.local_endpoint().port();
}

void TestPeer::stop() {
    if (impl_->stopped) {
        return;
    }
    impl_->stopped = true;
    asio::post(impl_->io, [impl = impl_.get()] {
        error_code ignored;
        impl->acceptor.close(ignored);
        for (auto* s : impl->open) {
            s->socket().close(ignored);
        }
        impl->io.stop();
    });
    impl_->thread.join();
}

bool TestPeer::wait_for(const std::function<bool(const std::vector<protocol::Message>&)>& pred,
                        std::chrono::milliseconds deadline) {
    std::unique_lock lock(impl_->mu);
    return impl_->cv.wait_for(lock, deadline, [&] { return pred(impl_->received); });
}

bool TestPeer::send(protocol::Body body) {
    std::promise<bool> sent;
    auto done = sent.get_future();
    asio::post(impl_->io, [&] {
        auto s = impl_->newest;
        if (!s || !s->ws) {
            sent.set_value(false);
            return;
        }
        impl_->enqueue(s, impl_->frame_of(std::move(body)));
        sent.set_value(true);
    });
    return done.get();
}

void TestPeer::set_auto_ack(bool on) {
    impl_->auto_ack = on;
}

std::vector<protocol::Message> TestPeer::received() const {
    std::lock_guard lock(impl_->mu);
    return impl_->received;
}

bool TestPeer::wait_unauthorized(int n, std::chrono::milliseconds deadline) {
    std::unique_lock lock(impl_->mu);
    return impl_->cv.wait_for(lock, deadline, [&] { return impl_->unauthorized >= n; });
}

std::size_t count_type(const std::vector<protocol::Message>& msgs, std::string_view type) {
    std::size_t n = 0;
    for (const auto& m : msgs) {
        n += protocol::type_name(m.body) == type ? 1 : 0;
    }
    return n;
}

}  // namespace unidesk::test
