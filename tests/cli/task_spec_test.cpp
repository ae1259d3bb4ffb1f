#include "task_spec.hpp"

#include <catch2/catch.hpp>

using namespace unidesk::cli;

namespace {

const std::string kCommitA = "0123456789abcdef0123456789abcdef01234567";
const std::string kCommitB = "89abcdef0123456789abcdef0123456789abcdef";

Invocation parsed(const std::vector<std::string>& args) {
    auto inv = parse_args(args);
    REQUIRE(inv);
    return *inv;
}

std::vector<std::string> required_options() {
    return {"submit", "--code-repo", "https://git.example.org/ml.git",  "--code-commit",
            kCommitA, "--env-repo",  "https://git.example.org/env.git", "--env-commit",
            kCommitB};
}

}  // namespace

TEST_CASE("sizes are bytes or whole numbers with a binary suffix", "[cli][task_spec]") {
    CHECK(parse_size("1073741824", "memory").value() == 1073741824);
    CHECK(parse_size("512M", "memory").value() == 512LL * 1024 * 1024);
    CHECK(parse_size("4G", "memory").value() == 4LL * 1024 * 1024 * 1024);
    CHECK(parse_size("4g", "memory").value() == 4LL * 1024 * 1024 * 1024);
    CHECK(parse_size("2T", "memory").value() == 2LL << 40);
    CHECK(parse_size("8K", "memory").value() == 8192);
    for (const char* bad :
         {"", "G", "4GB", "4Q", "-1G", "1.5G", " 4G", "99999999999T", "99999999999999999999"}) {
        const auto r = parse_size(bad, "memory");
        REQUIRE_FALSE(r);
        CHECK(r.error().code == "usage");
        CHECK_THAT(r.error().message, Catch::StartsWith("--memory: '"));
    }
}

TEST_CASE("durations are seconds or whole numbers with s, m, h or d", "[cli][task_spec]") {
    CHECK(parse_duration("45", "time-limit").value() == 45);
    CHECK(parse_duration("0", "time-limit").value() == 0);
    CHECK(parse_duration("90m", "time-limit").value() == 5400);
    CHECK(parse_duration("1h30m", "time-limit").value() == 5400);
    CHECK(parse_duration("2d", "time-limit").value() == 172800);
    CHECK(parse_duration("30s", "time-limit").value() == 30);
    for (const char* bad : {"", "m", "90x", "1h30", "1.5h", "-5m", "90M", "h1"}) {
        const auto r = parse_duration(bad, "time-limit");
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error().message, Catch::StartsWith("--time-limit: '"));
    }
}

TEST_CASE("CPU cores become thousandths of a core", "[cli][task_spec]") {
    CHECK(parse_cpu_millis("1.5", "cpu").value() == 1500);
    CHECK(parse_cpu_millis("2", "cpu").value() == 2000);
    CHECK(parse_cpu_millis("0.25", "cpu").value() == 250);
    CHECK(parse_cpu_millis("0.125", "cpu").value() == 125);
    for (const char* bad : {"", ".5", "1.", "1.2345", "-1", "1,5", "two"}) {
        CHECK_FALSE(parse_cpu_millis(bad, "cpu"));
    }
}

TEST_CASE("commit ids are exactly 40 lower-case hex digits", "[cli][task_spec]") {
    CHECK(is_commit_id(kCommitA));
    CHECK_FALSE(is_commit_id("0123456789ABCDEF0123456789abcdef01234567"));
    CHECK_FALSE(is_commit_id("0123456"));
    CHECK_FALSE(is_commit_id(kCommitA + "8"));
    CHECK_FALSE(is_commit_id("g123456789abcdef0123456789abcdef01234567"));
}

TEST_CASE("KEY=VALUE pairs keep '=' in the value and refuse a key given twice",
          "[cli][task_spec]") {
    const auto env = parse_pairs({"A=1", "URL=http://x/?a=b", "EMPTY="}, "env");
    REQUIRE(env);
    CHECK(*env == nlohmann::json{{"A", "1"}, {"URL", "http://x/?a=b"}, {"EMPTY", ""}});
    CHECK_FALSE(parse_pairs({"novalue"}, "env"));
    CHECK_FALSE(parse_pairs({"=x"}, "env"));
    const auto twice = parse_pairs({"A=1", "A=2"}, "label");
    REQUIRE_FALSE(twice);
    CHECK(twice.error().message == "--label: A is given twice");
}

