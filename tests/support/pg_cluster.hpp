#pragma once

// A throwaway PostgreSQL 15 cluster for tests: initdb into a temporary folder (as the
// `postgres` user when running as root, since initdb refuses root), trust authentication, no
// fsync, its own free port and socket folder. Start and stop it at will (tests of a database
// that goes away); destroyed with the object.
//
// Shared cluster: test_database() gives each test a database of its own, created fresh in the
// cluster named by UNIDESK_TEST_PG_URL (tests/run.sh starts one) or, when that is unset, in a
// cluster this process starts on first use.

#include <filesystem>
#include <memory>
#include <string>

namespace unidesk::test {

class PgCluster {
public:
    PgCluster();   // initdb + start; throws std::runtime_error with the tool's output
    ~PgCluster();  // stop + remove the folder

    void start();
    void stop();  // fast shutdown; connections are cut
    bool running() const { return running_; }
    int port() const { return port_; }

    //! Connection URL for a database in this cluster (default "postgres").
    std::string url(const std::string& db = "postgres") const;
    //! Creates a new empty database with a unique name and returns its URL.
    std::string create_database(const std::string& prefix = "t");

private:
    std::filesystem::path dir_;
    int port_ = 0;
    bool running_ = false;
};

//! A fresh database for one test: its URL. Dropped when the returned handle dies.
class TestDatabase {
public:
    TestDatabase();
    ~TestDatabase();
    const std::string& url() const { return url_; }

private:
    std::string admin_url_;
    std::string name_;
    std::string url_;
};

//! A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
int free_port();

}  // namespace unidesk::test
