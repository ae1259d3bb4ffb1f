#pragma once

// A small synchronous HTTP/1.1 client for tests of the kernel's listeners. Keeps its
// connection open between requests (keep-alive) and opens a new one when the server closed it.
// Every call has a deadline (the timeout given at construction); a network error or a missed
// deadline throws std::runtime_error, which fails the test. Not thread-safe: one per thread.

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace unidesk::test {

struct HttpClientResponse {
    int status = 0;
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;

    const std::string* header(const std::string& lower_name) const {
        auto it = headers.find(lower_name);
        return it == headers.end() ? nullptr : &it->second;
    }
    //! The body as JSON; throws nlohmann::json::parse_error when it is not.
    nlohmann::json json() const { return nlohmann::json::parse(body); }
};

class HttpClient {
public:
    HttpClient(std::string host, std::uint16_t port,
               std::chrono::milliseconds timeout = std::chrono::seconds(15));
    ~HttpClient();

    HttpClientResponse request(const std::string& method, const std::string& target,
                               const std::string& body = {},
                               const std::map<std::string, std::string>& headers = {});
    HttpClientResponse get(const std::string& target,
                           const std::map<std::string, std::string>& headers = {}) {
        return request("GET", target, {}, headers);
    }

    //! Sends raw bytes on a new connection and returns all the server sends back until it
    //! closes the connection (or the deadline passes).
    std::string send_raw(const std::string& bytes);

    //! How many connections this client has opened so far (keep-alive tests).
    int connections_opened() const;
    void close();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace unidesk::test
