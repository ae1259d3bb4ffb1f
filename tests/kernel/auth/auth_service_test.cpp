#include "auth/auth_service.hpp"

#include "auth_fixture.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

using namespace unidesk;
using namespace unidesk::kernel;
using unidesk::test::AuthFixture;

namespace {

template <class T>
std::string code_of(const Result<T>& r) {
    REQUIRE_FALSE(r.has_value());
    return r.error().code;
}

}  // namespace

TEST_CASE("a password signs in when right, and not when wrong or when the user is disabled",
          "[kernel][auth][db]") {
    AuthFixture f;
    auto alice = f.auth().create_user("user:root", "alice", Role::member, "correct horse 1");
    REQUIRE(alice);

    auto ok = f.auth().authenticate_password("alice", "correct horse 1");
    REQUIRE(ok);
    REQUIRE(ok->user_id == alice->id);
    REQUIRE(ok->name == "alice");
    REQUIRE(ok->role == Role::member);
    REQUIRE(ok->token_id == 0);

    REQUIRE(code_of(f.auth().authenticate_password("alice", "correct horse 2")) ==
            "password_invalid");
    REQUIRE(code_of(f.auth().authenticate_password("nobody", "correct horse 1")) ==
            "password_invalid");

    REQUIRE(f.auth().set_disabled("user:root", alice->id, true));
    auto disabled = f.auth().authenticate_password("alice", "correct horse 1");
    REQUIRE(code_of(disabled) == "password_invalid");
    REQUIRE(disabled.error().errc == Errc::unauthenticated);
}

TEST_CASE("the stored password is an Argon2id hash, never the password", "[kernel][auth][db]") {
    AuthFixture f;
    REQUIRE(f.auth().create_user("user:root", "alice", Role::member, "correct horse 1"));

    const auto hash = f.query("SELECT password_hash FROM users")[0][0].as<std::string>();
    REQUIRE(hash.rfind("$argon2id$", 0) == 0);
    REQUIRE(hash.find("correct horse 1") == std::string::npos);

    REQUIRE(f.auth().set_password("user:root", 1, "a new passphrase"));
    REQUIRE_FALSE(f.auth().authenticate_password("alice", "correct horse 1"));
    REQUIRE(f.auth().authenticate_password("alice", "a new passphrase"));
}

TEST_CASE("short passwords and bad user names are refused", "[kernel][auth][db]") {
    AuthFixture f;
    REQUIRE(code_of(f.auth().create_user("t", "bob", Role::member, "elevenchars")) ==
            "password_too_short");
    for (const char* bad : {"", "Bob", "1bob", "bob smith", "bob/x", "_bob"}) {
        INFO(bad);
        REQUIRE(code_of(f.auth().create_user("t", bad, Role::member, "twelve chars")) ==
                "name_invalid");
    }
    REQUIRE(code_of(f.auth().create_user("t", "b" + std::string(64, 'x'), Role::member,
                                         "twelve chars")) == "name_invalid");

    REQUIRE(f.auth().create_user("t", "b" + std::string(63, 'x'), Role::member, "twelve chars"));
    REQUIRE(f.auth().create_user("t", "a.b-c_9", Role::viewer, "twelve chars"));
    REQUIRE(code_of(f.auth().create_user("t", "a.b-c_9", Role::viewer, "twelve chars")) ==
            "user_exists");
    REQUIRE(code_of(f.auth().set_password("t", 1, "short")) == "password_too_short");
}

