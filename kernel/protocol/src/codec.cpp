#include "unidesk/protocol/codec.hpp"

#include "unidesk/json_text.hpp"

#include <nlohmann/json.hpp>

#include <exception>
#include <limits>
#include <map>
#include <optional>

namespace unidesk::protocol {
namespace {

using nlohmann::json;

// Reads fields out of parsed JSON, remembering the first problem instead of stopping at each
// step; a body decoder reads everything and the caller checks `error` once at the end.
class FieldReader {
public:
    std::optional<Error> error;

    const json* field(const json& obj, const std::string& path, const char* key,
                      bool required = true) {
        auto it = obj.find(key);
        if (it == obj.end()) {
            if (required) {
                fail("missing_field", "field " + join(path, key) + " is missing");
            }
            return nullptr;
        }
        return &*it;
    }

    std::string text(const json& obj, const std::string& path, const char* key) {
        const json* f = field(obj, path, key);
        if (f == nullptr) {
            return {};
        }
        if (!f->is_string()) {
            fail("invalid_field", "field " + join(path, key) + " must be a string");
            return {};
        }
        return f->get<std::string>();
    }

    std::uint64_t number(const json& obj, const std::string& path, const char* key,
                         std::uint64_t max = std::numeric_limits<std::uint64_t>::max()) {
        const json* f = field(obj, path, key);
        if (f == nullptr) {
            return 0;
        }
        if (!f->is_number_unsigned() || f->get<std::uint64_t>() > max) {
            fail("invalid_field", "field " + join(path, key) + " must be an integer from 0 to " +
                                      std::to_string(max));
            return 0;
        }
        return f->get<std::uint64_t>();
    }

    const json* array(const json& obj, const std::string& path, const char* key) {
        const json* f = field(obj, path, key);
        if (f != nullptr && !f->is_array()) {
            fail("invalid_field", "field " + join(path, key) + " must be an array");
            return nullptr;
        }
        return f;
    }

    const json* object(const json& obj, const std::string& path, const char* key) {
        const json* f = field(obj, path, key);
        if (f != nullptr && !f->is_object()) {
            fail("invalid_field", "field " + join(path, key) + " must be an object");
            return nullptr;
        }
        return f;
    }

    //! An optional string: empty when absent.
    std::string opt_text(const json& obj, const std::string& path, const char* key) {
        return obj.contains(key) ? text(obj, path, key) : std::string();
    }

    std::optional<std::uint64_t> opt_number(const json& obj, const std::string& path,
                                            const char* key) {
        if (!obj.contains(key) || obj[key].is_null()) {
            return std::nullopt;
        }
        return number(obj, path, key);
    }

    std::vector<std::string> text_list(const json& obj, const std::string& path, const char* key) {
        std::vector<std::string> out;
        if (const json* a = array(obj, path, key)) {
            for (std::size_t i = 0; i < a->size(); ++i) {
                if (!(*a)[i].is_string()) {
                    fail("invalid_field", "field " + join(path, key) + "[" + std::to_string(i) +
                                              "] must be a string");
                    break;
                }
                out.push_back((*a)[i].get<std::string>());
            }
        }
        return out;
    }

    std::map<std::string, std::string> text_map(const json& obj, const std::string& path,
                                                const char* key) {
        std::map<std::string, std::string> out;
        if (const json* o = object(obj, path, key)) {
            for (const auto& [k, v] : o->items()) {
                if (!v.is_string()) {
                    fail("invalid_field",
                         "field " + join(path, key) + "." + k + " must be a string");
                    break;
                }
                out.emplace(k, v.get<std::string>());
            }
        }
        return out;
    }

    void fail(const char* code, std::string message) {
        if (!error) {
            error = make_error(Errc::invalid_argument, code, std::move(message));
        }
    }

