#pragma once

// The agent's loggers ("agent", "agent.link"), in the same line format as the kernel's so that
// one log reader handles both: text or one JSON object per line, on stderr, times in UTC.

#include <spdlog/logger.h>

#include <memory>
#include <string>

namespace unidesk::agent {

//! Sets format ("text" or "json") and level for every agent logger. Call once at start-up.
void configure_logging(const std::string& format, const std::string& level);

//! The logger of that name, made on first use. Thread-safe.
std::shared_ptr<spdlog::logger> get_logger(const std::string& name);

}  // namespace unidesk::agent
