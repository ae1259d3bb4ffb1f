#include "support/kernel_under_test.hpp"

#include "support/pg_cluster.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <stdexcept>

namespace unidesk::test {

using namespace std::chrono_literals;

std::string built_program(const std::string& name) {
    return std::string(UNIDESK_BINARY_DIR) + "/bin/" + name;
}

std::filesystem::path KernelUnderTest::write_config(const std::string& db_url,
                                                    const std::string& extra) {
    auto file = dir.path() / "kernel.toml";
    std::ofstream out(file);
    out << "[listeners]\ninternal = \"127.0.0.1:" << port << "\"\n"
        << "provider = \"127.0.0.1:" << provider_port << "\"\n"
        << "public = \"127.0.0.1:" << public_port << "\"\n"
        << "[database]\nurl = \"" << db_url << "\"\n"
        << "retry_initial_ms = 50\nretry_max_ms = 300\ncheck_interval_ms = 100\n"
        << "connect_timeout_s = 2\n"
        << database_extra << "[auth]\ninitial_credentials_file = \"credentials\"\n"
        << extra;
    return file;
}

void KernelUnderTest::start(const std::filesystem::path& config,
                            std::vector<std::string> extra_args) {
    std::vector<std::string> args{"--config", config.string()};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    proc = std::make_unique<ChildProcess>(built_program("unidesk-kernel"), args);
}

void KernelUnderTest::stop() {
    proc->signal(SIGTERM);
    REQUIRE(proc->wait(10s) == 0);
}

HttpClient KernelUnderTest::client() const {
    return HttpClient("127.0.0.1", static_cast<std::uint16_t>(port));
}

HttpClient KernelUnderTest::public_client() const {
    return HttpClient("127.0.0.1", static_cast<std::uint16_t>(public_port));
}

nlohmann::json KernelUnderTest::health() const {
    auto r = client().request("GET", "/health");
    return nlohmann::json::parse(r.body, nullptr, false);
}

bool KernelUnderTest::health_is(const std::string& status) const {
    try {
        return health().value("status", "") == status;
    } catch (const std::exception&) {
        return false;
    }
}

std::map<std::string, std::string> KernelUnderTest::credentials() const {
    std::map<std::string, std::string> out;
    std::ifstream in(dir.path() / "credentials");
    std::string line;
    while (std::getline(in, line)) {
        auto eq = line.find('=');
        if (eq != std::string::npos) {
            out[line.substr(0, eq)] = line.substr(eq + 1);
        }
    }
    return out;
}

std::string KernelUnderTest::admin_token() const {
    if (!wait_until([&] { return credentials().count("token") == 1; }, 20s)) {
        throw std::runtime_error("the kernel wrote no credentials file");
    }
    return credentials()["token"];
}

HttpClientResponse KernelUnderTest::call(const std::string& method, const std::string& target,
                                         const std::string& body) const {
    return client().request(method, target, body, {{"Authorization", "Bearer " + admin_token()}});
}

}  // namespace unidesk::test
