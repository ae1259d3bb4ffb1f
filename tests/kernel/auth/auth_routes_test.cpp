#include "auth/auth_routes.hpp"

#include "auth_fixture.hpp"
#include "support/recording_router.hpp"

#include <catch2/catch.hpp>

using namespace unidesk;
using namespace unidesk::kernel;
using unidesk::test::AuthFixture;
using unidesk::test::RecordingRouter;
using Json = nlohmann::json;

namespace {

//! The auth routes over a fresh database with an admin "root" and a member "bob".
struct RoutesFixture {
    AuthFixture f;
    RecordingRouter router;
    Principal root;
    Principal bob;

    RoutesFixture() {
        REQUIRE(register_auth_routes(router, f.auth()));
        auto r = f.auth().create_user("kernel", "root", Role::admin, "twelve chars");
        auto b = f.auth().create_user("kernel", "bob", Role::member, "twelve chars");
        REQUIRE(r);
        REQUIRE(b);
        root = {r->id, r->name, Role::admin, 0};
        bob = {b->id, b->name, Role::member, 0};
    }

    HttpResponse call(const Principal& who, const std::string& method, const std::string& pattern,
                      std::string body = {}, std::map<std::string, std::string> params = {},
                      std::map<std::string, std::string> query = {}) {
        HttpRequest req;
        req.path = pattern;
        req.principal = who;
        req.body = std::move(body);
        req.params = std::move(params);
        req.query = std::move(query);
        return router.call(method, pattern, req);
    }
};

Json body_of(const HttpResponse& res) {
    return Json::parse(res.body);
}

void require_invalid_request(const HttpResponse& res, const std::string& mention) {
    INFO(res.body);
    REQUIRE(res.status == 400);
    const auto j = body_of(res);
    REQUIRE(j["error"]["code"] == "invalid_request");
    REQUIRE(j["error"]["message"].get<std::string>().find(mention) != std::string::npos);
}

bool is_utc_time(const Json& j) {
    if (!j.is_string()) {
        return false;
    }
    const auto s = j.get<std::string>();
    return s.size() == 24 && s[10] == 'T' && s.back() == 'Z';
}

}  // namespace

TEST_CASE("the auth routes are on the internal listener with the roles they need",
          "[kernel][auth][db]") {
    AuthFixture f;
    RecordingRouter router;
    REQUIRE(register_auth_routes(router, f.auth()));

    const std::vector<std::tuple<std::string, std::string, Role>> want = {
        {"GET", "/v1/whoami", Role::viewer},
        {"GET", "/v1/users", Role::admin},
        {"POST", "/v1/users", Role::admin},
        {"PATCH", "/v1/users/{id}", Role::admin},
        {"GET", "/v1/tokens", Role::viewer},
        {"POST", "/v1/tokens", Role::viewer},
        {"DELETE", "/v1/tokens/{id}", Role::viewer},
        {"GET", "/v1/node-tokens", Role::admin},
        {"POST", "/v1/node-tokens", Role::admin},
        {"DELETE", "/v1/node-tokens/{id}", Role::admin},
    };
    REQUIRE(router.routes().size() == want.size());
    for (const auto& [method, pattern, role] : want) {
        INFO(method << " " << pattern);
        const auto& route = router.route(method, pattern);
        REQUIRE(route.listener == Listener::internal);
        REQUIRE(route.options.min_role == role);
    }

    // A second registration collides with the first and says so.
    REQUIRE(register_auth_routes(router, f.auth()).error().code == "route_conflict");
}

TEST_CASE("whoami answers who the caller is", "[kernel][auth][db]") {
    RoutesFixture t;
    auto res = t.call(t.bob, "GET", "/v1/whoami");
    REQUIRE(res.status == 200);
    const auto j = body_of(res);
    REQUIRE(j["user"]["name"] == "bob");
    REQUIRE(j["user"]["role"] == "member");
    REQUIRE(j["user"]["id"] == t.bob.user_id);
}

