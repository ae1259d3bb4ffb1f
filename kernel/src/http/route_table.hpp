#pragma once

// The kernel's Router: routes per listener, each tagged with its owner ("kernel" or a
// plugin's name). Matching is by method and path segments; `{name}` segments capture.
// A literal segment wins over a `{name}` segment at the same place, so "/v1/tokens/me" and
// "/v1/tokens/{id}" can live side by side. Two routes with the same method and the same shape
// (literals equal, captures anywhere the other has a capture) conflict.
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
    HttpHandler handler;  // a copy: safe to call after the table changed
    RouteOptions options;
    std::string owner;
    std::string pattern;  // for metrics labels
    std::map<std::string, std::string> params;
    std::vector<std::string> allowed_methods;  // for a 405: the methods that path accepts
};

class RouteTable {
public:
    //! Fails with `route_conflict` (Errc::conflict) for a taken method and pattern, and with
    //! `route_invalid` (Errc::invalid_argument) for a pattern that is not "/" or made of
    //! non-empty segments.
    Result<void> add(const std::string& owner, Listener listener, std::string method,
                     std::string pattern, HttpHandler handler, RouteOptions options);
    //! Removes every route of that owner (a stopping plugin).
    void remove_owner(const std::string& owner);

    //! nullopt: no route has that path (404); a match with an empty handler: the path exists
    //! but not for that method (405).
    std::optional<RouteMatch> match(Listener listener, const std::string& method,
                                    const std::string& path) const;
    bool has_routes(Listener listener) const;

    //! A Router view that tags every route it adds with `owner`.
    std::unique_ptr<Router> router_for(std::string owner);

private:
    struct Route;
    mutable std::shared_mutex mu_;
    std::vector<std::shared_ptr<Route>> routes_;
};

}  // namespace unidesk::kernel
