// The gateway plugin: the public listener for people. It signs people in with a password and a
// session cookie (CSRF token for state-changing requests), serves the internal REST API under
// /v1/ and /health to them with the same role checks, streams bus events live over
// Server-Sent Events, and serves the built web UI. docs/reference/rest-api.md (Sessions and
// live updates) describes its routes.
//
// Threads: REST handlers and the authenticator run on kernel workers; each live stream runs on
// the thread the kernel gives a stream route; the live feed has one polling thread. stop()
// joins that thread; the kernel stops the listeners (ending every live stream) before it.

#include "crypto.hpp"
#include "live_feed.hpp"
#include "session_store.hpp"
#include "web_files.hpp"

#include <unidesk/plugin.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

namespace unidesk::gateway {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const char* kCookie = "unidesk_session";

const std::string kSchema = R"sql(
CREATE TABLE gateway_sessions (
    token_hash text PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id),
    csrf_token text NOT NULL,
    remote_host text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX gateway_sessions_expiry ON gateway_sessions (expires_at);
CREATE TABLE gateway_signin_failures (
    id bigserial PRIMARY KEY,
    user_name text NOT NULL,
    remote_host text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gateway_signin_failures_user ON gateway_signin_failures (user_name, at);
CREATE INDEX gateway_signin_failures_host ON gateway_signin_failures (remote_host, at);
)sql";

const PluginDescriptor& describe() {
    static const PluginDescriptor d{
        .name = "gateway",
        .kind = PluginKind::gateway,
        .version = "0.1.0",
        .description =
            "Serves people on the public listener: sign-in, the REST API, live "
            "updates and the web UI.",
        .config =
            {{"web_dir", ConfigType::string, "",
              "The folder of the built web UI (web/dist). Empty: pages answer 503 "
              "web_ui_unavailable; the API still works."},
             {"session_hours", ConfigType::integer, 12,
              "How long a sign-in lasts before the person must sign in again."},
             {"secure_cookies", ConfigType::boolean, false,
              "Mark the session cookie Secure. Set it when people reach the server over HTTPS "
              "(a TLS-terminating reverse proxy in front of the public listener)."},
             {"signin_max_failures", ConfigType::integer, 5,
              "Failed sign-ins for one user name within signin_window_s before sign-in is "
              "refused with 429 (four times as many for one remote host)."},
             {"signin_window_s", ConfigType::integer, 300,
              "The sliding window over which failed sign-ins are counted."},
             {"live_poll_ms", ConfigType::integer, 200,
              "How often the live feed reads new events from the bus."},
             {"live_window_events", ConfigType::integer, 5000,
              "How many recent events the live feed keeps for streams that lag; a stream "
              "further behind is told to re-read."},
             {"live_ping_s", ConfigType::integer, 15,
              "Seconds between keep-alive comments on an idle live stream."}},
        .migrations = {{1, "create sessions and sign-in failures", kSchema}},
    };
    return d;
}

// The API's first path segment after /v1/ and the plugin that serves it.
const std::map<std::string, std::string> kPluginOfPrefix = {
    {"tasks", "scheduler"}, {"storage", "storage"}, {"projects", "projects"}};

std::optional<std::string> cookie_value(const HttpRequest& req, const std::string& name) {
    const std::string* header = req.header("cookie");
    if (header == nullptr) {
        return std::nullopt;
    }
    std::string_view rest = *header;
    while (!rest.empty()) {
        auto semi = rest.find(';');
        auto pair = rest.substr(0, semi);
        rest = semi == std::string_view::npos ? "" : rest.substr(semi + 1);
        while (!pair.empty() && pair.front() == ' ') {
            pair.remove_prefix(1);
        }
        auto eq = pair.find('=');
        if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
            return std::string(pair.substr(eq + 1));
        }
    }
    return std::nullopt;
}

// TODO: behind a reverse proxy every person has the proxy's address, so the per-host sign-in
// limit counts all of them together; X-Forwarded-For is not trusted because nothing here
// knows which proxies are.
std::string host_of(const std::string& remote) {
    auto colon = remote.rfind(':');
    return colon == std::string::npos ? remote : remote.substr(0, colon);
}

