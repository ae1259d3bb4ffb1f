#pragma once

// What this machine offers, as declared in `register`. Detection reads the kernel's files and
// runs nvidia-smi, so it blocks: call it at start-up or off the network thread.

#include "agent_config.hpp"

#include "unidesk/protocol/messages.hpp"
#include "unidesk/result.hpp"

#include <string>
#include <vector>

namespace unidesk::agent {

//! Fills everything in `register` but the node name, labels and agent version. GPUs come from
//! the config when it declares any, else from nvidia-smi (none when it is absent or fails).
protocol::Register detect_resources(const AgentConfig& config);

//! Usable cores: the CPU affinity mask, else hardware_concurrency, at least 1.
std::uint32_t detect_cpu_cores();

//! MemTotal from /proc/meminfo in bytes; 0 when it cannot be read.
std::uint64_t detect_memory_bytes();

//! Capacity of the file system holding `path`; 0 when statvfs fails.
std::uint64_t detect_disk_bytes(const std::string& path);

//! Parses `nvidia-smi --query-gpu=index,name,memory.total,driver_version
//! --format=csv,noheader,nounits` output. Fails with `gpu_query_unreadable` on a bad line.
Result<std::vector<protocol::GpuInfo>> parse_nvidia_smi(const std::string& csv);

//! GPUs reported by nvidia-smi on PATH; empty when it is absent or its output is unreadable.
std::vector<protocol::GpuInfo> detect_nvidia_gpus();

}  // namespace unidesk::agent