TEST_CASE("a malformed body or a missing or ill-typed field is a 400 naming the field",
          "[kernel][auth][db]") {
    RoutesFixture t;
    require_invalid_request(t.call(t.root, "POST", "/v1/users", "{\"name\": "), "not valid JSON");
    require_invalid_request(t.call(t.root, "POST", "/v1/users", ""), "not valid JSON");
    require_invalid_request(t.call(t.root, "POST", "/v1/users", "[1, 2]"), "JSON object");
    // No text column can hold NUL: refused whole, wherever it is, rather than cut short.
    require_invalid_request(t.call(t.root, "POST", "/v1/users",
                                   R"({"name": "car\u0000ol", "password": "twelve chars"})"),
                            "NUL");
    require_invalid_request(
        t.call(t.root, "POST", "/v1/users", R"({"name": "carol", "x": [{"y\u0000": 1}]})"), "NUL");
    require_invalid_request(t.call(t.root, "POST", "/v1/users", "{}"), "'name'");
    require_invalid_request(t.call(t.root, "POST", "/v1/users", R"({"name": 5})"), "'name'");
    require_invalid_request(t.call(t.root, "POST", "/v1/users", R"({"name": "carol"})"),
                            "'password'");
    require_invalid_request(
        t.call(t.root, "POST", "/v1/users",
               R"({"name": "carol", "password": "twelve chars", "role": "boss"})"),
        "'role'");

    require_invalid_request(t.call(t.bob, "POST", "/v1/tokens", "{}"), "'name'");
    require_invalid_request(t.call(t.bob, "POST", "/v1/tokens", R"({"name": "x", "user_id": "1"})"),
                            "'user_id'");
    require_invalid_request(t.call(t.root, "POST", "/v1/node-tokens", R"({"node": "gpu"})"),
                            "'node_name'");

    const std::map<std::string, std::string> id1{{"id", "1"}};
    require_invalid_request(t.call(t.root, "PATCH", "/v1/users/{id}", "{}", id1), "nothing");
    require_invalid_request(
        t.call(t.root, "PATCH", "/v1/users/{id}", R"({"disabled": "yes"})", id1), "'disabled'");
    require_invalid_request(
        t.call(t.root, "PATCH", "/v1/users/{id}", R"({"role": "x"})", {{"id", "1x"}}), "'id'");
    require_invalid_request(t.call(t.bob, "DELETE", "/v1/tokens/{id}", "", {{"id", "-3"}}), "'id'");

    // A well-formed request the service refuses keeps the service's own code.
    auto weak = t.call(t.root, "POST", "/v1/users", R"({"name": "carol", "password": "short"})");
    REQUIRE(weak.status == 400);
    REQUIRE(body_of(weak)["error"]["code"] == "password_too_short");
}

TEST_CASE("an issued token's secret is in its creation answer and nowhere after",
          "[kernel][auth][db]") {
    RoutesFixture t;
    auto res = t.call(t.bob, "POST", "/v1/tokens", R"({"name": "laptop"})");
    REQUIRE(res.status == 201);
    const auto created = body_of(res);
    const auto secret = created["secret"].get<std::string>();
    REQUIRE(secret.rfind("udk_", 0) == 0);
    REQUIRE(created["token"]["name"] == "laptop");
    REQUIRE(created["token"]["user_id"] == t.bob.user_id);
    REQUIRE(is_utc_time(created["token"]["created_at"]));
    REQUIRE(created["token"]["revoked_at"].is_null());

    REQUIRE(t.f.auth().authenticate_token(secret));
    auto list = t.call(t.bob, "GET", "/v1/tokens");
    REQUIRE(list.status == 200);
    REQUIRE(list.body.find(secret.substr(4)) == std::string::npos);
    const auto tokens = body_of(list)["tokens"];
    REQUIRE(tokens.size() == 1);
    REQUIRE(is_utc_time(tokens[0]["last_used_at"]));
}

