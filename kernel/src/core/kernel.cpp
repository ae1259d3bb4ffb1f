#include "core/kernel.hpp"

#include "auth/auth_routes.hpp"
#include "auth/auth_service.hpp"
#include "core/core_routes.hpp"
#include "core/health_registry.hpp"
#include "core/logging.hpp"
#include "core/metrics.hpp"
#include "core/system_clock.hpp"
#include "db/db_supervisor.hpp"
#include "db/kernel_schema.hpp"
#include "db/pool.hpp"
#include "events/pg_event_bus.hpp"
#include "http/http_server.hpp"
#include "http/route_table.hpp"
#include "link/node_routes.hpp"
#include "link/node_store.hpp"
#include "link/provider_server.hpp"
#include "plugins/plugin_host.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

namespace unidesk::kernel {
namespace {

// The storage registry. Until a backend of the configured name (`storage.backend`) registers,
// active() answers nullptr and callers report storage as down.
class StorageRegistryImpl final : public StorageRegistry {
public:
    explicit StorageRegistryImpl(std::string active_name) : active_name_(std::move(active_name)) {}

    void register_backend(std::shared_ptr<StorageBackend> backend) override {
        std::lock_guard lock(mu_);
        backends_[backend->name()] = std::move(backend);
    }
    void unregister_backend(const std::string& name) override {
        std::lock_guard lock(mu_);
        backends_.erase(name);
    }
    std::shared_ptr<StorageBackend> active() override {
        std::lock_guard lock(mu_);
        auto it = backends_.find(active_name_);
        return it == backends_.end() ? nullptr : it->second;
    }
    std::string active_name() override { return active_name_; }

    // Asks the active backend itself; a backend that is named but not running is down.
    HealthReport health() {
        auto backend = active();
        if (!backend) {
            return {HealthState::down, "storage backend '" + active_name_ + "' is not running"};
        }
        return backend->health();
    }

private:
    std::mutex mu_;
    const std::string active_name_;
    std::map<std::string, std::shared_ptr<StorageBackend>> backends_;
};

// What one plugin sees of the kernel. Routes it adds are tagged with its name.
class PluginContext final : public KernelContext {
public:
    PluginContext(std::string name, nlohmann::json config, Database& db, EventBus& bus,
                  std::unique_ptr<Router> router, Auth& auth, ProviderLink* link,
                  StorageRegistry& storage, Clock& clock, const std::string& instance)
        : name_(std::move(name)),
          config_(std::move(config)),
          db_(db),
          bus_(bus),
          router_(std::move(router)),
          auth_(auth),
          link_(link),
          storage_(storage),
          clock_(clock),
          instance_(instance),
          log_(get_logger("plugin." + name_)) {}

    Database& database() override { return db_; }
    EventBus& events() override { return bus_; }
    Router& router() override { return *router_; }
    Auth& auth() override { return auth_; }
    ProviderLink* provider_link() override { return link_; }
    StorageRegistry& storage() override { return storage_; }
    Clock& clock() override { return clock_; }
    std::shared_ptr<spdlog::logger> logger() override { return log_; }
    const nlohmann::json& config() override { return config_; }
    const std::string& instance_name() override { return instance_; }

private:
    std::string name_;
    nlohmann::json config_;
    Database& db_;
    EventBus& bus_;
    std::unique_ptr<Router> router_;
    Auth& auth_;
    ProviderLink* link_;
    StorageRegistry& storage_;
    Clock& clock_;
    const std::string& instance_;
    std::shared_ptr<spdlog::logger> log_;
};

// Shown once, on the start that created the first admin; never stored in clear anywhere
// but the optional file the administrator asked for.
void announce_initial_admin(const InitialAdmin& admin, const std::filesystem::path& file,
                            spdlog::logger& log) {
    std::cout << "\n=== first start: administrator created (shown only this once) ===\n"
              << "user:      " << admin.user << "\n"
              << "password:  " << admin.password << "\n"
              << "api token: " << admin.token << "\n"
              << "=================================================================\n"
              << std::endl;
    if (file.empty()) {
        return;
    }
    std::error_code ec;
    std::filesystem::create_directories(file.parent_path(), ec);
    {
        std::ofstream out(file, std::ios::trunc);
        out << "user=" << admin.user << "\npassword=" << admin.password << "\ntoken=" << admin.token
            << "\n";
    }
    ::chmod(file.c_str(), 0600);
    log.info("initial credentials written file={}", file.string());
}

}  // namespace

struct Kernel::Impl {
    KernelConfig config;
    std::shared_ptr<spdlog::logger> log = get_logger("kernel");
    SystemClock clock;

    boost::asio::io_context io;
    boost::asio::thread_pool workers;
    std::vector<std::thread> io_threads;
    std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
        io_guard;

