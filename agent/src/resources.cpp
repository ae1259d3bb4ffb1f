#include "resources.hpp"

#include "agent_logging.hpp"

#include <sched.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace unidesk::agent {
namespace {

std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t\r");
    const auto e = s.find_last_not_of(" \t\r");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::optional<std::uint64_t> parse_uint(const std::string& s) {
    if (s.empty() || s.size() > 18 || !std::all_of(s.begin(), s.end(), ::isdigit)) {
        return std::nullopt;
    }
    return std::stoull(s);
}

std::string find_on_path(const std::string& program) {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path == nullptr ? "/usr/bin:/bin" : path);
    for (std::string dir; std::getline(dirs, dir, ':');) {
        const std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
        if (::access(candidate.c_str(), X_OK) == 0) {
            return candidate;
        }
    }
    return {};
}

}  // namespace

std::uint32_t detect_cpu_cores() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) {
        return static_cast<std::uint32_t>(CPU_COUNT(&set));
    }
    return std::max(1u, std::thread::hardware_concurrency());
}

std::uint64_t detect_memory_bytes() {
    std::ifstream in("/proc/meminfo");
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("MemTotal:", 0) == 0) {
            std::istringstream fields(line.substr(9));
            std::uint64_t kib = 0;
            fields >> kib;
            return kib * 1024;
        }
    }
    return 0;
}

std::uint64_t detect_disk_bytes(const std::string& path) {
    struct statvfs st {};
    if (::statvfs(path.c_str(), &st) != 0) {
        return 0;
    }
    return static_cast<std::uint64_t>(st.f_blocks) * st.f_frsize;
}

Result<std::vector<protocol::GpuInfo>> parse_nvidia_smi(const std::string& csv) {
    std::vector<protocol::GpuInfo> gpus;
    std::istringstream lines(csv);
    for (std::string line; std::getline(lines, line);) {
        if (trim(line).empty()) {
            continue;
        }
        std::vector<std::string> cols;
        std::istringstream cells(line);
        for (std::string cell; std::getline(cells, cell, ',');) {
            cols.push_back(trim(cell));
        }

        const auto index = cols.size() == 4 ? parse_uint(cols[0]) : std::nullopt;
        const auto mib = cols.size() == 4 ? parse_uint(cols[2]) : std::nullopt;
        if (!index || !mib || *index > 1023 || cols[1].empty()) {
            return make_error(Errc::invalid_argument, "gpu_query_unreadable",
                              "unexpected nvidia-smi line: " + line.substr(0, 200));
        }
        gpus.push_back({static_cast<int>(*index), cols[1], *mib * 1024 * 1024, cols[3]});
    }
    return gpus;
}

std::vector<protocol::GpuInfo> detect_nvidia_gpus() {
    auto log = get_logger("agent");
    const std::string smi = find_on_path("nvidia-smi");
    if (smi.empty()) {
        log->info("gpu detection skipped reason=no_nvidia_smi");
        return {};
    }

    const std::string cmd = "'" + smi +
                            "' --query-gpu=index,name,memory.total,driver_version "
                            "--format=csv,noheader,nounits 2>/dev/null";
    FILE* pipe = ::popen(cmd.c_str(), "r");
    if (pipe == nullptr) {
        log->warn("gpu detection failed reason=cannot_run_nvidia_smi");
        return {};
    }
    std::string out;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof(buf), pipe)) > 0 && out.size() < 1 << 20;) {
        out.append(buf, n);
    }
    const int status = ::pclose(pipe);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        log->warn("gpu detection failed reason=nvidia_smi_exit status={}", status);
        return {};
    }

    auto gpus = parse_nvidia_smi(out);
    if (!gpus) {
        log->warn("gpu detection failed reason={} detail=\"{}\"", gpus.error().code,
                  gpus.error().message);
        return {};
    }
    return *gpus;
}

protocol::Register detect_resources(const AgentConfig& config) {
    protocol::Register r;
    struct utsname u {};
    if (::uname(&u) == 0) {
        r.os = lower(u.sysname);
        r.arch = u.machine;
    }
    r.cpu_cores = detect_cpu_cores();
    r.memory_bytes = detect_memory_bytes();
    r.disk_bytes = detect_disk_bytes(config.work_dir);

    if (!config.gpus.empty()) {
        for (std::size_t i = 0; i < config.gpus.size(); ++i) {
            r.gpus.push_back({static_cast<int>(i), config.gpus[i].model,
                              config.gpus[i].memory_mb * 1024 * 1024, ""});
        }
    } else {
        r.gpus = detect_nvidia_gpus();
    }
    return r;
}

}  // namespace unidesk::agent
