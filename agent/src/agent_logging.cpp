#include "agent_logging.hpp"

#include "core/logging.hpp"

namespace unidesk::agent {

// The kernel's logging module only needs spdlog, so the agent compiles the same source rather
// than keeping a copy of the format that could drift.
void configure_logging(const std::string& format, const std::string& level) {
    kernel::configure_logging(format, level);
}

std::shared_ptr<spdlog::logger> get_logger(const std::string& name) {
    return kernel::get_logger(name);
}

}  // namespace unidesk::agent
