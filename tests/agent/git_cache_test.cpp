#include "git_cache.hpp"

#include "agent/child_process.hpp"
#include "agent/docker_fixture.hpp"
#include "support/catch_result.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

using namespace unidesk::agent;
using unidesk::test::ChildProcess;
namespace fs = std::filesystem;

namespace {

struct CommandResult {
    int status = -1;
    std::string output;
};

// Runs a shell command line, stdout and stderr together.
CommandResult run(const std::string& command) {
    CommandResult r;
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    if (pipe == nullptr) {
        return r;
    }
    std::array<char, 4096> buf{};
    while (const std::size_t n = std::fread(buf.data(), 1, buf.size(), pipe)) {
        r.output.append(buf.data(), n);
    }
    r.status = ::pclose(pipe);
    return r;
}

std::string git(const std::string& dir, const std::string& args) {
    const auto r = run("git -C '" + dir + "' -c user.name=Test -c user.email=test@example.org " +
                       "-c init.defaultBranch=main " + args);
    INFO("git " << args << ": " << r.output);
    REQUIRE(r.status == 0);
    return r.output;
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
        s.pop_back();
    }
    return s;
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_file(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
}

// A bare repository `<dir>/remote.git` with two unrelated lines of history:
// main: A (files, a script, a link, a folder), then `second` on top of A;
// other: B, whose only commit shares nothing with main.
struct Remote {
    std::string dir;
    std::string bare;
    std::string a;
    std::string second;
    std::string b;

