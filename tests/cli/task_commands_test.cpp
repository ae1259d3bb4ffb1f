// The built `unidesk` program's task commands against a canned HTTP server.

#include "canned_http_server.hpp"
#include "run_program.hpp"
#include "temp_git_repo.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

using unidesk::test::CannedHttpServer;
using unidesk::test::ProgramResult;
using unidesk::test::run_program;
using unidesk::test::TempRepo;

namespace {

const std::string kCommitA = "0123456789abcdef0123456789abcdef01234567";
const std::string kCommitB = "89abcdef0123456789abcdef0123456789abcdef";

ProgramResult run_unidesk(const CannedHttpServer& server, std::vector<std::string> args) {
    return run_program(UNIDESK_CLI_BINARY, args,
                       {{"HOME", "/nonexistent"},
                        {"TZ", "America/New_York"},
                        {"UNIDESK_SERVER", server.url()},
                        {"UNIDESK_TOKEN", "udk_0123456789abcdef"}});
}

std::vector<std::string> submit_args(std::vector<std::string> more = {}) {
    std::vector<std::string> args{
        "submit", "--code-repo", "https://git.example.org/ml.git",  "--code-commit",
        kCommitA, "--env-repo",  "https://git.example.org/env.git", "--env-commit",
        kCommitB};
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

std::string task_json(const std::string& state, const std::string& extra = "") {
    return R"({"id":12,"state":")" + state +
           R"(","project":"vision","node":"gpu-07","priority":5,)"
           R"("command":["python3","train.py","--epochs","3"],)"
           R"("created_at":"2026-03-01T16:30:05.123Z","updated_at":"2026-03-01T17:00:00.000Z")" +
           extra + "}";
}

}  // namespace

TEST_CASE("submit sends a TaskSpec with every option and prints the new id", "[cli][e2e][tasks]") {
    CannedHttpServer server;
    const std::string created = R"({"task":)" + task_json("queued") + "}";
    server.answer("POST", "/v1/tasks", 201, created);

    auto r = run_unidesk(
        server, submit_args({"--cpu",          "1.5",      "--memory",        "4G",
                             "--gpus",         "1",        "--gpu-model",     "A100",
                             "--label",        "lab=b2",   "--env",           "SEED=7",
                             "--env",          "MODE=a=b", "--priority",      "-3",
                             "--project",      "vision",   "--time-limit",    "90m",
                             "--retries",      "2",        "--retry-on-exit", "--dockerfile",
                             "gpu/Dockerfile", "--",       "python3",         "train.py",
                             "--epochs",       "3"}));
    CHECK(r.exit_code == 0);
    CHECK(r.out == "12\n");
    CHECK(r.err.empty());
    REQUIRE(server.requests().size() == 1);
    const auto req = server.requests()[0];
    CHECK(req.method == "POST");
    CHECK(req.target == "/v1/tasks");
    CHECK(nlohmann::json::parse(req.body) == nlohmann::json::parse(R"({
        "code_repo_url": "https://git.example.org/ml.git",
        "code_commit_id": ")" + kCommitA + R"(",
        "env_repo_url": "https://git.example.org/env.git",
        "env_commit_id": ")" + kCommitB + R"(",
        "dockerfile_path": "gpu/Dockerfile",
        "command": ["python3", "train.py", "--epochs", "3"],
        "env": {"SEED": "7", "MODE": "a=b"},
        "resources": {"cpu_millis": 1500, "memory_bytes": 4294967296, "gpu_count": 1,
                      "gpu_model": "A100", "labels": {"lab": "b2"}},
        "priority": -3, "project": "vision", "time_limit_s": 5400,
        "retry": {"max_attempts": 2, "on_exit_nonzero": true}})"));

    r = run_unidesk(server, submit_args({"--json"}));
    CHECK(r.exit_code == 0);
    CHECK(r.out == created + "\n");
    CHECK(nlohmann::json::parse(server.requests().back().body).size() == 4);
}

