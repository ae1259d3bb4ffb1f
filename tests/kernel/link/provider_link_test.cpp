// The provider link end to end: the real unidesk-kernel and unidesk-agent programs against a
// real PostgreSQL, plus a WebSocket client of the tests' own for what a well-behaved agent
// never sends.

#include "support/kernel_under_test.hpp"
#include "support/pg_cluster.hpp"
#include "support/ws_client.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <csignal>
#include <cstdlib>
#include <fstream>

using namespace std::chrono_literals;
using nlohmann::json;
using unidesk::test::ChildProcess;
using unidesk::test::KernelUnderTest;
using unidesk::test::wait_until;
using unidesk::test::WsClient;

namespace {

// Short times so that offline marking and fencing show within seconds.
const std::string kFastLink =
    "[provider]\nheartbeat_interval_s = 1\noffline_after_s = 3\nflush_interval_ms = 200\n"
    "register_timeout_s = 2\nmax_frame_bytes = 4096\n";

struct Link {
    unidesk::test::TestDatabase db;
    KernelUnderTest kernel;

    explicit Link(const std::string& extra = kFastLink) {
        kernel.start(kernel.write_config(db.url(), extra));
        REQUIRE(wait_until([&] { return kernel.health_is("ok"); }, 20s));
    }

    std::string issue_token(const std::string& node) const {
        auto r = kernel.call("POST", "/v1/node-tokens", json{{"node_name", node}}.dump());
        REQUIRE(r.status == 201);
        return r.json()["secret"].get<std::string>();
    }

    json node(const std::string& name) const {
        auto r = kernel.call("GET", "/v1/nodes/" + name);
        return r.status == 200 ? r.json()["node"] : json();
    }

    std::string state(const std::string& name) const {
        auto n = node(name);
        return n.is_object() ? n["state"].get<std::string>() : "";
    }

    std::unique_ptr<ChildProcess> agent(const std::string& name, const std::string& token,
                                        std::vector<std::string> extra = {},
                                        const std::string& server = "") const {
        std::vector<std::string> args{
            "--server",
            server.empty() ? "ws://127.0.0.1:" + std::to_string(kernel.provider_port) : server,
            "--name",
            name,
            "--work-dir",
            (kernel.dir.path() / ("work-" + name)).string()};
        args.insert(args.end(), extra.begin(), extra.end());
        return std::make_unique<ChildProcess>(
            unidesk::test::built_program("unidesk-agent"), args,
            std::map<std::string, std::string>{{"UNIDESK_NODE_TOKEN", token}});
    }

    int count_events(const std::string& kind, const std::string& subject = "") const {
        pqxx::connection c(db.url());
        pqxx::nontransaction tx(c);
        return tx
            .exec_params1(
                "SELECT count(*) FROM events WHERE kind = $1 AND ($2 = '' OR subject = $2)", kind,
                subject)[0]
            .as<int>();
    }
};

// Reads until the server closes; the close code (0 when the connection just broke).
std::uint16_t read_until_closed(WsClient& ws, std::vector<json>* frames = nullptr) {
    while (auto frame = ws.read()) {
        if (frames != nullptr) {
            frames->push_back(json::parse(*frame));
        }
    }
    return ws.close_code();
}

// Connects and registers `node`; the `registered` body.
json register_as(WsClient& ws, const std::string& token, const std::string& node) {
    REQUIRE(ws.connect(token) == 101);
    ws.send_text(WsClient::register_frame(node));
    auto answer = ws.read();
    REQUIRE(answer);
    auto j = json::parse(*answer);
    REQUIRE(j["type"] == "registered");
    REQUIRE(j["re"] == "a-1");
    return j["body"];
}

}  // namespace

