#pragma once

// The real unidesk-kernel program, started by a test with a config file of its own: the
// internal, public and provider listeners on free ports (the public one opens only when a
// plugin adds public routes), a database URL, short database
// retry times, and the first admin's credentials written to a file in its folder. `extra` is
// appended to the file (sections other than [listeners] and [database], e.g. [provider]);
// `database_extra` goes into [database].

#include "support/http_client.hpp"
#include "support/pg_cluster.hpp"
#include "support/process.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace unidesk::test {

struct KernelUnderTest {
    TempDir dir;
    int port = free_port();
    int provider_port = free_port();
    int public_port = free_port();
    std::unique_ptr<ChildProcess> proc;
    std::string database_extra;  // more keys of [database], written by write_config()

    std::filesystem::path write_config(const std::string& db_url, const std::string& extra = "");
    void start(const std::filesystem::path& config, std::vector<std::string> extra_args = {});
    //! SIGTERM, and a clean exit within 10 s (a failed check otherwise).
    void stop();

    HttpClient client() const;
    HttpClient public_client() const;
    nlohmann::json health() const;
    bool health_is(const std::string& status) const;
    std::map<std::string, std::string> credentials() const;
    //! The first admin's API token, once the kernel wrote it (throws after 20 s without).
    std::string admin_token() const;
    //! An authenticated call as the first admin.
    HttpClientResponse call(const std::string& method, const std::string& target,
                            const std::string& body = {}) const;
};

//! The path of a program built into build/bin, e.g. "unidesk-agent".
std::string built_program(const std::string& name);

}  // namespace unidesk::test
