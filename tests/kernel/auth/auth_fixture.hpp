#pragma once

// What the auth tests share: a fresh real PostgreSQL database with the kernel's migrations
// applied, the kernel's Database and EventBus over it, a hand-driven clock and an AuthService.
// One test owns one fixture; second_instance() adds another kernel's view of the same database
// (its own connections and service), for tests of two kernels racing.

#include "auth/auth_service.hpp"
#include "core/system_clock.hpp"
#include "support/catch_result.hpp"
#include "support/pg_cluster.hpp"

#include <pqxx/pqxx>

#include <memory>
#include <string>

namespace unidesk::test {

class AuthFixture {
public:
    //! One kernel's parts over the fixture's database, destroyed in reverse order.
    struct Instance {
        std::unique_ptr<Database> db;
        std::unique_ptr<EventBus> bus;
        std::unique_ptr<kernel::AuthService> auth;
    };

    AuthFixture();
    ~AuthFixture();

    kernel::AuthService& auth();

    //! Another kernel instance over the same database, with its own connections.
    std::unique_ptr<Instance> second_instance();

    const std::string& url() const { return db_.url(); }

    //! Runs sql on a connection of the test's own, outside any kernel code.
    pqxx::result query(const std::string& sql);

    // 2026-12-03T10:00:00Z, a whole second so stored times compare exactly.
    kernel::ManualClock clock{
        std::chrono::system_clock::time_point{std::chrono::seconds(1796292000)}};

private:
    TestDatabase db_;
    std::unique_ptr<Instance> main_;
};

}  // namespace unidesk::test
