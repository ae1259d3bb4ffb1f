#pragma once

// REST requests and answers as plain values, so that plugins never see Beast. The kernel's
// HTTP listeners parse requests, authenticate them, run the matching handler on a blocking
// worker thread and write the answer.

#include "unidesk/auth.hpp"
#include "unidesk/json_text.hpp"
#include "unidesk/result.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
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
    bool secure = false;                 // arrived over TLS
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

//! The body of a request as a JSON object, or the answer every route gives when it is not one:
//! `400 invalid_request` for malformed JSON, for another JSON value, and for text holding the
//! NUL character (`\u0000`), which no text column can store.
inline Result<nlohmann::json> json_object_body(const HttpRequest& req) {
    auto j = nlohmann::json::parse(req.body, nullptr, false);
    if (j.is_discarded()) {
        return make_error(Errc::invalid_argument, "invalid_request",
                          "the request body is not valid JSON");
    }
    if (!j.is_object()) {
        return make_error(Errc::invalid_argument, "invalid_request",
                          "the request body must be a JSON object");
    }
    if (replace_nul(j) > 0) {
        return make_error(Errc::invalid_argument, "invalid_request",
                          "text in the request body may not contain the NUL character (\\u0000)");
    }
    return ok_value(std::move(j));
}

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

//! A request body read in pieces, for bodies too large to hold (uploads). Used only by the
//! thread running the stream handler. The body is bounded by nothing but the handler.
class BodyReader {
public:
    virtual ~BodyReader() = default;
    //! The declared Content-Length; nullopt for a chunked body.
    virtual std::optional<std::uint64_t> content_length() const = 0;
    //! Reads up to `max` bytes into `out`; 0 once the whole body has been read. Fails with
    //! `unavailable`/`peer_gone` when the peer closed the connection or stayed silent past the
    //! listener's request timeout, and `invalid_argument`/`malformed_body` on a framing error.
    virtual Result<std::size_t> read(char* out, std::size_t max) = 0;
};

//! An answer written in pieces: file downloads and live event streams. Used only by the
//! thread running the stream handler. Nothing is sent until begin().
class ResponseStream {
public:
    virtual ~ResponseStream() = default;
    //! Sends the status line and headers. With a content length the body must be exactly that
    //! long; without one it is sent chunked. May be called once.
    virtual Result<void> begin(int status, const std::string& content_type,
                               const std::vector<std::pair<std::string, std::string>>& headers,
                               std::optional<std::uint64_t> content_length) = 0;
    //! Sends one piece and returns once the socket took it, so memory stays bounded by the
    //! piece. Fails with `unavailable`/`peer_gone` when the peer left or stopped reading.
    virtual Result<void> write(std::string_view data) = 0;
    //! False once the listener is stopping or the peer is known to be gone: a handler that
    //! waits for something to send (a live stream) checks it at least every second.
    virtual bool open() const = 0;
};

//! A stream handler runs on a thread of its own (not the worker pool), so a long download or a
//! live stream holds no worker. Before begin() it may still answer normally by returning a
//! response (an error, a redirect); after begin() its return value is ignored and returning ends
//! the answer. When it returns without reading the whole body, the connection is closed after
//! the answer instead of being kept alive.
using StreamHandler =
    std::function<std::optional<HttpResponse>(const HttpRequest&, BodyReader&, ResponseStream&)>;

//! Decides who sent a request that carries no bearer token (session cookies on the public
//! listener). nullopt: the request carries no credential it knows, and the route's role check
//! then answers 401 if it needs one. An Error refuses the request with that error (a bad
//! cookie, a missing CSRF token). Runs on the thread that handles the request; may block.
using Authenticator = std::function<std::optional<Result<Principal>>(const HttpRequest&)>;

struct RouteOptions {
    //! The least role a caller needs; std::nullopt makes the route open to anyone (health,
    //! metrics, sign-in). A route with a role answers 401 without a valid credential and 403
    //! with too low a role before the handler runs.
    std::optional<Role> min_role = Role::viewer;
};

//! Route patterns are literal segments and `{name}` segments, e.g. "/v1/tokens/{id}"; a last
//! segment `{name...}` captures the rest of the path, slashes included, and ranks below every
//! route without one (e.g. "/v1/objects/{key...}", or "/{path...}" for a web UI's pages).
//! Thread-safe. Handlers run on blocking worker threads and may block on the database; an
//! exception escaping a handler becomes a 500 `internal` answer naming the route's owner.
//! Everything a plugin adds through its Router is removed when the plugin stops.
class Router {
public:
    virtual ~Router() = default;

    //! Fails with `route_conflict` when the same method and pattern are taken on that listener.
    virtual Result<void> add_route(Listener listener, std::string method, std::string pattern,
                                   HttpHandler handler, RouteOptions options = {}) = 0;

    //! The same, for a handler that reads the body and writes the answer in pieces. The
    //! listener's body size limit does not apply; the handler sets its own.
    virtual Result<void> add_stream_route(Listener listener, std::string method,
                                          std::string pattern, StreamHandler handler,
                                          RouteOptions options = {}) = 0;

    //! Consulted for requests without a bearer token on that listener. One per listener:
    //! fails with `authenticator_conflict` when another owner has set one.
    virtual Result<void> set_authenticator(Listener listener, Authenticator authenticator) = 0;

    //! Serves the internal listener's routes whose path starts with `prefix` on the public
    //! listener too, with the same role checks (e.g. "/v1/" and "/health"). A public route
    //! matches first, then an exposed internal route, then a public `{name...}` route.
    virtual Result<void> expose_internal(std::string prefix) = 0;

    //! Whether a request with that method and path would reach a route on that listener (any
    //! owner's), e.g. to tell "this plugin is not running" from "no such path".
    virtual bool routed(Listener listener, const std::string& method,
                        const std::string& path) const = 0;
};

}  // namespace unidesk