TEST_CASE("submit refuses what it can check locally with exit 2", "[cli][e2e][tasks]") {
    CannedHttpServer server;
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
        {{"submit", "--env-repo", "x", "--env-commit", kCommitB}, "--code-repo"},
        {submit_args({"--memory", "4GB"}), "--memory: '4GB' is not a size"},
        {submit_args({"--time-limit", "ninety"}), "--time-limit: 'ninety' is not a duration"},
        {submit_args({"--cpu", "x"}), "--cpu"},
        {submit_args({"--env", "NOEQUALS"}), "--env: 'NOEQUALS' is not KEY=VALUE"},
        {submit_args({"--quiet"}), "--quiet goes with --wait"},
        {submit_args({"python3"}), "usage: unidesk submit"},
        {{"submit", "--code-repo", "x", "--code-commit", "HEAD", "--env-repo", "y", "--env-commit",
          kCommitB},
         "--code-commit: 'HEAD' is not a commit id"},
        {submit_args({"--from-checkout", "/nonexistent/unidesk"}), "not a git checkout"},
    };
    for (const auto& [args, message] : cases) {
        const auto r = run_unidesk(server, args);
        CHECK(r.exit_code == 2);
        CHECK_THAT(r.err, Catch::Contains(message) && Catch::EndsWith("(usage)\n"));
    }
    CHECK(server.requests().empty());
}

TEST_CASE("submit --wait follows the task and exits by its outcome", "[cli][e2e][tasks]") {
    CannedHttpServer server;
    server.answer("POST", "/v1/tasks", 201, R"({"task":)" + task_json("queued") + "}");
    server.answer("GET", "/v1/tasks/12/log?after=0", 200,
                  R"({"entries":[{"id":1,"stream":"stdout","data":"epoch 1\n"},)"
                  R"({"id":2,"stream":"stderr","data":"warn\n"}],"next":2,"ended":true})");

    SECTION("succeeded exits 0, with its state in Beijing time") {
        server.answer(
            "GET", "/v1/tasks/12", 200,
            R"({"task":)" +
                task_json("succeeded", R"(,"exit_code":0,"ended_at":"2026-03-01T17:00:00Z")") +
                R"(,"attempts":[]})");
        const auto r = run_unidesk(server, submit_args({"--wait"}));
        CHECK(r.exit_code == 0);
        CHECK(r.out == "12\nepoch 1\n");
        CHECK(r.err ==
              "2026-03-02T01:00:00.000+08:00  task 12 succeeded on gpu-07 (exit code 0)\n"
              "warn\n");
    }
    SECTION("failed exits 6, and --quiet prints only the id") {
        server.answer(
            "GET", "/v1/tasks/12", 200,
            R"({"task":)" +
                task_json("failed", R"(,"exit_code":3,"cause":"exit_nonzero","message":"boom",)"
                                    R"("ended_at":"2026-03-01T17:00:00Z")") +
                "}");
        auto r = run_unidesk(server, submit_args({"--wait"}));
        CHECK(r.exit_code == 6);
        CHECK_THAT(r.err, Catch::Contains("task 12 failed on gpu-07 (exit code 3, cause "
                                          "exit_nonzero: boom)"));

        r = run_unidesk(server, submit_args({"--wait", "--quiet"}));
        CHECK(r.exit_code == 6);
        CHECK(r.out == "12\n");
        CHECK(r.err.empty());
    }
}

TEST_CASE("tasks shows a table in Beijing time, filters and follows pages", "[cli][e2e][tasks]") {
    CannedHttpServer server;
    const std::string queued =
        R"({"id":13,"state":"queued","project":"nlp","node":null,"priority":0,)"
        R"("command":["bash","-c","echo 'hello world' && sleep 1000 && echo done done done"],)"
        R"("pending_reason":"no online node has 2 GPUs of model A100",)"
        R"("created_at":"2026-03-01T18:00:00.000Z"})";
    server.answer("GET", "/v1/tasks", 200,
                  R"({"tasks":[)" + queued + "," + task_json("running") + R"(],"next":null})");

    auto r = run_unidesk(server, {"tasks"});
    CHECK(r.exit_code == 0);
    CHECK(r.out ==
          "ID  STATE    PROJECT  NODE    PRIORITY  CREATED                        COMMAND"
          "                                   PENDING REASON\n"
          "13  queued   nlp      -       0         2026-03-02T02:00:00.000+08:00  bash -c "
          "'echo '\\''hello world'\\'' && ...  no online node has 2 GPUs of model A100\n"
          "12  running  vision   gpu-07  5         2026-03-02T00:30:05.123+08:00  python3 "
          "train.py --epochs 3               -\n");

    server.answer("GET", "/v1/tasks?state=active&project=ml%20x&limit=1", 200,
                  R"({"tasks":[)" + queued + R"(],"next":"13"})");
    server.answer("GET", "/v1/tasks?state=active&project=ml%20x&limit=1&before=13", 200,
                  R"({"tasks":[)" + task_json("running") + R"(],"next":null})");
    r = run_unidesk(server,
                    {"tasks", "--state", "active", "--project", "ml x", "--limit", "1", "--all"});
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::StartsWith("ID  STATE") && Catch::Contains("\n13  queued") &&
                          Catch::Contains("\n12  running"));

    r = run_unidesk(server,
                    {"tasks", "--state", "active", "--project", "ml x", "--limit", "1", "--json"});
    CHECK(r.out == R"({"tasks":[)" + queued + R"(],"next":"13"})" + "\n");

    r = run_unidesk(server, {"tasks", "--limit", "0"});
    CHECK(r.exit_code == 2);
}