TEST_CASE("members see and revoke only their own tokens, admins everyone's", "[kernel][auth][db]") {
    RoutesFixture t;
    REQUIRE(t.call(t.bob, "POST", "/v1/tokens", R"({"name": "bob's"})").status == 201);
    auto root_token = t.call(t.root, "POST", "/v1/tokens", R"({"name": "root's"})");
    const auto root_token_id = std::to_string(body_of(root_token)["token"]["id"].get<int>());

    REQUIRE(body_of(t.call(t.bob, "GET", "/v1/tokens"))["tokens"].size() == 1);
    REQUIRE(body_of(t.call(t.root, "GET", "/v1/tokens"))["tokens"].size() == 1);
    auto all = t.call(t.root, "GET", "/v1/tokens", "", {}, {{"all", "1"}});
    REQUIRE(body_of(all)["tokens"].size() == 2);
    REQUIRE(t.call(t.bob, "GET", "/v1/tokens", "", {}, {{"all", "1"}}).status == 403);

    auto for_root = t.call(t.bob, "POST", "/v1/tokens",
                           R"({"name": "x", "user_id": )" + std::to_string(t.root.user_id) + "}");
    REQUIRE(for_root.status == 403);
    auto for_bob = t.call(t.root, "POST", "/v1/tokens",
                          R"({"name": "ci", "user_id": )" + std::to_string(t.bob.user_id) + "}");
    REQUIRE(for_bob.status == 201);
    const auto bob_ci_id = std::to_string(body_of(for_bob)["token"]["id"].get<int>());

    auto refused = t.call(t.bob, "DELETE", "/v1/tokens/{id}", "", {{"id", root_token_id}});
    REQUIRE(refused.status == 403);
    REQUIRE(body_of(refused)["error"]["code"] == "token_not_owned");

    auto own = t.call(t.bob, "DELETE", "/v1/tokens/{id}", "", {{"id", bob_ci_id}});
    REQUIRE(own.status == 200);
    REQUIRE(is_utc_time(body_of(own)["token"]["revoked_at"]));
    auto admin = t.call(t.root, "DELETE", "/v1/tokens/{id}", "", {{"id", root_token_id}});
    REQUIRE(admin.status == 200);
    REQUIRE(t.call(t.root, "DELETE", "/v1/tokens/{id}", "", {{"id", "999"}}).status == 404);
}

TEST_CASE("admins manage users and node tokens through the routes", "[kernel][auth][db]") {
    RoutesFixture t;
    auto created = t.call(t.root, "POST", "/v1/users",
                          R"({"name": "carol", "password": "twelve chars", "role": "viewer"})");
    REQUIRE(created.status == 201);
    const auto carol = body_of(created)["user"];
    REQUIRE(carol["role"] == "viewer");
    REQUIRE(carol["disabled"] == false);
    REQUIRE(is_utc_time(carol["created_at"]));
    REQUIRE(created.body.find("twelve chars") == std::string::npos);
    REQUIRE(t.call(t.root, "POST", "/v1/users", R"({"name": "carol", "password": "twelve chars"})")
                .status == 409);

    const std::map<std::string, std::string> id{{"id", std::to_string(carol["id"].get<int>())}};
    auto patched = t.call(t.root, "PATCH", "/v1/users/{id}",
                          R"({"role": "member", "password": "another passphrase"})", id);
    REQUIRE(patched.status == 200);
    REQUIRE(body_of(patched)["user"]["role"] == "member");
    REQUIRE(t.f.auth().authenticate_password("carol", "another passphrase"));
    REQUIRE(
        t.call(t.root, "PATCH", "/v1/users/{id}", R"({"role": "admin"})", {{"id", "999"}}).status ==
        404);
    REQUIRE(body_of(t.call(t.root, "GET", "/v1/users"))["users"].size() == 3);

    auto node = t.call(t.root, "POST", "/v1/node-tokens", R"({"node_name": "gpu-07"})");
    REQUIRE(node.status == 201);
    const auto issued = body_of(node);
    REQUIRE(issued["secret"].get<std::string>().rfind("udn_", 0) == 0);
    REQUIRE(issued["token"]["node_name"] == "gpu-07");
    // The agent's rule: lower case, a digit may come first.
    REQUIRE(t.call(t.root, "POST", "/v1/node-tokens", R"({"node_name": "07-gpu"})").status == 201);
    auto upper = t.call(t.root, "POST", "/v1/node-tokens", R"({"node_name": "GPU-07"})");
    REQUIRE(upper.status == 400);
    REQUIRE(body_of(upper)["error"]["code"] == "name_invalid");
    auto listed = t.call(t.root, "GET", "/v1/node-tokens");
    REQUIRE(body_of(listed)["node_tokens"].size() == 2);
    REQUIRE(listed.body.find(issued["secret"].get<std::string>().substr(4)) == std::string::npos);

    const std::map<std::string, std::string> node_id{
        {"id", std::to_string(issued["token"]["id"].get<int>())}};
    auto revoked = t.call(t.root, "DELETE", "/v1/node-tokens/{id}", "", node_id);
    REQUIRE(revoked.status == 200);
    REQUIRE(is_utc_time(body_of(revoked)["token"]["revoked_at"]));
    REQUIRE(t.f.auth().authenticate_node_token(issued["secret"].get<std::string>()).error().code ==
            "token_revoked");
}

TEST_CASE("a user change that is refused in part changes nothing", "[kernel][auth][db]") {
    RoutesFixture t;
    const std::map<std::string, std::string> root_id{{"id", std::to_string(t.root.user_id)}};

    // The last admin may not stop being one: the new password in the same request is not kept.
    auto refused = t.call(t.root, "PATCH", "/v1/users/{id}",
                          R"({"password": "another passphrase", "role": "member"})", root_id);
    CHECK(refused.status == 409);
    CHECK(body_of(refused)["error"]["code"] == "last_admin");
    CHECK(t.f.auth().authenticate_password("root", "twelve chars"));
    CHECK_FALSE(t.f.auth().authenticate_password("root", "another passphrase"));

    // A password too short leaves the role alone.
    const std::map<std::string, std::string> bob_id{{"id", std::to_string(t.bob.user_id)}};
    auto short_password = t.call(t.root, "PATCH", "/v1/users/{id}",
                                 R"({"password": "short", "role": "viewer"})", bob_id);
    CHECK(short_password.status == 400);
    CHECK(t.f.auth().get_user(t.bob.user_id)->role == Role::member);

    // Both at once, when both are allowed: one answer, both kept, one event each.
    auto both = t.call(t.root, "PATCH", "/v1/users/{id}",
                       R"({"password": "another passphrase", "role": "viewer"})", bob_id);
    CHECK(both.status == 200);
    CHECK(body_of(both)["user"]["role"] == "viewer");
    CHECK(t.f.auth().authenticate_password("bob", "another passphrase"));
    auto kinds = t.f.query(
        "SELECT string_agg(kind, ' ' ORDER BY id) FROM events WHERE subject = "
        "'user:" +
        std::to_string(t.bob.user_id) + "' AND kind <> 'user.created'");
    CHECK(kinds[0][0].as<std::string>() == "user.password_changed user.role_changed");
}
