// --from-checkout against real repositories made with the `git` command.

#include "git_checkout.hpp"

#include "run_program.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

using namespace unidesk::cli;
namespace fs = std::filesystem;

namespace {

//! A temporary folder with a git checkout `work` in it, removed at the end of the test.
class TempRepo {
public:
    TempRepo() {
        char name[] = "/tmp/unidesk-cli-git-XXXXXX";
        REQUIRE(::mkdtemp(name) != nullptr);
        root_ = name;
        work_ = root_ / "work";
        fs::create_directories(work_);
        git({"init", "-q", "-b", "main"});
        write("train.py", "print('hi')\n");
        write(".gitignore", "*.log\n");
        git({"add", "."});
        git({"commit", "-q", "-m", "first"});
    }
    ~TempRepo() { fs::remove_all(root_); }
    TempRepo(const TempRepo&) = delete;
    TempRepo& operator=(const TempRepo&) = delete;

    std::string work() const { return work_.string(); }

    //! A bare repository next to the checkout, added as remote `name`.
    std::string add_remote(const std::string& name) {
        const auto bare = (root_ / (name + ".git")).string();
        run({"init", "-q", "--bare", bare}, root_);
        git({"remote", "add", name, bare});
        return bare;
    }

    void git(const std::vector<std::string>& args) { run(args, work_); }

    void write(const std::string& file, const std::string& text) {
        std::ofstream(work_ / file) << text;
    }

    std::string head() {
        const auto r =
            unidesk::test::run_program("/usr/bin/git", {"-C", work(), "rev-parse", "HEAD"}, env());
        REQUIRE(r.exit_code == 0);
        return r.out.substr(0, 40);
    }

private:
    std::map<std::string, std::string> env() const {
        return {{"HOME", root_.string()},    {"PATH", "/usr/bin:/bin"},
                {"GIT_AUTHOR_NAME", "t"},    {"GIT_AUTHOR_EMAIL", "t@example.org"},
                {"GIT_COMMITTER_NAME", "t"}, {"GIT_COMMITTER_EMAIL", "t@example.org"}};
    }

    void run(std::vector<std::string> args, const fs::path& cwd) {
        args.insert(args.begin(), {"-C", cwd.string()});
        const auto r = unidesk::test::run_program("/usr/bin/git", args, env());
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
    }

    fs::path root_;
    fs::path work_;
};

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