TEST_CASE("an agent registers with its node token, is listed with its resources and leaves",
          "[kernel][link][e2e][db]") {
    // A long offline limit, so that the node going offline below can only come from `leaving`.
    Link link(
        "[provider]\nheartbeat_interval_s = 1\noffline_after_s = 60\n"
        "flush_interval_ms = 200\n");
    auto agent = link.agent("gpu-01", link.issue_token("gpu-01"), {"--label", "zone=a"});

    REQUIRE(wait_until([&] { return link.state("gpu-01") == "online"; }, 20s));
    auto n = link.node("gpu-01");
    CHECK(n["labels"]["zone"] == "a");
    CHECK(n["cpu_cores"].get<int>() > 0);
    CHECK(n["memory_bytes"].get<std::int64_t>() > 0);
    CHECK(n["disk_bytes"].get<std::int64_t>() > 0);
    CHECK(n["agent_version"] == UNIDESK_VERSION);
    CHECK(n["os"] == "linux");
    CHECK(n["session_generation"].get<int>() >= 1);
    CHECK(n["gpus"].is_array());
    CHECK(n["connected_at"].get<std::string>().back() == 'Z');

    // Heartbeats arrive in batches and move last_heartbeat_at forward.
    const auto first = n["last_heartbeat_at"].get<std::string>();
    REQUIRE(wait_until([&] { return link.node("gpu-01")["last_heartbeat_at"] != first; }, 10s));

    auto all = link.kernel.call("GET", "/v1/nodes");
    REQUIRE(all.status == 200);
    REQUIRE(all.json()["nodes"].size() == 1);
    auto missing = link.kernel.call("GET", "/v1/nodes/nope");
    CHECK(missing.status == 404);
    CHECK(missing.json()["error"]["code"] == "node_not_found");
    CHECK(link.kernel.client().request("GET", "/v1/nodes").status == 401);
    CHECK(link.kernel.health()["components"]["provider_link"]["status"] == "ok");
    CHECK(link.count_events("node.registered", "node:gpu-01") == 1);

    agent->signal(SIGTERM);
    REQUIRE(agent->wait(10s) == 0);
    REQUIRE(wait_until([&] { return link.state("gpu-01") == "offline"; }, 5s));
    CHECK(link.count_events("node.left", "node:gpu-01") == 1);
    CHECK(link.count_events("node.offline", "node:gpu-01") == 0);
    CHECK_FALSE(link.node("gpu-01")["offline_at"].is_null());
    link.kernel.stop();
}

TEST_CASE("wrong, unknown and revoked node tokens are refused, and revoking ends a live session",
          "[kernel][link][e2e][db]") {
    Link link;
    {
        WsClient none(static_cast<std::uint16_t>(link.kernel.provider_port));
        CHECK(none.connect("") == 401);
        WsClient unknown(static_cast<std::uint16_t>(link.kernel.provider_port));
        CHECK(unknown.connect("udn_" + std::string(64, '0')) == 401);
        CHECK(json::parse(unknown.refusal_body())["error"]["code"] == "token_invalid");
        WsClient garbage(static_cast<std::uint16_t>(link.kernel.provider_port));
        CHECK(garbage.connect("not a token") == 401);
    }
    CHECK(link.count_events("node.connect_refused") == 3);

    // A token admits only the node it was issued for.
    const auto token = link.issue_token("n1");
    {
        WsClient other(static_cast<std::uint16_t>(link.kernel.provider_port));
        REQUIRE(other.connect(token) == 101);
        other.send_text(WsClient::register_frame("n2"));
        std::vector<json> frames;
        CHECK(read_until_closed(other, &frames) == 4008);
        REQUIRE(frames.size() == 1);
        CHECK(frames[0]["body"]["code"] == "registration_refused");
        CHECK(link.state("n2").empty());
    }

    WsClient live(static_cast<std::uint16_t>(link.kernel.provider_port));
    register_as(live, token, "n1");
    REQUIRE(link.state("n1") == "online");

    auto tokens = link.kernel.call("GET", "/v1/node-tokens").json()["node_tokens"];
    REQUIRE(tokens.size() == 1);
    auto id = tokens[0]["id"].get<int>();
    REQUIRE(link.kernel.call("DELETE", "/v1/node-tokens/" + std::to_string(id)).status == 200);

    // Within a few flush intervals the session is closed with the reason.
    CHECK(read_until_closed(live) == 4001);
    CHECK(live.close_reason() == "token_revoked");

    WsClient again(static_cast<std::uint16_t>(link.kernel.provider_port));
    CHECK(again.connect(token) == 401);
    CHECK(json::parse(again.refusal_body())["error"]["code"] == "token_revoked");
    CHECK(link.count_events("node.connect_refused") == 4);
    link.kernel.stop();
}