TEST_CASE("task show prints the task, its attempts and their phases", "[cli][e2e][tasks]") {
    CannedHttpServer server;
    server.answer(
        "GET", "/v1/tasks/12", 200,
        R"({"task":)" +
            task_json("failed",
                      R"(,"attempts":2,"exit_code":1,"cause":"exit_nonzero","message":"boom",)"
                      R"("code_repo_url":"https://git.example.org/ml.git","resources":)"
                      R"({"cpu_millis":1500,"memory_bytes":4294967296,"gpu_count":1},)"
                      R"("ended_at":"2026-03-01T17:00:00.000Z")") +
            R"(,"attempts":[{"id":31,"number":1,"node":"gpu-07","state":"lost",)"
            R"("cause":"node_lost","exit_code":null,"message":"node went away",)"
            R"("created_at":"2026-03-01T16:30:06.000Z","ended_at":"2026-03-01T16:40:00.000Z",)"
            R"("phases":[{"phase":"fetching","at":"2026-03-01T16:30:07.000Z"},)"
            R"({"phase":"running","at":"2026-03-01T16:31:00.000Z"}]},)"
            R"({"id":32,"number":2,"node":"gpu-08","state":"failed","cause":"exit_nonzero",)"
            R"("exit_code":1,"message":"boom","created_at":"2026-03-01T16:41:00.000Z",)"
            R"("ended_at":"2026-03-01T17:00:00.000Z","phases":[]}]})");

    const auto r = run_unidesk(server, {"task", "show", "12"});
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("state           failed") &&
                          Catch::Contains("exit code       1") &&
                          Catch::Contains("cpu cores       1.5") &&
                          Catch::Contains("memory          4.0 GiB") &&
                          Catch::Contains("ended           2026-03-02T01:00:00.000+08:00") &&
                          Catch::Contains("command         python3 train.py --epochs 3"));
    CHECK_THAT(r.out, Catch::Contains("1        31  gpu-07  lost    2026-03-02T00:30:06.000+08:00"
                                      "  2026-03-02T00:40:00.000+08:00  -     node_lost") &&
                          Catch::Contains("1        running   2026-03-02T00:31:00.000+08:00"));

    const auto missing = run_unidesk(server, {"task", "show", "99"});
    CHECK(missing.exit_code == 4);

    // Not an id at all: a usage error, and nothing is asked of the server.
    const auto asked = server.requests().size();
    for (const auto& words : std::vector<std::vector<std::string>>{
             {"task", "show", "abc"}, {"logs", "12x"}, {"cancel", "-"}, {"retry", "1.5"}}) {
        const auto bad = run_unidesk(server, words);
        CHECK(bad.exit_code == 2);
        CHECK_THAT(bad.err, Catch::Contains("a task id is a number"));
    }
    CHECK(server.requests().size() == asked);
}

