#include "unidesk/protocol/codec.hpp"

#include "unidesk/protocol/close_reason.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <random>

using namespace unidesk::protocol;

namespace {

Message sample_register() {
    Register r;
    r.node_name = "gpu-07";
    r.agent_version = "0.1.0";
    r.os = "linux";
    r.arch = "x86_64";
    r.cpu_cores = 32;
    r.memory_bytes = 128ull << 30;
    r.disk_bytes = 2ull << 40;
    r.gpus = {{0, "NVIDIA A100", 80ull << 30, "535.54"}, {1, "NVIDIA A100", 80ull << 30, "535.54"}};
    r.labels = {{"zone", "lab-2"}, {"wsl", "false"}};
    r.running = {{"att-9", "running"}};
    r.task_slots = 4;
    return Message{"a-1", std::nullopt, kProtocolVersion, r};
}

TaskAssign sample_assign() {
    TaskAssign t;
    t.attempt_id = "att-1";
    t.task_id = "t-1";
    t.code_repo_url = "https://git.example.org/team/code.git";
    t.code_commit_id = std::string(40, 'c');
    t.env_repo_url = "https://git.example.org/team/env.git";
    t.env_commit_id = std::string(40, 'e');
    t.dockerfile_path = "images/train/Dockerfile";
    t.command = {"python3", "train.py", "--epochs", "3"};
    t.env = {{"SEED", "1"}};
    t.resources = {4000, 16ull << 30, {0, 1}};
    t.time_limit_s = 3600;
    return t;
}

std::string error_code_of(std::string_view frame, std::size_t limit = kDefaultMaxFrameBytes) {
    auto r = decode(frame, limit);
    REQUIRE_FALSE(r.has_value());
    return r.error().code;
}

std::string error_message_of(std::string_view frame) {
    auto r = decode(frame);
    REQUIRE_FALSE(r.has_value());
    return r.error().message;
}

}  // namespace

TEST_CASE("every message type survives an encode and decode round trip", "[protocol]") {
    std::vector<Message> all = {
        sample_register(),
        Message{"a-2", std::nullopt, 1, Heartbeat{9, {{"att-1", "running"}}}},
        Message{"a-3", std::nullopt, 1, Heartbeat{10, {}}},
        Message{"a-4", std::nullopt, 1, Leaving{"shutdown"}},
        Message{"s-1", "a-1", 1, Registered{42, 15, "2024-05-01T08:00:00Z"}},
        Message{"s-2", "a-9", 1, ErrorBody{"token_revoked", "the token was revoked"}},
        Message{"k-1", std::nullopt, 1, sample_assign()},
        Message{"k-2", std::nullopt, 1,
                TaskAssign{"att-2", "t-2", "u", std::string(40, 'a'), "v", std::string(40, 'b'),
                           "Dockerfile"}},
        Message{"k-3", std::nullopt, 1, TaskCancel{"att-1", "cancelled", 10}},
        Message{"k-4", std::nullopt, 1, TaskAck{"att-1", 7}},
        Message{
            "a-5", std::nullopt, 1,
            TaskStatus{"att-1", 3, "running", "2024-05-01T08:00:01.000Z", "c0ffee", {}, "", ""}},
        Message{"a-6", std::nullopt, 1,
                TaskStatus{"att-1", 9, "failed", "2024-05-01T08:00:09.000Z", "c0ffee", 3,
                           "exit_nonzero", "the command exited with code 3"}},
        Message{"a-7", std::nullopt, 1, TaskLog{"att-1", 4, "stdout", "hello\nwörld\n"}},
        Message{"a-8", std::nullopt, 1,
                TaskLog{"att-1", 5, "stderr", "x\n", "2024-05-01T08:00:02.000000001Z"}},
        Message{"k-5", std::nullopt, 1, TaskResume{"att-1", 12, "2024-05-01T08:00:02.5Z"}},
    };
    for (const auto& m : all) {
        const std::string frame = encode(m);
        auto back = decode(frame);
        INFO(frame);
        REQUIRE(back.has_value());
        REQUIRE(*back == m);
    }
}

