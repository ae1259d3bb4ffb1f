// The built `unidesk` program against a canned HTTP server: what it sends, what it prints and
// how it exits.

#include "canned_http_server.hpp"
#include "run_program.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

using unidesk::test::CannedHttpServer;
using unidesk::test::ProgramResult;
using unidesk::test::run_program;

namespace {

constexpr const char* kToken = "udk_0123456789abcdef";

//! The environment of every run: no home config, a zone far from Beijing.
std::map<std::string, std::string> base_env() {
    return {{"HOME", "/nonexistent"}, {"TZ", "America/New_York"}};
}

ProgramResult run_unidesk(const CannedHttpServer& server, std::vector<std::string> args,
                          const std::string& stdin_text = "") {
    auto env = base_env();
    env["UNIDESK_SERVER"] = server.url();
    env["UNIDESK_TOKEN"] = kToken;
    return run_program(UNIDESK_CLI_BINARY, args, env, stdin_text);
}

const char* kUsers = R"({"users":[)"
                     R"({"id":1,"name":"admin","role":"admin","disabled":false,)"
                     R"("created_at":"2026-03-01T16:30:05.123Z"},)"
                     R"({"id":5,"name":"li","role":"viewer","disabled":false,)"
                     R"("created_at":"2026-03-02T01:00:00.000Z"}]})";

}  // namespace

TEST_CASE("unidesk sends the API token as a bearer header", "[cli][e2e]") {
    CannedHttpServer server;
    server.answer("GET", "/v1/whoami", 200,
                  R"({"user":{"id":1,"name":"admin","role":"admin"},"token_id":7})");

    const auto r = run_unidesk(server, {"whoami"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "admin (admin)  user id 1, token id 7\n");
    const auto requests = server.requests();
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].headers.at("authorization") == std::string("Bearer ") + kToken);
    CHECK(r.out.find(kToken) == std::string::npos);
}

TEST_CASE("the --json option prints the server's JSON exactly as it came", "[cli][e2e]") {
    CannedHttpServer server;
    server.answer("GET", "/v1/users", 200, kUsers);

    const auto r = run_unidesk(server, {"users", "--json"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == std::string(kUsers) + "\n");
    CHECK(r.err.empty());
}

TEST_CASE("a table shows the server's UTC times as Beijing time", "[cli][e2e]") {
    CannedHttpServer server;
    server.answer("GET", "/v1/users", 200, kUsers);

    auto r = run_unidesk(server, {"users"});
    CHECK(r.exit_code == 0);
    CHECK(r.out ==
          "ID  NAME   ROLE    DISABLED  CREATED\n"
          "1   admin  admin   false     2026-03-02T00:30:05.123+08:00\n"
          "5   li     viewer  false     2026-03-02T09:00:00.000+08:00\n");

    r = run_unidesk(server, {"users", "--utc"});
    CHECK_THAT(r.out, Catch::Contains("2026-03-01T16:30:05.123Z"));
}

TEST_CASE("a 401 exits 3 with the server's message and never shows the token", "[cli][e2e]") {
    CannedHttpServer server;
    server.answer("GET", "/v1/tokens", 401,
                  R"({"error":{"code":"token_revoked","message":"this token was revoked"}})");

    const auto r = run_unidesk(server, {"tokens"});
    CHECK(r.exit_code == 3);
    CHECK(r.err == "unidesk: this token was revoked (token_revoked)\n");
    CHECK(r.out.empty());
    CHECK(r.err.find(kToken) == std::string::npos);
}

TEST_CASE("a 403 exits 3 and a 404 exits 4", "[cli][e2e]") {
    CannedHttpServer server;
    server.answer("GET", "/v1/node-tokens", 403,
                  R"({"error":{"code":"role_required","message":"needs the admin role"}})");

    auto r = run_unidesk(server, {"node-token", "list"});
    CHECK(r.exit_code == 3);
    CHECK(r.err == "unidesk: needs the admin role (role_required)\n");

    r = run_unidesk(server, {"node", "show", "gpu 07"});
    CHECK(r.exit_code == 4);
    CHECK(r.err == "unidesk: no such route (not_found)\n");
    CHECK(server.requests().back().target == "/v1/nodes/gpu%2007");
}

TEST_CASE("an unreachable server exits 5 with a clear message", "[cli][e2e]") {
    auto env = base_env();
    const std::string url = "http://127.0.0.1:" + std::to_string(unidesk::test::unused_port());
    env["UNIDESK_SERVER"] = url;

    const auto r = run_program(UNIDESK_CLI_BINARY, {"health"}, env);
    CHECK(r.exit_code == 5);
    CHECK_THAT(r.err, Catch::StartsWith("unidesk: cannot reach the server at " + url) &&
                          Catch::EndsWith("(server_unreachable)\n"));
}

TEST_CASE("no server given exits 2 and says where to give one", "[cli][e2e]") {
    const auto r = run_program(UNIDESK_CLI_BINARY, {"whoami"}, base_env());
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("--server") && Catch::Contains("(server_missing)"));
}