TEST_CASE("an issued API token authenticates as its user with the user's current role",
          "[kernel][auth][db]") {
    AuthFixture f;
    auto bob = f.auth().create_user("user:root", "bob", Role::member, "twelve chars");
    REQUIRE(bob);

    auto issued = f.auth().issue_api_token("user:bob", bob->id, "laptop");
    REQUIRE(issued);
    REQUIRE(issued->secret.size() == 68);
    REQUIRE(issued->secret.rfind("udk_", 0) == 0);
    REQUIRE(issued->secret.find_first_not_of("0123456789abcdef", 4) == std::string::npos);
    REQUIRE(issued->info.name == "laptop");
    REQUIRE(issued->info.user_id == bob->id);

    auto p = f.auth().authenticate_token(issued->secret);
    REQUIRE(p);
    REQUIRE(p->user_id == bob->id);
    REQUIRE(p->name == "bob");
    REQUIRE(p->role == Role::member);
    REQUIRE(p->token_id == issued->info.id);

    REQUIRE(f.auth().set_role("user:root", bob->id, Role::viewer));
    REQUIRE(f.auth().authenticate_token(issued->secret)->role == Role::viewer);

    REQUIRE(f.auth().set_disabled("user:root", bob->id, true));
    REQUIRE(code_of(f.auth().authenticate_token(issued->secret)) == "user_disabled");
}

TEST_CASE("a revoked API token is refused as token_revoked", "[kernel][auth][db]") {
    AuthFixture f;
    auto bob = f.auth().create_user("user:root", "bob", Role::member, "twelve chars");
    auto issued = f.auth().issue_api_token("user:bob", bob->id, "laptop");
    REQUIRE(issued);

    Principal caller{bob->id, "bob", Role::member, issued->info.id};
    auto revoked = f.auth().revoke_api_token(caller, issued->info.id);
    REQUIRE(revoked);
    REQUIRE(revoked->revoked_at.has_value());

    auto r = f.auth().authenticate_token(issued->secret);
    REQUIRE(code_of(r) == "token_revoked");
    REQUIRE(r.error().errc == Errc::unauthenticated);

    // Revoking again changes nothing, and the token stays listed with its revocation time.
    REQUIRE(f.auth().revoke_api_token(caller, issued->info.id));
    auto listed = f.auth().list_api_tokens(bob->id);
    REQUIRE(listed->size() == 1);
    REQUIRE(listed->front().revoked_at == revoked->revoked_at);
    REQUIRE(f.query("SELECT count(*) FROM events WHERE kind = 'token.revoked'")[0][0].as<int>() ==
            1);
}

TEST_CASE("unknown and malformed tokens are refused as token_invalid", "[kernel][auth][db]") {
    AuthFixture f;
    auto bob = f.auth().create_user("user:root", "bob", Role::member, "twelve chars");
    auto issued = f.auth().issue_api_token("user:bob", bob->id, "laptop");
    auto node = f.auth().issue_node_token("user:root", "gpu-07");
    REQUIRE(issued);
    REQUIRE(node);

    const std::string hex64(64, 'a');
    for (const std::string& bad :
         {std::string(), std::string("udk_"), "udk_" + hex64, "udk_" + std::string(64, 'z'),
          "udk_" + hex64.substr(1), issued->secret + " ", issued->secret.substr(4),
          "xdk_" + issued->secret.substr(4), node->secret}) {
        INFO(bad);
        auto r = f.auth().authenticate_token(bad);
        REQUIRE(code_of(r) == "token_invalid");
        REQUIRE(r.error().errc == Errc::unauthenticated);
    }
    REQUIRE(code_of(f.auth().authenticate_node_token(issued->secret)) == "token_invalid");
    REQUIRE(code_of(f.auth().authenticate_node_token("udn_" + hex64)) == "token_invalid");
}

