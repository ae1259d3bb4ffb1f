#include "auth_fixture.hpp"

#include "core/logging.hpp"
#include "db/kernel_schema.hpp"
#include "db/migrator.hpp"
#include "db/pool.hpp"

#include <catch2/catch.hpp>

namespace unidesk::test {

namespace {

// Test support only: appends events with a plain INSERT until the kernel's event bus is
// available on this branch. read() and subscribe() are not needed by the auth tests.
class InsertOnlyEventBus final : public EventBus {
public:
    std::int64_t append(pqxx::work& tx, const EventDraft& e) override {
        return tx
            .exec_params1(
                "INSERT INTO events (kind, subject, actor, payload) "
                "VALUES ($1, $2, $3, $4::jsonb) RETURNING id",
                e.kind, e.subject, e.actor, e.payload.dump())[0]
            .as<std::int64_t>();
    }
    Result<std::vector<Event>> read(std::int64_t, std::size_t,
                                    const std::vector<std::string>&) override {
        return make_error(Errc::internal, "not_supported", "test event bus");
    }
    Result<std::unique_ptr<Subscription>> subscribe(
        SubscribeOptions, std::function<void(pqxx::work&, const Event&)>) override {
        return make_error(Errc::internal, "not_supported", "test event bus");
    }
};

std::unique_ptr<AuthFixture::Instance> make_instance(const std::string& url, Clock& clock) {
    kernel::DatabaseConfig cfg;
    cfg.url = url;
    cfg.pool_size = 2;
    auto pool = std::make_unique<kernel::Pool>(cfg, kernel::get_logger("kernel.db"));
    pool->set_available(true);

    auto instance = std::make_unique<AuthFixture::Instance>();
    instance->bus = std::make_unique<InsertOnlyEventBus>();
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