    Metrics metrics;
    HealthRegistry health;
    RouteTable routes;
    StorageRegistryImpl storage;
    Pool pool;
    PgEventBus bus;
    AuthService auth;
    NodeStore nodes;
    DbSupervisor supervisor;
    PluginHost plugins;
    std::unique_ptr<HttpServer> internal_http;
    std::unique_ptr<HttpServer> public_http;
    std::unique_ptr<ProviderServer> provider;
    std::uint16_t internal_port = 0;
    std::uint16_t public_port = 0;
    std::uint16_t provider_port = 0;
    bool started = false;

    explicit Impl(KernelConfig c)
        : config(std::move(c)),
          workers(static_cast<std::size_t>(config.worker_threads)),
          storage(config.storage_backend),
          pool(config.database, get_logger("kernel.db")),
          bus(pool, get_logger("kernel.events")),
          auth(pool, bus, clock, get_logger("kernel.auth")),
          nodes(pool, bus, clock, get_logger("kernel.link")),
          supervisor(pool, get_logger("kernel.db")),
          plugins(config, health, get_logger("kernel.plugins")) {}

    void register_health_and_metrics();
    Result<void> start_listeners();
    Result<void> start_provider_link();
    void start_plugins();
};

void Kernel::Impl::register_health_and_metrics() {
    health.set_check(HealthRegistry::Group::component, "database",
                     [this] { return supervisor.health(); });
    health.set_check(HealthRegistry::Group::component, "event_bus", [this] {
        return pool.available() ? HealthReport{}
                                : HealthReport{HealthState::down, "database unavailable"};
    });
    // Storage is listed once a storage plugin is enabled: a kernel without one has no storage,
    // as one without listeners.provider has no provider link.
    bool storage_enabled = false;
    for (const auto& name : config.plugins_enabled) {
        storage_enabled = storage_enabled || name.rfind("storage-", 0) == 0;
    }
    if (storage_enabled) {
        health.set_check(HealthRegistry::Group::component, "storage",
                         [this] { return storage.health(); },
                         {{"backend", config.storage_backend}});
    }
    metrics.add_gauge("unidesk_db_pool_size", "Most database connections the pool opens.",
                      [this] { return pool.stats().size; });
    metrics.add_gauge("unidesk_db_pool_open", "Database connections open now.",
                      [this] { return pool.stats().open; });
    metrics.add_gauge("unidesk_db_pool_in_use", "Database connections lent out now.",
                      [this] { return pool.stats().in_use; });
    metrics.add_gauge("unidesk_db_available", "1 when the database is reachable and migrated.",
                      [this] { return pool.available() ? 1.0 : 0.0; });
    metrics.add_labelled_gauge(
        "unidesk_plugin_up", "1 when the plugin runs and reports ok or degraded.", "plugin",
        [this] {
            std::vector<std::pair<std::string, double>> out;
            for (const auto& [name, state] : health.plugin_states()) {
                out.emplace_back(name, state == HealthState::down ? 0.0 : 1.0);
            }
            return out;
        });
}

Result<void> Kernel::Impl::start_listeners() {
    if (!config.internal_listener.enabled()) {
        return make_error(Errc::invalid_argument, "config_invalid",
                          "listeners.internal must be set: /health and the core API live there");
    }
    HttpServerOptions opts{Listener::internal, config.internal_listener.host,
                           config.internal_listener.port};
    internal_http = std::make_unique<HttpServer>(opts, io, workers, routes, auth, metrics,
                                                 get_logger("kernel.http"));
    try {
        internal_port = internal_http->start();
    } catch (const std::exception& e) {
        return make_error(Errc::unavailable, "listen_failed",
                          "cannot listen on " + config.internal_listener.host + ":" +
                              std::to_string(config.internal_listener.port) + ": " + e.what());
    }
    return {};
}

// Agents connect only when listeners.provider is set; without it the kernel still runs and
// /health has no provider_link entry.
Result<void> Kernel::Impl::start_provider_link() {
    if (!config.provider_listener.enabled()) {
        log->info("provider listener off: listeners.provider is empty, agents cannot connect");
        return {};
    }
    const auto& p = config.provider;
    ProviderOptions opts;
    opts.host = config.provider_listener.host;
    opts.port = config.provider_listener.port;
    opts.instance = config.instance_name;
    opts.heartbeat_interval = std::chrono::seconds(p.heartbeat_interval_s);
    opts.offline_after = std::chrono::seconds(p.offline_after_s);
    opts.flush_interval = std::chrono::milliseconds(p.flush_interval_ms);
    opts.register_timeout = std::chrono::seconds(p.register_timeout_s);
    opts.max_frame_bytes = static_cast<std::size_t>(p.max_frame_bytes);
    opts.tls_cert_file = p.tls_cert_file.string();
    opts.tls_key_file = p.tls_key_file.string();
    provider = std::make_unique<ProviderServer>(opts, io, workers, auth, nodes, clock,
                                                get_logger("kernel.link"));
    try {
        provider_port = provider->start();
    } catch (const std::exception& e) {
        return make_error(Errc::unavailable, "listen_failed", e.what());
    }
    health.set_check(HealthRegistry::Group::component, "provider_link",
                     [this] { return provider->health(); });
    metrics.add_gauge("unidesk_provider_sessions",
                      "Node sessions registered with this kernel instance now.",
                      [this] { return static_cast<double>(provider->session_count()); });
    return {};
}

void Kernel::Impl::start_plugins() {
    plugins.start_all([this](const std::string& name, nlohmann::json section) {
        return std::make_unique<PluginContext>(name, std::move(section), pool, bus,
                                               routes.router_for(name), auth, provider.get(),
                                               storage, clock, config.instance_name);
    });
}

Kernel::Kernel(KernelConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

Kernel::~Kernel() {
    stop();
}

Result<void> Kernel::start() {
    Impl& k = *impl_;
    k.log->info("kernel starting version={} instance={}", UNIDESK_VERSION, k.config.instance_name);
    k.io_guard =
        std::make_unique<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>(
            k.io.get_executor());
    for (int i = 0; i < 2; ++i) {
        k.io_threads.emplace_back([&k] { k.io.run(); });
    }
    k.started = true;

    if (auto r = k.plugins.load_all(); !r) {
        return r.error();
    }
    k.supervisor.add_migrations("kernel", kernel_migrations());
    for (auto& [name, list] : k.plugins.migrations()) {
        k.supervisor.add_migrations(name, std::move(list));
    }
    k.supervisor.on_available([&k] {
        auto admin = k.auth.ensure_initial_admin(k.config.initial_admin);
        if (!admin) {
            k.log->error("initial admin not created error={}", admin.error().message);
        } else if (admin->has_value()) {
            announce_initial_admin(**admin, k.config.initial_credentials_file, *k.log);
        }
    });
    k.supervisor.start();

    k.register_health_and_metrics();
    if (auto r = register_core_routes(k.routes, k.health, k.metrics); !r) {
        return r.error();
    }
    if (auto r = register_auth_routes(*k.routes.router_for("kernel"), k.auth); !r) {
        return r.error();
    }
    if (auto r = register_node_routes(*k.routes.router_for("kernel"), k.nodes); !r) {
        return r.error();
    }
    if (auto r = k.start_listeners(); !r) {
        return r.error();
    }
    if (auto r = k.start_provider_link(); !r) {
        return r.error();
    }
    k.start_plugins();

    if (k.routes.has_routes(Listener::public_) && k.config.public_listener.enabled()) {
        HttpServerOptions opts{Listener::public_, k.config.public_listener.host,
                               k.config.public_listener.port};
        opts.tls_cert_file = k.config.public_tls_cert_file.string();
        opts.tls_key_file = k.config.public_tls_key_file.string();
        k.public_http = std::make_unique<HttpServer>(opts, k.io, k.workers, k.routes, k.auth,
                                                     k.metrics, get_logger("kernel.http"));
        try {
            k.public_port = k.public_http->start();
        } catch (const std::exception& e) {
            return make_error(Errc::unavailable, "listen_failed",
                              std::string("cannot open the public listener: ") + e.what());
        }
    }
    k.log->info("kernel started");
    return {};
}

void Kernel::stop() {
    Impl& k = *impl_;
    if (!k.started) {
        return;
    }
    k.started = false;
    k.log->info("kernel stopping");
    if (k.public_http) {
        k.public_http->stop();
    }
    if (k.internal_http) {
        k.internal_http->stop();
    }
    k.plugins.stop_all([&k](const std::string& name) { k.routes.remove_owner(name); });
    if (k.provider) {
        k.provider->stop();
    }
    k.supervisor.stop();
    k.workers.join();
    k.io_guard.reset();
    k.io.stop();
    for (auto& t : k.io_threads) {
        t.join();
    }
    k.io_threads.clear();
    k.log->info("kernel stopped");
}

void Kernel::wait_for_signal() {
    boost::asio::io_context signals_io;
    boost::asio::signal_set signals(signals_io, SIGINT, SIGTERM);
    signals.async_wait([this](const boost::system::error_code&, int sig) {
        impl_->log->info("signal received signal={}", sig);
    });
    signals_io.run();
}

std::uint16_t Kernel::internal_port() const {
    return impl_->internal_port;
}
std::uint16_t Kernel::public_port() const {
    return impl_->public_port;
}
std::uint16_t Kernel::provider_port() const {
    return impl_->provider_port;
}

}  // namespace unidesk::kernel