TEST_CASE(
    "an agent killed with SIGKILL is offline as its connection ends and returns when "
    "restarted",
    "[kernel][link][e2e][db]") {
    // A long offline limit, so that the node going offline below can only come from the
    // connection's end.
    Link link(
        "[provider]\nheartbeat_interval_s = 1\noffline_after_s = 60\nflush_interval_ms = 200\n");
    const auto token = link.issue_token("n1");
    auto agent = link.agent("n1", token);
    REQUIRE(wait_until([&] { return link.state("n1") == "online"; }, 20s));
    const auto generation = link.node("n1")["session_generation"].get<int>();

    agent->signal(SIGKILL);
    agent->wait(5s);
    REQUIRE(wait_until([&] { return link.state("n1") == "offline"; }, 5s));
    CHECK(link.count_events("node.offline", "node:n1") == 1);
    pqxx::connection c(link.db.url());
    const auto payload =
        json::parse(pqxx::nontransaction(c)
                        .exec1("SELECT payload::text FROM events WHERE kind = 'node.offline'")[0]
                        .as<std::string>());
    CHECK(payload["reason"] == "disconnected");
    CHECK_FALSE(payload["error"].get<std::string>().empty());

    agent = link.agent("n1", token);
    REQUIRE(wait_until([&] { return link.state("n1") == "online"; }, 20s));
    CHECK(link.node("n1")["session_generation"].get<int>() > generation);
    link.kernel.stop();
}

TEST_CASE("after a kernel restart every agent returns, and silent nodes get one full limit first",
          "[kernel][link][e2e][db]") {
    Link link;
    std::map<std::string, std::unique_ptr<ChildProcess>> agents;
    for (const std::string name : {"a1", "a2", "a3"}) {
        agents[name] = link.agent(name, link.issue_token(name));
    }
    REQUIRE(wait_until(
        [&] {
            return link.state("a1") == "online" && link.state("a2") == "online" &&
                   link.state("a3") == "online";
        },
        20s));
    const auto before = link.node("a1")["session_generation"].get<int>();

    link.kernel.stop();
    agents["a3"]->signal(SIGKILL);
    agents["a3"]->wait(5s);
    // Let a3's last heartbeat grow older than the limit while no kernel runs, so that only the
    // restart grace keeps it online below.
    const auto stopped = std::chrono::steady_clock::now();
    REQUIRE_FALSE(wait_until([] { return false; }, 3500ms));

    link.kernel.start(link.kernel.dir.path() / "kernel.toml");
    REQUIRE(wait_until([&] { return link.kernel.health_is("ok"); }, 20s));
    CHECK(std::chrono::steady_clock::now() - stopped > 3s);
    CHECK(link.state("a3") == "online");

    REQUIRE(wait_until(
        [&] {
            return link.node("a1")["session_generation"].get<int>() > before &&
                   link.node("a2")["session_generation"].get<int>() > before;
        },
        30s));
    REQUIRE(wait_until([&] { return link.state("a3") == "offline"; }, 10s));
    CHECK(link.state("a1") == "online");
    CHECK(link.state("a2") == "online");
    link.kernel.stop();
}