TEST_CASE("a bad command line exits 2 without calling the server", "[cli][e2e]") {
    CannedHttpServer server;
    for (const auto& args : std::vector<std::vector<std::string>>{{"frobnicate"},
                                                                  {},
                                                                  {"token", "revoke"},
                                                                  {"users", "--all"},
                                                                  {"token", "revoke", "x"},
                                                                  {"user", "create", "li"}}) {
        const auto r = run_unidesk(server, args);
        CHECK(r.exit_code == 2);
        CHECK_THAT(r.err, Catch::StartsWith("unidesk: ") && Catch::EndsWith("(usage)\n"));
    }
    CHECK(server.requests().empty());
}

TEST_CASE("health exits 0 when ok and 1 when degraded or down, showing every entry", "[cli][e2e]") {
    CannedHttpServer server;
    server.answer("GET", "/health", 200,
                  R"({"status":"ok","components":{"database":{"status":"ok"}},"plugins":{},)"
                  R"("version":"0.1.0","time":"2026-03-01T16:00:00.000Z"})");
    auto r = run_unidesk(server, {"health"});
    CHECK(r.exit_code == 0);
    CHECK(r.out ==
          "status: ok  version: 0.1.0  time: 2026-03-02T00:00:00.000+08:00\n"
          "KIND       NAME      STATUS  REASON\n"
          "component  database  ok      -\n");

    server.answer("GET", "/health", 200,
                  R"({"status":"degraded","components":{"database":{"status":"ok"}},)"
                  R"("plugins":{"scheduler":{"status":"down","reason":"failed to load"}}})");
    r = run_unidesk(server, {"health"});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.out, Catch::Contains("plugin     scheduler  down    failed to load"));

    const std::string down =
        R"({"status":"down","components":{"database":{"status":"down","reason":"refused"}}})";
    server.answer("GET", "/health", 503, down);
    r = run_unidesk(server, {"health", "--json"});
    CHECK(r.exit_code == 1);
    CHECK(r.out == down + "\n");
}

TEST_CASE("health needs no token and sends none when none is set", "[cli][e2e]") {
    CannedHttpServer server;
    server.answer("GET", "/health", 200, R"({"status":"ok","components":{},"plugins":{}})");
    auto env = base_env();
    const auto r = run_program(UNIDESK_CLI_BINARY, {"--server", server.url(), "health"}, env);
    CHECK(r.exit_code == 0);
    REQUIRE(server.requests().size() == 1);
    CHECK(server.requests()[0].headers.count("authorization") == 0);
}

