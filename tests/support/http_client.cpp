#include "support/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <optional>
#include <stdexcept>

namespace unidesk::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// Synchronous calls on top of async operations: the stream's expiry gives every step a
// deadline, which plain blocking sockets do not have.
struct HttpClient::Impl {
    std::string host;
    std::uint16_t port;
    std::chrono::milliseconds timeout;
    asio::io_context io;
    std::optional<beast::tcp_stream> stream;
    beast::flat_buffer buffer;
    int opened = 0;

    template <class Start>
    void run(const char* what, Start start) {
        error_code result;
        bool done = false;
        start([&](error_code ec, auto&&...) {
            result = ec;
            done = true;
        });
        io.restart();
        io.run();
        if (!done || result) {
            stream.reset();
            throw std::runtime_error(std::string("http client: ") + what +
                                     " failed: " + (done ? result.message() : "did not finish"));
        }
    }

    void connect() {
        stream.emplace(io);
        buffer.clear();
        tcp::endpoint endpoint(asio::ip::make_address(host), port);
        stream->expires_after(timeout);
        run("connect", [&](auto handler) { stream->async_connect(endpoint, handler); });
        ++opened;
    }
};

HttpClient::HttpClient(std::string host, std::uint16_t port, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
    impl_->host = std::move(host);
    impl_->port = port;
    impl_->timeout = timeout;
}

HttpClient::~HttpClient() = default;

HttpClientResponse HttpClient::request(const std::string& method, const std::string& target,
                                       const std::string& body,
                                       const std::map<std::string, std::string>& headers) {
    auto& d = *impl_;
    if (!d.stream || !d.stream->socket().is_open()) {
        d.connect();
    }

    http::request<http::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    req.set(http::field::host, d.host + ":" + std::to_string(d.port));
    for (const auto& [name, value] : headers) {
        req.set(name, value);
    }
    req.body() = body;
    req.prepare_payload();

    d.stream->expires_after(d.timeout);
    d.run("write", [&](auto handler) { http::async_write(*d.stream, req, handler); });

    http::response_parser<http::string_body> parser;
    parser.body_limit(boost::none);
    d.stream->expires_after(d.timeout);
    d.run("read", [&](auto handler) { http::async_read(*d.stream, d.buffer, parser, handler); });

    auto res = parser.release();
    HttpClientResponse out;
    out.status = res.result_int();
    for (const auto& field : res.base()) {
        std::string name(field.name_string());
        for (auto& c : name) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        out.headers[name] = std::string(field.value());
    }
    out.body = std::move(res.body());
    if (!res.keep_alive()) {
        close();
    }
    return out;
}

std::string HttpClient::send_raw(const std::string& bytes) {
    auto& d = *impl_;
    d.connect();
    d.stream->expires_after(d.timeout);
    d.run("raw write",
          [&](auto handler) { asio::async_write(*d.stream, asio::buffer(bytes), handler); });

    std::string received;
    d.stream->expires_after(d.timeout);
    for (;;) {
        std::array<char, 4096> chunk{};
        error_code result;
        std::size_t n = 0;
        d.stream->async_read_some(asio::buffer(chunk), [&](error_code ec, std::size_t got) {
            result = ec;
            n = got;
        });
        d.io.restart();
        d.io.run();
        received.append(chunk.data(), n);
        if (result == beast::error::timeout) {
            throw std::runtime_error("http client: raw read timed out");
        }
        if (result) {
            break;
        }
    }
    close();
    return received;
}

int HttpClient::connections_opened() const {
    return impl_->opened;
}

void HttpClient::close() {
    if (impl_->stream) {
        error_code ignored;
        impl_->stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
        impl_->stream->close();
        impl_->stream.reset();
    }
}

}  // namespace unidesk::test