TEST_CASE("a token's secret is never stored, only its 32-byte SHA-256", "[kernel][auth][db]") {
    AuthFixture f;
    auto bob = f.auth().create_user("user:root", "bob", Role::member, "twelve chars");
    auto issued = f.auth().issue_api_token("user:bob", bob->id, "laptop");
    auto node = f.auth().issue_node_token("user:root", "gpu-07");
    REQUIRE(issued);
    REQUIRE(node);

    for (const auto& [table, secret] : {std::pair{std::string("api_tokens"), issued->secret},
                                        std::pair{std::string("node_tokens"), node->secret}}) {
        INFO(table);
        const auto row = f.query(
            "SELECT octet_length(token_hash), row_to_json(t)::text, "
            "encode(token_hash, 'hex') FROM " +
            table + " t")[0];
        REQUIRE(row[0].as<int>() == 32);
        const auto text = row[1].as<std::string>();
        REQUIRE(text.find(secret.substr(4)) == std::string::npos);
        REQUIRE(text.find(secret.substr(4, 16)) == std::string::npos);
        REQUIRE(row[2].as<std::string>().find(secret.substr(4, 16)) == std::string::npos);
    }

    // Nor does any event carry the secret or its hash.
    const auto events = f.query(
                             "SELECT string_agg(payload::text || subject || actor, ' ') "
                             "FROM events")[0][0]
                            .as<std::string>();
    const auto api_hash =
        f.query("SELECT encode(token_hash, 'hex') FROM api_tokens")[0][0].as<std::string>();
    REQUIRE(events.find(issued->secret.substr(4, 16)) == std::string::npos);
    REQUIRE(events.find(node->secret.substr(4, 16)) == std::string::npos);
    REQUIRE(events.find(api_hash.substr(0, 16)) == std::string::npos);
}

TEST_CASE("last_used_at is set on use and written at most once a minute", "[kernel][auth][db]") {
    AuthFixture f;
    auto bob = f.auth().create_user("user:root", "bob", Role::member, "twelve chars");
    auto issued = f.auth().issue_api_token("user:bob", bob->id, "laptop");
    REQUIRE(issued);
    REQUIRE_FALSE(issued->info.last_used_at.has_value());

    auto last_used = [&] { return f.auth().list_api_tokens(bob->id)->front().last_used_at; };
    REQUIRE_FALSE(last_used().has_value());

    const auto t0 = f.clock.now();
    REQUIRE(f.auth().authenticate_token(issued->secret));
    REQUIRE(last_used() == t0);

    f.clock.advance(std::chrono::seconds(30));
    REQUIRE(f.auth().authenticate_token(issued->secret));
    REQUIRE(last_used() == t0);

    f.clock.advance(std::chrono::seconds(31));
    REQUIRE(f.auth().authenticate_token(issued->secret));
    REQUIRE(last_used() == f.clock.now());
}

TEST_CASE("a node token admits its node until it is revoked", "[kernel][auth][db]") {
    AuthFixture f;
    auto issued = f.auth().issue_node_token("user:root", "gpu-07");
    REQUIRE(issued);
    REQUIRE(issued->secret.size() == 68);
    REQUIRE(issued->secret.rfind("udn_", 0) == 0);
    REQUIRE(issued->info.name == "gpu-07");

    auto node = f.auth().authenticate_node_token(issued->secret);
    REQUIRE(node);
    REQUIRE(node->node_name == "gpu-07");
    REQUIRE(node->token_id == issued->info.id);
    REQUIRE(f.auth().list_node_tokens()->front().last_used_at == f.clock.now());

    auto revoked = f.auth().revoke_node_token("user:root", issued->info.id);
    REQUIRE(revoked);
    REQUIRE(revoked->revoked_at.has_value());
    REQUIRE(code_of(f.auth().authenticate_node_token(issued->secret)) == "token_revoked");

    REQUIRE(code_of(f.auth().issue_node_token("user:root", "GPU 7")) == "name_invalid");
    REQUIRE(code_of(f.auth().revoke_node_token("user:root", 999)) == "token_not_found");
}

