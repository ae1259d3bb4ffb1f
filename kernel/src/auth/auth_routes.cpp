#include "auth/auth_routes.hpp"

#include "core/time_format.hpp"

#include <charconv>
#include <functional>

namespace unidesk::kernel {

namespace {

using Json = nlohmann::json;
using Handler = std::function<Result<HttpResponse>(const HttpRequest&)>;

Error invalid_request(std::string message) {
    return make_error(Errc::invalid_argument, "invalid_request", std::move(message));
}

Error admin_required(const std::string& what) {
    return make_error(Errc::forbidden, "admin_required", "only an admin may " + what);
}

//! Turns a handler that returns Result into one that answers errors in the REST shape.
HttpHandler answer(Handler fn) {
    return [fn = std::move(fn)](const HttpRequest& req) {
        auto r = fn(req);
        return r ? std::move(*r) : HttpResponse::error(r.error());
    };
}

Result<Principal> caller_of(const HttpRequest& req) {
    if (!req.principal) {
        return make_error(Errc::unauthenticated, "credential_missing", "sign in first");
    }
    return *req.principal;
}

Result<std::optional<std::string>> optional_string(const Json& body, const char* field) {
    const auto it = body.find(field);
    if (it == body.end() || it->is_null()) {
        return std::optional<std::string>{};
    }
    if (!it->is_string()) {
        return invalid_request(std::string("field '") + field + "' must be a string");
    }
    return std::optional<std::string>{it->get<std::string>()};
}

Result<std::string> required_string(const Json& body, const char* field) {
    auto s = optional_string(body, field);
    if (!s) {
        return s.error();
    }
    if (!*s) {
        return invalid_request(std::string("field '") + field + "' is missing");
    }
    return std::move(**s);
}

Result<std::optional<Role>> optional_role(const Json& body) {
    auto s = optional_string(body, "role");
    if (!s) {
        return s.error();
    }
    if (!*s) {
        return std::optional<Role>{};
    }
    auto role = role_from_string(**s);
    if (!role) {
        return invalid_request("field 'role' must be one of viewer, member, admin");
    }
    return std::optional<Role>{*role};
}

Result<std::optional<std::int64_t>> optional_id(const Json& body, const char* field) {
    const auto it = body.find(field);
    if (it == body.end() || it->is_null()) {
        return std::optional<std::int64_t>{};
    }
    if (!it->is_number_integer()) {
        return invalid_request(std::string("field '") + field + "' must be an integer");
    }
    return std::optional<std::int64_t>{it->get<std::int64_t>()};
}

Result<std::optional<bool>> optional_bool(const Json& body, const char* field) {
    const auto it = body.find(field);
    if (it == body.end() || it->is_null()) {
        return std::optional<bool>{};
    }
    if (!it->is_boolean()) {
        return invalid_request(std::string("field '") + field + "' must be true or false");
    }
    return std::optional<bool>{it->get<bool>()};
}

//! The `{id}` segment of the path as a positive integer.
Result<std::int64_t> path_id(const HttpRequest& req) {
    const auto it = req.params.find("id");
    std::int64_t id = 0;
    if (it != req.params.end()) {
        const auto& s = it->second;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
        if (ec == std::errc{} && end == s.data() + s.size() && id > 0) {
            return id;
        }
    }
    return invalid_request("path parameter 'id' must be a positive integer");
}

Json time_json(const std::optional<std::chrono::system_clock::time_point>& tp) {
    return tp ? Json(format_utc_iso8601(*tp)) : Json(nullptr);
}

Json user_json(const UserInfo& u) {
    return {{"id", u.id},
            {"name", u.name},
            {"role", to_string(u.role)},
            {"disabled", u.disabled},
            {"created_at", format_utc_iso8601(u.created_at)}};
}

Json api_token_json(const TokenInfo& t) {
    return {{"id", t.id},
            {"name", t.name},
            {"user_id", t.user_id},
            {"created_at", format_utc_iso8601(t.created_at)},
            {"last_used_at", time_json(t.last_used_at)},
            {"revoked_at", time_json(t.revoked_at)}};
}

Json node_token_json(const TokenInfo& t) {
    return {{"id", t.id},
            {"node_name", t.name},
            {"created_at", format_utc_iso8601(t.created_at)},
            {"last_used_at", time_json(t.last_used_at)},
            {"revoked_at", time_json(t.revoked_at)}};
}

//! The one answer that carries a secret; it must not be cached anywhere on the way.
HttpResponse issued_response(const Json& info, const std::string& secret) {
    auto res = HttpResponse::json({{"token", info}, {"secret", secret}}, 201);
    res.headers.emplace_back("cache-control", "no-store");
    return res;
}

std::string actor_of(const Principal& p) {
    return "user:" + p.name;
}

Result<HttpResponse> whoami(const HttpRequest& req) {
    auto caller = caller_of(req);
    if (!caller) {
        return caller.error();
    }
    return HttpResponse::json(
        {{"user",
          {{"id", caller->user_id}, {"name", caller->name}, {"role", to_string(caller->role)}}},
         {"token_id", caller->token_id}});
}

Result<HttpResponse> list_users(AuthService& auth) {
    auto users = auth.list_users();
    if (!users) {
        return users.error();
    }
    auto out = Json::array();
    for (const auto& u : *users) {
        out.push_back(user_json(u));
    }
    return HttpResponse::json({{"users", out}});
}

Result<HttpResponse> create_user(AuthService& auth, const HttpRequest& req) {
    auto caller = caller_of(req);
    auto body = json_object_body(req);
    if (!caller || !body) {
        return caller ? body.error() : caller.error();
    }
    auto name = required_string(*body, "name");
    if (!name) {
        return name.error();
    }
    auto password = required_string(*body, "password");
    if (!password) {
        return password.error();
    }
    auto role = optional_role(*body);
    if (!role) {
        return role.error();
    }

    auto user = auth.create_user(actor_of(*caller), *name, role->value_or(Role::member), *password);
    if (!user) {
        return user.error();
    }
    return HttpResponse::json({{"user", user_json(*user)}}, 201);
}

Result<HttpResponse> update_user(AuthService& auth, const HttpRequest& req) {
    auto caller = caller_of(req);
    auto id = path_id(req);
    auto body = json_object_body(req);
    if (!caller || !id || !body) {
        return !caller ? caller.error() : !id ? id.error() : body.error();
    }
    auto role = optional_role(*body);
    auto password = optional_string(*body, "password");
    auto disabled = optional_bool(*body, "disabled");
    if (!role || !password || !disabled) {
        return !role ? role.error() : !password ? password.error() : disabled.error();
    }
    if (!*role && !*password && !*disabled) {
        return invalid_request("nothing to change: give 'role', 'password' or 'disabled'");
    }

    auto user = auth.change_user(actor_of(*caller), *id,
                                 {.role = *role, .disabled = *disabled, .password = *password});
    if (!user) {
        return user.error();
    }
    return HttpResponse::json({{"user", user_json(*user)}});
}

Result<HttpResponse> list_tokens(AuthService& auth, const HttpRequest& req) {
    auto caller = caller_of(req);
    if (!caller) {
        return caller.error();
    }
    const auto* all = req.query_param("all");
    const bool want_all = all != nullptr && (*all == "1" || *all == "true");
    if (want_all && caller->role != Role::admin) {
        return admin_required("list every user's tokens");
    }

    auto tokens = auth.list_api_tokens(want_all ? std::nullopt
                                                : std::optional<std::int64_t>{caller->user_id});
    if (!tokens) {
        return tokens.error();
    }
    auto out = Json::array();
    for (const auto& t : *tokens) {
        out.push_back(api_token_json(t));
    }
    return HttpResponse::json({{"tokens", out}});
}

Result<HttpResponse> issue_token(AuthService& auth, const HttpRequest& req) {
    auto caller = caller_of(req);
    auto body = json_object_body(req);
    if (!caller || !body) {
        return caller ? body.error() : caller.error();
    }
    auto name = required_string(*body, "name");
    if (!name) {
        return name.error();
    }
    auto user_id = optional_id(*body, "user_id");
    if (!user_id) {
        return user_id.error();
    }
    const auto owner = user_id->value_or(caller->user_id);
    if (owner != caller->user_id && caller->role != Role::admin) {
        return admin_required("issue a token for another user");
    }

    auto issued = auth.issue_api_token(actor_of(*caller), owner, *name);
    if (!issued) {
        return issued.error();
    }
    return issued_response(api_token_json(issued->info), issued->secret);
}

Result<HttpResponse> revoke_token(AuthService& auth, const HttpRequest& req) {
    auto caller = caller_of(req);
    auto id = path_id(req);
    if (!caller || !id) {
        return caller ? id.error() : caller.error();
    }
    auto token = auth.revoke_api_token(*caller, *id);
    if (!token) {
        return token.error();
    }
    return HttpResponse::json({{"token", api_token_json(*token)}});
}

Result<HttpResponse> list_node_tokens(AuthService& auth) {
    auto tokens = auth.list_node_tokens();
    if (!tokens) {
        return tokens.error();
    }
    auto out = Json::array();
    for (const auto& t : *tokens) {
        out.push_back(node_token_json(t));
    }
    return HttpResponse::json({{"node_tokens", out}});
}

Result<HttpResponse> issue_node_token(AuthService& auth, const HttpRequest& req) {
    auto caller = caller_of(req);
    auto body = json_object_body(req);
    if (!caller || !body) {
        return caller ? body.error() : caller.error();
    }
    auto node = required_string(*body, "node_name");
    if (!node) {
        return node.error();
    }

    auto issued = auth.issue_node_token(actor_of(*caller), *node);
    if (!issued) {
        return issued.error();
    }
    return issued_response(node_token_json(issued->info), issued->secret);
}

Result<HttpResponse> revoke_node_token(AuthService& auth, const HttpRequest& req) {
    auto caller = caller_of(req);
    auto id = path_id(req);
    if (!caller || !id) {
        return caller ? id.error() : caller.error();
    }
    auto token = auth.revoke_node_token(actor_of(*caller), *id);
    if (!token) {
        return token.error();
    }
    return HttpResponse::json({{"token", node_token_json(*token)}});
}

}  // namespace

Result<void> register_auth_routes(Router& router, AuthService& auth) {
    struct Route {
        const char* method;
        const char* pattern;
        Role min_role;
        Handler handler;
    };
    AuthService* a = &auth;
    const Route routes[] = {
        {"GET", "/v1/whoami", Role::viewer, whoami},
        {"GET", "/v1/users", Role::admin, [a](const HttpRequest&) { return list_users(*a); }},
        {"POST", "/v1/users", Role::admin,
         [a](const HttpRequest& r) { return create_user(*a, r); }},
        {"PATCH", "/v1/users/{id}", Role::admin,
         [a](const HttpRequest& r) { return update_user(*a, r); }},
        // Anyone signed in manages their own tokens; the handlers let only admins reach others'.
        {"GET", "/v1/tokens", Role::viewer,
         [a](const HttpRequest& r) { return list_tokens(*a, r); }},
        {"POST", "/v1/tokens", Role::viewer,
         [a](const HttpRequest& r) { return issue_token(*a, r); }},
        {"DELETE", "/v1/tokens/{id}", Role::viewer,
         [a](const HttpRequest& r) { return revoke_token(*a, r); }},
        {"GET", "/v1/node-tokens", Role::admin,
         [a](const HttpRequest&) { return list_node_tokens(*a); }},
        {"POST", "/v1/node-tokens", Role::admin,
         [a](const HttpRequest& r) { return issue_node_token(*a, r); }},
        {"DELETE", "/v1/node-tokens/{id}", Role::admin,
         [a](const HttpRequest& r) { return revoke_node_token(*a, r); }},
    };

    for (const auto& route : routes) {
        RouteOptions options;
        options.min_role = route.min_role;
        auto r = router.add_route(Listener::internal, route.method, route.pattern,
                                  answer(route.handler), options);
        if (!r) {
            return r.error();
        }
    }
    return {};
}

}  // namespace unidesk::kernel