TEST_CASE("logs -f follows the log over several answers and exits by the outcome",
          "[cli][e2e][tasks]") {
    CannedHttpServer server;
    server.answer("GET", "/v1/tasks/12/log?after=0", 200,
                  R"({"entries":[{"id":1,"stream":"agent","data":"building image\n"},)"
                  R"({"id":2,"stream":"stdout","data":"step 1 "}],"next":2,"ended":false})");
    server.answer("GET", "/v1/tasks/12/log?after=2&wait_s=25", 200,
                  R"({"entries":[{"id":3,"stream":"stdout","data":"done\n"},)"
                  R"({"id":4,"stream":"stderr","data":"oops\n"}],"next":4,"ended":false})");
    server.answer("GET", "/v1/tasks/12/log?after=4&wait_s=25", 200,
                  R"({"entries":[],"next":4,"ended":true})");
    server.answer("GET", "/v1/tasks/12", 200, R"({"task":)" + task_json("cancelled") + "}");

    auto r = run_unidesk(server, {"logs", "12", "-f"});
    CHECK(r.exit_code == 7);
    CHECK(r.out == "step 1 done\n");
    CHECK(r.err == "building image\noops\n");

    // Without -f: what is written so far, page by page until an empty one, and exit 0.
    server.answer("GET", "/v1/tasks/12/log?after=2", 200,
                  R"({"entries":[],"next":2,"ended":false})");
    r = run_unidesk(server, {"logs", "12"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "step 1 ");
    CHECK(server.requests().back().target == "/v1/tasks/12/log?after=2");

    // --json: each page's body as it came, one a line.
    r = run_unidesk(server, {"logs", "12", "--json"});
    CHECK(r.exit_code == 0);
    const auto lines = r.out.substr(0, r.out.size() - 1);
    REQUIRE(std::count(r.out.begin(), r.out.end(), '\n') == 2);
    const auto first = nlohmann::json::parse(lines.substr(0, lines.find('\n')));
    CHECK(first["entries"][1]["data"] == "step 1 ");
    CHECK(nlohmann::json::parse(lines.substr(lines.find('\n') + 1))["entries"].empty());
    CHECK(r.err.empty());
}

TEST_CASE("cancel and retry print the new state; server refusals keep their exit codes",
          "[cli][e2e][tasks]") {
    CannedHttpServer server;
    server.answer("POST", "/v1/tasks/12/cancel", 202,
                  R"({"task":)" + task_json("running", R"(,"attempts":1)") + "}");
    server.answer("POST", "/v1/tasks/12/retry", 201,
                  R"({"task":)" + task_json("queued", R"(,"attempts":2)") + "}");
    server.answer("POST", "/v1/tasks/13/cancel", 409,
                  R"({"error":{"code":"task_ended","message":"task 13 has already ended"}})");
    server.answer("POST", "/v1/tasks/14/retry", 404,
                  R"({"error":{"code":"task_not_found","message":"no task 14"}})");

    auto r = run_unidesk(server, {"cancel", "12"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "task 12 running (1 attempt so far)\n");

    r = run_unidesk(server, {"retry", "12"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "task 12 queued (2 attempts so far)\n");

    r = run_unidesk(server, {"cancel", "13"});
    CHECK(r.exit_code == 1);
    CHECK(r.err == "unidesk: task 13 has already ended (task_ended)\n");

    r = run_unidesk(server, {"retry", "14"});
    CHECK(r.exit_code == 4);
    CHECK(r.err == "unidesk: no task 14 (task_not_found)\n");
}

TEST_CASE("submit --from-checkout sends the checkout's remote and HEAD, and refuses changes",
          "[cli][e2e][tasks][git]") {
    CannedHttpServer server;
    server.answer("POST", "/v1/tasks", 201, R"({"task":)" + task_json("queued") + "}");
    TempRepo repo;
    const auto url = repo.add_remote("origin");
    const std::vector<std::string> args{"submit",
                                        "--from-checkout",
                                        repo.work(),
                                        "--env-repo",
                                        "https://git.example.org/env.git",
                                        "--env-commit",
                                        kCommitB};

    auto r = run_unidesk(server, args);
    CHECK(r.exit_code == 0);
    CHECK(r.out == "12\n");
    CHECK_THAT(r.err, Catch::Contains("warning") && Catch::Contains("may not be able to fetch it"));
    REQUIRE(server.requests().size() == 1);
    const auto body = nlohmann::json::parse(server.requests()[0].body);
    CHECK(body["code_repo_url"] == url);
    CHECK(body["code_commit_id"] == repo.head());

    repo.git({"push", "-q", "origin", "main"});
    r = run_unidesk(server, args);
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());

    repo.write("notes.txt", "untracked\n");
    r = run_unidesk(server, args);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("uncommitted changes (notes.txt)"));
    CHECK(server.requests().size() == 2);
}