TEST_CASE("the initial admin is created once even when two kernels start together",
          "[kernel][auth][db]") {
    AuthFixture f;
    auto other = f.second_instance();
    // Connected first, so that both reach their first query together and both see no user.
    REQUIRE(f.auth().list_users());
    REQUIRE(other->auth->list_users());

    std::atomic<int> ready{0};
    Result<std::optional<InitialAdmin>> results[2] = {std::optional<InitialAdmin>{},
                                                      std::optional<InitialAdmin>{}};
    auto run = [&](AuthService& auth, int i) {
        ready.fetch_add(1);
        while (ready.load() < 2) {
            std::this_thread::yield();
        }
        results[i] = auth.ensure_initial_admin("admin");
    };
    std::thread a(run, std::ref(f.auth()), 0);
    std::thread b(run, std::ref(*other->auth), 1);
    a.join();
    b.join();

    REQUIRE(results[0]);
    REQUIRE(results[1]);
    REQUIRE(results[0]->has_value() != results[1]->has_value());
    const auto& admin = results[0]->has_value() ? **results[0] : **results[1];
    REQUIRE(admin.user == "admin");
    REQUIRE(admin.password.size() == 24);
    REQUIRE(f.query("SELECT count(*) FROM users")[0][0].as<int>() == 1);
    REQUIRE(f.query("SELECT count(*) FROM api_tokens WHERE name = 'initial'")[0][0].as<int>() == 1);

    auto by_password = f.auth().authenticate_password("admin", admin.password);
    REQUIRE(by_password);
    REQUIRE(by_password->role == Role::admin);
    auto by_token = f.auth().authenticate_token(admin.token);
    REQUIRE(by_token);
    REQUIRE(by_token->role == Role::admin);

    auto again = f.auth().ensure_initial_admin("admin");
    REQUIRE(again);
    REQUIRE_FALSE(again->has_value());
}