TEST_CASE("a node that registers again fences its older session on this or another instance",
          "[kernel][link][e2e][db]") {
    Link link;
    const auto token = link.issue_token("n1");

    WsClient first(static_cast<std::uint16_t>(link.kernel.provider_port));
    auto g1 = register_as(first, token, "n1")["session_generation"].get<int>();
    WsClient second(static_cast<std::uint16_t>(link.kernel.provider_port));
    auto g2 = register_as(second, token, "n1")["session_generation"].get<int>();
    CHECK(g2 == g1 + 1);
    std::vector<json> frames;
    CHECK(read_until_closed(first, &frames) == 4006);
    CHECK(first.close_reason() == "superseded");

    // A second kernel instance on the same database: the node moves there, and the session on
    // the first instance is fenced off by its next check.
    KernelUnderTest other;
    other.start(
        other.write_config(link.db.url(), kFastLink + "[kernel]\ninstance_name = \"k2\"\n"));
    REQUIRE(wait_until([&] { return other.health_is("ok"); }, 20s));
    WsClient third(static_cast<std::uint16_t>(other.provider_port));
    auto g3 = register_as(third, token, "n1")["session_generation"].get<int>();
    CHECK(g3 == g2 + 1);
    CHECK(read_until_closed(second) == 4006);
    CHECK(link.node("n1")["session_instance"] == "k2");

    // Heartbeats of the newest session keep the node online on both instances' views.
    for (int seq = 1; seq <= 4; ++seq) {
        third.send_text(WsClient::heartbeat_frame(seq, "a-" + std::to_string(seq + 1)));
        REQUIRE_FALSE(wait_until([] { return false; }, 1s));
    }
    CHECK(link.state("n1") == "online");
    other.stop();
    link.kernel.stop();
}

TEST_CASE("bad frames close the session with a reason and the kernel goes on",
          "[kernel][link][e2e][db]") {
    Link link;
    const auto token = link.issue_token("n1");
    const auto port = static_cast<std::uint16_t>(link.kernel.provider_port);

    struct Case {
        const char* what;
        std::string frame;
        bool binary;
        std::uint16_t close;
        const char* code;  // of the error frame before the close; "" when none is sent
    };
    const std::string register_v2 = [] {
        auto j = json::parse(WsClient::register_frame("n1"));
        j["v"] = 2;
        return j.dump();
    }();
    const Case cases[] = {
        {"not JSON", "{\"type\": ", false, 4004, "malformed_json"},
        {"an array", "[1, 2]", false, 4004, "malformed_json"},
        {"a binary frame", WsClient::register_frame("n1"), true, 4004, "malformed_json"},
        {"an unknown type", R"({"type":"steal","id":"a-1","v":1,"body":{}})", false, 4004,
         "unknown_type"},
        {"a missing field", R"({"type":"register","id":"a-1","v":1,"body":{}})", false, 4004,
         "missing_field"},
        {"another version", register_v2, false, 4002, "unsupported_version"},
        {"a heartbeat first", WsClient::heartbeat_frame(1, "a-1"), false, 4005, "not_allowed"},
        {"a frame above the limit", std::string(8192, ' '), false, 1009, ""},
    };
    for (const auto& c : cases) {
        INFO(c.what);
        WsClient ws(port);
        REQUIRE(ws.connect(token) == 101);
        if (c.binary) {
            ws.send_binary(c.frame);
        } else {
            ws.send_text(c.frame);
        }
        std::vector<json> frames;
        CHECK(read_until_closed(ws, &frames) == c.close);
        if (std::string(c.code).empty()) {
            CHECK(frames.empty());
        } else {
            REQUIRE(frames.size() == 1);
            CHECK(frames[0]["type"] == "error");
            CHECK(frames[0]["body"]["code"] == c.code);
        }
    }

    {
        INFO("register twice");
        WsClient ws(port);
        register_as(ws, token, "n1");
        ws.send_text(WsClient::register_frame("n1", "a-2"));
        CHECK(read_until_closed(ws) == 4005);
    }
    {
        INFO("silent after the upgrade: cut after register_timeout_s");
        WsClient ws(port);
        REQUIRE(ws.connect(token) == 101);
        CHECK(read_until_closed(ws) == 0);
    }
    {
        INFO("not the provider path, and not an upgrade");
        WsClient wrong_path(port);
        CHECK(wrong_path.connect(token, "/v1/other") == 404);
        auto plain =
            unidesk::test::HttpClient("127.0.0.1", port)
                .request("GET", "/v1/provider/connect", "", {{"Authorization", "Bearer " + token}});
        CHECK(plain.status == 426);
    }

    CHECK(link.kernel.health_is("ok"));
    CHECK(link.kernel.proc->running());
    WsClient good(port);
    register_as(good, token, "n1");
    CHECK(link.state("n1") == "online");
    link.kernel.stop();
}

