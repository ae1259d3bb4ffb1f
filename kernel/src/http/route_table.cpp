#include "http/route_table.hpp"

#include <algorithm>
#include <mutex>
#include <utility>

namespace unidesk::kernel {
namespace {

struct Segment {
    bool capture = false;
    bool tail = false;  // `{name...}`: captures the rest of the path; only ever last
    std::string text;   // the literal, or the capture's name
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
        if (!segments.empty() && segments.back().tail) {
            return invalid("a {name...} segment must be the last");
        }
        bool opens = part.front() == '{';
        bool closes = part.back() == '}';
        if (opens != closes || (opens && part.size() < 3)) {
            return invalid("a capture segment must look like {name}");
        }
        if (!opens) {
            segments.push_back({false, false, std::string(part)});
            continue;
        }
        auto name = part.substr(1, part.size() - 2);
        bool tail = name.size() > 3 && name.ends_with("...");
        if (tail) {
            name.remove_suffix(3);
        }
        segments.push_back({true, tail, std::string(name)});
    }
    return segments;
}

bool same_shape(const std::vector<Segment>& a, const std::vector<Segment>& b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].capture != b[i].capture || a[i].tail != b[i].tail ||
            (!a[i].capture && a[i].text != b[i].text)) {
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
    StreamHandler stream_handler;
    RouteOptions options;

    bool has_tail() const { return !segments.empty() && segments.back().tail; }

    bool matches(const std::vector<std::string_view>& parts) const {
        std::size_t fixed = has_tail() ? segments.size() - 1 : segments.size();
        if (has_tail() ? parts.size() < fixed : parts.size() != fixed) {
            return false;
        }
        for (std::size_t i = 0; i < fixed; ++i) {
            if (!segments[i].capture && segments[i].text != parts[i]) {
                return false;
            }
            if (segments[i].capture && parts[i].empty()) {
                return false;
            }
        }
        return true;
    }

    // Both routes matched the same path. A route without a tail wins over one with a tail;
    // otherwise the first place where one has a literal and the other a capture decides.
    bool outranks(const Route& other) const {
        if (has_tail() != other.has_tail()) {
            return !has_tail();
        }
        for (std::size_t i = 0; i < std::min(segments.size(), other.segments.size()); ++i) {
            if (segments[i].capture != other.segments[i].capture) {
                return !segments[i].capture;
            }
        }
        return segments.size() > other.segments.size();
    }
};

Result<void> RouteTable::add(const std::string& owner, Listener listener, std::string method,
                             std::string pattern, HttpHandler handler, RouteOptions options) {
    if (!handler) {
        return make_error(Errc::invalid_argument, "route_invalid",
                          "route " + method + " " + pattern + " has no handler");
    }
    Route r{owner, listener,          std::move(method), std::move(pattern), {}, std::move(handler),
            {},    std::move(options)};
    return insert(std::make_shared<Route>(std::move(r)));
}

Result<void> RouteTable::add_stream(const std::string& owner, Listener listener, std::string method,
                                    std::string pattern, StreamHandler handler,
                                    RouteOptions options) {
    if (!handler) {
        return make_error(Errc::invalid_argument, "route_invalid",
                          "route " + method + " " + pattern + " has no handler");
    }
    Route r{owner, listener, std::move(method),  std::move(pattern),
            {},    {},       std::move(handler), std::move(options)};
    return insert(std::make_shared<Route>(std::move(r)));
}