TEST_CASE("a kernel that finds another creating the first admin waits for it and makes none",
          "[kernel][auth][db]") {
    AuthFixture f;
    // Plays the other kernel: holds the lock and has a user it has not committed yet.
    pqxx::connection other(f.url());
    pqxx::work tx(other);
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", AuthService::kInitialAdminLockKey);
    tx.exec("INSERT INTO users (name, role, password_hash) VALUES ('first', 'admin', 'x')");

    Result<std::optional<InitialAdmin>> result = std::optional<InitialAdmin>{};
    std::thread caller([&] { result = f.auth().ensure_initial_admin("admin"); });

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    bool waiting = false;
    while (!waiting && std::chrono::steady_clock::now() < deadline) {
        waiting = f.query(
                       "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT "
                       "granted AND database = (SELECT oid FROM pg_database WHERE datname = "
                       "current_database())")[0][0]
                      .as<int>() == 1;
        if (!waiting) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    tx.commit();
    caller.join();

    REQUIRE(waiting);
    REQUIRE(result);
    REQUIRE_FALSE(result->has_value());
    REQUIRE(f.query("SELECT count(*) FROM users")[0][0].as<int>() == 1);
}

TEST_CASE("no initial admin is made when a user exists already", "[kernel][auth][db]") {
    AuthFixture f;
    REQUIRE(f.auth().create_user("kernel", "carol", Role::viewer, "twelve chars"));

    auto r = f.auth().ensure_initial_admin("admin");
    REQUIRE(r);
    REQUIRE_FALSE(r->has_value());
    REQUIRE(f.query("SELECT count(*) FROM users")[0][0].as<int>() == 1);
}

TEST_CASE("a member cannot revoke another user's token, an admin can", "[kernel][auth][db]") {
    AuthFixture f;
    auto root = f.auth().create_user("kernel", "root", Role::admin, "twelve chars");
    auto bob = f.auth().create_user("user:root", "bob", Role::member, "twelve chars");
    auto eve = f.auth().create_user("user:root", "eve", Role::member, "twelve chars");
    auto token = f.auth().issue_api_token("user:bob", bob->id, "laptop");
    REQUIRE(token);

    Principal as_eve{eve->id, "eve", Role::member, 0};
    auto refused = f.auth().revoke_api_token(as_eve, token->info.id);
    REQUIRE(code_of(refused) == "token_not_owned");
    REQUIRE(refused.error().errc == Errc::forbidden);
    REQUIRE(f.auth().authenticate_token(token->secret));

    Principal as_root{root->id, "root", Role::admin, 0};
    REQUIRE(f.auth().revoke_api_token(as_root, token->info.id));
    REQUIRE(code_of(f.auth().authenticate_token(token->secret)) == "token_revoked");
    REQUIRE(code_of(f.auth().revoke_api_token(as_root, 999)) == "token_not_found");
}

TEST_CASE("the last enabled admin can be neither demoted nor disabled", "[kernel][auth][db]") {
    AuthFixture f;
    auto root = f.auth().create_user("kernel", "root", Role::admin, "twelve chars");
    REQUIRE(code_of(f.auth().set_role("user:root", root->id, Role::member)) == "last_admin");
    REQUIRE(code_of(f.auth().set_disabled("user:root", root->id, true)) == "last_admin");

    auto second = f.auth().create_user("user:root", "dana", Role::admin, "twelve chars");
    REQUIRE(f.auth().set_role("user:root", root->id, Role::member));
    REQUIRE(code_of(f.auth().set_disabled("user:root", second->id, true)) == "last_admin");
    REQUIRE(code_of(f.auth().set_role("user:root", 999, Role::member)) == "user_not_found");
}

TEST_CASE("every change writes its event in the same transaction", "[kernel][auth][db]") {
    AuthFixture f;
    auto root = f.auth().create_user("kernel", "root", Role::admin, "twelve chars");
    auto bob = f.auth().create_user("user:root", "bob", Role::member, "twelve chars");
    REQUIRE(f.auth().set_role("user:root", bob->id, Role::viewer));
    REQUIRE(f.auth().set_password("user:root", bob->id, "another passphrase"));
    auto token = f.auth().issue_api_token("user:root", bob->id, "ci");
    REQUIRE(f.auth().revoke_api_token({root->id, "root", Role::admin, 0}, token->info.id));
    auto node = f.auth().issue_node_token("user:root", "gpu-07");
    REQUIRE(f.auth().revoke_node_token("user:root", node->info.id));
    REQUIRE(f.auth().set_disabled("user:root", bob->id, true));
    REQUIRE(f.auth().set_disabled("user:root", bob->id, false));

    // Failed changes write nothing.
    REQUIRE_FALSE(f.auth().create_user("user:root", "bob", Role::member, "twelve chars"));
    REQUIRE_FALSE(f.auth().set_role("user:root", root->id, Role::member));

    const auto rows = f.query("SELECT kind, subject, actor, payload::text FROM events ORDER BY id");
    const std::vector<std::vector<std::string>> want = {
        {"user.created", "user:1", "kernel"},
        {"user.created", "user:2", "user:root"},
        {"user.role_changed", "user:2", "user:root"},
        {"user.password_changed", "user:2", "user:root"},
        {"token.issued", "token:" + std::to_string(token->info.id), "user:root"},
        {"token.revoked", "token:" + std::to_string(token->info.id), "user:root"},
        {"node_token.issued", "node:gpu-07", "user:root"},
        {"node_token.revoked", "node:gpu-07", "user:root"},
        {"user.disabled", "user:2", "user:root"},
        {"user.enabled", "user:2", "user:root"},
    };
    REQUIRE(rows.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
        INFO(i);
        REQUIRE(rows[i][0].as<std::string>() == want[i][0]);
        REQUIRE(rows[i][1].as<std::string>() == want[i][1]);
        REQUIRE(rows[i][2].as<std::string>() == want[i][2]);
        const auto payload = rows[i][3].as<std::string>();
        REQUIRE(payload.find("udk_") == std::string::npos);
        REQUIRE(payload.find("udn_") == std::string::npos);
        REQUIRE(payload.find("argon2") == std::string::npos);
        REQUIRE(payload.find("passphrase") == std::string::npos);
    }
    REQUIRE(rows[2][3].as<std::string>().find("\"to\": \"viewer\"") != std::string::npos);
}
