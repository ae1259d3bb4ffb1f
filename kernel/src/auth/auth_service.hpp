#pragma once

// Users, roles, API tokens and node tokens.
//
// Passwords are hashed with Argon2id (libsodium crypto_pwhash_str, interactive limits).
// Tokens are 256 random bits, shown once as "udk_" + 64 hex digits for API tokens and
// "udn_" + 64 hex digits for node tokens, and stored only as their SHA-256 digest (a fast
// hash is right here: the token has full entropy, unlike a password). Revoked tokens stay
// listed with their revocation time; last_used_at is written at most once a minute per token.
// Every change is written together with an event on the bus, in the same transaction:
// user.created, user.role_changed, user.password_changed, user.disabled, user.enabled,
// token.issued, token.revoked, node_token.issued, node_token.revoked. No payload ever holds a
// secret or a hash. Times written to the auth tables come from the Clock given here.
//
// Errors (besides the database's own `database_unavailable` ...):
//   invalid_argument  name_invalid, password_too_short, password_too_long
//   unauthenticated   token_invalid, token_revoked, password_invalid, user_disabled
//   forbidden         token_not_owned (a non-admin touching another user's token)
//   not_found         user_not_found, token_not_found
//   conflict          user_exists, user_disabled (issuing a token for one), last_admin
//
// Owned by the Kernel. Thread-safe; every call blocks on PostgreSQL (blocking workers only),
// and password calls also spend about a tenth of a second of CPU in Argon2id.

#include "unidesk/auth.hpp"
#include "unidesk/clock.hpp"
#include "unidesk/database.hpp"
#include "unidesk/event_bus.hpp"

#include <spdlog/logger.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace unidesk::kernel {

struct UserInfo {
    std::int64_t id = 0;
    std::string name;
    Role role = Role::viewer;
    bool disabled = false;
    std::chrono::system_clock::time_point created_at;
};

struct TokenInfo {
    std::int64_t id = 0;
    std::string name;          // API token: its label; node token: the node name it admits
    std::int64_t user_id = 0;  // API tokens only
    std::chrono::system_clock::time_point created_at;
    std::optional<std::chrono::system_clock::time_point> last_used_at;
    std::optional<std::chrono::system_clock::time_point> revoked_at;
};

//! A token as issued: the secret is in here once and nowhere else, ever.
struct IssuedToken {
    TokenInfo info;
    std::string secret;
};

struct InitialAdmin {
    std::string user;
    std::string password;  // random, printed once
    std::string token;     // an API token for the CLI, printed once
};

class AuthService final : public Auth {
public:
    //! Key of the transaction-scoped advisory lock held while the first admin is created, so
    //! that of several kernels starting together only one creates it.
    static constexpr std::int64_t kInitialAdminLockKey = 0x756e'6964'6175'7468;  // "unidauth"

    //! Initialises libsodium on first use; throws std::runtime_error if it cannot (start-up).
    AuthService(Database& db, EventBus& bus, Clock& clock, std::shared_ptr<spdlog::logger> log);

    Result<Principal> authenticate_token(std::string_view token) override;
    Result<Principal> authenticate_password(std::string_view user,
                                            std::string_view password) override;
    Result<NodeIdentity> authenticate_node_token(std::string_view token) override;

    //! Creates the first admin when no user exists yet (safe with several kernel instances:
    //! only one of them creates it). Returns the credentials when this call created them.
    Result<std::optional<InitialAdmin>> ensure_initial_admin(const std::string& user_name);

    Result<UserInfo> create_user(const std::string& actor, const std::string& name, Role role,
                                 const std::string& password);
    Result<std::vector<UserInfo>> list_users();
    Result<UserInfo> get_user(std::int64_t user_id);
    //! Refuses (`last_admin`) to take the role from the last enabled admin.
    Result<UserInfo> set_role(const std::string& actor, std::int64_t user_id, Role role);
    Result<void> set_password(const std::string& actor, std::int64_t user_id,
                              const std::string& password);
    //! A disabled user can neither sign in nor use their tokens; refuses the last admin.
    Result<UserInfo> set_disabled(const std::string& actor, std::int64_t user_id, bool disabled);

    //! What one request changes of a user; a part left empty stays as it is.
    struct UserChange {
        std::optional<Role> role;
        std::optional<bool> disabled;
        std::optional<std::string> password;
    };
    //! All the parts in one transaction: when one is refused (a short password, the last
    //! admin), nothing changes.
    Result<UserInfo> change_user(const std::string& actor, std::int64_t user_id,
                                 const UserChange& change);

    Result<IssuedToken> issue_api_token(const std::string& actor, std::int64_t user_id,
                                        const std::string& name);
    Result<std::vector<TokenInfo>> list_api_tokens(std::optional<std::int64_t> user_id);
    //! A non-admin may revoke only their own tokens; pass the caller to enforce it.
    //! Revoking a revoked token changes nothing and succeeds. Returns the token as it now is.
    Result<TokenInfo> revoke_api_token(const Principal& caller, std::int64_t token_id);

    Result<IssuedToken> issue_node_token(const std::string& actor, const std::string& node_name);
    Result<std::vector<TokenInfo>> list_node_tokens();
    Result<TokenInfo> revoke_node_token(const std::string& actor, std::int64_t token_id);

private:
    Database& db_;
    EventBus& bus_;
    Clock& clock_;
    std::shared_ptr<spdlog::logger> log_;
};

}  // namespace unidesk::kernel
