// Many agents at once against the real programs: unidesk-link-load simulates a thousand agents
// in one process, each with its own node token, against the real unidesk-kernel and a real
// PostgreSQL, with short heartbeats so that the offline limit passes while the test watches.

#include "support/http_client.hpp"
#include "support/pg_cluster.hpp"
#include "support/process.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <map>
#include <sstream>

using namespace std::chrono_literals;
using nlohmann::json;
using unidesk::test::ChildProcess;
using unidesk::test::HttpClient;
using unidesk::test::TempDir;
using unidesk::test::wait_until;

namespace {

const std::string kKernel = std::string(UNIDESK_BINARY_DIR) + "/bin/unidesk-kernel";
const std::string kLoad = UNIDESK_LINK_LOAD_BINARY;
constexpr int kAgents = 1000;
constexpr int kOfflineAfterS = 5;
// How long the test watches the nodes stay online: past the offline limit.
constexpr auto kWatch = std::chrono::seconds(kOfflineAfterS + 2);

// The JSON object in `file`, or an empty object while the file is missing or not JSON.
json read_json_file(const std::filesystem::path& file) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    auto j = json::parse(text.str(), nullptr, false);
    return j.is_object() ? j : json::object();
}

// The kernel with its provider listener open, heartbeats every second and a five-second offline
// limit; nothing else differs from a normal start.
struct LinkKernel {
    TempDir dir;
    int internal_port = unidesk::test::free_port();
    int provider_port = unidesk::test::free_port();
    std::unique_ptr<ChildProcess> proc;

    void start(const std::string& db_url) {
        auto file = dir.path() / "kernel.toml";
        std::ofstream out(file);
        out << "[listeners]\ninternal = \"127.0.0.1:" << internal_port << "\"\n"
            << "provider = \"127.0.0.1:" << provider_port << "\"\n"
            << "[database]\nurl = \"" << db_url << "\"\n"
            << "[auth]\ninitial_credentials_file = \"credentials\"\n"
            << "[provider]\nheartbeat_interval_s = 1\noffline_after_s = " << kOfflineAfterS << "\n";
        out.close();
        proc = std::make_unique<ChildProcess>(kKernel,
                                              std::vector<std::string>{"--config", file.string()});
    }

    HttpClient client() const {
        return HttpClient("127.0.0.1", static_cast<std::uint16_t>(internal_port));
    }

    bool healthy() const {
        try {
            return client().get("/health").json().value("status", "") == "ok";
        } catch (const std::exception&) {
            return false;
        }
    }

    //! The first admin's API token, from the credentials file; empty until it is written.
    std::string admin_token() const {
        std::ifstream in(dir.path() / "credentials");
        std::string line;
        while (std::getline(in, line)) {
            if (line.rfind("token=", 0) == 0) {
                return line.substr(6);
            }
        }
        return {};
    }
};

std::string node_name(int i) {
    std::string digits = std::to_string(i);
    return "load-" + std::string(5 - digits.size(), '0') + digits;
}

// Issues one node token per simulated agent and writes them as `node_name token` lines.
std::filesystem::path issue_tokens(HttpClient& http, const std::string& admin,
                                   const std::filesystem::path& file) {
    std::ofstream out(file);
    for (int i = 1; i <= kAgents; ++i) {
        auto r = http.request(
            "POST", "/v1/node-tokens", json{{"node_name", node_name(i)}}.dump(),
            {{"Authorization", "Bearer " + admin}, {"Content-Type", "application/json"}});
        INFO(r.body);
        REQUIRE(r.status == 201);
        out << node_name(i) << " " << r.json()["secret"].get<std::string>() << "\n";
    }
    return file;
}

// The simulated nodes as the kernel lists them: how many in each state, and how many of them
// have a heartbeat written after they connected.
struct NodeCensus {
    std::map<std::string, int> states;
    int beating = 0;

    int in(const std::string& state) const {
        auto it = states.find(state);
        return it == states.end() ? 0 : it->second;
    }
};