TEST_CASE("a register frame written by hand decodes to its fields", "[protocol]") {
    const char* frame = R"({"type":"register","id":"x","v":1,"extra":true,"body":{
        "node_name":"n1","agent_version":"1.2.3","os":"linux","arch":"aarch64","cpu_cores":4,
        "memory_bytes":1000,"disk_bytes":2000,"gpus":[],"labels":{"a":"b"}}})";
    auto m = decode(frame);
    REQUIRE(m.has_value());
    const auto& r = std::get<Register>(m->body);
    REQUIRE(r.node_name == "n1");
    REQUIRE(r.arch == "aarch64");
    REQUIRE(r.cpu_cores == 4);
    REQUIRE(r.labels.at("a") == "b");
    REQUIRE(type_name(m->body) == "register");
}

TEST_CASE("a frame above the caller's limit is refused before parsing", "[protocol]") {
    const std::string frame = encode(sample_register());
    REQUIRE(error_code_of(frame, frame.size() - 1) == "frame_too_large");
    REQUIRE(decode(frame, frame.size()).has_value());
    REQUIRE(decode(frame, frame.size() - 1).error().errc == unidesk::Errc::too_large);
}

TEST_CASE("text that is not a JSON object is malformed", "[protocol]") {
    REQUIRE(error_code_of("") == "malformed_json");
    REQUIRE(error_code_of("{\"type\":") == "malformed_json");
    REQUIRE(error_code_of("[1,2]") == "malformed_json");
    REQUIRE(error_code_of("\"register\"") == "malformed_json");
    REQUIRE(error_code_of("{\"a\":\"\xff\xfe\"}") == "malformed_json");
}

TEST_CASE("a missing field is named with its path", "[protocol]") {
    REQUIRE(error_code_of(R"({"type":"leaving","id":"x","body":{}})") == "missing_field");
    REQUIRE(error_message_of(R"({"type":"leaving","id":"x","body":{}})").find("field v ") !=
            std::string::npos);

    auto frame = R"({"type":"leaving","v":1,"id":"x","body":{}})";
    REQUIRE(error_code_of(frame) == "missing_field");
    REQUIRE(error_message_of(frame) == "field body.reason is missing");

    frame = R"({"type":"heartbeat","v":1,"body":{"seq":1,"running":[]}})";
    REQUIRE(error_message_of(frame) == "field id is missing");
}

TEST_CASE("an ill-typed field is named with its path", "[protocol]") {
    std::string frame = encode(sample_register());
    auto swap = [&](const std::string& from, const std::string& to) {
        std::string f = frame;
        const auto at = f.find(from);
        REQUIRE(at != std::string::npos);
        return f.replace(at, from.size(), to);
    };

    auto bad_gpu = swap(R"("memory_bytes":85899345920)", R"("memory_bytes":"80G")");
    REQUIRE(error_code_of(bad_gpu) == "invalid_field");
    REQUIRE(error_message_of(bad_gpu).find("body.gpus[0].memory_bytes") != std::string::npos);

    auto negative = swap(R"("cpu_cores":32)", R"("cpu_cores":-1)");
    REQUIRE(error_message_of(negative).find("body.cpu_cores") != std::string::npos);

    auto fraction = swap(R"("cpu_cores":32)", R"("cpu_cores":2.5)");
    REQUIRE(error_code_of(fraction) == "invalid_field");

    auto label = swap(R"("zone":"lab-2")", R"("zone":7)");
    REQUIRE(error_message_of(label).find("body.labels.zone") != std::string::npos);

    REQUIRE(error_message_of(R"({"type":"leaving","id":"x","v":1,"body":[]})") ==
            "field body must be an object");
    REQUIRE(error_message_of(R"({"type":7,"id":"x","v":1,"body":{}})") ==
            "field type must be a string");
}

TEST_CASE("an unknown message type is refused", "[protocol]") {
    REQUIRE(error_code_of(R"({"type":"launch_missiles","id":"x","v":1,"body":{}})") ==
            "unknown_type");
}

TEST_CASE("a protocol version other than 1 is refused", "[protocol]") {
    REQUIRE(error_code_of(R"({"type":"leaving","id":"x","v":2,"body":{"reason":"r"}})") ==
            "unsupported_version");
    REQUIRE(error_code_of(R"({"type":"leaving","id":"x","v":0,"body":{"reason":"r"}})") ==
            "unsupported_version");
    REQUIRE(error_code_of(R"({"type":"leaving","id":"x","v":"1","body":{"reason":"r"}})") ==
            "invalid_field");
}

