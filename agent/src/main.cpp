// unidesk-agent: connects this compute node to the kernel and keeps it connected.
// Exit codes: 0 after a signal-driven shutdown, 2 for a configuration error, 1 otherwise.

#include "agent_config.hpp"
#include "agent_logging.hpp"
#include "docker_client.hpp"
#include "git_cache.hpp"
#include "link_client.hpp"
#include "outbox.hpp"
#include "resources.hpp"
#include "task_manager.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <filesystem>
#include <iostream>

namespace {

using namespace unidesk::agent;

AgentConfig load_or_exit(int argc, char** argv) {
    try {
        auto config =
            load_agent_config(std::vector<std::string>(argv + 1, argv + argc), process_env);
        if (config.show_version) {
            std::cout << "unidesk-agent " << UNIDESK_VERSION << "\n";
            std::exit(0);
        }
        if (config.show_help) {
            std::cout << "usage: unidesk-agent [--config FILE] [options]\n\n" << config.help_text;
            std::exit(0);
        }

        std::error_code ec;
        std::filesystem::create_directories(config.work_dir, ec);
        if (ec) {
            throw ConfigError("work_dir",
                              "cannot create '" + config.work_dir + "': " + ec.message());
        }
        return config;
    } catch (const ConfigError& e) {
        std::cerr << "unidesk-agent: " << e.what() << "\n";
        std::exit(2);
    }
}

}  // namespace

int main(int argc, char** argv) {
    AgentConfig config = load_or_exit(argc, argv);
    configure_logging(config.log_format, config.log_level);
    auto log = get_logger("agent");

    unidesk::protocol::Register hello = detect_resources(config);
    hello.node_name = config.node_name;
    hello.agent_version = UNIDESK_VERSION;
    hello.labels = config.labels;
    hello.task_slots = config.task_slots;
    log->info(
        "agent starting version={} node={} os={} arch={} cpu_cores={} memory_bytes={} "
        "disk_bytes={} gpus={} labels={}",
        hello.agent_version, hello.node_name, hello.os, hello.arch, hello.cpu_cores,
        hello.memory_bytes, hello.disk_bytes, hello.gpus.size(), hello.labels.size());
    for (const auto& g : hello.gpus) {
        log->info("gpu found index={} model=\"{}\" memory_bytes={} driver={}", g.index, g.model,
                  g.memory_bytes, g.driver.empty() ? "declared" : g.driver);
    }

    DockerClient docker(config.docker_socket);
    if (auto v = docker.negotiate(); v) {
        log->info("docker engine found socket={} api_version={}", config.docker_socket, *v);
    } else {
        log->error(
            "docker engine unavailable socket={} error=\"{}\" tasks=\"will fail until it "
            "answers\"",
            config.docker_socket, v.error().message);
    }
    GitCache git({std::filesystem::path(config.work_dir) / "git", config.git_credentials,
                  config.git_allow_local_remotes});
    Outbox outbox(config.report_buffer_bytes);

    boost::asio::io_context io(1);
    TaskManager tasks(io, config, docker, git, outbox);
    tasks.adopt();

    TaskHooks hooks;
    hooks.on_command = [&](const unidesk::protocol::Message& m) {
        if (const auto* t = std::get_if<unidesk::protocol::TaskAssign>(&m.body)) {
            tasks.assign(*t);
        } else if (const auto* c = std::get_if<unidesk::protocol::TaskCancel>(&m.body)) {
            tasks.cancel(*c);
        } else if (const auto* r = std::get_if<unidesk::protocol::TaskResume>(&m.body)) {
            tasks.resume(*r);
        }
    };
    hooks.running = [&] { return tasks.running(); };

    boost::asio::signal_set signals(io, SIGTERM, SIGINT);
    LinkClient link(io, config, hello, &outbox, hooks);

    signals.async_wait([&](const boost::system::error_code& ec, int signo) {
        if (!ec) {
            log->info("agent stopping signal={}", signo == SIGTERM ? "SIGTERM" : "SIGINT");
            link.stop("shutdown");
        }
    });
    link.start([&] {
        boost::system::error_code ignored;
        signals.cancel(ignored);
        // Task containers keep running; the next agent process adopts them.
        tasks.shutdown();
    });

    io.run();
    log->info("agent stopped");
    return 0;
}