TEST_CASE("integers are checked against their range", "[cli][task_spec]") {
    CHECK(parse_integer("-1000", "priority", -1000, 1000).value() == -1000);
    CHECK(parse_integer("7", "priority", -1000, 1000).value() == 7);
    CHECK_FALSE(parse_integer("1001", "priority", -1000, 1000));
    CHECK_FALSE(parse_integer("7x", "priority", -1000, 1000));
    CHECK_FALSE(parse_integer("-", "priority", -1000, 1000));
}

TEST_CASE("a TaskSpec carries every option given and nothing else", "[cli][task_spec]") {
    auto args = required_options();
    for (const char* a : {"--dockerfile",
                          "docker/Dockerfile.gpu",
                          "--env",
                          "A=1",
                          "--env",
                          "B=x=y",
                          "--cpu",
                          "1.5",
                          "--memory",
                          "4G",
                          "--gpus",
                          "2",
                          "--gpu-model",
                          "A100",
                          "--label",
                          "lab=b2",
                          "--priority",
                          "5",
                          "--project",
                          "vision",
                          "--time-limit",
                          "90m",
                          "--retries",
                          "2",
                          "--retry-on-exit",
                          "--input",
                          "data/train.csv=in/train.csv",
                          "--input",
                          "data/images/=images",
                          "--output",
                          "out=runs/42"}) {
        args.push_back(a);
    }
    const auto spec =
        build_task_spec(parsed(args), {"python3", "train.py", "--epochs", "3"}, std::nullopt);
    REQUIRE(spec);
    CHECK(*spec == nlohmann::json::parse(R"({
        "code_repo_url": "https://git.example.org/ml.git",
        "code_commit_id": "0123456789abcdef0123456789abcdef01234567",
        "env_repo_url": "https://git.example.org/env.git",
        "env_commit_id": "89abcdef0123456789abcdef0123456789abcdef",
        "dockerfile_path": "docker/Dockerfile.gpu",
        "command": ["python3", "train.py", "--epochs", "3"],
        "env": {"A": "1", "B": "x=y"},
        "resources": {"cpu_millis": 1500, "memory_bytes": 4294967296, "gpu_count": 2,
                      "gpu_model": "A100", "labels": {"lab": "b2"}},
        "priority": 5,
        "project": "vision",
        "time_limit_s": 5400,
        "retry": {"max_attempts": 2, "on_exit_nonzero": true},
        "inputs": [{"key": "data/train.csv", "path": "in/train.csv"},
                   {"prefix": "data/images/", "path": "images"}],
        "outputs": [{"path": "out", "prefix": "runs/42"}]
    })"));

    const auto minimal = build_task_spec(parsed(required_options()), {}, std::nullopt);
    REQUIRE(minimal);
    CHECK(minimal->size() == 4);
}

TEST_CASE("a TaskSpec is refused locally when a field is missing or malformed",
          "[cli][task_spec]") {
    const auto error_of = [](std::vector<std::string> args) {
        const auto spec = build_task_spec(parsed(args), {}, std::nullopt);
        REQUIRE_FALSE(spec);
        CHECK(spec.error().code == "usage");
        return spec.error().message;
    };

    auto args = required_options();
    args[4] = "0123456";
    CHECK_THAT(error_of(args), Catch::Contains("--code-commit: '0123456' is not a commit id"));

    args = required_options();
    args.resize(5);
    CHECK_THAT(error_of(args), Catch::Contains("--env-repo"));

    args = required_options();
    args.erase(args.begin() + 1, args.begin() + 3);
    CHECK_THAT(error_of(args), Catch::Contains("--code-repo"));

    args = required_options();
    args.insert(args.end(), {"--retries", "0"});
    CHECK_THAT(error_of(args), Catch::Contains("--retries"));
    args = required_options();
    args.insert(args.end(), {"--retries", "101"});  // the server's limit
    CHECK_THAT(error_of(args), Catch::Contains("--retries"));

    args = required_options();
    args.insert(args.end(), {"--dockerfile", "/etc/Dockerfile"});
    CHECK_THAT(error_of(args), Catch::Contains("relative"));
}

TEST_CASE("a code source stands for --code-repo and --code-commit", "[cli][task_spec]") {
    auto args = required_options();
    args.erase(args.begin() + 1, args.begin() + 5);
    const CodeSource code{"git@example.org:ml.git", kCommitA};
    const auto spec = build_task_spec(parsed(args), {}, code);
    REQUIRE(spec);
    CHECK((*spec)["code_repo_url"] == "git@example.org:ml.git");
    CHECK((*spec)["code_commit_id"] == kCommitA);

    const auto both = build_task_spec(parsed(required_options()), {}, code);
    REQUIRE_FALSE(both);
    CHECK_THAT(both.error().message, Catch::Contains("--from-checkout"));
}