    static std::string join(const std::string& path, const char* key) {
        return path.empty() ? std::string(key) : path + "." + key;
    }
};

GpuInfo read_gpu(FieldReader& r, const json& j, const std::string& path) {
    if (!j.is_object()) {
        r.fail("invalid_field", "field " + path + " must be an object");
        return {};
    }
    GpuInfo g;
    g.index = static_cast<int>(r.number(j, path, "index", 1023));
    g.model = r.text(j, path, "model");
    g.memory_bytes = r.number(j, path, "memory_bytes");
    g.driver = r.text(j, path, "driver");
    return g;
}

std::vector<RunningAttempt> read_running(FieldReader& r, const json& running);

Register read_register(FieldReader& r, const json& b) {
    const std::string p = "body";
    Register m;
    m.node_name = r.text(b, p, "node_name");
    m.agent_version = r.text(b, p, "agent_version");
    m.os = r.text(b, p, "os");
    m.arch = r.text(b, p, "arch");
    m.cpu_cores = static_cast<std::uint32_t>(
        r.number(b, p, "cpu_cores", std::numeric_limits<std::uint32_t>::max()));
    m.memory_bytes = r.number(b, p, "memory_bytes");
    m.disk_bytes = r.number(b, p, "disk_bytes");

    if (const json* gpus = r.array(b, p, "gpus")) {
        for (std::size_t i = 0; i < gpus->size(); ++i) {
            m.gpus.push_back(read_gpu(r, (*gpus)[i], "body.gpus[" + std::to_string(i) + "]"));
        }
    }

    m.labels = r.text_map(b, p, "labels");
    if (b.contains("running")) {
        if (const json* running = r.array(b, p, "running")) {
            m.running = read_running(r, *running);
        }
    }
    if (b.contains("task_slots")) {
        m.task_slots = static_cast<std::uint32_t>(r.number(b, p, "task_slots", 1024));
    }
    return m;
}

std::vector<RunningAttempt> read_running(FieldReader& r, const json& running) {
    std::vector<RunningAttempt> out;
    for (std::size_t i = 0; i < running.size(); ++i) {
        const std::string path = "body.running[" + std::to_string(i) + "]";
        const json& a = running[i];
        if (!a.is_object()) {
            r.fail("invalid_field", "field " + path + " must be an object");
            break;
        }
        out.push_back({r.text(a, path, "attempt_id"), r.text(a, path, "state")});
    }
    return out;
}

Heartbeat read_heartbeat(FieldReader& r, const json& b) {
    Heartbeat m;
    m.seq = r.number(b, "body", "seq");
    if (const json* running = r.array(b, "body", "running")) {
        m.running = read_running(r, *running);
    }
    return m;
}

Registered read_registered(FieldReader& r, const json& b) {
    Registered m;
    m.session_generation = r.number(b, "body", "session_generation");
    m.heartbeat_interval_s = static_cast<std::uint32_t>(
        r.number(b, "body", "heartbeat_interval_s", std::numeric_limits<std::uint32_t>::max()));
    m.server_time = r.text(b, "body", "server_time");
    return m;
}

TaskAssign read_task_assign(FieldReader& r, const json& b) {
    const std::string p = "body";
    TaskAssign m;
    m.attempt_id = r.text(b, p, "attempt_id");
    m.task_id = r.text(b, p, "task_id");
    m.code_repo_url = r.text(b, p, "code_repo_url");
    m.code_commit_id = r.text(b, p, "code_commit_id");
    m.env_repo_url = r.text(b, p, "env_repo_url");
    m.env_commit_id = r.text(b, p, "env_commit_id");
    m.dockerfile_path = r.text(b, p, "dockerfile_path");
    m.command = r.text_list(b, p, "command");
    m.env = r.text_map(b, p, "env");
    if (const json* res = r.object(b, p, "resources")) {
        const std::string rp = "body.resources";
        m.resources.cpu_millis = r.number(*res, rp, "cpu_millis");
        m.resources.memory_bytes = r.number(*res, rp, "memory_bytes");
        if (const json* gpus = r.array(*res, rp, "gpu_indices")) {
            for (std::size_t i = 0; i < gpus->size(); ++i) {
                const auto& g = (*gpus)[i];
                if (!g.is_number_unsigned() || g.get<std::uint64_t>() > 1023) {
                    r.fail("invalid_field", "field body.resources.gpu_indices[" +
                                                std::to_string(i) +
                                                "] must be an integer from 0 to 1023");
                    break;
                }
                m.resources.gpu_indices.push_back(g.get<std::uint64_t>());
            }
        }
    }
    m.time_limit_s = r.number(b, p, "time_limit_s");
    if (const json* inputs = b.contains("inputs") ? r.array(b, p, "inputs") : nullptr) {
        for (std::size_t i = 0; i < inputs->size(); ++i) {
            const std::string ip = "body.inputs[" + std::to_string(i) + "]";
            const json& in = (*inputs)[i];
            TaskInput t;
            t.key = r.text(in, ip, "key");
            t.path = r.text(in, ip, "path");
            t.url = r.text(in, ip, "url");
            t.size = r.number(in, ip, "size");
            t.sha256 = r.opt_text(in, ip, "sha256");
            m.inputs.push_back(std::move(t));
        }
    }
    if (const json* outputs = b.contains("outputs") ? r.array(b, p, "outputs") : nullptr) {
        for (std::size_t i = 0; i < outputs->size(); ++i) {
            const std::string op = "body.outputs[" + std::to_string(i) + "]";
            const json& out = (*outputs)[i];
            TaskOutput t;
            t.path = r.text(out, op, "path");
            t.prefix = r.text(out, op, "prefix");
            t.upload_url = r.text(out, op, "upload_url");
            m.outputs.push_back(std::move(t));
        }
    }
    return m;
}

TaskStatus read_task_status(FieldReader& r, const json& b) {
    const std::string p = "body";
    TaskStatus m;
    m.attempt_id = r.text(b, p, "attempt_id");
    m.seq = r.number(b, p, "seq");
    m.phase = r.text(b, p, "phase");
    m.at = r.text(b, p, "at");
    m.container_id = r.opt_text(b, p, "container_id");
    m.exit_code = r.opt_number(b, p, "exit_code");
    m.cause = r.opt_text(b, p, "cause");
    m.message = r.opt_text(b, p, "message");
    return m;
}

Result<Body> read_body(FieldReader& r, const std::string& type, const json& b) {
    Body body;
    if (type == "register") {
        body = read_register(r, b);
    } else if (type == "heartbeat") {
        body = read_heartbeat(r, b);
    } else if (type == "leaving") {
        body = Leaving{r.text(b, "body", "reason")};
    } else if (type == "registered") {
        body = read_registered(r, b);
    } else if (type == "error") {
        body = ErrorBody{r.text(b, "body", "code"), r.text(b, "body", "message")};
    } else if (type == "task.assign") {
        body = read_task_assign(r, b);
    } else if (type == "task.cancel") {
        body = TaskCancel{r.text(b, "body", "attempt_id"), r.text(b, "body", "reason"),
                          r.number(b, "body", "grace_s", 3600)};
    } else if (type == "task.ack") {
        body = TaskAck{r.text(b, "body", "attempt_id"), r.number(b, "body", "seq")};
    } else if (type == "task.status") {
        body = read_task_status(r, b);
    } else if (type == "task.resume") {
        body = TaskResume{r.text(b, "body", "attempt_id"), r.number(b, "body", "seq"),
                          r.opt_text(b, "body", "logs_after")};
    } else if (type == "task.log") {
        body = TaskLog{r.text(b, "body", "attempt_id"), r.number(b, "body", "seq"),
                       r.text(b, "body", "stream"), r.text(b, "body", "data"),
                       r.opt_text(b, "body", "until")};
    } else {
        return make_error(Errc::invalid_argument, "unknown_type",
                          "message type '" + type + "' is not part of protocol version 1");
    }

    if (r.error) {
        return *r.error;
    }
    return body;
}

Result<Message> decode_envelope(const json& j) {
    FieldReader r;
    const json* v = r.field(j, "", "v");
    if (v == nullptr) {
        return *r.error;
    }
    if (!v->is_number_integer()) {
        return make_error(Errc::invalid_argument, "invalid_field", "field v must be an integer");
    }
    if (v->get<std::int64_t>() != kProtocolVersion) {
        return make_error(Errc::invalid_argument, "unsupported_version",
                          "protocol version " + v->dump() + " is not supported; this peer speaks " +
                              std::to_string(kProtocolVersion));
    }

    Message m;
    const std::string type = r.text(j, "", "type");
    m.id = r.text(j, "", "id");
    if (const json* re = r.field(j, "", "re", false); re != nullptr && !re->is_null()) {
        if (re->is_string()) {
            m.re = re->get<std::string>();
        } else {
            r.fail("invalid_field", "field re must be a string");
        }
    }
    const json* body = r.object(j, "", "body");
    if (r.error) {
        return *r.error;
    }

    auto typed = read_body(r, type, *body);
    if (!typed) {
        return typed.error();
    }
    m.body = std::move(*typed);
    return m;
}

json gpu_json(const GpuInfo& g) {
    return {{"index", g.index},
            {"model", g.model},
            {"memory_bytes", g.memory_bytes},
            {"driver", g.driver}};
}

json running_json(const std::vector<RunningAttempt>& running) {
    json out = json::array();
    for (const auto& a : running) {
        out.push_back({{"attempt_id", a.attempt_id}, {"state", a.state}});
    }
    return out;
}

struct BodyJson {
    json operator()(const Register& m) const {
        json gpus = json::array();
        for (const auto& g : m.gpus) {
            gpus.push_back(gpu_json(g));
        }
        return {{"node_name", m.node_name},
                {"agent_version", m.agent_version},
                {"os", m.os},
                {"arch", m.arch},
                {"cpu_cores", m.cpu_cores},
                {"memory_bytes", m.memory_bytes},
                {"disk_bytes", m.disk_bytes},
                {"gpus", std::move(gpus)},
                {"labels", m.labels},
                {"running", running_json(m.running)},
                {"task_slots", m.task_slots}};
    }
    json operator()(const Heartbeat& m) const {
        return {{"seq", m.seq}, {"running", running_json(m.running)}};
    }
    json operator()(const Leaving& m) const { return {{"reason", m.reason}}; }
    json operator()(const Registered& m) const {
        return {{"session_generation", m.session_generation},
                {"heartbeat_interval_s", m.heartbeat_interval_s},
                {"server_time", m.server_time}};
    }
    json operator()(const ErrorBody& m) const { return {{"code", m.code}, {"message", m.message}}; }
    json operator()(const TaskAssign& m) const {
        return {{"attempt_id", m.attempt_id},
                {"task_id", m.task_id},
                {"code_repo_url", m.code_repo_url},
                {"code_commit_id", m.code_commit_id},
                {"env_repo_url", m.env_repo_url},
                {"env_commit_id", m.env_commit_id},
                {"dockerfile_path", m.dockerfile_path},
                {"command", m.command},
                {"env", m.env},
                {"resources",
                 {{"cpu_millis", m.resources.cpu_millis},
                  {"memory_bytes", m.resources.memory_bytes},
                  {"gpu_indices", m.resources.gpu_indices}}},
                {"time_limit_s", m.time_limit_s},
                {"inputs", inputs_json(m.inputs)},
                {"outputs", outputs_json(m.outputs)}};
    }
    static json inputs_json(const std::vector<TaskInput>& inputs) {
        json out = json::array();
        for (const auto& i : inputs) {
            out.push_back({{"key", i.key},
                           {"path", i.path},
                           {"url", i.url},
                           {"size", i.size},
                           {"sha256", i.sha256}});
        }
        return out;
    }
    static json outputs_json(const std::vector<TaskOutput>& outputs) {
        json out = json::array();
        for (const auto& o : outputs) {
            out.push_back({{"path", o.path}, {"prefix", o.prefix}, {"upload_url", o.upload_url}});
        }
        return out;
    }
    json operator()(const TaskCancel& m) const {
        return {{"attempt_id", m.attempt_id}, {"reason", m.reason}, {"grace_s", m.grace_s}};
    }
    json operator()(const TaskAck& m) const {
        return {{"attempt_id", m.attempt_id}, {"seq", m.seq}};
    }
    json operator()(const TaskStatus& m) const {
        json j = {{"attempt_id", m.attempt_id}, {"seq", m.seq}, {"phase", m.phase}, {"at", m.at}};
        if (!m.container_id.empty()) {
            j["container_id"] = m.container_id;
        }
        if (m.exit_code) {
            j["exit_code"] = *m.exit_code;
        }
        if (!m.cause.empty()) {
            j["cause"] = m.cause;
        }
        if (!m.message.empty()) {
            j["message"] = m.message;
        }
        return j;
    }
    json operator()(const TaskResume& m) const {
        return {{"attempt_id", m.attempt_id}, {"seq", m.seq}, {"logs_after", m.logs_after}};
    }
    json operator()(const TaskLog& m) const {
        json j = {
            {"attempt_id", m.attempt_id}, {"seq", m.seq}, {"stream", m.stream}, {"data", m.data}};
        if (!m.until.empty()) {
            j["until"] = m.until;
        }
        return j;
    }
};

}  // namespace

Result<Message> decode(std::string_view frame, std::size_t max_frame_bytes) {
    if (frame.size() > max_frame_bytes) {
        return make_error(Errc::too_large, "frame_too_large",
                          "frame of " + std::to_string(frame.size()) + " bytes is above the " +
                              std::to_string(max_frame_bytes) + "-byte limit");
    }

    // Everything above is checked before use, so nothing should throw; the net is here because
    // a peer's bytes must never take the process down, and a failure here is a bug to report.
    try {
        json j = json::parse(frame, nullptr, false);
        if (j.is_discarded()) {
            return make_error(Errc::invalid_argument, "malformed_json", "frame is not valid JSON");
        }
        if (!j.is_object()) {
            return make_error(Errc::invalid_argument, "malformed_json",
                              "frame is not a JSON object");
        }
        // A NUL in a container's output is kept as U+FFFD: stored as it came, it would cut the
        // log chunk short (or fail the event holding it) in PostgreSQL.
        replace_nul(j);
        return decode_envelope(j);
    } catch (const std::exception& e) {
        return make_error(Errc::internal, "decoder_failure", e.what());
    }
}

std::string encode(const Message& message) {
    json j = {{"type", type_name(message.body)},
              {"id", message.id},
              {"v", message.v},
              {"body", body_json(message.body)}};
    if (message.re) {
        j["re"] = *message.re;
    }
    // Names and labels come from config files; invalid UTF-8 there is replaced, not thrown on.
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

nlohmann::json body_json(const Body& body) {
    return std::visit(BodyJson{}, body);
}

}  // namespace unidesk::protocol
