#pragma once

// Who is calling. The kernel authenticates every REST request before a handler runs (bearer
// API tokens here; the gateway adds session cookies) and checks the route's minimum role.

#include "unidesk/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace unidesk {

//! Ordered: a higher role may do everything a lower one may.
enum class Role { viewer = 0, member = 1, admin = 2 };

inline const char* to_string(Role r) noexcept {
    switch (r) {
    case Role::viewer: return "viewer";
    case Role::member: return "member";
    case Role::admin: return "admin";
    }
    return "viewer";
}

inline std::optional<Role> role_from_string(std::string_view s) noexcept {
    if (s == "viewer") {
        return Role::viewer;
    }
    if (s == "member") {
        return Role::member;
    }
    if (s == "admin") {
        return Role::admin;
    }
    return std::nullopt;
}

struct Principal {
    std::int64_t user_id = 0;
    std::string name;
    Role role = Role::viewer;
    std::int64_t token_id = 0;  // the API token used, 0 for a password or session sign-in
};

//! A compute node proven by its node token.
struct NodeIdentity {
    std::int64_t token_id = 0;
    std::string node_name;
};

//! Thread-safe; every call may block on PostgreSQL, so call it from a blocking worker.
//! Errors: `unauthenticated` with code `token_invalid`, `token_revoked`, `user_disabled` (a
//! valid API token of a disabled user) or `password_invalid` (also for a disabled user, so a
//! password guess learns nothing); `unavailable` with `database_unavailable`.
class Auth {
public:
    virtual ~Auth() = default;
    virtual Result<Principal> authenticate_token(std::string_view token) = 0;
    virtual Result<Principal> authenticate_password(std::string_view user,
                                                    std::string_view password) = 0;
    virtual Result<NodeIdentity> authenticate_node_token(std::string_view token) = 0;
};

}  // namespace unidesk
