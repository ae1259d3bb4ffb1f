#pragma once

// The kernel's Router: routes per listener, each tagged with its owner ("kernel" or a
// plugin's name). Matching is by method and path segments; `{name}` segments capture.
// Thread-safe (a shared mutex: lookups run concurrently, changes are rare).

#include "unidesk/http.hpp"

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
};

class RouteTable {
public:
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
