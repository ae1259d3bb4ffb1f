#include "support/pg_cluster.hpp"

#include <pqxx/pqxx>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>

namespace unidesk::test {
namespace {

const char* kPgBin = "/usr/lib/postgresql/15/bin";

// Runs a shell command, returning its exit code and combined output.
std::pair<int, std::string> run(const std::string& cmd) {
    std::string out;
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (p == nullptr) {
        return {-1, "popen failed"};
    }
    std::array<char, 512> buf{};
    while (std::fgets(buf.data(), buf.size(), p) != nullptr) {
        out += buf.data();
    }
    int rc = ::pclose(p);
    return {WEXITSTATUS(rc), out};
}

// initdb and pg_ctl refuse to run as root; run them as the postgres user then.
std::string as_pg_user(const std::string& cmd) {
    if (::geteuid() == 0) {
        return "runuser -u postgres -- " + cmd;
    }
    return cmd;
}

std::string random_suffix() {
    static std::atomic<unsigned> counter{0};
    std::random_device rd;
    return std::to_string(::getpid()) + "_" + std::to_string(rd() % 100000) + "_" +
           std::to_string(counter++);
}

}  // namespace

int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    int port = ntohs(addr.sin_port);
    ::close(fd);
    return port;
}

PgCluster::PgCluster() {
    dir_ = std::filesystem::temp_directory_path() / ("unidesk-pg-" + random_suffix());
    std::filesystem::create_directories(dir_);
    if (::geteuid() == 0) {
        run("chown postgres:postgres " + dir_.string());
    }
    port_ = free_port();
    auto [rc, out] = run(as_pg_user(std::string(kPgBin) + "/initdb -D " + (dir_ / "data").string() +
                                    " -A trust -U postgres --no-sync -E UTF8 --locale=C.UTF-8"));
    if (rc != 0) {
        throw std::runtime_error("initdb failed: " + out);
    }
    start();
}

PgCluster::~PgCluster() {
    if (running_) {
        stop();
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

void PgCluster::start() {
    std::string opts = "-c port=" + std::to_string(port_) + " -c listen_addresses=127.0.0.1" +
                       " -c unix_socket_directories=" + dir_.string() +
                       " -c fsync=off -c synchronous_commit=off -c full_page_writes=off" +
                       " -c max_connections=200";
    auto [rc, out] =
        run(as_pg_user(std::string(kPgBin) + "/pg_ctl -D " + (dir_ / "data").string() + " -l " +
                       (dir_ / "log").string() + " -w -o \"" + opts + "\" start"));
    if (rc != 0) {
        throw std::runtime_error("pg_ctl start failed: " + out);
    }
    running_ = true;
}

void PgCluster::stop() {
    run(as_pg_user(std::string(kPgBin) + "/pg_ctl -D " + (dir_ / "data").string() +
                   " -m fast -w stop"));
    running_ = false;
}

std::string PgCluster::url(const std::string& db) const {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + db;
}

std::string PgCluster::create_database(const std::string& prefix) {
    std::string name = prefix + "_" + random_suffix();
    pqxx::connection c(url());
    pqxx::nontransaction tx(c);
    tx.exec("CREATE DATABASE " + tx.quote_name(name));
    return url(name);
}

namespace {

// The cluster shared by every TestDatabase of this process when no URL is given.
std::string shared_admin_url() {
    if (const char* env = std::getenv("UNIDESK_TEST_PG_URL"); env != nullptr && *env != '\0') {
        return env;
    }
    static std::unique_ptr<PgCluster> cluster = std::make_unique<PgCluster>();
    return cluster->url();
}

}  // namespace

TestDatabase::TestDatabase() : admin_url_(shared_admin_url()) {
    name_ = "t_" + random_suffix();
    pqxx::connection c(admin_url_);
    pqxx::nontransaction tx(c);
    tx.exec("CREATE DATABASE " + tx.quote_name(name_));
    auto slash = admin_url_.rfind('/');
    url_ = admin_url_.substr(0, slash + 1) + name_;
}

TestDatabase::~TestDatabase() {
    try {
        pqxx::connection c(admin_url_);
        pqxx::nontransaction tx(c);
        tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
    } catch (const std::exception&) {
        // The cluster may be gone already at process exit; the folder goes with it.
    }
}

}  // namespace unidesk::test
