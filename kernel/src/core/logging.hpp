#pragma once

// One spdlog logger per component ("kernel.db", "kernel.http", "plugin.scheduler" ...), all
// writing to stderr through one sink, as text or as one JSON object per line.

#include <spdlog/logger.h>

#include <memory>
#include <string>

namespace unidesk::kernel {

//! Sets the format ("text" or "json") and level for every logger made after and before.
//! Call once at start-up, before other threads run.
void configure_logging(const std::string& format, const std::string& level);

//! The logger of that name, made on first use with the configured sink and level.
std::shared_ptr<spdlog::logger> get_logger(const std::string& name);

}  // namespace unidesk::kernel
