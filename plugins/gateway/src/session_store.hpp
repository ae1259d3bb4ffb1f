#pragma once

// Sign-in sessions of the web UI and the record of failed sign-ins, both in PostgreSQL
// (`gateway_sessions`, `gateway_signin_failures`), so every kernel instance behind a load
// balancer knows every session and counts every failure.
//
// A session token is 256 random bits, sent to the browser once in an HttpOnly cookie and stored
// only as its SHA-256 digest. Each session has its own CSRF token, which the browser reads from
// the sign-in answer and sends back in `X-CSRF-Token` on every state-changing request. A
// session ends at its expiry, at sign-out, or as soon as its user is disabled; its role is
// read from `users` on every request, so a role change applies at once.
//
// Failed sign-ins are counted per user name and per remote host over a sliding window; past
// the limit (per host: four times the limit, since several people may share an address),
// sign-in is refused before the password is checked.
//
// Errors: `database_unavailable` and the like from Database; `password_invalid`,
// `user_disabled` from Auth. Thread-safe; every call blocks on PostgreSQL.

#include <unidesk/auth.hpp>
#include <unidesk/database.hpp>
#include <unidesk/event_bus.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace unidesk::gateway {

struct SessionOptions {
    std::chrono::seconds lifetime{12 * 3600};
    int max_failures = 5;
    std::chrono::seconds failure_window{300};
};

struct OpenedSession {
    std::string token;  // the cookie value; stored nowhere
    std::string csrf_token;
    Principal principal;
    std::chrono::seconds lifetime{0};
};

struct SessionView {
    Principal principal;
    std::string csrf_token;
};

class SessionStore {
public:
    SessionStore(Database& db, EventBus& bus, Auth& auth, SessionOptions options);

    //! How long sign-in stays refused for this user name or remote host; nullopt when allowed.
    Result<std::optional<std::chrono::seconds>> locked_out(const std::string& user,
                                                           const std::string& remote_host);
    //! Checks the password, records a failure or opens a session, and appends
    //! `session.signin_failed` or `session.signed_in`.
    Result<OpenedSession> sign_in(const std::string& user, const std::string& password,
                                  const std::string& remote_host);
    //! The live session of that token; nullopt for an unknown, expired or disabled one.
    Result<std::optional<SessionView>> find(const std::string& token);
    //! Ends the session (nothing when it is unknown) and appends `session.signed_out`.
    Result<void> sign_out(const std::string& token);

private:
    Database& db_;
    EventBus& bus_;
    Auth& auth_;
    SessionOptions options_;
};

}  // namespace unidesk::gateway
