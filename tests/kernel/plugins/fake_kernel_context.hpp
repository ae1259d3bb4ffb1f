#pragma once

// A KernelContext for plugin-host tests: a router that only records routes, and services that
// refuse every call (the fixture plugins never use them). Single-threaded, owned by the test.

#include "core/logging.hpp"
#include "unidesk/kernel_context.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace unidesk::test {

struct RecordedRoute {
    std::string owner;
    Listener listener;
    std::string method;
    std::string pattern;
    HttpHandler handler;
};

//! Shared by every context one test makes, so the test sees all plugins' routes.
class FakeRouteLog {
public:
    //! add() refuses this pattern as if it were taken already.
    void refuse(std::string pattern) { refused_ = std::move(pattern); }

    Result<void> add(RecordedRoute r) {
        std::lock_guard lock(mu_);
        if (r.pattern == refused_) {
            return make_error(Errc::conflict, "route_conflict", r.pattern + " is taken");
        }
        routes_.push_back(std::move(r));
        return {};
    }
    void remove_owner(const std::string& owner) {
        std::lock_guard lock(mu_);
        std::erase_if(routes_, [&](const RecordedRoute& r) { return r.owner == owner; });
    }
    std::vector<RecordedRoute> routes() const {
        std::lock_guard lock(mu_);
        return routes_;
    }

private:
    mutable std::mutex mu_;
    std::string refused_;
    std::vector<RecordedRoute> routes_;
};

class FakeRouter final : public Router {
public:
    FakeRouter(std::string owner, FakeRouteLog& log) : owner_(std::move(owner)), log_(log) {}

    Result<void> add_route(Listener listener, std::string method, std::string pattern,
                           HttpHandler handler, RouteOptions) override {
        return log_.add(
            {owner_, listener, std::move(method), std::move(pattern), std::move(handler)});
    }
    Result<void> add_stream_route(Listener listener, std::string method, std::string pattern,
                                  StreamHandler, RouteOptions) override {
        return log_.add({owner_, listener, std::move(method), std::move(pattern), {}});
    }
    Result<void> set_authenticator(Listener, Authenticator) override { return {}; }
    Result<void> expose_internal(std::string) override { return {}; }
    bool routed(Listener, const std::string&, const std::string&) const override { return false; }

private:
    std::string owner_;
    FakeRouteLog& log_;
};

class RefusingDatabase final : public Database {
public:
    Result<void> transact_void(const std::function<void(pqxx::work&)>&) override {
        return make_error(Errc::unavailable, "database_unavailable", "no database in this test");
    }
    bool available() const override { return false; }
};

class RefusingEventBus final : public EventBus {
public:
    std::int64_t append(pqxx::work&, const EventDraft&) override { return 0; }
    Result<std::vector<Event>> read(std::int64_t, std::size_t,
                                    const std::vector<std::string>&) override {
        return make_error(Errc::unavailable, "database_unavailable", "no bus in this test");
    }
    Result<std::unique_ptr<Subscription>> subscribe(
        SubscribeOptions, std::function<void(pqxx::work&, const Event&)>) override {
        return make_error(Errc::unavailable, "database_unavailable", "no bus in this test");
    }
};

class RefusingAuth final : public Auth {
public:
    Result<Principal> authenticate_token(std::string_view) override { return refuse(); }
    Result<Principal> authenticate_password(std::string_view, std::string_view) override {
        return refuse();
    }
    Result<NodeIdentity> authenticate_node_token(std::string_view) override {
        return make_error(Errc::unauthenticated, "token_invalid", "no auth in this test");
    }

private:
    static Error refuse() {
        return make_error(Errc::unauthenticated, "token_invalid", "no auth in this test");
    }
};

class EmptyStorage final : public StorageRegistry {
public:
    void register_backend(std::shared_ptr<StorageBackend>) override {}
    void unregister_backend(const std::string&) override {}
    std::shared_ptr<StorageBackend> active() override { return nullptr; }
    std::string active_name() override { return "local"; }
};

class FixedClock final : public Clock {
public:
    time_point now() const override { return time_point{}; }
};

class FakeKernelContext final : public KernelContext {
public:
    FakeKernelContext(const std::string& name, nlohmann::json config, FakeRouteLog& routes)
        : router_(name, routes),
          logger_(kernel::get_logger("plugin." + name)),
          config_(std::move(config)) {}

    Database& database() override { return db_; }
    EventBus& events() override { return bus_; }
    Router& router() override { return router_; }
    Auth& auth() override { return auth_; }
    ProviderLink* provider_link() override { return nullptr; }
    StorageRegistry& storage() override { return storage_; }
    Clock& clock() override { return clock_; }
    std::shared_ptr<spdlog::logger> logger() override { return logger_; }
    const nlohmann::json& config() override { return config_; }
    const std::string& instance_name() override { return instance_; }

private:
    FakeRouter router_;
    RefusingDatabase db_;
    RefusingEventBus bus_;
    RefusingAuth auth_;
    EmptyStorage storage_;
    FixedClock clock_;
    std::shared_ptr<spdlog::logger> logger_;
    nlohmann::json config_;
    std::string instance_ = "test";
};

}  // namespace unidesk::test