TEST_CASE("a 503 that is not a health report exits 5", "[cli][e2e]") {
    CannedHttpServer server;
    server.answer("GET", "/v1/users", 503,
                  R"({"error":{"code":"database_unavailable","message":"the database is down"}})");
    const auto r = run_unidesk(server, {"users"});
    CHECK(r.exit_code == 5);
    CHECK(r.err == "unidesk: the database is down (database_unavailable)\n");
}

TEST_CASE("user create sends name, role and the password read from stdin", "[cli][e2e]") {
    CannedHttpServer server;
    server.answer("POST", "/v1/users", 201,
                  R"({"user":{"id":9,"name":"wang","role":"member","disabled":false,)"
                  R"("created_at":"2026-03-01T16:30:05.123Z"}})");

    const auto r =
        run_unidesk(server, {"user", "create", "wang", "--role", "member", "--password-stdin"},
                    "s3cret pass\n");
    CHECK(r.exit_code == 0);
    CHECK(r.out == "created user wang id=9 role=member\n");
    const auto req = server.requests().at(0);
    CHECK(req.headers.at("content-type") == "application/json");
    CHECK(nlohmann::json::parse(req.body) ==
          nlohmann::json{{"name", "wang"}, {"role", "member"}, {"password", "s3cret pass"}});
}

