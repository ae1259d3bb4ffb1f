#pragma once

// A throwaway git checkout for the CLI's tests, made with the `git` command: a folder under
// /tmp holding `work` (branch main, one commit of train.py and a .gitignore of *.log) and any
// bare remotes added next to it. Removed in the destructor. Failures of `git` fail the test.
// Not thread-safe; one per test.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace unidesk::test {

class TempRepo {
public:
    TempRepo();
    ~TempRepo();
    TempRepo(const TempRepo&) = delete;
    TempRepo& operator=(const TempRepo&) = delete;

    std::string work() const { return work_.string(); }

    //! A bare repository next to the checkout, added as remote `name`; gives its path.
    std::string add_remote(const std::string& name);
    //! Runs `git ARGS` in the checkout.
    void git(const std::vector<std::string>& args);
    void write(const std::string& file, const std::string& text);
    std::string head();

private:
    std::map<std::string, std::string> env() const;
    void run(std::vector<std::string> args, const std::filesystem::path& cwd);

    std::filesystem::path root_;
    std::filesystem::path work_;
};

}  // namespace unidesk::test
