#pragma once

// REST requests and answers as plain values, so that plugins never see Beast. The kernel's
// HTTP listeners parse requests, authenticate them, run the matching handler on a blocking
// worker thread and write the answer.

#include "unidesk/auth.hpp"
#include "unidesk/result.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace unidesk {

enum class Listener {
    internal,  // the core API: on the internal network only
    public_,   // the people-facing listener the gateway plugin serves
};

struct HttpRequest {
    std::string method;                          // "GET", "POST" ...
    std::string path;                            // without the query string, percent-decoded
    std::map<std::string, std::string> query;    // decoded query parameters
    std::map<std::string, std::string> headers;  // names in lower case
    std::map<std::string, std::string> params;   // from the route pattern, e.g. {id}
    std::string body;
    std::string remote;                  // peer address
    std::optional<Principal> principal;  // set when the request carried a credential

    const std::string* header(const std::string& lower_name) const {
        auto it = headers.find(lower_name);
        return it == headers.end() ? nullptr : &it->second;
    }
    const std::string* query_param(const std::string& name) const {
        auto it = query.find(name);
        return it == query.end() ? nullptr : &it->second;
    }
};

struct HttpResponse {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;

    static HttpResponse json(const nlohmann::json& j, int status = 200) {
        HttpResponse r;
        r.status = status;
        r.body = j.dump();
        return r;
    }

    //! The one shape of every REST error: {"error": {"code": ..., "message": ...}}.
    static HttpResponse error(const Error& e) {
        return json({{"error", {{"code", e.code}, {"message", e.message}}}}, http_status(e.errc));
    }
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct RouteOptions {
    //! The least role a caller needs; std::nullopt makes the route open to anyone (health,
    //! metrics, sign-in). A route with a role answers 401 without a valid credential and 403
    //! with too low a role before the handler runs.
    std::optional<Role> min_role = Role::viewer;
};

//! Route patterns are literal segments and `{name}` segments, e.g. "/v1/tokens/{id}".
//! Thread-safe. Handlers run on blocking worker threads and may block on the database; an
//! exception escaping a handler becomes a 500 `internal` answer naming the route's owner.
class Router {
public:
    virtual ~Router() = default;

    //! Fails with `route_conflict` when the same method and pattern are taken on that listener.
    virtual Result<void> add_route(Listener listener, std::string method, std::string pattern,
                                   HttpHandler handler, RouteOptions options = {}) = 0;
};

}  // namespace unidesk