TEST_CASE("agents connect over TLS and check the server's certificate", "[kernel][link][e2e][db]") {
    unidesk::test::TempDir certs;
    const auto cert = (certs.path() / "cert.pem").string();
    const auto key = (certs.path() / "key.pem").string();
    const auto make =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
        "-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout " +
        key + " -out " + cert + " >/dev/null 2>&1";
    REQUIRE(std::system(make.c_str()) == 0);

    Link link(kFastLink + "tls_cert_file = \"" + cert + "\"\ntls_key_file = \"" + key + "\"\n");
    const auto token = link.issue_token("secure");
    const auto wss = "wss://127.0.0.1:" + std::to_string(link.kernel.provider_port);
    auto agent = link.agent("secure", token, {"--ca-file", cert}, wss);
    REQUIRE(wait_until([&] { return link.state("secure") == "online"; }, 20s));

    // Without the CA the certificate is not trusted and the node never registers.
    auto untrusting = link.agent("secure", token, {}, wss);
    REQUIRE(wait_until([&] { return untrusting->stderr_text().find("tls") != std::string::npos; },
                       10s));
    CHECK(link.count_events("node.registered", "node:secure") == 1);
    link.kernel.stop();
}

TEST_CASE("a database restart keeps connected agents online and shows in health",
          "[kernel][link][e2e][db]") {
    unidesk::test::PgCluster cluster;
    const auto url = cluster.create_database("link");
    KernelUnderTest k;
    k.start(k.write_config(url, kFastLink));
    REQUIRE(wait_until([&] { return k.health_is("ok"); }, 20s));
    auto issued = k.call("POST", "/v1/node-tokens", json{{"node_name", "n1"}}.dump());
    REQUIRE(issued.status == 201);
    WsClient ws(static_cast<std::uint16_t>(k.provider_port));
    register_as(ws, issued.json()["secret"].get<std::string>(), "n1");

    cluster.stop();
    REQUIRE(wait_until([&] { return k.health_is("down"); }, 10s));
    // The session stays; heartbeats cannot be written and the provider link says so.
    std::uint64_t seq = 0;
    auto beat = [&] {
        ++seq;
        ws.send_text(WsClient::heartbeat_frame(seq, "a-" + std::to_string(seq + 1)));
        return false;
    };
    REQUIRE(wait_until(
        [&] {
            beat();
            return k.health()["components"]["provider_link"]["status"] == "degraded";
        },
        10s));
    CHECK(k.call("GET", "/v1/nodes/n1").status == 503);

    // Longer than the offline limit without the database; the node kept beating all along.
    REQUIRE_FALSE(wait_until(beat, 4s));
    cluster.start();
    REQUIRE(wait_until([&] { return k.health_is("ok"); }, 20s));
    REQUIRE_FALSE(wait_until(beat, 2s));
    auto node = k.call("GET", "/v1/nodes/n1");
    REQUIRE(node.status == 200);
    CHECK(node.json()["node"]["state"] == "online");
    CHECK(k.health()["components"]["provider_link"]["status"] == "ok");
    k.stop();
}
