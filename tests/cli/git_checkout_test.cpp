// --from-checkout against real repositories made with the `git` command.

#include "git_checkout.hpp"

#include "run_program.hpp"
#include "temp_git_repo.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

using namespace unidesk::cli;
using unidesk::test::TempRepo;
namespace fs = std::filesystem;

namespace {

std::string refusal(const std::string& dir) {
    const auto r = inspect_checkout(dir);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "usage");
    return r.error().message;
}

}  // namespace

TEST_CASE("a clean checkout gives origin's URL and HEAD, pushed or not", "[cli][git]") {
    TempRepo repo;
    const auto url = repo.add_remote("origin");
    repo.add_remote("mirror");

    auto r = inspect_checkout(repo.work());
    REQUIRE(r);
    CHECK(r->code.repo_url == url);
    CHECK(r->code.commit_id == repo.head());
    CHECK(r->remote_name == "origin");
    CHECK_FALSE(r->head_on_remote);

    repo.git({"push", "-q", "origin", "main"});
    r = inspect_checkout(repo.work());
    REQUIRE(r);
    CHECK(r->head_on_remote);

    // An ignored file is not a change; a new local commit is not on the remote yet.
    repo.write("run.log", "noise\n");
    repo.write("train.py", "print('bye')\n");
    repo.git({"commit", "-q", "-am", "second"});
    r = inspect_checkout(repo.work() + "/.");
    REQUIRE(r);
    CHECK(r->code.commit_id == repo.head());
    CHECK_FALSE(r->head_on_remote);
}

TEST_CASE("a checkout's only remote is used when none is called origin", "[cli][git]") {
    TempRepo repo;
    const auto url = repo.add_remote("lab");
    const auto r = inspect_checkout(repo.work());
    REQUIRE(r);
    CHECK(r->code.repo_url == url);
    CHECK(r->remote_name == "lab");
}

TEST_CASE("a checkout with changes, untracked files or no remote is refused", "[cli][git]") {
    TempRepo repo;
    CHECK_THAT(refusal(repo.work()), Catch::Contains("no remote"));
    repo.add_remote("origin");

    SECTION("a modified file") {
        repo.write("train.py", "print('changed')\n");
        CHECK_THAT(refusal(repo.work()),
                   Catch::Contains("uncommitted changes (train.py)") && Catch::Contains("commit"));
    }
    SECTION("a staged file") {
        repo.write("model.py", "x = 1\n");
        repo.git({"add", "model.py"});
        CHECK_THAT(refusal(repo.work()), Catch::Contains("model.py"));
    }
    SECTION("an untracked file in a new folder") {
        fs::create_directories(repo.work() + "/data");
        repo.write("data/notes.txt", "todo\n");
        CHECK_THAT(refusal(repo.work()), Catch::Contains("data/notes.txt"));
    }
}

TEST_CASE("a folder that is not a checkout, or has no commit, is refused", "[cli][git]") {
    TempRepo repo;
    CHECK_THAT(refusal("/nonexistent/unidesk"), Catch::Contains("not a git checkout"));

    const auto empty = repo.work() + "/../empty";
    fs::create_directories(empty);
    const auto r = unidesk::test::run_program("/usr/bin/git", {"init", "-q", empty},
                                              {{"HOME", "/nonexistent"}});
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(refusal(empty), Catch::Contains("no commit"));
}
