// run_cli in-process, where a test can stand in for the terminal.

#include "app.hpp"

#include "canned_http_server.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sstream>

using namespace unidesk::cli;
using unidesk::test::CannedHttpServer;

namespace {

struct Harness {
    std::istringstream in;
    std::ostringstream out;
    std::ostringstream err;
    std::vector<std::string> answers;  // what the "terminal" types, in order
    std::vector<std::string> prompts;
    Io io{in, out, err, [this](const std::string& prompt) -> unidesk::Result<std::string> {
              prompts.push_back(prompt);
              if (answers.empty()) {
                  return usage_error("no terminal");
              }
              auto next = answers.front();
              answers.erase(answers.begin());
              return next;
          }};

    int run(const std::vector<std::string>& args) {
        return run_cli(args, io, [](const std::string&) { return std::optional<std::string>(); });
    }
};

}  // namespace

TEST_CASE("user create asks for the password twice on the terminal", "[cli][app]") {
    CannedHttpServer server;
    server.answer("POST", "/v1/users", 201, R"({"user":{"id":2,"name":"li","role":"admin"}})");
    Harness h;
    h.answers = {"pw-1", "pw-1"};

    CHECK(h.run({"--server", server.url(), "user", "create", "li", "--role", "admin"}) == 0);
    CHECK(h.prompts == std::vector<std::string>{"password for li: ", "again: "});
    CHECK(nlohmann::json::parse(server.requests().at(0).body)["password"] == "pw-1");
    CHECK(h.out.str().find("pw-1") == std::string::npos);
}

TEST_CASE("user create refuses two different passwords without calling the server", "[cli][app]") {
    CannedHttpServer server;
    Harness h;
    h.answers = {"pw-1", "pw-2"};

    CHECK(h.run({"--server", server.url(), "user", "create", "li", "--role", "admin"}) == 2);
    CHECK(h.err.str() == "unidesk: the two passwords differ (usage)\n");
    CHECK(server.requests().empty());
}

TEST_CASE("help lists every command and the exit codes", "[cli][app]") {
    Harness h;
    CHECK(h.run({"--help"}) == 0);
    for (const char* line : {"health",
                             "whoami",
                             "users",
                             "user create NAME",
                             "user set-role",
                             "tokens [--all]",
                             "token create NAME",
                             "token revoke ID",
                             "node-token create NODE",
                             "node-token list",
                             "node-token revoke ID",
                             "nodes",
                             "node show NAME",
                             "submit",
                             "--from-checkout DIR",
                             "tasks [--state S]",
                             "task show ID",
                             "logs ID [-f]",
                             "cancel ID",
                             "retry ID",
                             "6 failed, 7 cancelled, 8 lost"}) {
        CHECK_THAT(h.out.str(), Catch::Contains(line));
    }
}

TEST_CASE("an answer of an unexpected shape is an error, not a crash", "[cli][app]") {
    CannedHttpServer server;
    server.answer("GET", "/v1/nodes", 200, R"({"nodes":[7]})");
    server.answer("GET", "/v1/users", 200, R"({"people":[]})");
    Harness h;

    CHECK(h.run({"--server", server.url(), "nodes"}) == 1);
    CHECK_THAT(h.err.str(), Catch::Contains("(unexpected_answer)"));
    CHECK(h.run({"--server", server.url(), "users"}) == 1);
    CHECK_THAT(h.err.str(), Catch::Contains("no 'users' list"));
}