TEST_CASE("user create without --password-stdin and without a terminal is refused", "[cli][e2e]") {
    CannedHttpServer server;
    const auto r = run_unidesk(server, {"user", "create", "wang", "--role", "member"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("--password-stdin"));
    CHECK(server.requests().empty());
}

TEST_CASE("user set-role finds a user by name and patches their role", "[cli][e2e]") {
    CannedHttpServer server;
    server.answer("GET", "/v1/users", 200, kUsers);
    server.answer("PATCH", "/v1/users/5", 200,
                  R"({"user":{"id":5,"name":"li","role":"member","disabled":false}})");

    auto r = run_unidesk(server, {"user", "set-role", "li", "member"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "user li id=5 role=member\n");
    const auto requests = server.requests();
    REQUIRE(requests.size() == 2);
    CHECK(requests[1].method == "PATCH");
    CHECK(nlohmann::json::parse(requests[1].body) == nlohmann::json{{"role", "member"}});

    r = run_unidesk(server, {"user", "set-role", "5", "member"});
    CHECK(r.exit_code == 0);
    CHECK(server.requests().size() == 3);  // an id needs no look-up

    r = run_unidesk(server, {"user", "set-role", "nobody", "admin"});
    CHECK(r.exit_code == 4);
    CHECK(r.err == "unidesk: no user named 'nobody' (user_not_found)\n");
}

TEST_CASE("tokens lists own tokens, or everyone's with --all", "[cli][e2e]") {
    CannedHttpServer server;
    const char* list = R"({"tokens":[{"id":3,"name":"laptop","user_id":1,)"
                       R"("created_at":"2026-03-01T00:00:00.000Z","last_used_at":null,)"
                       R"("revoked_at":"2026-03-01T04:00:00.000Z"}]})";
    server.answer("GET", "/v1/tokens", 200, list);
    server.answer("GET", "/v1/tokens?all=1", 200, list);

    auto r = run_unidesk(server, {"tokens"});
    CHECK(r.exit_code == 0);
    CHECK(r.out ==
          "ID  NAME    USER ID  CREATED                        LAST USED  REVOKED\n"
          "3   laptop  1        2026-03-01T08:00:00.000+08:00  -          "
          "2026-03-01T12:00:00.000+08:00\n");

    r = run_unidesk(server, {"tokens", "--all"});
    CHECK(r.exit_code == 0);
    CHECK(server.requests().back().target == "/v1/tokens?all=1");
}

TEST_CASE("token create shows the issued secret once and revoke names the token", "[cli][e2e]") {
    CannedHttpServer server;
    server.answer("POST", "/v1/tokens", 201,
                  R"({"token":{"id":4,"name":"ci","user_id":1},"secret":"udk_feedface"})");
    server.answer(
        "DELETE", "/v1/tokens/4", 200,
        R"({"token":{"id":4,"name":"ci","user_id":1,"revoked_at":"2026-03-01T00:00:00Z"}})");

    auto r = run_unidesk(server, {"token", "create", "ci"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "udk_feedface\n");
    CHECK_THAT(r.err, Catch::Contains("issued API token 'ci' id=4\n"));
    CHECK_THAT(r.err, Catch::Contains("shown only now"));
    CHECK(nlohmann::json::parse(server.requests().at(0).body) == nlohmann::json{{"name", "ci"}});

    r = run_unidesk(server, {"token", "revoke", "4"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "revoked token id=4 (ci)\n");
}

TEST_CASE("node tokens are issued for a node name, listed and revoked", "[cli][e2e]") {
    CannedHttpServer server;
    server.answer("POST", "/v1/node-tokens", 201,
                  R"({"token":{"id":2,"node_name":"gpu-07"},"secret":"udn_abc"})");
    server.answer(
        "GET", "/v1/node-tokens", 200,
        R"({"node_tokens":[{"id":2,"node_name":"gpu-07",)"
        R"("created_at":"2026-03-01T00:00:00.000Z","last_used_at":null,"revoked_at":null}]})");
    server.answer("DELETE", "/v1/node-tokens/2", 200, R"({"token":{"id":2,"node_name":"gpu-07"}})");

    auto r = run_unidesk(server, {"node-token", "create", "gpu-07"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "udn_abc\n");
    CHECK_THAT(r.err, Catch::Contains("issued node token for node 'gpu-07' id=2\n"));
    CHECK(nlohmann::json::parse(server.requests().at(0).body) ==
          nlohmann::json{{"node_name", "gpu-07"}});

    r = run_unidesk(server, {"node-token", "list"});
    CHECK(r.out ==
          "ID  NODE    CREATED                        LAST USED  REVOKED\n"
          "2   gpu-07  2026-03-01T08:00:00.000+08:00  -          -\n");

    r = run_unidesk(server, {"node-token", "revoke", "2"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "revoked token id=2 (gpu-07)\n");
}

TEST_CASE("nodes and node show present resources, GPUs, labels and Beijing times", "[cli][e2e]") {
    const std::string node =
        R"({"name":"gpu-07","state":"online","agent_version":"0.1.0","os":"linux",)"
        R"("arch":"x86_64","cpu_cores":32,"memory_bytes":137438953472,"disk_bytes":2199023255552,)"
        R"("gpus":[{"index":0,"model":"A100","memory_bytes":85899345920,"driver":"550.54"},)"
        R"({"index":1,"model":"A100","memory_bytes":85899345920,"driver":"550.54"}],)"
        R"("labels":{"lab":"b2"},"last_heartbeat_at":"2026-03-01T23:59:50.000Z",)"
        R"("connected_at":"2026-03-01T20:00:00.000Z"})";
    CannedHttpServer server;
    server.answer("GET", "/v1/nodes", 200, R"({"nodes":[)" + node + "]}");
    server.answer("GET", "/v1/nodes/gpu-07", 200, node);

    auto r = run_unidesk(server, {"nodes"});
    CHECK(r.exit_code == 0);
    CHECK(r.out ==
          "NAME    STATE   OS/ARCH       CPUS  MEMORY     GPUS                AGENT  "
          "LAST HEARTBEAT\n"
          "gpu-07  online  linux/x86_64  32    128.0 GiB  2x A100 (80.0 GiB)  0.1.0  "
          "2026-03-02T07:59:50.000+08:00\n");

    r = run_unidesk(server, {"node", "show", "gpu-07"});
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("connected at    2026-03-02T04:00:00.000+08:00") &&
                          Catch::Contains("disk            2.0 TiB") &&
                          Catch::Contains("label lab       b2") &&
                          Catch::Contains("1    A100   80.0 GiB  550.54"));
}
