#pragma once

// A small HTTP/1.1 server for the CLI's tests: it answers each request with a canned status
// and JSON body chosen by method and target, and records every request it saw. It binds
// 127.0.0.1 on port 0, serves one connection at a time (Connection: close) on its own thread,
// and stops in its destructor. Thread-safe.

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace unidesk::test {

struct RecordedRequest {
    std::string method;
    std::string target;                          // path and query, as sent
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;
};

class CannedHttpServer {
public:
    CannedHttpServer();
    ~CannedHttpServer();
    CannedHttpServer(const CannedHttpServer&) = delete;
    CannedHttpServer& operator=(const CannedHttpServer&) = delete;

    //! Later requests for method and target get this answer; unknown ones get a 404 error.
    void answer(const std::string& method, const std::string& target, int status, std::string body);

    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    std::vector<RecordedRequest> requests() const;

private:
    void serve();
    void handle(int fd);

    int listen_fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    mutable std::mutex mu_;
    std::map<std::pair<std::string, std::string>, std::pair<int, std::string>> answers_;
    std::vector<RecordedRequest> requests_;
    std::thread thread_;
};

//! A loopback port that nothing listens on (bound, then closed).
std::uint16_t unused_port();

}  // namespace unidesk::test
