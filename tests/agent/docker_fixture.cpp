#include "agent/docker_fixture.hpp"

#include <stdlib.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <stdexcept>

namespace unidesk::test {

namespace fs = std::filesystem;

std::pair<std::string, bool> shell(const std::string& command) {
    std::string out;
    FILE* p = ::popen((command + " 2>&1").c_str(), "r");
    if (!p) {
        return {"", false};
    }
    std::array<char, 4096> buf{};
    while (std::fgets(buf.data(), buf.size(), p)) {
        out += buf.data();
    }
    return {out, ::pclose(p) == 0};
}

std::string must(const std::string& command) {
    auto [out, ok] = shell(command);
    if (!ok) {
        throw std::runtime_error("command failed: " + command + "\n" + out);
    }
    return out;
}

void ensure_base_image() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (shell("docker image inspect " + kBaseImage + " >/dev/null").second) {
            return;
        }
        std::string tmpl = "/tmp/unidesk-base-image-XXXXXX";
        if (::mkdtemp(tmpl.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        const std::string root = tmpl + "/rootfs";
        must("mkdir -p " + root + "/bin " + root + "/tmp && cp /bin/busybox " + root +
             "/bin/ && for a in $(/bin/busybox --list); do [ -e " + root + "/bin/$a ] || " +
             "ln -s busybox " + root + "/bin/$a; done && tar -C " + root +
             " -c . | docker import -c 'ENV PATH=/bin' - " + kBaseImage);
    });
}

std::string git_daemon_program() {
    auto path = must("git --exec-path");
    while (!path.empty() && (path.back() == '\n' || path.back() == ' ')) {
        path.pop_back();
    }
    return path + "/git-daemon";
}

std::string commit_repo(const std::string& dir, const std::map<std::string, std::string>& files) {
    fs::create_directories(dir);
    if (!fs::exists(dir + "/.git")) {
        must("git init -q -b main " + dir);
    }
    for (const auto& [path, content] : files) {
        fs::create_directories(fs::path(dir + "/" + path).parent_path());
        std::ofstream(dir + "/" + path) << content;
    }
    must("cd " + dir + " && git add -A && git -c user.name=t -c user.email=t@example.org " +
         "commit -q -m change");
    return must("git -C " + dir + " rev-parse HEAD").substr(0, 40);
}

}  // namespace unidesk::test