TEST_CASE("random bytes and mutated frames never throw", "[protocol]") {
    std::mt19937 rng(12345);
    const std::string base = encode(sample_register());
    for (int i = 0; i < 3000; ++i) {
        std::string frame = base;
        const int edits = 1 + static_cast<int>(rng() % 8);
        for (int e = 0; e < edits; ++e) {
            frame[rng() % frame.size()] = static_cast<char>(rng() % 256);
        }
        if (i % 3 == 0) {
            frame.resize(rng() % frame.size());
        }
        auto r = decode(frame);
        REQUIRE((r.has_value() || r.error().errc != unidesk::Errc::internal));
    }
}

TEST_CASE("close codes have stable reason names", "[protocol]") {
    REQUIRE(close_reason_name(4001) == "token_revoked");
    REQUIRE(close_reason_name(1000) == "normal");
    REQUIRE(close_reason_name(4999) == "unknown");
}

TEST_CASE("task messages refuse ill-typed fields by name", "[protocol]") {
    auto frame = [](const std::string& body) {
        return R"({"type":"task.assign","id":"k-1","v":1,"body":)" + body + "}";
    };
    const std::string ok = encode(Message{"k-1", std::nullopt, 1, TaskAssign{}});
    REQUIRE(decode(ok).has_value());

    auto j = nlohmann::json::parse(ok)["body"];
    j["command"] = {"ok", 3};
    CHECK(error_message_of(frame(j.dump())).find("body.command[1]") != std::string::npos);
    j = nlohmann::json::parse(ok)["body"];
    j["resources"]["gpu_indices"] = {2000};
    CHECK(error_message_of(frame(j.dump())).find("body.resources.gpu_indices[0]") !=
          std::string::npos);
    j = nlohmann::json::parse(ok)["body"];
    j["env"] = {{"A", 1}};
    CHECK(error_message_of(frame(j.dump())).find("body.env.A") != std::string::npos);
    j = nlohmann::json::parse(ok)["body"];
    j.erase("dockerfile_path");
    CHECK(error_code_of(frame(j.dump())) == "missing_field");

    // exit_code is optional and must be a non-negative integer when present.
    CHECK(error_code_of(R"({"type":"task.status","id":"a","v":1,"body":{"attempt_id":"x",)"
                        R"("seq":1,"phase":"failed","at":"t","exit_code":-1}})") ==
          "invalid_field");
}

TEST_CASE("a register without running attempts is read as holding none", "[protocol]") {
    auto j = nlohmann::json::parse(encode(sample_register()));
    j["body"].erase("running");
    auto r = decode(j.dump());
    REQUIRE(r.has_value());
    CHECK(std::get<Register>(r->body).running.empty());

    j["body"]["running"] = {{{"attempt_id", "a"}}};
    CHECK(error_message_of(j.dump()).find("body.running[0].state") != std::string::npos);
}

TEST_CASE("a NUL in a node's text arrives as U+FFFD, keys and nested values included",
          "[protocol]") {
    const std::string nul("\0", 1);
    auto frame = encode(Message{"a-1", std::nullopt, 1,
                                TaskLog{"att-1", 4, "stdout", "before" + nul + "after" + nul}});
    REQUIRE(frame.find("\\u0000") != std::string::npos);
    auto r = decode(frame);
    REQUIRE(r.has_value());
    CHECK(std::get<TaskLog>(r->body).data ==
          "before\xEF\xBF\xBD"
          "after\xEF\xBF\xBD");

    auto reg = nlohmann::json::parse(encode(sample_register()));
    reg["body"]["labels"] = {{"zo" + nul + "ne", "a" + nul}};
    r = decode(reg.dump());
    REQUIRE(r.has_value());
    const auto& labels = std::get<Register>(r->body).labels;
    REQUIRE(labels.size() == 1);
    CHECK(labels.begin()->first ==
          "zo\xEF\xBF\xBD"
          "ne");
    CHECK(labels.begin()->second == "a\xEF\xBF\xBD");
}
