#pragma once

// The kernel's Router: routes per listener, each tagged with its owner ("kernel" or a
// plugin's name). Matching is by method and path segments; `{name}` segments capture and a
// last `{name...}` segment captures the rest of the path. A literal segment wins over a
// `{name}` segment at the same place, so "/v1/tokens/me" and "/v1/tokens/{id}" can live side
// by side, and any route wins over one ending in `{name...}`. Two routes with the same method
// and the same shape (literals equal, captures anywhere the other has a capture) conflict.
// The table also holds each listener's authenticator and the internal path prefixes exposed
// on the public listener, both tagged with their owner too.
// Thread-safe (a shared mutex: lookups run concurrently, changes are rare).

#include "unidesk/http.hpp"

#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

namespace unidesk::kernel {

struct RouteMatch {
    HttpHandler handler;           // a copy: safe to call after the table changed
    StreamHandler stream_handler;  // set instead of handler for a stream route
    RouteOptions options;
    std::string owner;
    std::string pattern;  // for metrics labels
    std::map<std::string, std::string> params;
    std::vector<std::string> allowed_methods;  // for a 405: the methods that path accepts

    bool found() const { return handler || stream_handler; }
};

class RouteTable {
public:
    //! Fails with `route_conflict` (Errc::conflict) for a taken method and pattern, and with
    //! `route_invalid` (Errc::invalid_argument) for a pattern that is not "/" or made of
    //! non-empty segments.
    Result<void> add(const std::string& owner, Listener listener, std::string method,
                     std::string pattern, HttpHandler handler, RouteOptions options);
    Result<void> add_stream(const std::string& owner, Listener listener, std::string method,
                            std::string pattern, StreamHandler handler, RouteOptions options);
    //! Fails with `authenticator_conflict` (Errc::conflict) when another owner holds it.
    Result<void> set_authenticator(const std::string& owner, Listener listener,
                                   Authenticator authenticator);
    //! Fails with `route_invalid` for a prefix that does not start with '/'.
    Result<void> expose_internal(const std::string& owner, std::string prefix);
    //! Removes every route, authenticator and exposed prefix of that owner (a stopping plugin).
    void remove_owner(const std::string& owner);

    //! nullopt: no route has that path (404); a match without a handler: the path exists but
    //! not for that method (405). On the public listener, exposed internal routes take part
    //! (see Router::expose_internal for the order).
    std::optional<RouteMatch> match(Listener listener, const std::string& method,
                                    const std::string& path) const;
    //! The listener's authenticator, empty when none is set.
    Authenticator authenticator(Listener listener) const;
    bool has_routes(Listener listener) const;

    //! A Router view that tags every route it adds with `owner`.
    std::unique_ptr<Router> router_for(std::string owner);

private:
    struct Route;
    struct Owned {
        std::string owner;
        Listener listener = Listener::internal;
        Authenticator authenticator;
    };
    Result<void> insert(std::shared_ptr<Route> route);
    std::optional<RouteMatch> match_on(Listener listener, const std::string& method,
                                       const std::string& path, bool tails) const;

    mutable std::shared_mutex mu_;
    std::vector<std::shared_ptr<Route>> routes_;
    std::vector<Owned> authenticators_;
    std::vector<std::pair<std::string, std::string>> exposed_;  // owner, prefix
};

}  // namespace unidesk::kernel
