#include "session_store.hpp"

#include "crypto.hpp"

namespace unidesk::gateway {

using storage::random_hex;
using storage::sha256_hex;

SessionStore::SessionStore(Database& db, EventBus& bus, Auth& auth, SessionOptions options)
    : db_(db), bus_(bus), auth_(auth), options_(options) {}

Result<std::optional<std::chrono::seconds>> SessionStore::locked_out(
    const std::string& user, const std::string& remote_host) {
    return db_.transact([&](pqxx::work& tx) -> std::optional<std::chrono::seconds> {
        // For each key: how many failures in the window, and when the oldest counted one
        // leaves it (that is when one more attempt becomes possible).
        auto window = std::to_string(options_.failure_window.count());
        auto row = tx.exec_params1(
            "SELECT "
            " (SELECT count(*) FROM gateway_signin_failures WHERE user_name = $1 AND "
            "  at > now() - make_interval(secs => $3)), "
            " (SELECT count(*) FROM gateway_signin_failures WHERE remote_host = $2 AND "
            "  at > now() - make_interval(secs => $3)), "
            " (SELECT ceil(extract(epoch FROM min(at) + make_interval(secs => $3) - now())) "
            "  FROM gateway_signin_failures WHERE (user_name = $1 OR remote_host = $2) AND "
            "  at > now() - make_interval(secs => $3))",
            user, remote_host, window);
        auto by_user = row[0].as<long>();
        auto by_host = row[1].as<long>();
        if (by_user < options_.max_failures && by_host < 4L * options_.max_failures) {
            return std::nullopt;
        }
        long wait = row[2].is_null() ? 1 : std::max(1L, static_cast<long>(row[2].as<double>()));
        return std::chrono::seconds(wait);
    });
}

Result<OpenedSession> SessionStore::sign_in(const std::string& user, const std::string& password,
                                            const std::string& remote_host) {
    auto principal = auth_.authenticate_password(user, password);
    if (!principal) {
        if (principal.error().errc != Errc::unauthenticated) {
            return principal.error();
        }
        auto recorded = db_.transact_void([&](pqxx::work& tx) {
            tx.exec_params(
                "INSERT INTO gateway_signin_failures (user_name, remote_host) "
                "VALUES ($1, $2)",
                user, remote_host);
            // Old rows only ever count inside the window: drop them as we go.
            tx.exec_params(
                "DELETE FROM gateway_signin_failures WHERE at < now() - "
                "make_interval(secs => $1)",
                std::to_string(2 * options_.failure_window.count()));
            bus_.append(tx, {"session.signin_failed",
                             "user_name:" + user.substr(0, 64),
                             "remote:" + remote_host,
                             {{"user", user.substr(0, 64)}, {"remote", remote_host}}});
        });
        if (!recorded) {
            return recorded.error();
        }
        return principal.error();
    }

    OpenedSession opened{random_hex(32), random_hex(32), *principal, options_.lifetime};
    auto stored = db_.transact_void([&](pqxx::work& tx) {
        tx.exec_params(
            "INSERT INTO gateway_sessions (token_hash, user_id, csrf_token, "
            "expires_at, remote_host) VALUES ($1, $2, $3, now() + "
            "make_interval(secs => $4), $5)",
            sha256_hex(opened.token), principal->user_id, opened.csrf_token,
            std::to_string(options_.lifetime.count()), remote_host);
        tx.exec("DELETE FROM gateway_sessions WHERE expires_at < now()");
        bus_.append(tx, {"session.signed_in",
                         "user:" + std::to_string(principal->user_id),
                         "user:" + principal->name,
                         {{"remote", remote_host}}});
    });
    if (!stored) {
        return stored.error();
    }
    return opened;
}

Result<std::optional<SessionView>> SessionStore::find(const std::string& token) {
    return db_.transact([&](pqxx::work& tx) -> std::optional<SessionView> {
        auto rows = tx.exec_params(
            "SELECT u.id, u.name, u.role, u.disabled, s.csrf_token, "
            " s.last_seen_at < now() - interval '1 minute' "
            "FROM gateway_sessions s JOIN users u ON u.id = s.user_id "
            "WHERE s.token_hash = $1 AND s.expires_at > now()",
            sha256_hex(token));
        if (rows.empty() || rows[0][3].as<bool>()) {
            return std::nullopt;
        }
        auto role = role_from_string(rows[0][2].as<std::string>());
        if (!role) {
            return std::nullopt;
        }
        if (rows[0][5].as<bool>()) {
            tx.exec_params("UPDATE gateway_sessions SET last_seen_at = now() WHERE token_hash = $1",
                           sha256_hex(token));
        }
        return SessionView{
            Principal{rows[0][0].as<std::int64_t>(), rows[0][1].as<std::string>(), *role, 0},
            rows[0][4].as<std::string>()};
    });
}

Result<void> SessionStore::sign_out(const std::string& token) {
    return db_.transact_void([&](pqxx::work& tx) {
        auto rows = tx.exec_params(
            "DELETE FROM gateway_sessions s USING users u WHERE s.token_hash = $1 AND "
            "u.id = s.user_id RETURNING u.id, u.name",
            sha256_hex(token));
        if (!rows.empty()) {
            bus_.append(tx, {"session.signed_out", "user:" + rows[0][0].as<std::string>(),
                             "user:" + rows[0][1].as<std::string>(), nlohmann::json::object()});
        }
    });
}

}  // namespace unidesk::gateway