bool changes_state(const std::string& method) {
    return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

json user_json(const Principal& p) {
    return {{"name", p.name}, {"role", to_string(p.role)}};
}

class Gateway final : public Plugin {
public:
    Result<void> start(KernelContext& ctx) override {
        ctx_ = &ctx;
        log_ = ctx.logger();
        const auto& cfg = ctx.config();
        SessionOptions so;
        so.lifetime = std::chrono::hours(cfg.at("session_hours").get<int>());
        so.max_failures = cfg.at("signin_max_failures").get<int>();
        so.failure_window = std::chrono::seconds(cfg.at("signin_window_s").get<int>());
        if (so.lifetime.count() <= 0 || so.max_failures <= 0 || so.failure_window.count() <= 0) {
            return make_error(Errc::invalid_argument, "config_invalid",
                              "session_hours, signin_max_failures and signin_window_s must be "
                              "positive");
        }
        secure_ = cfg.at("secure_cookies").get<bool>();
        ping_ = std::chrono::seconds(std::max(1, cfg.at("live_ping_s").get<int>()));
        sessions_.emplace(ctx.database(), ctx.events(), ctx.auth(), so);
        web_.emplace(cfg.at("web_dir").get<std::string>());

        LiveFeedOptions lo;
        lo.poll_interval =
            std::chrono::milliseconds(std::max(10, cfg.at("live_poll_ms").get<int>()));
        lo.capacity =
            static_cast<std::size_t>(std::max(100, cfg.at("live_window_events").get<int>()));
        feed_.emplace(ctx.events(), ctx.database(), lo, log_);
        feed_->start();

        if (auto r = add_routes(); !r) {
            return r;
        }
        log_->info("gateway started web_dir=\"{}\" secure_cookies={}",
                   cfg.at("web_dir").get<std::string>(), secure_);
        return {};
    }

    void stop() override {
        if (feed_) {
            feed_->stop();
        }
    }

    HealthReport health() override {
        if (web_ && !web_failure_.load()) {
            return {HealthState::ok, {}};
        }
        return {HealthState::degraded, "the web UI is not built; the API still answers"};
    }

private:
    Result<void> add_routes() {
        auto& router = ctx_->router();
        const RouteOptions open{.min_role = std::nullopt};
        auto add = [&](const char* method, const char* pattern, HttpHandler h,
                       RouteOptions o) -> Result<void> {
            return router.add_route(Listener::public_, method, pattern, std::move(h), o);
        };

        if (auto r = router.set_authenticator(
                Listener::public_, [this](const HttpRequest& req) { return authenticate(req); });
            !r) {
            return r;
        }
        for (const char* prefix : {"/v1/", "/health"}) {
            if (auto r = router.expose_internal(prefix); !r) {
                return r;
            }
        }

        std::vector<Result<void>> added;
        added.push_back(add(
            "POST", "/v1/session", [this](const HttpRequest& r) { return sign_in(r); }, open));
        added.push_back(add(
            "GET", "/v1/session", [this](const HttpRequest& r) { return show_session(r); }, open));
        added.push_back(add(
            "DELETE", "/v1/session", [this](const HttpRequest& r) { return sign_out(r); }, open));
        added.push_back(router.add_stream_route(
            Listener::public_, "GET", "/v1/live",
            [this](const HttpRequest& r, BodyReader&, ResponseStream& out) { return live(r, out); },
            RouteOptions{.min_role = Role::viewer}));
        for (const char* method : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
            added.push_back(add(
                method, "/v1/{rest...}", [this](const HttpRequest& r) { return no_api_route(r); },
                open));
        }
        added.push_back(add(
            "GET", "/{path...}", [this](const HttpRequest& r) { return page(r); }, open));
        for (auto& r : added) {
            if (!r) {
                return r;
            }
        }
        return {};
    }

    // The public listener's way to know a person: the session cookie, and for a state change
    // the session's CSRF token in X-CSRF-Token.
    std::optional<Result<Principal>> authenticate(const HttpRequest& req) {
        auto token = cookie_value(req, kCookie);
        if (!token || token->empty()) {
            return std::nullopt;
        }
        auto found = sessions_->find(*token);
        if (!found) {
            return Result<Principal>(found.error());
        }
        if (!*found) {
            return Result<Principal>(make_error(Errc::unauthenticated, "session_expired",
                                                "the session has ended; sign in again"));
        }
        if (changes_state(req.method)) {
            const std::string* sent = req.header("x-csrf-token");
            if (sent == nullptr || !storage::constant_time_equal(*sent, (*found)->csrf_token)) {
                return Result<Principal>(make_error(
                    Errc::forbidden, "csrf_invalid",
                    "this request changes something and needs the X-CSRF-Token header of the "
                    "session"));
            }
        }
        return Result<Principal>((*found)->principal);
    }

    HttpResponse sign_in(const HttpRequest& req) {
        auto parsed = json_object_body(req);
        if (!parsed) {
            return HttpResponse::error(parsed.error());
        }
        const json& body = *parsed;
        if (!body.contains("user") || !body["user"].is_string() || !body.contains("password") ||
            !body["password"].is_string()) {
            return HttpResponse::error(make_error(Errc::invalid_argument, "invalid_request",
                                                  "send {\"user\": ..., \"password\": ...}"));
        }
        auto user = body["user"].get<std::string>();
        auto host = host_of(req.remote);

        auto locked = sessions_->locked_out(user, host);
        if (!locked) {
            return HttpResponse::error(locked.error());
        }
        if (*locked) {
            log_->warn("sign-in refused, too many failures user=\"{}\" remote={}",
                       user.substr(0, 64), host);
            auto res =
                HttpResponse::json({{"error",
                                     {{"code", "too_many_attempts"},
                                      {"message", "too many failed sign-ins; try again in " +
                                                      std::to_string((*locked)->count()) + " s"}}}},
                                   429);
            res.headers.emplace_back("Retry-After", std::to_string((*locked)->count()));
            return res;
        }

        auto opened = sessions_->sign_in(user, body["password"].get<std::string>(), host);
        if (!opened) {
            if (opened.error().errc == Errc::unauthenticated) {
                log_->warn("sign-in failed user=\"{}\" remote={}", user.substr(0, 64), host);
                return HttpResponse::error(make_error(Errc::unauthenticated, "password_invalid",
                                                      "wrong user name or password"));
            }
            return HttpResponse::error(opened.error());
        }
        log_->info("signed in user={} remote={}", opened->principal.name, host);
        auto res = HttpResponse::json(
            {{"user", user_json(opened->principal)}, {"csrf_token", opened->csrf_token}});
        res.headers.emplace_back("Set-Cookie",
                                 cookie(opened->token, opened->lifetime.count(), req.secure));
        res.headers.emplace_back("Cache-Control", "no-store");
        return res;
    }

    HttpResponse show_session(const HttpRequest& req) {
        auto token = cookie_value(req, kCookie);
        if (token && !token->empty()) {
            auto found = sessions_->find(*token);
            if (!found) {
                return HttpResponse::error(found.error());
            }
            if (*found) {
                auto res = HttpResponse::json({{"user", user_json((*found)->principal)},
                                               {"csrf_token", (*found)->csrf_token}});
                res.headers.emplace_back("Cache-Control", "no-store");
                return res;
            }
        }
        if (req.principal) {
            // A bearer token: no session, so no CSRF token either.
            return HttpResponse::json(
                {{"user", user_json(*req.principal)}, {"csrf_token", nullptr}});
        }
        return HttpResponse::error(
            make_error(Errc::unauthenticated, "not_signed_in", "no session; sign in first"));
    }

    HttpResponse sign_out(const HttpRequest& req) {
        auto token = cookie_value(req, kCookie);
        if (token && !token->empty()) {
            if (auto r = sessions_->sign_out(*token); !r) {
                return HttpResponse::error(r.error());
            }
        }
        HttpResponse res;
        res.status = 204;
        res.content_type = "text/plain";
        res.headers.emplace_back("Set-Cookie", cookie("", 0, req.secure));
        return res;
    }

    // Secure whenever the request came over HTTPS, or the config says a proxy in front does.
    std::string cookie(const std::string& value, long max_age, bool over_tls) const {
        return std::string(kCookie) + "=" + value +
               "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" + std::to_string(max_age) +
               (secure_ || over_tls ? "; Secure" : "");
    }

    // A /v1/ path no route serves: say so, and name the plugin when one that would serve it
    // is not running.
    HttpResponse no_api_route(const HttpRequest& req) {
        const auto& rest = req.params.at("rest");
        auto first = rest.substr(0, rest.find('/'));
        auto it = kPluginOfPrefix.find(first);
        if (it != kPluginOfPrefix.end() &&
            !ctx_->router().routed(Listener::internal, "GET", "/v1/" + first)) {
            return HttpResponse::error(make_error(Errc::unavailable, "plugin_unavailable",
                                                  "the " + it->second +
                                                      " plugin is not running, so /v1/" + first +
                                                      " is unavailable; /health says why"));
        }
        return HttpResponse::error(make_error(Errc::not_found, "not_found",
                                              "no route for " + req.method + " " + req.path));
    }

    HttpResponse page(const HttpRequest& req) {
        auto res = web_->serve(req.params.at("path"));
        web_failure_ = res.status == 503;
        return res;
    }

    std::optional<HttpResponse> live(const HttpRequest& req, ResponseStream& out) {
        std::int64_t cursor = -1;
        const std::string* resume = req.header("last-event-id");
        if (resume == nullptr) {
            resume = req.query_param("after");
        }
        if (resume != nullptr && !resume->empty()) {
            try {
                cursor = std::stoll(*resume);
            } catch (const std::exception&) {
                return HttpResponse::error(make_error(Errc::invalid_argument, "invalid_argument",
                                                      "after must be an event id"));
            }
        }

        if (!out.begin(200, "text/event-stream",
                       {{"Cache-Control", "no-store"}, {"X-Accel-Buffering", "no"}},
                       std::nullopt)) {
            return std::nullopt;
        }
        auto first = feed_->wait_after(cursor, 2s);
        std::string hello = "event: hello\ndata: " + json{{"latest", first.cursor}}.dump() + "\n\n";
        if (!out.write(hello) || !forward(out, first)) {
            return std::nullopt;
        }

        cursor = first.cursor;
        auto last_write = std::chrono::steady_clock::now();
        bool unavailable = first.unavailable.has_value();
        while (out.open()) {
            auto batch = feed_->wait_after(cursor, 1s);
            if (batch.unavailable) {
                if (!unavailable && !forward(out, batch)) {
                    return std::nullopt;
                }
                unavailable = true;
                std::this_thread::sleep_for(1s);
                continue;
            }
            if (unavailable) {
                // The bus came back: what was missed meanwhile is read again through REST.
                unavailable = false;
                batch.behind = true;
            }
            if (!batch.text.empty() || batch.behind) {
                if (!forward(out, batch)) {
                    return std::nullopt;
                }
                last_write = std::chrono::steady_clock::now();
            } else if (std::chrono::steady_clock::now() - last_write >= ping_) {
                if (!out.write(": ping\n\n")) {
                    return std::nullopt;
                }
                last_write = std::chrono::steady_clock::now();
            }
            cursor = batch.cursor;
        }
        return std::nullopt;
    }

    static bool forward(ResponseStream& out, const LiveBatch& batch) {
        std::string text;
        if (batch.unavailable) {
            text += "event: unavailable\ndata: " +
                    json{{"reason", "the event bus cannot be read: " + *batch.unavailable}}.dump() +
                    "\n\n";
        }
        if (batch.behind) {
            text += "event: resync\ndata: " +
                    json{{"reason", "events were missed; read the current state again"},
                         {"latest", batch.cursor}}
                        .dump() +
                    "\n\n";
        }
        text += batch.text;
        return text.empty() || out.write(text).has_value();
    }

    KernelContext* ctx_ = nullptr;
    std::shared_ptr<spdlog::logger> log_;
    std::optional<SessionStore> sessions_;
    std::optional<WebFiles> web_;
    std::optional<LiveFeed> feed_;
    bool secure_ = false;
    std::chrono::seconds ping_{15};
    std::atomic<bool> web_failure_{false};
};

Plugin* make() {
    return new Gateway();
}

const PluginEntry entry{kPluginApiVersion, &describe, &make};

}  // namespace
}  // namespace unidesk::gateway

UNIDESK_PLUGIN(unidesk::gateway::entry)
