#include "canned_http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace unidesk::test {

namespace {

int bind_loopback(std::uint16_t& port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        throw std::runtime_error("cannot bind a loopback socket");
    }
    port = ntohs(addr.sin_port);
    return fd;
}

//! Reads more bytes into buf; false on end, error, or five seconds of silence.
bool read_more(int fd, std::string& buf) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) {
        return false;
    }
    char chunk[4096];
    const auto n = ::read(fd, chunk, sizeof chunk);
    if (n <= 0) {
        return false;
    }
    buf.append(chunk, static_cast<std::size_t>(n));
    return true;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

RecordedRequest parse_head(const std::string& head) {
    RecordedRequest req;
    std::size_t line_end = head.find("\r\n");
    const std::string first = head.substr(0, line_end);
    const auto sp1 = first.find(' ');
    const auto sp2 = first.find(' ', sp1 + 1);
    req.method = first.substr(0, sp1);
    req.target = first.substr(sp1 + 1, sp2 - sp1 - 1);

    while (line_end != std::string::npos && line_end + 2 < head.size()) {
        const auto start = line_end + 2;
        line_end = head.find("\r\n", start);
        const std::string line = head.substr(start, line_end - start);
        const auto colon = line.find(':');
        if (colon != std::string::npos) {
            const auto value_start = line.find_first_not_of(' ', colon + 1);
            req.headers[lower(line.substr(0, colon))] =
                value_start == std::string::npos ? "" : line.substr(value_start);
        }
    }
    return req;
}

}  // namespace

CannedHttpServer::CannedHttpServer() {
    listen_fd_ = bind_loopback(port_);
    if (::listen(listen_fd_, 16) != 0) {
        throw std::runtime_error("cannot listen on a loopback socket");
    }
    thread_ = std::thread([this] { serve(); });
}

CannedHttpServer::~CannedHttpServer() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
}

void CannedHttpServer::answer(const std::string& method, const std::string& target, int status,
                              std::string body) {
    std::lock_guard lock(mu_);
    answers_[{method, target}] = {status, std::move(body)};
}

std::vector<RecordedRequest> CannedHttpServer::requests() const {
    std::lock_guard lock(mu_);
    return requests_;
}

void CannedHttpServer::serve() {
    // Wakes every 50 ms to notice stop_; a connection is served to its end before the next.
    while (!stop_) {
        pollfd p{listen_fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) {
            continue;
        }
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) {
            handle(fd);
            ::close(fd);
        }
    }
}

void CannedHttpServer::handle(int fd) {
    std::string buf;
    std::size_t head_end = std::string::npos;
    while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
        if (!read_more(fd, buf)) {
            return;
        }
    }
    RecordedRequest req = parse_head(buf.substr(0, head_end));
    const auto length_it = req.headers.find("content-length");
    const std::size_t length = length_it == req.headers.end() ? 0 : std::stoul(length_it->second);
    while (buf.size() < head_end + 4 + length) {
        if (!read_more(fd, buf)) {
            return;
        }
    }
    req.body = buf.substr(head_end + 4, length);

    std::pair<int, std::string> reply{
        404, R"({"error":{"code":"not_found","message":"no such route"}})"};
    {
        std::lock_guard lock(mu_);
        const auto it = answers_.find({req.method, req.target});
        if (it != answers_.end()) {
            reply = it->second;
        }
        requests_.push_back(std::move(req));
    }

    const std::string out = "HTTP/1.1 " + std::to_string(reply.first) +
                            " Canned\r\nContent-Type: application/json\r\nContent-Length: " +
                            std::to_string(reply.second.size()) + "\r\nConnection: close\r\n\r\n" +
                            reply.second;
    std::size_t sent = 0;
    while (sent < out.size()) {
        const auto n = ::write(fd, out.data() + sent, out.size() - sent);
        if (n <= 0) {
            return;
        }
        sent += static_cast<std::size_t>(n);
    }
}

std::uint16_t unused_port() {
    std::uint16_t port = 0;
    const int fd = bind_loopback(port);
    ::close(fd);
    return port;
}

}  // namespace unidesk::test