NodeCensus census(HttpClient& http, const std::string& admin) {
    NodeCensus c;
    auto r = http.get("/v1/nodes", {{"Authorization", "Bearer " + admin}});
    REQUIRE(r.status == 200);
    const auto body = r.json();
    for (const auto& n : body["nodes"]) {
        if (n["name"].get<std::string>().rfind("load-", 0) != 0) {
            continue;
        }
        ++c.states[n["state"].get<std::string>()];
        // Both are UTC with milliseconds in one fixed format, so text order is time order.
        if (n["last_heartbeat_at"].get<std::string>() > n["connected_at"].get<std::string>()) {
            ++c.beating;
        }
    }
    return c;
}

// Asks the kernel at most every 250 ms: a thousand nodes per answer is real work for it, and the
// test must not be the load it measures.
class CensusPoller {
public:
    CensusPoller(HttpClient& http, std::string admin) : http_(http), admin_(std::move(admin)) {}

    const NodeCensus& poll() {
        auto now = std::chrono::steady_clock::now();
        if (now - last_ >= 250ms) {
            last_ = now;
            latest_ = census(http_, admin_);
            ++polls_;
        }
        return latest_;
    }
    int polls() const { return polls_; }

private:
    HttpClient& http_;
    std::string admin_;
    std::chrono::steady_clock::time_point last_{};
    NodeCensus latest_;
    int polls_ = 0;
};

}  // namespace

TEST_CASE("a thousand simulated agents register and stay online", "[kernel][link][e2e][db]") {
    unidesk::test::TestDatabase db;
    LinkKernel k;
    k.start(db.url());
    REQUIRE(wait_until([&] { return k.healthy(); }, 20s));
    REQUIRE(wait_until([&] { return !k.admin_token().empty(); }, 10s));
    const auto admin = k.admin_token();
    auto http = k.client();
    auto tokens = issue_tokens(http, admin, k.dir.path() / "tokens");

    auto report_file = k.dir.path() / "report.json";
    auto status_file = k.dir.path() / "status.json";
    ChildProcess load(kLoad,
                      {"--server", "ws://127.0.0.1:" + std::to_string(k.provider_port), "--tokens",
                       tokens.string(), "--agents", std::to_string(kAgents), "--duration", "14",
                       "--report", report_file.string(), "--status", status_file.string()});

    // Every agent has its answer to register ...
    bool all_registered =
        wait_until([&] { return read_json_file(status_file).value("online", 0) == kAgents; }, 20s);
    INFO(load.stderr_text());
    REQUIRE(all_registered);

    // ... and the kernel lists every node online.
    CensusPoller poller(http, admin);
    bool all_online = wait_until([&] { return poller.poll().in("online") == kAgents; }, 10s);
    INFO("online=" << poller.poll().in("online") << " offline=" << poller.poll().in("offline")
                   << " polls=" << poller.polls());
    REQUIRE(all_online);

    // They stay online for longer than the offline limit, and their heartbeats are written.
    const auto since = std::chrono::steady_clock::now();
    int fewest_online = kAgents;
    CHECK(wait_until(
        [&] {
            fewest_online = std::min(fewest_online, poller.poll().in("online"));
            return std::chrono::steady_clock::now() - since >= kWatch;
        },
        20s));
    CHECK(fewest_online == kAgents);
    CHECK(poller.polls() >= 10);
    CHECK(poller.poll().beating == kAgents);

    // At the end each agent leaves, and the kernel marks its node offline without waiting for
    // the limit.
    REQUIRE(load.wait(40s) == 0);
    auto report = read_json_file(report_file);
    INFO(report.dump(2));
    CHECK(report["registered"] == kAgents);
    CHECK(report["registrations"] == kAgents);
    CHECK(report["failures"] == 0);
    CHECK(report["errors_received"] == 0);
    CHECK(report["left"] == kAgents);
    CHECK(report["close_codes"] == json{{"1000", kAgents}});
    CHECK(report["heartbeats"].get<int>() >= kAgents * kWatch.count());
    CHECK(wait_until([&] { return census(http, admin).in("offline") == kAgents; },
                     std::chrono::seconds(kOfflineAfterS - 2)));

    k.proc->signal(SIGTERM);
    CHECK(k.proc->wait(15s) == 0);
}
