// unidesk-kernel: the UniDesk main server process. See kernel/README.md.
//
// Exit codes: 0 after a clean stop, 2 for a bad command line or config, 1 when start-up
// failed for another reason (e.g. the internal listener's address is taken).

#include "core/health_registry.hpp"
#include "core/kernel.hpp"
#include "core/kernel_config.hpp"
#include "core/logging.hpp"
#include "plugins/plugin_host.hpp"

#include <boost/program_options.hpp>

#include <iostream>

namespace po = boost::program_options;
using namespace unidesk::kernel;

namespace {

// --check-config: the kernel's keys (already read), and each enabled plugin's library and
// section as start-up would read them, without starting anything or touching the database.
// What only a plugin's start() checks (e.g. storage-local's public_url) is not seen here.
int check_config(const KernelConfig& config) {
    configure_logging(config.log_format, "critical");  // the findings are printed below
    HealthRegistry health;
    PluginHost plugins(config, health, get_logger("kernel.plugins"));
    auto loaded = plugins.load_all();
    bool ok = loaded.has_value();
    if (!loaded) {
        std::cerr << "unidesk-kernel: " << loaded.error().message << "\n";
    }
    for (const auto& p : plugins.status()) {
        if (p.version.empty()) {
            std::cerr << "unidesk-kernel: plugin " << p.name
                      << " cannot be loaded: " << p.state.reason << "\n";
            ok = false;
        }
    }
    plugins.stop_all([](const std::string&) {});
    if (!ok) {
        return 2;
    }
    std::cout << "config ok: " << config.source.string() << "\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    po::options_description opts("unidesk-kernel options");
    opts.add_options()("help,h", "show this help")("version", "print the version and exit")(
        "config,c", po::value<std::string>(), "the TOML config file (required)")(
        "log-format", po::value<std::string>(), "text or json; overrides kernel.log_format")(
        "log-level", po::value<std::string>(), "overrides kernel.log_level")(
        "check-config", "validate the config file and exit");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, opts), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::cerr << "unidesk-kernel: " << e.what() << "\n" << opts;
        return 2;
    }
    if (vm.count("help")) {
        std::cout << opts;
        return 0;
    }
    if (vm.count("version")) {
        std::cout << "unidesk-kernel " << UNIDESK_VERSION << "\n";
        return 0;
    }
    if (!vm.count("config")) {
        std::cerr << "unidesk-kernel: --config FILE is required\n" << opts;
        return 2;
    }

    auto config = load_kernel_config(vm["config"].as<std::string>());
    if (!config) {
        std::cerr << "unidesk-kernel: " << config.error().message << "\n";
        return 2;
    }
    if (vm.count("log-format")) {
        config->log_format = vm["log-format"].as<std::string>();
        if (config->log_format != "text" && config->log_format != "json") {
            std::cerr << "unidesk-kernel: --log-format must be text or json\n";
            return 2;
        }
    }
    if (vm.count("log-level")) {
        config->log_level = vm["log-level"].as<std::string>();
    }
    if (vm.count("check-config")) {
        return check_config(*config);
    }
    configure_logging(config->log_format, config->log_level);

    Kernel kernel(std::move(*config));
    if (auto r = kernel.start(); !r) {
        get_logger("kernel")->critical("start-up failed code={} error={}", r.error().code,
                                       r.error().message);
        kernel.stop();
        return r.error().errc == unidesk::Errc::invalid_argument ? 2 : 1;
    }
    kernel.wait_for_signal();
    kernel.stop();
    return 0;
}