    std::string url() const { return "file://" + bare; }
};

Remote make_remote() {
    Remote r;
    r.dir = unidesk::test::make_temp_dir();
    r.bare = r.dir + "/remote.git";
    const std::string work = r.dir + "/work";
    fs::create_directories(work);
    git(r.dir, "init -q --bare remote.git");
    git(work, "init -q");

    write_file(work + "/hello.txt", "hello, world\n");
    write_file(work + "/tools/run.sh", "#!/bin/sh\necho ran\n");
    fs::permissions(work + "/tools/run.sh", fs::perms::owner_all | fs::perms::group_read |
                                                fs::perms::group_exec | fs::perms::others_read |
                                                fs::perms::others_exec);
    fs::create_symlink("hello.txt", work + "/link.txt");
    write_file(work + "/deep/er/data.bin", std::string("\x01\x02\x00\x03", 4));
    git(work, "add -A");
    git(work, "commit -q -m first");
    r.a = trim(git(work, "rev-parse HEAD"));

    write_file(work + "/hello.txt", "hello again\n");
    git(work, "commit -q -am second");
    r.second = trim(git(work, "rev-parse HEAD"));

    git(work, "checkout -q --orphan other");
    git(work, "rm -rq --cached .");
    write_file(work + "/unrelated.txt", "another line of history\n");
    git(work, "add unrelated.txt");
    git(work, "commit -q -m unrelated");
    r.b = trim(git(work, "rev-parse HEAD"));

    git(work, "push -q '" + r.bare + "' main other");
    return r;
}

GitCache make_cache(const std::string& root, std::vector<GitCredential> credentials = {}) {
    GitCacheOptions options;
    options.root = root;
    options.credentials = std::move(credentials);
    options.allow_local_remotes = true;
    return GitCache(options);
}

bool in_cache(const fs::path& repo, const std::string& commit) {
    return run("git -C '" + repo.string() + "' cat-file -e " + commit + "^{commit}").status == 0;
}

// A port nothing listens on right now (the kernel picks it; the socket is closed again).
int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

bool accepts(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    return ok;
}

template <class Condition>
bool wait_for(Condition condition, std::chrono::milliseconds deadline) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < until) {
        if (condition()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return condition();
}

std::map<std::string, std::string> child_env() {
    return {{"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"HOME", "/tmp"}};
}

// `git daemon` serving the folder of a Remote on a free loopback port; killed when destroyed.
struct Daemon {
    explicit Daemon(const Remote& remote)
        : port(free_port()),
          process(unidesk::test::git_daemon_program(),
                  {"--reuseaddr", "--base-path=" + remote.dir, "--export-all",
                   "--port=" + std::to_string(port), "--listen=127.0.0.1", remote.dir},
                  child_env()) {
        REQUIRE(wait_for([&] { return accepts(port); }, std::chrono::seconds(10)));
    }

    std::string url() const { return "git://127.0.0.1:" + std::to_string(port) + "/remote.git"; }

    int port;
    ChildProcess process;
};

// Servers refuse to send a commit no branch points at unless told to; hosting services do.
void allow_fetch_by_id(const Remote& remote) {
    git(remote.bare, "config uploadpack.allowReachableSHA1InWant true");
}

// Overwrites every file under `dir` with bytes that are no git object or pack.
void garble(const fs::path& dir) {
    for (const auto& item : fs::recursive_directory_iterator(dir)) {
        if (item.is_regular_file()) {
            fs::permissions(item.path(), fs::perms::owner_read | fs::perms::owner_write);
            std::ofstream(item.path(), std::ios::trunc) << "this is not a git object";
        }
    }
}

}  // namespace

TEST_CASE("a commit is fetched from a file remote and checked out with modes and links",
          "[agent][git]") {
    const Remote remote = make_remote();
    const std::string tmp = unidesk::test::make_temp_dir();
    GitCache cache = make_cache(tmp + "/git");

    auto info = cache.ensure_commit(remote.url(), remote.a);
    REQUIRE(info);
    REQUIRE(info->fetched);
    REQUIRE_FALSE(info->rebuilt);

    const fs::path dest = tmp + "/task/src";
    REQUIRE(cache.checkout(remote.url(), remote.a, dest));
    REQUIRE(read_file(dest / "hello.txt") == "hello, world\n");
    REQUIRE(read_file(dest / "tools/run.sh") == "#!/bin/sh\necho ran\n");
    REQUIRE(read_file(dest / "deep/er/data.bin") == std::string("\x01\x02\x00\x03", 4));
    struct stat st {};
    REQUIRE(::stat((dest / "tools/run.sh").c_str(), &st) == 0);
    REQUIRE((st.st_mode & 0111) == 0111);
    REQUIRE(::stat((dest / "hello.txt").c_str(), &st) == 0);
    REQUIRE((st.st_mode & 0111) == 0);
    REQUIRE(fs::is_symlink(dest / "link.txt"));
    REQUIRE(fs::read_symlink(dest / "link.txt") == "hello.txt");
    REQUIRE_FALSE(fs::exists(dest / "unrelated.txt"));

    const fs::path tar = tmp + "/context.tar";
    REQUIRE(cache.write_tar(remote.url(), remote.a, tar));
    const auto listing = run("tar -tvf '" + tar.string() + "'");
    INFO(listing.output);
    REQUIRE(listing.status == 0);
    REQUIRE_THAT(listing.output,
                 Catch::Contains("-rwxr-xr-x 0/0") && Catch::Contains("tools/run.sh"));
    REQUIRE_THAT(listing.output,
                 Catch::Contains("lrwxrwxrwx 0/0") && Catch::Contains("link.txt -> hello.txt"));
    REQUIRE_THAT(listing.output, Catch::Contains("-rw-r--r-- 0/0") && Catch::Contains("hello.txt"));
    REQUIRE_THAT(listing.output, Catch::Contains("drwxr-xr-x 0/0") && Catch::Contains("deep/er/"));
    const auto content = run("tar -xOf '" + tar.string() + "' hello.txt");
    REQUIRE(content.output == "hello, world\n");

    // The destination must be the task's own fresh folder.
    auto again = cache.checkout(remote.url(), remote.a, dest);
    REQUIRE_FALSE(again);
    REQUIRE(again.error().code == "git_checkout_failed");
}

TEST_CASE("a commit already in the cache needs no remote", "[agent][git]") {
    const Remote remote = make_remote();
    const std::string tmp = unidesk::test::make_temp_dir();
    GitCache cache = make_cache(tmp + "/git");
    REQUIRE(cache.ensure_commit(remote.url(), remote.second));

    fs::remove_all(remote.bare);
    auto info = cache.ensure_commit(remote.url(), remote.second);
    REQUIRE(info);
    REQUIRE_FALSE(info->fetched);

    // Its parent came with it: history is fetched, only other branches are not.
    auto parent = cache.ensure_commit(remote.url(), remote.a);
    REQUIRE(parent);
    REQUIRE_FALSE(parent->fetched);
    REQUIRE(cache.checkout(remote.url(), remote.a, tmp + "/out"));
    REQUIRE(read_file(tmp + "/out/hello.txt") == "hello, world\n");
}

TEST_CASE("only the wanted commit and its history are fetched", "[agent][git]") {
    // Over a real git server: libgit2's file:// transport sends more than was asked for.
    const Remote remote = make_remote();
    allow_fetch_by_id(remote);
    const Daemon daemon(remote);
    const std::string tmp = unidesk::test::make_temp_dir();
    GitCache cache = make_cache(tmp + "/git");
    REQUIRE(cache.ensure_commit(daemon.url(), remote.a));

    const fs::path repo = cache.repository_path(daemon.url());
    REQUIRE(in_cache(repo, remote.a));
    REQUIRE_FALSE(in_cache(repo, remote.second));
    REQUIRE_FALSE(in_cache(repo, remote.b));
    REQUIRE(run("git -C '" + repo.string() + "' for-each-ref --format='%(refname)'").output ==
            "refs/unidesk/" + remote.a + "\n");
}

TEST_CASE("a commit is fetched through git daemon", "[agent][git]") {
    const Remote remote = make_remote();
    allow_fetch_by_id(remote);
    const Daemon daemon(remote);
    const std::string tmp = unidesk::test::make_temp_dir();
    GitCache cache = make_cache(tmp + "/git");

    auto first = cache.ensure_commit(daemon.url(), remote.a);
    REQUIRE(first);
    REQUIRE(first->fetched);
    auto second = cache.ensure_commit(daemon.url(), remote.second);
    REQUIRE(second);
    REQUIRE(second->fetched);
    REQUIRE(cache.checkout(daemon.url(), remote.second, tmp + "/out"));
    REQUIRE(read_file(tmp + "/out/hello.txt") == "hello again\n");
    REQUIRE(fs::is_symlink(tmp + "/out/link.txt"));

    auto unknown = cache.ensure_commit(daemon.url(), std::string(40, 'd'));
    REQUIRE_FALSE(unknown);
    REQUIRE(unknown.error().code == "git_fetch_failed");
    REQUIRE_THAT(unknown.error().message, Catch::Contains("not in the remote"));
    REQUIRE(cache.ensure_commit(daemon.url(), remote.b));
}

TEST_CASE("from a server that refuses fetching by id, commits come with its branches and tags",
          "[agent][git]") {
    const Remote remote = make_remote();  // a plain git daemon: no uploadpack setting
    const Daemon daemon(remote);
    const std::string tmp = unidesk::test::make_temp_dir();
    GitCache cache = make_cache(tmp + "/git");

    // A commit behind a branch's tip, and a tip, as the task's checkout wants them.
    REQUIRE(cache.ensure_commit(daemon.url(), remote.a));
    REQUIRE(cache.checkout(daemon.url(), remote.a, tmp + "/out"));
    CHECK(read_file(tmp + "/out/hello.txt") == "hello, world\n");
    REQUIRE(cache.ensure_commit(daemon.url(), remote.b));

    // A commit on no branch or tag cannot come at all, and the error says why.
    auto refused = cache.ensure_commit(daemon.url(), std::string(40, 'd'));
    REQUIRE_FALSE(refused);
    REQUIRE(refused.error().code == "git_fetch_failed");
    REQUIRE_THAT(refused.error().message, Catch::Contains("on no branch or tag"));
    REQUIRE_THAT(refused.error().message, Catch::Contains("fetching a commit by id"));
}

TEST_CASE("an unknown commit or an unreachable remote fails clearly and harms nothing",
          "[agent][git]") {
    const Remote remote = make_remote();
    allow_fetch_by_id(remote);
    const Daemon daemon(remote);
    const std::string tmp = unidesk::test::make_temp_dir();
    GitCache cache = make_cache(tmp + "/git");

    const std::string unknown(40, 'e');
    auto missing = cache.ensure_commit(daemon.url(), unknown);
    REQUIRE_FALSE(missing);
    REQUIRE(missing.error().code == "git_fetch_failed");
    REQUIRE_THAT(missing.error().message, Catch::Contains("not in the remote"));

    const std::string closed = "git://127.0.0.1:" + std::to_string(free_port()) + "/remote.git";
    auto unreachable = cache.ensure_commit(closed, remote.a);
    REQUIRE_FALSE(unreachable);
    REQUIRE(unreachable.error().code == "git_fetch_failed");
    REQUIRE_THAT(unreachable.error().message, Catch::Contains("cannot reach"));

    auto good = cache.ensure_commit(daemon.url(), remote.a);
    REQUIRE(good);
    REQUIRE(good->fetched);
    REQUIRE(cache.checkout(daemon.url(), remote.a, tmp + "/out"));
}

TEST_CASE("bad input is refused before any work", "[agent][git]") {
    const std::string tmp = unidesk::test::make_temp_dir();
    GitCache cache = make_cache(tmp + "/git");
    for (const std::string& bad : {std::string("abc"), std::string(40, 'A'), std::string(41, 'a'),
                                   std::string(39, 'a') + "g", std::string("HEAD")}) {
        auto r = cache.ensure_commit("https://example.org/x.git", bad);
        REQUIRE_FALSE(r);
        REQUIRE(r.error().code == "invalid_commit");
        REQUIRE(r.error().errc == unidesk::Errc::invalid_argument);
    }
    REQUIRE(cache.ensure_commit("", std::string(40, 'a')).error().code == "invalid_url");
    REQUIRE(cache.ensure_commit("ftp://h/x", std::string(40, 'a')).error().code == "invalid_url");

    auto password =
        cache.ensure_commit("https://me:secret@example.org/x.git", std::string(40, 'a'));
    REQUIRE(password.error().code == "invalid_url");
    REQUIRE_THAT(password.error().message, !Catch::Contains("secret"));

    GitCacheOptions strict;
    strict.root = tmp + "/strict";
    GitCache no_local(strict);
    auto local = no_local.ensure_commit("file:///etc/repo.git", std::string(40, 'a'));
    REQUIRE_FALSE(local);
    REQUIRE(local.error().code == "invalid_url");
    REQUIRE(no_local.ensure_commit("/srv/repo.git", std::string(40, 'a')).error().code ==
            "invalid_url");
    REQUIRE_FALSE(fs::exists(tmp + "/strict"));
}

TEST_CASE("hosts are read from every kind of repository URL", "[agent][git]") {
    REQUIRE(git_url_host("https://GitHub.com/a/b.git") == "github.com");
    REQUIRE(git_url_host("https://user:pw@git.example.org:8443/a.git") == "git.example.org");
    REQUIRE(git_url_host("ssh://git@[::1]:2222/a.git") == "::1");
    REQUIRE(git_url_host("git@github.com:org/repo.git") == "github.com");
    REQUIRE(git_url_host("git://127.0.0.1:9418/r") == "127.0.0.1");
    REQUIRE(git_url_host("file:///srv/r.git").empty());
    REQUIRE(git_url_host("/srv/r.git").empty());
}

TEST_CASE("a credential from the config is offered once over HTTP", "[agent][git]") {
    const Remote remote = make_remote();
    allow_fetch_by_id(remote);
    const std::string script = std::string(UNIDESK_SOURCE_DIR) + "/tests/agent/git_http_server.py";
    ChildProcess server("/usr/bin/python3", {script, remote.dir, "x-access-token", "right-token"},
                        child_env());
    std::string port;
    REQUIRE(wait_for(
        [&] {
            const std::string out = server.output();
            const auto at = out.find("port ");
            const auto end = out.find('\n', at);
            if (at == std::string::npos || end == std::string::npos) {
                return false;
            }
            port = out.substr(at + 5, end - at - 5);
            return true;
        },
        std::chrono::seconds(10)));
    const std::string url = "http://127.0.0.1:" + port + "/remote.git";
    const std::string tmp = unidesk::test::make_temp_dir();

    GitCache wrong = make_cache(tmp + "/wrong", {{"127.0.0.1", "", "wrong-token", "", ""}});
    auto refused = wrong.ensure_commit(url, remote.a);
    REQUIRE_FALSE(refused);
    REQUIRE(refused.error().code == "git_fetch_failed");
    REQUIRE_THAT(refused.error().message, Catch::Contains("authentication refused"));

    GitCache none = make_cache(tmp + "/none", {{"other.example.org", "", "t", "", ""}});
    auto missing = none.ensure_commit(url, remote.a);
    REQUIRE_FALSE(missing);
    REQUIRE_THAT(missing.error().message, Catch::Contains("no [[git.credentials]] entry"));

    GitCache right = make_cache(tmp + "/right", {{"127.0.0.1", "", "right-token", "", ""}});
    auto fetched = right.ensure_commit(url, remote.a);
    INFO(server.output());
    REQUIRE(fetched);
    REQUIRE(fetched->fetched);
    REQUIRE(right.checkout(url, remote.a, tmp + "/out"));
    REQUIRE(fs::is_symlink(tmp + "/out/link.txt"));
}

TEST_CASE("a damaged cache repository is removed and fetched again", "[agent][git]") {
    const Remote remote = make_remote();
    const std::string tmp = unidesk::test::make_temp_dir();
    GitCache cache = make_cache(tmp + "/git");
    const fs::path repo = cache.repository_path(remote.url());

    SECTION("garbled objects") {
        REQUIRE(cache.ensure_commit(remote.url(), remote.a));
        garble(repo / "objects");
        auto same = cache.ensure_commit(remote.url(), remote.a);
        REQUIRE(same);
        REQUIRE(same->fetched);
        REQUIRE(same->rebuilt);
        REQUIRE(cache.checkout(remote.url(), remote.a, tmp + "/out"));
        REQUIRE(read_file(tmp + "/out/hello.txt") == "hello, world\n");
    }
    SECTION("garbled objects found by a checkout of another commit") {
        REQUIRE(cache.ensure_commit(remote.url(), remote.a));
        garble(repo / "objects");
        REQUIRE(cache.checkout(remote.url(), remote.second, tmp + "/out"));
        REQUIRE(read_file(tmp + "/out/hello.txt") == "hello again\n");
    }
    SECTION("objects half gone") {
        REQUIRE(cache.ensure_commit(remote.url(), remote.a));
        for (const auto& item : fs::directory_iterator(repo / "objects" / "pack")) {
            if (item.path().extension() == ".pack") {
                fs::remove(item.path());
            }
        }
        auto other = cache.ensure_commit(remote.url(), remote.second);
        REQUIRE(other);
        REQUIRE(other->rebuilt);
        REQUIRE(cache.write_tar(remote.url(), remote.a, tmp + "/a.tar"));
    }
    SECTION("one broken file found only while writing the tree") {
        REQUIRE(cache.ensure_commit(remote.url(), remote.a));
        // Loose objects let the test break one file's blob while the commit and trees stay good.
        for (const auto& item : fs::directory_iterator(repo / "objects" / "pack")) {
            if (item.path().extension() == ".pack") {
                const fs::path moved = tmp + "/cache.pack";
                fs::rename(item.path(), moved);
                REQUIRE(run("git -C '" + repo.string() + "' unpack-objects -q < '" +
                            moved.string() + "'")
                            .status == 0);
            }
        }
        const std::string blob = trim(git(remote.bare, "rev-parse " + remote.a + ":hello.txt"));
        const fs::path loose = repo / "objects" / blob.substr(0, 2) / blob.substr(2);
        REQUIRE(fs::exists(loose));
        fs::permissions(loose, fs::perms::owner_read | fs::perms::owner_write);
        std::ofstream(loose, std::ios::trunc) << "this is not a git object";
        REQUIRE(cache.ensure_commit(remote.url(), remote.a));

        REQUIRE(cache.checkout(remote.url(), remote.a, tmp + "/out"));
        REQUIRE(read_file(tmp + "/out/hello.txt") == "hello, world\n");
        REQUIRE(read_file(tmp + "/out/tools/run.sh") == "#!/bin/sh\necho ran\n");
    }
    SECTION("HEAD deleted") {
        REQUIRE(cache.ensure_commit(remote.url(), remote.a));
        fs::remove(repo / "HEAD");
        auto same = cache.ensure_commit(remote.url(), remote.a);
        REQUIRE(same);
        REQUIRE(same->rebuilt);
    }
    SECTION("only once: with the remote gone too, the call fails") {
        REQUIRE(cache.ensure_commit(remote.url(), remote.a));
        garble(repo / "objects");
        fs::remove_all(remote.bare);
        auto failed = cache.ensure_commit(remote.url(), remote.a);
        REQUIRE_FALSE(failed);
        REQUIRE(failed.error().code == "git_fetch_failed");
        INFO(failed.error().message);
        REQUIRE_THAT(failed.error().message, Catch::Contains(remote.bare));
    }
}

TEST_CASE("two threads with their own caches fetch from one repository at once", "[agent][git]") {
    const Remote remote = make_remote();
    allow_fetch_by_id(remote);
    const Daemon daemon(remote);
    const std::string url = daemon.url();
    const std::string tmp = unidesk::test::make_temp_dir();
    GitCache first = make_cache(tmp + "/git");
    GitCache second = make_cache(tmp + "/git");

    for (int round = 0; round < 3; ++round) {
        unidesk::Result<FetchInfo> a = FetchInfo{}, b = FetchInfo{};
        unidesk::Result<void> out_a, out_b;
        const std::string suffix = std::to_string(round);
        std::thread ta([&] {
            a = first.ensure_commit(url, remote.a);
            out_a = first.checkout(url, remote.a, tmp + "/a" + suffix);
        });
        std::thread tb([&] {
            b = second.ensure_commit(url, remote.b);
            out_b = second.write_tar(url, remote.b, tmp + "/b" + suffix + ".tar");
        });
        ta.join();
        tb.join();
        REQUIRE(a);
        REQUIRE(b);
        REQUIRE(out_a);
        REQUIRE(out_b);
        REQUIRE(a->fetched == (round == 0));
        REQUIRE(b->fetched == (round == 0));
    }
    const fs::path repo = first.repository_path(url);
    REQUIRE(in_cache(repo, remote.a));
    REQUIRE(in_cache(repo, remote.b));
}
