#include "http/route_table.hpp"

#include <algorithm>
#include <mutex>
#include <utility>

namespace unidesk::kernel {
namespace {

struct Segment {
    bool capture = false;
    std::string text;  // the literal, or the capture's name
};

// "/" has no segments; "/a/b" has two. Empty segments ("//", a trailing "/") only match an
// empty segment in a path, and patterns may not contain them.
std::vector<std::string_view> split_path(std::string_view path) {
    std::vector<std::string_view> parts;
    if (path.empty() || path == "/") {
        return parts;
    }
    path.remove_prefix(1);
    for (;;) {
        auto slash = path.find('/');
        parts.push_back(path.substr(0, slash));
        if (slash == std::string_view::npos) {
            break;
        }
        path.remove_prefix(slash + 1);
    }
    return parts;
}

Result<std::vector<Segment>> parse_pattern(const std::string& pattern) {
    auto invalid = [&](const std::string& why) {
        return make_error(Errc::invalid_argument, "route_invalid",
                          "route pattern '" + pattern + "' is invalid: " + why);
    };
    if (pattern.empty() || pattern.front() != '/') {
        return invalid("it must start with '/'");
    }

    std::vector<Segment> segments;
    for (auto part : split_path(pattern)) {
        if (part.empty()) {
            return invalid("it has an empty segment");
        }
        bool opens = part.front() == '{';
        bool closes = part.back() == '}';
        if (opens != closes || (opens && part.size() < 3)) {
            return invalid("a capture segment must look like {name}");
        }
        if (opens) {
            segments.push_back({true, std::string(part.substr(1, part.size() - 2))});
        } else {
            segments.push_back({false, std::string(part)});
        }
    }
    return segments;
}

bool same_shape(const std::vector<Segment>& a, const std::vector<Segment>& b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].capture != b[i].capture || (!a[i].capture && a[i].text != b[i].text)) {
            return false;
        }
    }
    return true;
}

const char* to_label(Listener l) {
    return l == Listener::internal ? "internal" : "public";
}

}  // namespace

struct RouteTable::Route {
    std::string owner;
    Listener listener;
    std::string method;
    std::string pattern;
    std::vector<Segment> segments;
    HttpHandler handler;
    RouteOptions options;

    bool matches(const std::vector<std::string_view>& parts) const {
        if (parts.size() != segments.size()) {
            return false;
        }
        for (std::size_t i = 0; i < parts.size(); ++i) {
            if (!segments[i].capture && segments[i].text != parts[i]) {
                return false;
            }
            if (segments[i].capture && parts[i].empty()) {
                return false;
            }
        }
        return true;
    }

    // Both routes matched the same path, so they have as many segments: the first place where
    // one has a literal and the other a capture decides.
    bool outranks(const Route& other) const {
        for (std::size_t i = 0; i < segments.size(); ++i) {
            if (segments[i].capture != other.segments[i].capture) {
                return !segments[i].capture;
            }
        }
        return false;
    }
};

Result<void> RouteTable::add(const std::string& owner, Listener listener, std::string method,
                             std::string pattern, HttpHandler handler, RouteOptions options) {
    auto segments = parse_pattern(pattern);
    if (!segments) {
        return segments.error();
    }
    if (!handler) {
        return make_error(Errc::invalid_argument, "route_invalid",
                          "route " + method + " " + pattern + " has no handler");
    }

    auto route = std::make_shared<Route>(Route{owner, listener, std::move(method),
                                               std::move(pattern), std::move(*segments),
                                               std::move(handler), std::move(options)});

    std::unique_lock lock(mu_);
    for (const auto& r : routes_) {
        if (r->listener == listener && r->method == route->method &&
            same_shape(r->segments, route->segments)) {
            return make_error(Errc::conflict, "route_conflict",
                              "route " + route->method + " " + route->pattern + " on the " +
                                  to_label(listener) + " listener is already taken by " + r->owner +
                                  " (" + r->pattern + ")");
        }
    }
    routes_.push_back(std::move(route));
    return {};
}

void RouteTable::remove_owner(const std::string& owner) {
    std::unique_lock lock(mu_);
    std::erase_if(routes_, [&](const auto& r) { return r->owner == owner; });
}

std::optional<RouteMatch> RouteTable::match(Listener listener, const std::string& method,
                                            const std::string& path) const {
    auto parts = split_path(path);
    std::shared_lock lock(mu_);

    const Route* best = nullptr;
    std::vector<std::string> allowed;
    for (const auto& r : routes_) {
        if (r->listener != listener || !r->matches(parts)) {
            continue;
        }
        if (r->method != method) {
            allowed.push_back(r->method);
            continue;
        }
        if (best == nullptr || r->outranks(*best)) {
            best = r.get();
        }
    }

    if (best == nullptr) {
        if (allowed.empty()) {
            return std::nullopt;
        }
        std::sort(allowed.begin(), allowed.end());
        allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
        RouteMatch m;
        m.allowed_methods = std::move(allowed);
        return m;
    }

    RouteMatch m{best->handler, best->options, best->owner, best->pattern, {}, {}};
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (best->segments[i].capture) {
            m.params.emplace(best->segments[i].text, std::string(parts[i]));
        }
    }
    return m;
}

bool RouteTable::has_routes(Listener listener) const {
    std::shared_lock lock(mu_);
    return std::any_of(routes_.begin(), routes_.end(),
                       [&](const auto& r) { return r->listener == listener; });
}

namespace {

class OwnerRouter final : public Router {
public:
    OwnerRouter(RouteTable& table, std::string owner) : table_(table), owner_(std::move(owner)) {}

    Result<void> add_route(Listener listener, std::string method, std::string pattern,
                           HttpHandler handler, RouteOptions options) override {
        return table_.add(owner_, listener, std::move(method), std::move(pattern),
                          std::move(handler), std::move(options));
    }

private:
    RouteTable& table_;
    std::string owner_;
};

}  // namespace

std::unique_ptr<Router> RouteTable::router_for(std::string owner) {
    return std::make_unique<OwnerRouter>(*this, std::move(owner));
}

}  // namespace unidesk::kernel