// Parses the pattern and adds the route unless its method and shape are taken.
Result<void> RouteTable::insert(std::shared_ptr<Route> route) {
    auto segments = parse_pattern(route->pattern);
    if (!segments) {
        return segments.error();
    }
    route->segments = std::move(*segments);
    auto listener = route->listener;
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

Result<void> RouteTable::set_authenticator(const std::string& owner, Listener listener,
                                           Authenticator authenticator) {
    if (!authenticator) {
        return make_error(Errc::invalid_argument, "authenticator_invalid",
                          "an authenticator must be callable");
    }
    std::unique_lock lock(mu_);
    for (const auto& a : authenticators_) {
        if (a.listener == listener) {
            return make_error(Errc::conflict, "authenticator_conflict",
                              std::string("the ") + to_label(listener) +
                                  " listener's authenticator is already set by " + a.owner);
        }
    }
    authenticators_.push_back({owner, listener, std::move(authenticator)});
    return {};
}

Result<void> RouteTable::expose_internal(const std::string& owner, std::string prefix) {
    if (prefix.empty() || prefix.front() != '/') {
        return make_error(Errc::invalid_argument, "route_invalid",
                          "an exposed prefix must start with '/': '" + prefix + "'");
    }
    std::unique_lock lock(mu_);
    exposed_.emplace_back(owner, std::move(prefix));
    return {};
}

Authenticator RouteTable::authenticator(Listener listener) const {
    std::shared_lock lock(mu_);
    for (const auto& a : authenticators_) {
        if (a.listener == listener) {
            return a.authenticator;
        }
    }
    return {};
}

void RouteTable::remove_owner(const std::string& owner) {
    std::unique_lock lock(mu_);
    std::erase_if(routes_, [&](const auto& r) { return r->owner == owner; });
    std::erase_if(authenticators_, [&](const auto& a) { return a.owner == owner; });
    std::erase_if(exposed_, [&](const auto& e) { return e.first == owner; });
}

std::optional<RouteMatch> RouteTable::match(Listener listener, const std::string& method,
                                            const std::string& path) const {
    if (listener == Listener::internal) {
        return match_on(listener, method, path, true);
    }

    // Public: its own routes, then exposed internal ones, then its own catch-all tails.
    auto own = match_on(listener, method, path, false);
    if (own && own->found()) {
        return own;
    }
    bool exposed = false;
    {
        std::shared_lock lock(mu_);
        exposed = std::any_of(exposed_.begin(), exposed_.end(),
                              [&](const auto& e) { return path.starts_with(e.second); });
    }
    if (exposed) {
        auto inner = match_on(Listener::internal, method, path, true);
        if (inner) {
            return inner;
        }
    }
    auto with_tails = match_on(listener, method, path, true);
    if (with_tails && with_tails->found()) {
        return with_tails;
    }
    return own ? own : with_tails;
}

std::optional<RouteMatch> RouteTable::match_on(Listener listener, const std::string& method,
                                               const std::string& path, bool tails) const {
    auto parts = split_path(path);
    std::shared_lock lock(mu_);

    const Route* best = nullptr;
    std::vector<std::string> allowed;
    for (const auto& r : routes_) {
        if (r->listener != listener || (!tails && r->has_tail()) || !r->matches(parts)) {
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

    RouteMatch m{
        best->handler, best->stream_handler, best->options, best->owner, best->pattern, {}, {}};
    for (std::size_t i = 0; i < best->segments.size(); ++i) {
        const auto& seg = best->segments[i];
        if (seg.tail) {
            // The rest of the path from this segment on, slashes included ("" when none).
            std::string rest;
            for (std::size_t j = i; j < parts.size(); ++j) {
                rest += (j == i ? "" : "/") + std::string(parts[j]);
            }
            m.params.emplace(seg.text, std::move(rest));
        } else if (seg.capture) {
            m.params.emplace(seg.text, std::string(parts[i]));
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
    Result<void> add_stream_route(Listener listener, std::string method, std::string pattern,
                                  StreamHandler handler, RouteOptions options) override {
        return table_.add_stream(owner_, listener, std::move(method), std::move(pattern),
                                 std::move(handler), std::move(options));
    }
    Result<void> set_authenticator(Listener listener, Authenticator authenticator) override {
        return table_.set_authenticator(owner_, listener, std::move(authenticator));
    }
    Result<void> expose_internal(std::string prefix) override {
        return table_.expose_internal(owner_, std::move(prefix));
    }
    bool routed(Listener listener, const std::string& method,
                const std::string& path) const override {
        auto m = table_.match(listener, method, path);
        return m && m->found();
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
