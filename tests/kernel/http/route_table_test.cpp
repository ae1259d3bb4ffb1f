#include "http/route_table.hpp"

#include <catch2/catch.hpp>

using namespace unidesk;
using namespace unidesk::kernel;

namespace {

HttpHandler answer(std::string body) {
    return [body](const HttpRequest&) {
        HttpResponse r;
        r.body = body;
        return r;
    };
}

std::string call(const RouteMatch& m) {
    return m.handler(HttpRequest{}).body;
}

}  // namespace

TEST_CASE("a route with captures matches and returns its params", "[kernel][http]") {
    RouteTable t;
    REQUIRE(
        t.add("kernel", Listener::internal, "GET", "/v1/tasks/{id}/logs/{part}", answer("logs"), {})
            .has_value());

    auto m = t.match(Listener::internal, "GET", "/v1/tasks/42/logs/7");
    REQUIRE(m);
    REQUIRE(m->handler);
    REQUIRE(call(*m) == "logs");
    REQUIRE(m->owner == "kernel");
    REQUIRE(m->pattern == "/v1/tasks/{id}/logs/{part}");
    REQUIRE(m->params == std::map<std::string, std::string>{{"id", "42"}, {"part", "7"}});
}

TEST_CASE("an unknown path is a miss and a known path with another method is a 405",
          "[kernel][http]") {
    RouteTable t;
    REQUIRE(
        t.add("kernel", Listener::internal, "GET", "/v1/tokens", answer("list"), {}).has_value());
    REQUIRE(
        t.add("kernel", Listener::internal, "DELETE", "/v1/tokens", answer("x"), {}).has_value());

    REQUIRE_FALSE(t.match(Listener::internal, "GET", "/v1/tokenz"));
    REQUIRE_FALSE(t.match(Listener::internal, "GET", "/v1/tokens/extra"));
    REQUIRE_FALSE(t.match(Listener::public_, "GET", "/v1/tokens"));

    auto m = t.match(Listener::internal, "POST", "/v1/tokens");
    REQUIRE(m);
    REQUIRE_FALSE(m->handler);
    REQUIRE(m->allowed_methods == std::vector<std::string>{"DELETE", "GET"});
}

TEST_CASE("a literal segment wins over a capture at the same place", "[kernel][http]") {
    RouteTable t;
    REQUIRE(t.add("kernel", Listener::internal, "GET", "/v1/tokens/{id}", answer("id"), {})
                .has_value());
    REQUIRE(
        t.add("kernel", Listener::internal, "GET", "/v1/tokens/me", answer("me"), {}).has_value());

    REQUIRE(call(*t.match(Listener::internal, "GET", "/v1/tokens/me")) == "me");
    REQUIRE(call(*t.match(Listener::internal, "GET", "/v1/tokens/17")) == "id");
    REQUIRE_FALSE(t.match(Listener::internal, "GET", "/v1/tokens/"));
}

TEST_CASE("the same method and shape on one listener is a route conflict", "[kernel][http]") {
    RouteTable t;
    REQUIRE(
        t.add("kernel", Listener::internal, "GET", "/v1/nodes/{id}", answer("a"), {}).has_value());

    auto again = t.add("scheduler", Listener::internal, "GET", "/v1/nodes/{name}", answer("b"), {});
    REQUIRE_FALSE(again.has_value());
    REQUIRE(again.error().code == "route_conflict");
    REQUIRE(again.error().errc == Errc::conflict);
    REQUIRE(again.error().message.find("kernel") != std::string::npos);

    REQUIRE(t.add("scheduler", Listener::public_, "GET", "/v1/nodes/{id}", answer("c"), {})
                .has_value());
    REQUIRE(t.add("scheduler", Listener::internal, "POST", "/v1/nodes/{id}", answer("d"), {})
                .has_value());
}

TEST_CASE("malformed patterns are refused", "[kernel][http]") {
    RouteTable t;
    for (const char* p : {"", "v1/x", "/v1//x", "/v1/{}", "/v1/{id", "/v1/x/"}) {
        auto r = t.add("kernel", Listener::internal, "GET", p, answer("x"), {});
        INFO(p);
        REQUIRE_FALSE(r.has_value());
        REQUIRE(r.error().code == "route_invalid");
    }
    REQUIRE(t.add("kernel", Listener::internal, "GET", "/", answer("root"), {}).has_value());
    REQUIRE(call(*t.match(Listener::internal, "GET", "/")) == "root");
}

