#include "auth/auth_service.hpp"

#include "db/sql_time.hpp"
#include "unidesk/protocol/messages.hpp"

#include <openssl/evp.h>
#include <sodium.h>

#include <array>
#include <mutex>
#include <stdexcept>
#include <utility>

namespace unidesk::kernel {

namespace {

constexpr std::string_view kApiTokenPrefix = "udk_";
constexpr std::string_view kNodeTokenPrefix = "udn_";
constexpr std::size_t kTokenBytes = 32;
constexpr std::size_t kMinPasswordLength = 12;
constexpr std::size_t kMaxPasswordLength = 1024;
constexpr std::size_t kMaxTokenNameLength = 100;
constexpr std::size_t kInitialPasswordLength = 24;
constexpr std::int64_t kLastUsedResolutionMicros = 60'000'000;

// Characters a person copies from a terminal without confusing them (no 0/O, 1/l/I).
constexpr std::string_view kPasswordAlphabet =
    "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

constexpr const char* kUserColumns = "id, name, role, disabled, " UNIDESK_MICROS("created_at");
constexpr const char* kApiTokenColumns = "id, name, user_id, " UNIDESK_MICROS(
    "created_at") ", " UNIDESK_MICROS("last_used_at") ", " UNIDESK_MICROS("revoked_at");
constexpr const char* kNodeTokenColumns = "id, node_name, 0::bigint, " UNIDESK_MICROS(
    "created_at") ", " UNIDESK_MICROS("last_used_at") ", " UNIDESK_MICROS("revoked_at");

[[noreturn]] void fail(Errc errc, std::string code, std::string message) {
    throw ResultError(make_error(errc, std::move(code), std::move(message)));
}

UserInfo user_from_row(const pqxx::row& row) {
    UserInfo u;
    u.id = row[0].as<std::int64_t>();
    u.name = row[1].as<std::string>();
    u.role = role_from_string(row[2].as<std::string>()).value_or(Role::viewer);
    u.disabled = row[3].as<bool>();
    u.created_at = from_micros(row[4].as<std::int64_t>());
    return u;
}

TokenInfo token_from_row(const pqxx::row& row) {
    TokenInfo t;
    t.id = row[0].as<std::int64_t>();
    t.name = row[1].as<std::string>();
    t.user_id = row[2].as<std::int64_t>();
    t.created_at = from_micros(row[3].as<std::int64_t>());
    t.last_used_at = optional_time(row[4]);
    t.revoked_at = optional_time(row[5]);
    return t;
}

// A user name is a node name that starts with a letter.
bool valid_name(std::string_view name) {
    return protocol::is_valid_node_name(name) && name[0] >= 'a' && name[0] <= 'z';
}

bool valid_token_name(std::string_view name) {
    if (name.empty() || name.size() > kMaxTokenNameLength) {
        return false;
    }
    for (unsigned char c : name) {
        if (c < 0x20 || c == 0x7f) {
            return false;
        }
    }
    return true;
}

std::string hex(const unsigned char* data, std::size_t size) {
    std::string out(size * 2 + 1, '\0');
    sodium_bin2hex(out.data(), out.size(), data, size);
    out.pop_back();
    return out;
}

std::string new_token_secret(std::string_view prefix) {
    std::array<unsigned char, kTokenBytes> raw{};
    randombytes_buf(raw.data(), raw.size());
    std::string secret(prefix);
    secret += hex(raw.data(), raw.size());
    sodium_memzero(raw.data(), raw.size());
    return secret;
}

//! The stored form of a token: hex of SHA-256 over its 32 random bytes (hex digits of either
//! case name the same token). nullopt when the text is not a well-formed token of that kind.
std::optional<std::string> token_digest(std::string_view token, std::string_view prefix) {
    if (token.size() != prefix.size() + kTokenBytes * 2 ||
        token.substr(0, prefix.size()) != prefix) {
        return std::nullopt;
    }
    const auto digits = token.substr(prefix.size());
    std::array<unsigned char, kTokenBytes> raw{};
    std::size_t len = 0;
    const char* end = nullptr;
    if (sodium_hex2bin(raw.data(), raw.size(), digits.data(), digits.size(), nullptr, &len, &end) !=
            0 ||
        len != kTokenBytes || end != digits.data() + digits.size()) {
        return std::nullopt;
    }

    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int md_len = 0;
    const int ok = EVP_Digest(raw.data(), raw.size(), md.data(), &md_len, EVP_sha256(), nullptr);
    sodium_memzero(raw.data(), raw.size());
    if (ok != 1 || md_len != 32) {
        return std::nullopt;
    }
    return hex(md.data(), md_len);
}

Result<void> check_new_password(std::string_view password) {
    if (password.size() < kMinPasswordLength) {
        return make_error(Errc::invalid_argument, "password_too_short",
                          "a password needs at least 12 characters");
    }
    if (password.size() > kMaxPasswordLength) {
        return make_error(Errc::invalid_argument, "password_too_long",
                          "a password may have at most 1024 characters");
    }
    return {};
}

Result<std::string> hash_password(std::string_view password) {
    std::array<char, crypto_pwhash_STRBYTES> out{};
    if (crypto_pwhash_str(out.data(), password.data(), password.size(),
                          crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        return make_error(Errc::internal, "password_hash_failed",
                          "could not hash the password (out of memory)");
    }
    return std::string(out.data());
}

bool verify_password(const std::string& hash, std::string_view password) {
    return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

//! A hash to verify against when the user does not exist, so that an unknown name costs as
//! much time as a wrong password and does not reveal which names exist.
const std::string& dummy_password_hash() {
    static const std::string hash = hash_password("unidesk-no-such-user").value();
    return hash;
}

std::string random_password() {
    std::string out;
    out.reserve(kInitialPasswordLength);
    for (std::size_t i = 0; i < kInitialPasswordLength; ++i) {
        out += kPasswordAlphabet[randombytes_uniform(kPasswordAlphabet.size())];
    }
    return out;
}

Error name_invalid(std::string_view what) {
    return make_error(
        Errc::invalid_argument, "name_invalid",
        std::string(what) + " must start with a-z and continue with at most 63 of a-z 0-9 _ . -");
}

Error token_invalid() {
    return make_error(Errc::unauthenticated, "token_invalid", "the token is not valid");
}

std::string user_subject(std::int64_t id) {
    return "user:" + std::to_string(id);
}

UserInfo insert_user(pqxx::work& tx, EventBus& bus, const std::string& actor,
                     const std::string& name, Role role, const std::string& hash,
                     std::int64_t now) {
    const auto r = tx.exec_params(std::string("INSERT INTO users (name, role, password_hash, "
                                              "created_at) VALUES ($1, $2, $3, ") +
                                      UNIDESK_TS("$4") +
                                      ") ON CONFLICT (name) DO NOTHING RETURNING " + kUserColumns,
                                  name, to_string(role), hash, now);
    if (r.empty()) {
        fail(Errc::conflict, "user_exists", "a user named " + name + " exists already");
    }
    auto user = user_from_row(r[0]);
    bus.append(tx, {"user.created",
                    user_subject(user.id),
                    actor,
                    {{"name", user.name}, {"role", to_string(user.role)}}});
    return user;
}

TokenInfo insert_api_token(pqxx::work& tx, EventBus& bus, const std::string& actor,
                           std::int64_t user_id, const std::string& name, const std::string& digest,
                           std::int64_t now) {
    const auto r = tx.exec_params1(std::string("INSERT INTO api_tokens (user_id, name, token_hash, "
                                               "created_at) VALUES ($1, $2, decode($3, 'hex'), ") +
                                       UNIDESK_TS("$4") + ") RETURNING " + kApiTokenColumns,
                                   user_id, name, digest, now);
    auto token = token_from_row(r);
    bus.append(tx, {"token.issued",
                    "token:" + std::to_string(token.id),
                    actor,
                    {{"user_id", user_id}, {"name", name}}});
    return token;
}

//! Sets last_used_at when it is unset or older than a minute, so a busy token costs at most
//! one write a minute. The WHERE repeats the check so concurrent requests write once.
void touch_token(pqxx::work& tx, const char* table, std::int64_t id,
                 const std::optional<TimePoint>& last_used, std::int64_t now) {
    if (last_used && now - to_micros(*last_used) < kLastUsedResolutionMicros) {
        return;
    }
    tx.exec_params(std::string("UPDATE ") + table + " SET last_used_at = " + UNIDESK_TS("$2") +
                       " WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < " +
                       UNIDESK_TS("$2") + " - interval '1 minute')",
                   id, now);
}

//! Locks the enabled admins and fails unless one other than user_id remains.
void require_other_admin(pqxx::work& tx, std::int64_t user_id) {
    const auto admins = tx.exec(
        "SELECT id FROM users WHERE role = 'admin' AND NOT disabled ORDER BY id FOR UPDATE");
    for (const auto& row : admins) {
        if (row[0].as<std::int64_t>() != user_id) {
            return;
        }
    }
    fail(Errc::conflict, "last_admin", "the last enabled admin must stay an enabled admin");
}

void init_sodium() {
    static std::once_flag once;
    static int rc = 0;
    std::call_once(once, [] { rc = sodium_init(); });
    if (rc < 0) {
        throw std::runtime_error("libsodium could not be initialised");
    }
}

}  // namespace

AuthService::AuthService(Database& db, EventBus& bus, Clock& clock,
                         std::shared_ptr<spdlog::logger> log)
    : db_(db), bus_(bus), clock_(clock), log_(std::move(log)) {
    init_sodium();
}

Result<Principal> AuthService::authenticate_token(std::string_view token) {
    const auto digest = token_digest(token, kApiTokenPrefix);
    if (!digest) {
        return token_invalid();
    }
    const auto now = to_micros(clock_.now());

    return db_.transact([&](pqxx::work& tx) {
        const auto r = tx.exec_params(
            "SELECT t.id, t.revoked_at IS NOT NULL, " UNIDESK_MICROS(
                "t.last_used_at") ", u.id, u.name, u.role, u.disabled "
                                  "FROM api_tokens t JOIN users u ON u.id = t.user_id "
                                  "WHERE t.token_hash = decode($1, 'hex')",
            *digest);
        if (r.empty()) {
            throw ResultError(token_invalid());
        }
        const auto& row = r[0];
        Principal p;
        p.token_id = row[0].as<std::int64_t>();
        p.user_id = row[3].as<std::int64_t>();
        p.name = row[4].as<std::string>();
        p.role = role_from_string(row[5].as<std::string>()).value_or(Role::viewer);
        if (row[1].as<bool>()) {
            fail(Errc::unauthenticated, "token_revoked", "the token was revoked");
        }
        if (row[6].as<bool>()) {
            fail(Errc::unauthenticated, "user_disabled", "the token's user is disabled");
        }

        touch_token(tx, "api_tokens", p.token_id, optional_time(row[2]), now);
        return p;
    });
}

Result<Principal> AuthService::authenticate_password(std::string_view user,
                                                     std::string_view password) {
    const auto wrong =
        make_error(Errc::unauthenticated, "password_invalid", "the user name or password is wrong");
    struct Row {
        Principal principal;
        std::string hash;
        bool disabled = false;
    };
    auto found = db_.transact([&](pqxx::work& tx) -> std::optional<Row> {
        const auto r = tx.exec_params(
            "SELECT id, name, role, password_hash, disabled FROM users WHERE name = $1",
            std::string(user));
        if (r.empty()) {
            return std::nullopt;
        }
        Row row;
        row.principal.user_id = r[0][0].as<std::int64_t>();
        row.principal.name = r[0][1].as<std::string>();
        row.principal.role = role_from_string(r[0][2].as<std::string>()).value_or(Role::viewer);
        row.hash = r[0][3].as<std::string>();
        row.disabled = r[0][4].as<bool>();
        return row;
    });
    if (!found) {
        return found.error();
    }

    // Argon2id runs outside the transaction so no pooled connection waits on it.
    // TODO: nothing limits failed attempts per user or per address, so a caller can guess
    // passwords as fast as Argon2id allows (a few a second per core), and every guess costs the
    // server that CPU and 64 MiB; callers exposed to the public should rate-limit sign-ins.
    if (!*found) {
        verify_password(dummy_password_hash(), password);
        return wrong;
    }
    const auto& row = **found;
    if (!verify_password(row.hash, password) || row.disabled) {
        return wrong;
    }
    return row.principal;
}

Result<NodeIdentity> AuthService::authenticate_node_token(std::string_view token) {
    const auto digest = token_digest(token, kNodeTokenPrefix);
    if (!digest) {
        return token_invalid();
    }
    const auto now = to_micros(clock_.now());

    return db_.transact([&](pqxx::work& tx) {
        const auto r = tx.exec_params(
            "SELECT id, node_name, revoked_at IS NOT NULL, " UNIDESK_MICROS(
                "last_used_at") " FROM node_tokens WHERE token_hash = decode($1, 'hex')",
            *digest);
        if (r.empty()) {
            throw ResultError(token_invalid());
        }
        NodeIdentity node{r[0][0].as<std::int64_t>(), r[0][1].as<std::string>()};
        if (r[0][2].as<bool>()) {
            fail(Errc::unauthenticated, "token_revoked", "the node token was revoked");
        }

        touch_token(tx, "node_tokens", node.token_id, optional_time(r[0][3]), now);
        return node;
    });
}

Result<std::optional<InitialAdmin>> AuthService::ensure_initial_admin(
    const std::string& user_name) {
    if (!valid_name(user_name)) {
        return name_invalid("the initial admin's name");
    }
    // The common case (users exist) costs one query and no Argon2id.
    auto exists = db_.transact([](pqxx::work& tx) {
        return tx.exec1("SELECT EXISTS (SELECT 1 FROM users)")[0].as<bool>();
    });
    if (!exists) {
        return exists.error();
    }
    if (*exists) {
        return std::optional<InitialAdmin>{};
    }

    InitialAdmin admin{user_name, random_password(), new_token_secret(kApiTokenPrefix)};
    auto hash = hash_password(admin.password);
    if (!hash) {
        return hash.error();
    }
    const auto digest = token_digest(admin.token, kApiTokenPrefix).value();
    const auto now = to_micros(clock_.now());

    auto created = db_.transact([&](pqxx::work& tx) {
        // Held to commit: a second kernel waits here, then sees the first one's admin.
        tx.exec_params("SELECT pg_advisory_xact_lock($1)", kInitialAdminLockKey);
        if (tx.exec1("SELECT EXISTS (SELECT 1 FROM users)")[0].as<bool>()) {
            return false;
        }
        const auto user = insert_user(tx, bus_, "kernel", user_name, Role::admin, *hash, now);
        insert_api_token(tx, bus_, "kernel", user.id, "initial", digest, now);
        return true;
    });
    if (!created) {
        return created.error();
    }
    if (!*created) {
        return std::optional<InitialAdmin>{};
    }
    log_->info("initial admin created user={}", user_name);
    return std::optional<InitialAdmin>{std::move(admin)};
}

Result<UserInfo> AuthService::create_user(const std::string& actor, const std::string& name,
                                          Role role, const std::string& password) {
    if (!valid_name(name)) {
        return name_invalid("a user name");
    }
    if (auto ok = check_new_password(password); !ok) {
        return ok.error();
    }
    auto hash = hash_password(password);
    if (!hash) {
        return hash.error();
    }
    const auto now = to_micros(clock_.now());

    auto user = db_.transact(
        [&](pqxx::work& tx) { return insert_user(tx, bus_, actor, name, role, *hash, now); });
    if (user) {
        log_->info("user created user_id={} user={} role={} actor={}", user->id, user->name,
                   to_string(role), actor);
    }
    return user;
}

Result<std::vector<UserInfo>> AuthService::list_users() {
    return db_.transact([](pqxx::work& tx) {
        std::vector<UserInfo> out;
        for (const auto& row :
             tx.exec(std::string("SELECT ") + kUserColumns + " FROM users ORDER BY id")) {
            out.push_back(user_from_row(row));
        }
        return out;
    });
}

Result<UserInfo> AuthService::get_user(std::int64_t user_id) {
    return db_.transact([&](pqxx::work& tx) {
        const auto r = tx.exec_params(
            std::string("SELECT ") + kUserColumns + " FROM users WHERE id = $1", user_id);
        if (r.empty()) {
            fail(Errc::not_found, "user_not_found", "no user has id " + std::to_string(user_id));
        }
        return user_from_row(r[0]);
    });
}

Result<UserInfo> AuthService::set_role(const std::string& actor, std::int64_t user_id, Role role) {
    return change_user(actor, user_id, {.role = role});
}

Result<UserInfo> AuthService::set_disabled(const std::string& actor, std::int64_t user_id,
                                           bool disabled) {
    return change_user(actor, user_id, {.disabled = disabled});
}

Result<void> AuthService::set_password(const std::string& actor, std::int64_t user_id,
                                       const std::string& password) {
    if (auto r = change_user(actor, user_id, {.password = password}); !r) {
        return r.error();
    }
    return {};
}

Result<UserInfo> AuthService::change_user(const std::string& actor, std::int64_t user_id,
                                          const UserChange& change) {
    // Argon2id runs before the transaction, so no row stays locked while it works.
    std::optional<std::string> hash;
    if (change.password) {
        if (auto ok = check_new_password(*change.password); !ok) {
            return ok.error();
        }
        auto h = hash_password(*change.password);
        if (!h) {
            return h.error();
        }
        hash = std::move(*h);
    }

    return db_.transact([&](pqxx::work& tx) {
        const auto r = tx.exec_params(
            std::string("SELECT ") + kUserColumns + " FROM users WHERE id = $1 FOR UPDATE",
            user_id);
        if (r.empty()) {
            fail(Errc::not_found, "user_not_found", "no user has id " + std::to_string(user_id));
        }
        auto user = user_from_row(r[0]);
        const Role new_role = change.role.value_or(user.role);
        const bool new_disabled = change.disabled.value_or(user.disabled);
        if (user.role == Role::admin && !user.disabled &&
            (new_role != Role::admin || new_disabled)) {
            require_other_admin(tx, user_id);
        }

        if (hash) {
            tx.exec_params("UPDATE users SET password_hash = $2 WHERE id = $1", user_id, *hash);
            bus_.append(
                tx, {"user.password_changed", user_subject(user_id), actor, {{"name", user.name}}});
            log_->info("password changed user_id={} actor={}", user_id, actor);
        }
        if (new_role == user.role && new_disabled == user.disabled) {
            return user;
        }
        tx.exec_params("UPDATE users SET role = $2, disabled = $3 WHERE id = $1", user_id,
                       to_string(new_role), new_disabled);
        if (new_role != user.role) {
            bus_.append(tx, {"user.role_changed",
                             user_subject(user_id),
                             actor,
                             {{"name", user.name},
                              {"from", to_string(user.role)},
                              {"to", to_string(new_role)}}});
        }
        if (new_disabled != user.disabled) {
            bus_.append(tx, {new_disabled ? "user.disabled" : "user.enabled",
                             user_subject(user_id),
                             actor,
                             {{"name", user.name}}});
        }
        log_->info("user changed user_id={} role={} disabled={} actor={}", user_id,
                   to_string(new_role), new_disabled, actor);
        user.role = new_role;
        user.disabled = new_disabled;
        return user;
    });
}

Result<IssuedToken> AuthService::issue_api_token(const std::string& actor, std::int64_t user_id,
                                                 const std::string& name) {
    if (!valid_token_name(name)) {
        return make_error(Errc::invalid_argument, "name_invalid",
                          "a token name needs 1 to 100 characters and no control characters");
    }
    IssuedToken issued;
    issued.secret = new_token_secret(kApiTokenPrefix);
    const auto digest = token_digest(issued.secret, kApiTokenPrefix).value();
    const auto now = to_micros(clock_.now());

    auto info = db_.transact([&](pqxx::work& tx) {
        const auto r =
            tx.exec_params("SELECT disabled FROM users WHERE id = $1 FOR SHARE", user_id);
        if (r.empty()) {
            fail(Errc::not_found, "user_not_found", "no user has id " + std::to_string(user_id));
        }
        if (r[0][0].as<bool>()) {
            fail(Errc::conflict, "user_disabled", "the user is disabled");
        }
        return insert_api_token(tx, bus_, actor, user_id, name, digest, now);
    });
    if (!info) {
        return info.error();
    }
    log_->info("api token issued token_id={} user_id={} actor={}", info->id, user_id, actor);
    issued.info = std::move(*info);
    return issued;
}

Result<std::vector<TokenInfo>> AuthService::list_api_tokens(std::optional<std::int64_t> user_id) {
    return db_.transact([&](pqxx::work& tx) {
        const auto base = std::string("SELECT ") + kApiTokenColumns + " FROM api_tokens";
        const auto r = user_id ? tx.exec_params(base + " WHERE user_id = $1 ORDER BY id", *user_id)
                               : tx.exec(base + " ORDER BY id");
        std::vector<TokenInfo> out;
        for (const auto& row : r) {
            out.push_back(token_from_row(row));
        }
        return out;
    });
}

Result<TokenInfo> AuthService::revoke_api_token(const Principal& caller, std::int64_t token_id) {
    const auto now = to_micros(clock_.now());
    const auto actor = "user:" + caller.name;

    return db_.transact([&](pqxx::work& tx) {
        const auto r = tx.exec_params(
            std::string("SELECT ") + kApiTokenColumns + " FROM api_tokens WHERE id = $1 FOR UPDATE",
            token_id);
        if (r.empty()) {
            fail(Errc::not_found, "token_not_found", "no token has id " + std::to_string(token_id));
        }
        auto token = token_from_row(r[0]);
        if (caller.role != Role::admin && token.user_id != caller.user_id) {
            fail(Errc::forbidden, "token_not_owned", "only an admin may revoke another's token");
        }
        if (token.revoked_at) {
            return token;
        }

        tx.exec_params(std::string("UPDATE api_tokens SET revoked_at = ") + UNIDESK_TS("$2") +
                           " WHERE id = $1",
                       token_id, now);
        bus_.append(tx, {"token.revoked",
                         "token:" + std::to_string(token_id),
                         actor,
                         {{"user_id", token.user_id}, {"name", token.name}}});
        log_->info("api token revoked token_id={} actor={}", token_id, actor);
        token.revoked_at = from_micros(now);
        return token;
    });
}

Result<IssuedToken> AuthService::issue_node_token(const std::string& actor,
                                                  const std::string& node_name) {
    if (!protocol::is_valid_node_name(node_name)) {
        return make_error(Errc::invalid_argument, "name_invalid",
                          "a node name must " + std::string(protocol::kNodeNameRule));
    }
    IssuedToken issued;
    issued.secret = new_token_secret(kNodeTokenPrefix);
    const auto digest = token_digest(issued.secret, kNodeTokenPrefix).value();
    const auto now = to_micros(clock_.now());

    auto info = db_.transact([&](pqxx::work& tx) {
        const auto row = tx.exec_params1(
            std::string("INSERT INTO node_tokens (node_name, token_hash, created_at) VALUES "
                        "($1, decode($2, 'hex'), ") +
                UNIDESK_TS("$3") + ") RETURNING " + kNodeTokenColumns,
            node_name, digest, now);
        auto token = token_from_row(row);
        bus_.append(tx, {"node_token.issued",
                         "node:" + node_name,
                         actor,
                         {{"token_id", token.id}, {"node_name", node_name}}});
        return token;
    });
    if (!info) {
        return info.error();
    }
    log_->info("node token issued token_id={} node={} actor={}", info->id, node_name, actor);
    issued.info = std::move(*info);
    return issued;
}

Result<std::vector<TokenInfo>> AuthService::list_node_tokens() {
    return db_.transact([](pqxx::work& tx) {
        std::vector<TokenInfo> out;
        for (const auto& row : tx.exec(std::string("SELECT ") + kNodeTokenColumns +
                                       " FROM node_tokens ORDER BY id")) {
            out.push_back(token_from_row(row));
        }
        return out;
    });
}

Result<TokenInfo> AuthService::revoke_node_token(const std::string& actor, std::int64_t token_id) {
    const auto now = to_micros(clock_.now());

    return db_.transact([&](pqxx::work& tx) {
        const auto r = tx.exec_params(std::string("SELECT ") + kNodeTokenColumns +
                                          " FROM node_tokens WHERE id = $1 FOR UPDATE",
                                      token_id);
        if (r.empty()) {
            fail(Errc::not_found, "token_not_found",
                 "no node token has id " + std::to_string(token_id));
        }
        auto token = token_from_row(r[0]);
        if (token.revoked_at) {
            return token;
        }

        tx.exec_params(std::string("UPDATE node_tokens SET revoked_at = ") + UNIDESK_TS("$2") +
                           " WHERE id = $1",
                       token_id, now);
        bus_.append(tx, {"node_token.revoked",
                         "node:" + token.name,
                         actor,
                         {{"token_id", token_id}, {"node_name", token.name}}});
        log_->info("node token revoked token_id={} node={} actor={}", token_id, token.name, actor);
        token.revoked_at = from_micros(now);
        return token;
    });
}

}  // namespace unidesk::kernel

#undef UNIDESK_MICROS
#undef UNIDESK_TS
