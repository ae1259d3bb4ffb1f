#pragma once

// Test support: a Router that only records what is registered, so route handlers can be called
// directly with HttpRequest values, without the HTTP server or the kernel's RouteTable.
// Not thread-safe; one test owns it.

#include "unidesk/http.hpp"

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace unidesk::test {

class RecordingRouter final : public Router {
public:
    struct Route {
        Listener listener = Listener::internal;
        std::string method;
        std::string pattern;
        HttpHandler handler;
        RouteOptions options;
        StreamHandler stream_handler;  // set instead of handler for a stream route
    };

    Result<void> add_route(Listener listener, std::string method, std::string pattern,
                           HttpHandler handler, RouteOptions options) override {
        for (const auto& r : routes_) {
            if (r.listener == listener && r.method == method && r.pattern == pattern) {
                return make_error(Errc::conflict, "route_conflict", method + " " + pattern);
            }
        }
        routes_.push_back(
            {listener, std::move(method), std::move(pattern), std::move(handler), options});
        return {};
    }

    Result<void> add_stream_route(Listener listener, std::string method, std::string pattern,
                                  StreamHandler handler, RouteOptions options) override {
        auto added = add_route(
            listener, std::move(method), std::move(pattern),
            [](const HttpRequest&) { return HttpResponse{}; }, options);
        if (added) {
            routes_.back().handler = nullptr;
            routes_.back().stream_handler = std::move(handler);
        }
        return added;
    }

    Result<void> set_authenticator(Listener listener, Authenticator authenticator) override {
        authenticators_.emplace_back(listener, std::move(authenticator));
        return {};
    }

    Result<void> expose_internal(std::string prefix) override {
        exposed_.push_back(std::move(prefix));
        return {};
    }

    //! Exact patterns only: enough for the tests that use it.
    bool routed(Listener listener, const std::string& method,
                const std::string& path) const override {
        for (const auto& r : routes_) {
            if (r.listener == listener && r.method == method && r.pattern == path) {
                return true;
            }
        }
        return false;
    }

    const std::vector<Route>& routes() const { return routes_; }
    const std::vector<std::pair<Listener, Authenticator>>& authenticators() const {
        return authenticators_;
    }
    const std::vector<std::string>& exposed() const { return exposed_; }

    //! The route registered for exactly that method and pattern; throws when there is none.
    const Route& route(const std::string& method, const std::string& pattern) const {
        for (const auto& r : routes_) {
            if (r.method == method && r.pattern == pattern) {
                return r;
            }
        }
        throw std::out_of_range("no route " + method + " " + pattern);
    }

    //! Calls that route's handler with req (method filled in); no role check is made here.
    HttpResponse call(const std::string& method, const std::string& pattern,
                      HttpRequest req) const {
        req.method = method;
        return route(method, pattern).handler(req);
    }

private:
    std::vector<Route> routes_;
    std::vector<std::pair<Listener, Authenticator>> authenticators_;
    std::vector<std::string> exposed_;
};

}  // namespace unidesk::test