TEST_CASE("remove_owner drops only that owner's routes", "[kernel][http]") {
    RouteTable t;
    auto scheduler = t.router_for("scheduler");
    REQUIRE(scheduler->add_route(Listener::public_, "GET", "/v1/queue", answer("q")).has_value());
    REQUIRE(t.add("kernel", Listener::internal, "GET", "/health", answer("h"), {}).has_value());

    auto m = t.match(Listener::public_, "GET", "/v1/queue");
    REQUIRE(m);
    REQUIRE(m->owner == "scheduler");
    REQUIRE(t.has_routes(Listener::public_));

    t.remove_owner("scheduler");
    REQUIRE_FALSE(t.match(Listener::public_, "GET", "/v1/queue"));
    REQUIRE_FALSE(t.has_routes(Listener::public_));
    REQUIRE(call(*m) == "q");  // a handler copy taken before stays callable
    REQUIRE(t.match(Listener::internal, "GET", "/health"));
}

TEST_CASE("a {name...} segment captures the rest of the path and ranks below other routes",
          "[kernel][http]") {
    RouteTable t;
    REQUIRE(t.add("kernel", Listener::public_, "GET", "/v1/objects/{key...}", answer("object"), {})
                .has_value());
    REQUIRE(
        t.add("kernel", Listener::public_, "GET", "/{path...}", answer("page"), {}).has_value());
    REQUIRE(t.add("kernel", Listener::public_, "GET", "/v1/objects/list", answer("list"), {})
                .has_value());

    auto object = t.match(Listener::public_, "GET", "/v1/objects/a/b/c.bin");
    REQUIRE(object);
    REQUIRE(call(*object) == "object");
    REQUIRE(object->params.at("key") == "a/b/c.bin");

    REQUIRE(call(*t.match(Listener::public_, "GET", "/v1/objects/list")) == "list");

    auto root = t.match(Listener::public_, "GET", "/");
    REQUIRE(root);
    REQUIRE(call(*root) == "page");
    REQUIRE(root->params.at("path").empty());
    REQUIRE(t.match(Listener::public_, "GET", "/tasks/42")->params.at("path") == "tasks/42");

    REQUIRE_FALSE(t.add("kernel", Listener::public_, "GET", "/{rest...}/x", answer(""), {}));
    REQUIRE(t.add("kernel", Listener::public_, "GET", "/{again...}", answer(""), {}).error().code ==
            "route_conflict");
}

TEST_CASE("the public listener tries its own routes, then exposed internal ones, then its tails",
          "[kernel][http]") {
    RouteTable t;
    REQUIRE(t.add("kernel", Listener::internal, "GET", "/v1/tasks", answer("tasks"), {}));
    REQUIRE(t.add("kernel", Listener::internal, "GET", "/metrics", answer("metrics"), {}));
    REQUIRE(t.add("gateway", Listener::public_, "GET", "/v1/session", answer("session"), {}));
    REQUIRE(t.add("gateway", Listener::public_, "GET", "/{path...}", answer("page"), {}));

    // Nothing internal is public until it is exposed.
    REQUIRE(call(*t.match(Listener::public_, "GET", "/v1/tasks")) == "page");
    REQUIRE(t.expose_internal("gateway", "/v1/"));
    REQUIRE(call(*t.match(Listener::public_, "GET", "/v1/tasks")) == "tasks");
    REQUIRE(call(*t.match(Listener::public_, "GET", "/v1/session")) == "session");
    REQUIRE(call(*t.match(Listener::public_, "GET", "/metrics")) == "page");

    // A wrong method on an exposed route is its 405, not the page.
    auto wrong = t.match(Listener::public_, "POST", "/v1/tasks");
    REQUIRE(wrong);
    REQUIRE_FALSE(wrong->found());
    REQUIRE(wrong->allowed_methods == std::vector<std::string>{"GET"});

    t.remove_owner("gateway");
    REQUIRE_FALSE(t.match(Listener::public_, "GET", "/v1/tasks"));
    REQUIRE_FALSE(t.expose_internal("gateway", "v1"));
}

TEST_CASE("one authenticator per listener, removed with its owner", "[kernel][http]") {
    RouteTable t;
    Authenticator none = [](const HttpRequest&) { return std::optional<Result<Principal>>{}; };
    REQUIRE_FALSE(t.authenticator(Listener::public_));
    REQUIRE(t.set_authenticator("gateway", Listener::public_, none));
    REQUIRE(t.authenticator(Listener::public_));
    REQUIRE_FALSE(t.authenticator(Listener::internal));
    REQUIRE(t.set_authenticator("other", Listener::public_, none).error().code ==
            "authenticator_conflict");
    t.remove_owner("gateway");
    REQUIRE_FALSE(t.authenticator(Listener::public_));
    REQUIRE(t.set_authenticator("other", Listener::public_, none));
}
