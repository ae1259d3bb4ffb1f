#include "temp_git_repo.hpp"

#include "run_program.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>

namespace unidesk::test {

namespace fs = std::filesystem;

TempRepo::TempRepo() {
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

TempRepo::~TempRepo() {
    fs::remove_all(root_);
}

std::string TempRepo::add_remote(const std::string& name) {
    const auto bare = (root_ / (name + ".git")).string();
    run({"init", "-q", "--bare", bare}, root_);
    git({"remote", "add", name, bare});
    return bare;
}

void TempRepo::git(const std::vector<std::string>& args) {
    run(args, work_);
}

void TempRepo::write(const std::string& file, const std::string& text) {
    std::ofstream(work_ / file) << text;
}

std::string TempRepo::head() {
    const auto r = run_program("/usr/bin/git", {"-C", work(), "rev-parse", "HEAD"}, env());
    REQUIRE(r.exit_code == 0);
    return r.out.substr(0, 40);
}

std::map<std::string, std::string> TempRepo::env() const {
    // No global or user config may leak in: HOME is the test's own folder.
    return {{"HOME", root_.string()},    {"PATH", "/usr/bin:/bin"},
            {"GIT_AUTHOR_NAME", "t"},    {"GIT_AUTHOR_EMAIL", "t@example.org"},
            {"GIT_COMMITTER_NAME", "t"}, {"GIT_COMMITTER_EMAIL", "t@example.org"}};
}

void TempRepo::run(std::vector<std::string> args, const fs::path& cwd) {
    args.insert(args.begin(), {"-C", cwd.string()});
    const auto r = run_program("/usr/bin/git", args, env());
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
}

}  // namespace unidesk::test
