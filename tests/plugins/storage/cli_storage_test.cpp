// `unidesk storage ls|put|get|rm`, the built program against a real kernel with each backend:
// small and multipart uploads, downloads checked against their checksum, and a large upload
// killed halfway that the same command then finishes, sending only the missing parts.

#include "storage_server.hpp"
#include "transfer.hpp"

#include "crypto.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>

using namespace std::chrono_literals;
using nlohmann::json;
using unidesk::test::ChildProcess;
using unidesk::test::StorageServer;
namespace test = unidesk::test;
namespace fs = std::filesystem;

namespace {

struct Cli {
    StorageServer& server;
    test::TempDir home;

    std::map<std::string, std::string> env() const {
        return {{"UNIDESK_SERVER", "http://127.0.0.1:" + std::to_string(server.kernel().port)},
                {"UNIDESK_TOKEN", server.kernel().admin_token()},
                {"XDG_STATE_HOME", (home.path() / "state").string()}};
    }

    std::unique_ptr<ChildProcess> start(std::vector<std::string> args) const {
        return std::make_unique<ChildProcess>(test::built_program("unidesk"), std::move(args),
                                              env());
    }

    // Runs to the end; the exit code, with stdout and stderr in `out`/`err`.
    int run(std::vector<std::string> args, std::string* out = nullptr,
            std::string* err = nullptr) const {
        auto p = start(std::move(args));
        auto code = p->wait(120s);
        REQUIRE(code.has_value());
        if (out) {
            *out = p->stdout_text();
        }
        if (err) {
            *err = p->stderr_text();
        }
        INFO(p->stderr_text());
        return *code;
    }

    fs::path write_file(const std::string& name, std::uint64_t seed, std::uint64_t size) const {
        auto path = home.path() / name;
        std::ofstream out(path, std::ios::binary);
        for (std::uint64_t at = 0; at < size; at += 1 << 20) {
            out << test::generated(
                seed, at, static_cast<std::size_t>(std::min<std::uint64_t>(1 << 20, size - at)));
        }
        return path;
    }

    std::size_t parts_remembered() const {
        auto dir = home.path() / "state" / "unidesk" / "uploads";
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(dir, ec)) {
            if (e.path().extension() != ".json") {
                continue;
            }
            std::ifstream in(e.path());
            auto state = json::parse(in, nullptr, false);
            if (state.is_object()) {
                return state["parts"].size();
            }
        }
        return 0;
    }
};

void small_files_go_up_and_come_back(StorageServer& s) {
    Cli cli{s, {}};
    auto file = cli.write_file("notes.bin", 4, 300 * 1024);
    const auto key = s.prefix() + "cli/notes.bin";
    std::string out;
    REQUIRE(cli.run({"storage", "put", file.string(), key}, &out) == 0);
    CHECK(out.find("stored " + key) != std::string::npos);
    // A local file that is not there is the command line's mistake: a usage error.
    std::string err;
    CHECK(cli.run({"storage", "put", (cli.home.path() / "nothere.bin").string(), key}, &out,
                  &err) == 2);
    CHECK(err.find("cannot read") != std::string::npos);

    REQUIRE(cli.run({"storage", "ls", s.prefix() + "cli/"}, &out) == 0);
    CHECK(out.find(key) != std::string::npos);
    CHECK(out.find("300.0 KiB") != std::string::npos);

    auto back = cli.home.path() / "back.bin";
    REQUIRE(cli.run({"storage", "get", key, back.string()}) == 0);
    CHECK(unidesk::storage::sha256_hex(test::generated(4, 0, 300 * 1024)) ==
          test::generated_sha256(4, 300 * 1024));
    CHECK(fs::file_size(back) == 300 * 1024);
    std::ifstream in(back, std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(content == test::generated(4, 0, 300 * 1024));

    REQUIRE(cli.run({"storage", "rm", key}) == 0);
    REQUIRE(cli.run({"storage", "ls", s.prefix() + "cli/", "--json"}, &out) == 0);
    CHECK(json::parse(out)["objects"].empty());
    CHECK(cli.run({"storage", "get", key, back.string()}) == 4);
}

void interrupted_put_resumes(StorageServer& s) {
    Cli cli{s, {}};
    const std::uint64_t size = 40ull << 20;
    auto file = cli.write_file("big.bin", 8, size);
    const auto key = s.prefix() + "cli/big.bin";

    // Slowed down so that it is surely killed between parts 2 and 8.
    auto first =
        cli.start({"storage", "put", file.string(), key, "--part-size", "5M", "--max-rate", "10M"});
    REQUIRE(test::wait_until([&] { return cli.parts_remembered() >= 2; }, 30s));
    first->signal(SIGKILL);
    first->wait(10s);
    auto sent_before = cli.parts_remembered();
    CHECK(sent_before < 8);

    std::string out;
    std::string err;
    REQUIRE(cli.run({"storage", "put", file.string(), key, "--part-size", "5M"}, &out, &err) == 0);
    CHECK(err.find("resuming the upload of " + key + ": " + std::to_string(sent_before) +
                   " parts already sent") != std::string::npos);
    CHECK(out.find("8 parts") != std::string::npos);
    CHECK(cli.parts_remembered() == 0);

    auto got = test::request_url("GET", s.download_url(key));
    CHECK(got.bytes == size);
    CHECK(got.sha256 == test::generated_sha256(8, size));
}

}  // namespace

TEST_CASE("local: the CLI puts, lists, gets and removes files", "[storage][local][cli][e2e]") {
    StorageServer s(StorageServer::Kind::local);
    small_files_go_up_and_come_back(s);
}

TEST_CASE("s3: the CLI puts, lists, gets and removes files", "[storage][s3][cli][e2e]") {
    StorageServer s(StorageServer::Kind::s3);
    small_files_go_up_and_come_back(s);
}

TEST_CASE("local: an interrupted CLI upload resumes with the parts it lacks",
          "[storage][local][cli][e2e]") {
    StorageServer s(StorageServer::Kind::local);
    interrupted_put_resumes(s);
}

TEST_CASE("s3: an interrupted CLI upload resumes with the parts it lacks",
          "[storage][s3][cli][e2e]") {
    StorageServer s(StorageServer::Kind::s3);
    interrupted_put_resumes(s);
}
