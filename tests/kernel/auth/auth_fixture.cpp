#include "auth_fixture.hpp"

#include "core/logging.hpp"
#include "db/kernel_schema.hpp"
#include "db/migrator.hpp"
#include "db/pool.hpp"
#include "events/pg_event_bus.hpp"

#include <catch2/catch.hpp>

namespace unidesk::test {

namespace {

std::unique_ptr<AuthFixture::Instance> make_instance(const std::string& url, Clock& clock) {
    kernel::DatabaseConfig cfg;
    cfg.url = url;
    cfg.pool_size = 2;
    auto pool = std::make_unique<kernel::Pool>(cfg, kernel::get_logger("kernel.db"));
    pool->set_available(true);

    auto instance = std::make_unique<AuthFixture::Instance>();
    instance->bus =
        std::make_unique<kernel::PgEventBus>(*pool, kernel::get_logger("kernel.events"));
    instance->auth = std::make_unique<kernel::AuthService>(*pool, *instance->bus, clock,
                                                           kernel::get_logger("kernel.auth"));
    instance->db = std::move(pool);
    return instance;
}

}  // namespace

AuthFixture::AuthFixture() {
    main_ = make_instance(db_.url(), clock);
    auto& pool = dynamic_cast<kernel::Pool&>(*main_->db);
    auto applied = kernel::apply_migrations(pool, "kernel", kernel::kernel_migrations());
    if (!applied) {
        FAIL("kernel migrations failed: " << applied.error().message);
    }
}

AuthFixture::~AuthFixture() = default;

kernel::AuthService& AuthFixture::auth() {
    return *main_->auth;
}

std::unique_ptr<AuthFixture::Instance> AuthFixture::second_instance() {
    return make_instance(db_.url(), clock);
}

pqxx::result AuthFixture::query(const std::string& sql) {
    pqxx::connection c(db_.url());
    pqxx::work tx(c);
    auto r = tx.exec(sql);
    tx.commit();
    return r;
}

}  // namespace unidesk::test
