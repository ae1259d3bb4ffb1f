#include "support/ws_client.hpp"

#include "unidesk/protocol/codec.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <stdexcept>

namespace unidesk::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using boost::system::error_code;

struct WsClient::Impl {
    std::uint16_t port;
    std::chrono::milliseconds timeout;
    asio::io_context io;
    websocket::stream<beast::tcp_stream> ws{io};
    beast::flat_buffer buffer;
    std::string refusal;
    std::uint16_t close_code = 0;
    std::string close_reason;

    // Runs the io_context until `done` or the deadline; a missed deadline cuts the connection.
    void run_until(const bool& done, const char* what) {
        io.restart();
        io.run_for(timeout);
        if (!done) {
            beast::get_lowest_layer(ws).close();
            io.restart();
            io.run_for(std::chrono::seconds(1));
            throw std::runtime_error(std::string("websocket test client: timed out during ") +
                                     what);
        }
    }

    void write(const std::string& frame, bool text) {
        ws.text(text);
        bool done = false;
        error_code result;
        ws.async_write(asio::buffer(frame), [&](error_code ec, std::size_t) {
            result = ec;
            done = true;
        });
        run_until(done, "write");
        if (result) {
            throw std::runtime_error("websocket test client: write failed: " + result.message());
        }
    }
};

WsClient::WsClient(std::uint16_t port, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
    impl_->port = port;
    impl_->timeout = timeout;
}

WsClient::~WsClient() {
    error_code ignored;
    beast::get_lowest_layer(impl_->ws).socket().close(ignored);
}

int WsClient::connect(const std::string& token, const std::string& target) {
    auto& d = *impl_;
    bool done = false;
    error_code result;
    beast::get_lowest_layer(d.ws).async_connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), d.port), [&](error_code ec) {
            result = ec;
            done = true;
        });
    d.run_until(done, "connect");
    if (result) {
        throw std::runtime_error("websocket test client: connect failed: " + result.message());
    }

    d.ws.set_option(websocket::stream_base::decorator([token](websocket::request_type& req) {
        if (!token.empty()) {
            req.set(http::field::authorization, "Bearer " + token);
        }
    }));
    websocket::response_type res;
    done = false;
    d.ws.async_handshake(res, "127.0.0.1", target, [&](error_code ec) {
        result = ec;
        done = true;
    });
    d.run_until(done, "upgrade");
    if (result && res.result_int() == 0) {
        throw std::runtime_error("websocket test client: upgrade failed: " + result.message());
    }
    d.refusal = res.body();
    return res.result_int();
}

const std::string& WsClient::refusal_body() const {
    return impl_->refusal;
}

void WsClient::send_text(const std::string& frame) {
    impl_->write(frame, true);
}

void WsClient::send_binary(const std::string& frame) {
    impl_->write(frame, false);
}

std::optional<std::string> WsClient::read() {
    auto& d = *impl_;
    d.buffer.clear();
    bool done = false;
    error_code result;
    d.ws.async_read(d.buffer, [&](error_code ec, std::size_t) {
        result = ec;
        done = true;
    });
    d.run_until(done, "read");
    if (result) {
        d.close_code = static_cast<std::uint16_t>(d.ws.reason().code);
        d.close_reason = std::string(d.ws.reason().reason.c_str());
        return std::nullopt;
    }
    return beast::buffers_to_string(d.buffer.data());
}

std::uint16_t WsClient::close_code() const {
    return impl_->close_code;
}

const std::string& WsClient::close_reason() const {
    return impl_->close_reason;
}

std::string WsClient::register_frame(const std::string& node, const std::string& id) {
    protocol::Register r;
    r.node_name = node;
    r.agent_version = "0.0.0-test";
    r.os = "linux";
    r.arch = "x86_64";
    r.cpu_cores = 4;
    r.memory_bytes = 8ull << 30;
    r.disk_bytes = 100ull << 30;
    r.gpus.push_back({0, "Test GPU", 16ull << 30, ""});
    r.labels["site"] = "test";
    return protocol::encode({id, std::nullopt, protocol::kProtocolVersion, r});
}

std::string WsClient::heartbeat_frame(std::uint64_t seq, const std::string& id) {
    return protocol::encode(
        {id, std::nullopt, protocol::kProtocolVersion, protocol::Heartbeat{seq, {}}});
}

}  // namespace unidesk::test
