#include "docker_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <ctime>

namespace unidesk::agent {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using local = asio::local::stream_protocol;
using boost::system::error_code;
using nlohmann::json;
using Stream = beast::basic_stream<local>;

// Engine calls that stream (builds, logs) have no deadline; every other read or write has one.
constexpr auto kConnectTimeout = std::chrono::seconds(10);

Error unavailable(const std::string& socket, const error_code& ec) {
    return make_error(Errc::unavailable, "docker_unavailable",
                      "the Docker engine at " + socket + " does not answer: " + ec.message());
}

Error engine_error(int status, const std::string& body, const std::string& what) {
    return make_error(
        status == 404 ? Errc::not_found : Errc::internal,
        status == 404 ? "not_found" : "docker_error",
        what + ": " + docker_message(body) + " (HTTP " + std::to_string(status) + ")");
}

// Runs one asynchronous operation on `io` to completion: the stream's expiry bounds it, which
// plain blocking sockets cannot do.
template <class Start>
error_code run(asio::io_context& io, Start start) {
    error_code result = asio::error::operation_aborted;
    start([&](error_code ec, auto&&...) { result = ec; });
    io.restart();
    io.run();
    return result;
}

error_code connect(asio::io_context& io, Stream& stream, const std::string& socket) {
    stream.expires_after(kConnectTimeout);
    return run(io, [&](auto h) { stream.async_connect(local::endpoint(socket), h); });
}

// The engine's query strings carry JSON (filters) and paths; escape all but the unreserved.
std::string query_escape(std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

std::map<std::string, std::string> string_map(const json& j) {
    std::map<std::string, std::string> out;
    if (j.is_object()) {
        for (const auto& [k, v] : j.items()) {
            if (v.is_string()) {
                out.emplace(k, v.get<std::string>());
            }
        }
    }
    return out;
}

// The engine's `since` takes Unix seconds with a fraction; its log lines carry RFC 3339 times
// with nine fraction digits ("2024-05-01T08:00:00.123456789Z").
std::string unix_time_of(const std::string& rfc3339) {
    std::tm tm{};
    const char* rest = strptime(rfc3339.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest) {
        return "0";
    }
    std::string fraction;
    if (*rest == '.') {
        for (++rest; std::isdigit(static_cast<unsigned char>(*rest)); ++rest) {
            fraction += *rest;
        }
    }
    return std::to_string(timegm(&tm)) + (fraction.empty() ? "" : "." + fraction);
}

}  // namespace

// ---- StreamCancel ----

void StreamCancel::cancel() {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
    if (fd_ >= 0) {
        ::shutdown(fd_, SHUT_RDWR);
    }
}

bool StreamCancel::cancelled() const {
    std::lock_guard lock(mutex_);
    return cancelled_;
}

void StreamCancel::attach(int fd) {
    std::lock_guard lock(mutex_);
    fd_ = fd;
    if (cancelled_) {
        ::shutdown(fd_, SHUT_RDWR);
    }
}

void StreamCancel::detach() {
    std::lock_guard lock(mutex_);
    fd_ = -1;
}

// ---- DockerClient ----

DockerClient::DockerClient(std::string socket_path) : socket_path_(std::move(socket_path)) {}

std::string DockerClient::api_version() const {
    std::lock_guard lock(mutex_);
    return version_;
}

std::string DockerClient::path(std::string_view endpoint) const {
    return "/v" + api_version() + std::string(endpoint);
}

Result<std::string> DockerClient::negotiate() {
    // Unversioned, so that any engine answers it.
    auto j = expect_json("GET", "", {200}, "asking the engine's version");
    if (!j) {
        return j.error();
    }
    const std::string theirs = j->value("ApiVersion", "");
    auto as_pair = [](const std::string& v) {
        const auto dot = v.find('.');
        return std::make_pair(std::atoi(v.substr(0, dot).c_str()),
                              dot == std::string::npos ? 0 : std::atoi(v.c_str() + dot + 1));
    };
    std::string chosen(kApiVersion);
    if (!theirs.empty() && as_pair(theirs) < as_pair(chosen)) {
        chosen = theirs;
    }
    std::lock_guard lock(mutex_);
    version_ = chosen;
    return chosen;
}

Result<DockerResponse> DockerClient::call(const std::string& method, const std::string& target,
                                          const std::string& body, std::chrono::seconds timeout) {
    asio::io_context io;
    Stream stream(io);
    auto ec = connect(io, stream, socket_path_);
    if (ec) {
        return unavailable(socket_path_, ec);
    }

    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, "docker");
    if (!body.empty()) {
        req.set(http::field::content_type, "application/json");
    }
    req.body() = body;
    req.prepare_payload();

    stream.expires_after(timeout);
    ec = run(io, [&](auto h) { http::async_write(stream, req, h); });
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    if (!ec) {
        ec = run(io, [&](auto h) { http::async_read(stream, buf, parser, h); });
    }
    if (ec) {
        return unavailable(socket_path_, ec);
    }
    return DockerResponse{static_cast<int>(parser.get().result_int()),
                          std::move(parser.get().body())};
}

// stream() passes body bytes on in pieces of at most about this size.
constexpr std::size_t kPassOnBytes = 256 * 1024;

Result<int> DockerClient::stream(const std::string& method, const std::string& target,
                                 const std::filesystem::path* upload,
                                 const std::function<void(std::string_view)>& on_data,
                                 StreamCancel* cancel, const std::string& what) {
    asio::io_context io;
    Stream stream(io);
    auto ec = connect(io, stream, socket_path_);
    if (ec) {
        return unavailable(socket_path_, ec);
    }
    stream.expires_never();
    if (cancel) {
        cancel->attach(stream.socket().native_handle());
    }
    struct Detach {
        StreamCancel* c;
        ~Detach() {
            if (c) {
                c->detach();
            }
        }
    } detach{cancel};

    if (upload) {
        http::request<http::file_body> req{http::string_to_verb(method), target, 11};
        req.set(http::field::host, "docker");
        req.set(http::field::content_type, "application/x-tar");
        req.body().open(upload->c_str(), beast::file_mode::scan, ec);
        if (ec) {
            return make_error(Errc::internal, "agent_error",
                              "cannot read " + upload->string() + ": " + ec.message());
        }
        req.prepare_payload();
        ec = run(io, [&](auto h) { http::async_write(stream, req, h); });
    } else {
        http::request<http::empty_body> req{http::string_to_verb(method), target, 11};
        req.set(http::field::host, "docker");
        ec = run(io, [&](auto h) { http::async_write(stream, req, h); });
    }

    beast::flat_buffer buf;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    if (!ec) {
        ec = run(io, [&](auto h) { http::async_read_header(stream, buf, parser, h); });
    }
    const int status = ec ? 0 : static_cast<int>(parser.get().result_int());
    std::string error_body;
    std::string came;  // body bytes parsed and not yet passed on
    auto pass_on = [&] {
        if (!came.empty()) {
            on_data(came);
            came.clear();
        }
    };
    char chunk[16 * 1024];
    // The parser is fed by hand, so that it is known when the next bytes must be waited for:
    // the engine sends a chunk a line, and the lines of one burst, parsed from what is already
    // here, go on together; before each wait for the engine, everything parsed is passed on.
    while (!ec && !parser.is_done()) {
        parser.get().body().data = chunk;
        parser.get().body().size = sizeof chunk;
        error_code parsed;
        const auto used = buf.size() > 0 ? parser.put(buf.data(), parsed) : 0;
        buf.consume(used);
        if (parsed && parsed != http::error::need_more && parsed != http::error::need_buffer) {
            ec = parsed;
            break;
        }
        const std::string_view got(chunk, sizeof chunk - parser.get().body().size);
        if (status >= 300) {
            error_body.append(
                got.substr(0, 64 * 1024 - std::min<std::size_t>(error_body.size(), 64 * 1024)));
        } else {
            came.append(got);
        }
        if (came.size() >= kPassOnBytes) {
            pass_on();
        }
        if (parser.is_done() || used > 0 || !got.empty()) {
            continue;
        }
        // Nothing more can be parsed from what is here: wait for the engine.
        pass_on();
        std::size_t n = 0;
        ec = run(io, [&](auto h) {
            stream.async_read_some(buf.prepare(sizeof chunk), [&n, h](error_code e, std::size_t k) {
                n = k;
                h(e);
            });
        });
        buf.commit(n);
        if (ec == asio::error::eof) {
            ec = {};
            parser.put_eof(ec);  // an error unless the body ends with the connection
            if (!ec && !parser.is_done()) {
                ec = http::error::partial_message;
            }
        }
    }
    pass_on();

    if (cancel && cancel->cancelled()) {
        return make_error(Errc::conflict, "cancelled", "the stream was cancelled");
    }
    if (ec) {
        return unavailable(socket_path_, ec);
    }
    if (status >= 300) {
        return engine_error(status, error_body, what);
    }
    return status;
}

Result<DockerResponse> DockerClient::expect(const std::string& method, const std::string& endpoint,
                                            std::initializer_list<int> ok, const std::string& what,
                                            const std::string& body, std::chrono::seconds timeout) {
    // An empty endpoint is the unversioned GET /version.
    auto r = call(method, endpoint.empty() ? "/version" : path(endpoint), body, timeout);
    if (!r) {
        return r.error();
    }
    if (std::find(ok.begin(), ok.end(), r->status) == ok.end()) {
        return engine_error(r->status, r->body, what);
    }
    return r;
}

Result<nlohmann::json> DockerClient::expect_json(const std::string& method,
                                                 const std::string& endpoint,
                                                 std::initializer_list<int> ok,
                                                 const std::string& what, const std::string& body) {
    auto r = expect(method, endpoint, ok, what, body);
    if (!r) {
        return r.error();
    }
    auto j = json::parse(r->body, nullptr, false);
    if (j.is_discarded()) {
        return make_error(Errc::internal, "docker_error",
                          what + ": the engine's answer is not JSON");
    }
    return ok_value(std::move(j));
}

Result<bool> DockerClient::image_exists(const std::string& tag) {
    auto r = expect("GET", "/images/" + tag + "/json", {200, 404}, "inspecting image " + tag);
    if (!r) {
        return r.error();
    }
    return r->status == 200;
}

Result<void> DockerClient::build_image(const std::filesystem::path& context_tar,
                                       const std::string& dockerfile, const std::string& tag,
                                       const std::map<std::string, std::string>& labels,
                                       const std::function<void(std::string_view)>& on_output,
                                       StreamCancel* cancel) {
    const std::string target =
        path("/build?t=" + query_escape(tag) + "&dockerfile=" + query_escape(dockerfile) +
             "&rm=1&forcerm=1&labels=" + query_escape(json(labels).dump()));
    // The answer is JSON objects one after another; a failed build is one with `error`.
    std::string pending;
    std::string failure;
    auto on_data = [&](std::string_view bytes) {
        pending.append(bytes);
        std::size_t start = 0;
        for (auto nl = pending.find('\n', start); nl != std::string::npos;
             nl = pending.find('\n', start)) {
            auto j = json::parse(pending.substr(start, nl - start), nullptr, false);
            start = nl + 1;
            if (!j.is_object()) {
                continue;
            }
            if (j.contains("error")) {
                failure =
                    j["error"].is_string() ? j["error"].get<std::string>() : j["error"].dump();
                on_output(failure + "\n");
            } else if (j.contains("stream") && j["stream"].is_string()) {
                on_output(j["stream"].get<std::string>());
            } else if (j.contains("status") && j["status"].is_string()) {
                on_output(j["status"].get<std::string>() + "\n");
            }
        }
        pending.erase(0, start);
    };

    auto r = stream("POST", target, &context_tar, on_data, cancel,
                    "the Docker engine refused to build " + dockerfile);
    if (!r) {
        if (r.error().code == "docker_error") {
            return make_error(Errc::invalid_argument, "image_build_failed", r.error().message);
        }
        return r.error();
    }
    if (!failure.empty()) {
        return make_error(Errc::invalid_argument, "image_build_failed", failure);
    }
    return {};
}

Result<std::string> DockerClient::create_container(const ContainerSpec& spec) {
    json env = json::array();
    for (const auto& [k, v] : spec.env) {
        env.push_back(k + "=" + v);
    }
    json host = {{"Binds", json::array({spec.workspace_dir + ":/workspace"})},
                 {"NanoCpus", spec.nano_cpus},
                 {"Memory", spec.memory_bytes}};
    if (!spec.gpu_indices.empty()) {
        json ids = json::array();
        for (auto i : spec.gpu_indices) {
            ids.push_back(std::to_string(i));
        }
        host["DeviceRequests"] =
            json::array({{{"Driver", "nvidia"}, {"DeviceIDs", ids}, {"Capabilities", {{"gpu"}}}}});
    }
    json body = {{"Image", spec.image},
                 {"Env", env},
                 {"WorkingDir", "/workspace"},
                 {"Labels", spec.labels},
                 {"HostConfig", host}};
    if (!spec.command.empty()) {
        body["Cmd"] = spec.command;
    }

    auto j = expect_json("POST", "/containers/create?name=" + query_escape(spec.name), {201},
                         "creating the container", body.dump());
    if (!j) {
        return j.error();
    }
    return j->value("Id", "");
}

Result<void> DockerClient::start_container(const std::string& id) {
    if (auto r =
            expect("POST", "/containers/" + id + "/start", {204, 304}, "starting the container");
        !r) {
        return r.error();
    }
    return {};
}

Result<void> DockerClient::follow_logs(const std::string& id, const std::string& since,
                                       const std::function<void(const LogFrame&)>& on_frame,
                                       StreamCancel* cancel) {
    const std::string base = "/containers/" + id + "/logs?stdout=1&stderr=1&timestamps=1";
    LogDemuxer demux;
    // The engine sends a frame a line. Frames of one stream that arrive in one read go on as
    // one (up to kMergedFrameBytes), with the time of the last: a command printing many short
    // lines makes one report per read, not one per line.
    std::string merged;
    std::string merged_stream;
    std::string merged_until;
    auto flush = [&] {
        if (!merged.empty()) {
            on_frame(LogFrame{merged_stream, merged_until, merged});
            merged.clear();
        }
    };
    // The newest second of the log passed on, and how many bytes of each stream it held: the
    // catch-up read below starts at that second and skips exactly those.
    std::string last_second;
    std::map<std::string, std::size_t, std::less<>> in_last_second;
    std::map<std::string, std::size_t, std::less<>> skip;
    auto on_data = [&](std::string_view bytes) {
        demux.feed(bytes, [&](std::string_view stream, std::string_view payload) {
            // With timestamps, every frame starts with the line's time and one space.
            const auto space = payload.find(' ');
            LogFrame f{stream, {}, payload};
            if (space != std::string_view::npos && space < 40) {
                f.timestamp = payload.substr(0, space);
                f.data = payload.substr(space + 1);
            }
            if (!since.empty() && !f.timestamp.empty() && f.timestamp <= since) {
                return;
            }
            if (auto left = skip.find(stream); left != skip.end() && left->second > 0) {
                const auto n = std::min(left->second, f.data.size());
                left->second -= n;
                f.data.remove_prefix(n);
                if (f.data.empty()) {
                    return;
                }
            }
            if (const auto second = f.timestamp.substr(0, 19); second != last_second) {
                last_second = std::string(second);
                in_last_second.clear();
            }
            in_last_second[std::string(stream)] += f.data.size();
            if (!merged.empty() &&
                (stream != merged_stream || merged.size() + f.data.size() > kMergedFrameBytes)) {
                flush();
            }
            merged_stream = stream;
            merged_until = f.timestamp;
            merged += f.data;
        });
        flush();
    };
    const std::string what = "reading the log of " + id;
    auto followed = stream(
        "GET", path(base + "&follow=1" + (since.empty() ? "" : "&since=" + unix_time_of(since))),
        nullptr, on_data, cancel, what);
    if (!followed) {
        return followed.error();
    }
    // The engine (20.10) may end a followed log early when the container stops soon after
    // writing (its reader stops with the container, not at the end of the file). The
    // container has stopped now and its log is whole: it is read once more from the newest
    // second passed on, and only what was not passed on goes on.
    demux = LogDemuxer{};
    skip = in_last_second;
    const std::string from = last_second.empty() ? since : last_second;
    auto rest = stream("GET", path(base + (from.empty() ? "" : "&since=" + unix_time_of(from))),
                       nullptr, on_data, cancel, what);
    if (!rest) {
        return rest.error();
    }
    return {};
}

Result<std::int64_t> DockerClient::wait_container(const std::string& id) {
    auto r = expect("POST", "/containers/" + id + "/wait", {200}, "waiting for the container", {},
                    std::chrono::hours(24 * 365));
    if (!r) {
        return r.error();
    }
    auto j = json::parse(r->body, nullptr, false);
    return j.is_object() ? j.value("StatusCode", std::int64_t{-1}) : std::int64_t{-1};
}

Result<void> DockerClient::stop_container(const std::string& id, std::chrono::seconds grace) {
    if (auto r = expect("POST", "/containers/" + id + "/stop?t=" + std::to_string(grace.count()),
                        {204, 304}, "stopping the container", {}, grace + std::chrono::seconds(60));
        !r) {
        return r.error();
    }
    return {};
}

Result<void> DockerClient::remove_container(const std::string& id) {
    if (auto r = expect("DELETE", "/containers/" + id + "?force=1&v=1", {204, 404},
                        "removing the container");
        !r) {
        return r.error();
    }
    return {};
}

Result<std::vector<ContainerInfo>> DockerClient::list_containers(const std::string& key,
                                                                 const std::string& value) {
    const json filters = {{"label", {key + "=" + value}}};
    auto j = expect_json("GET", "/containers/json?all=1&filters=" + query_escape(filters.dump()),
                         {200}, "listing containers");
    if (!j) {
        return j.error();
    }
    std::vector<ContainerInfo> out;
    for (const auto& c : *j) {
        out.push_back({c.value("Id", ""), c.value("State", ""), string_map(c["Labels"])});
    }
    return out;
}

Result<std::vector<ImageInfo>> DockerClient::list_images(const std::string& key) {
    const json filters = {{"label", {key}}};
    auto j = expect_json("GET", "/images/json?filters=" + query_escape(filters.dump()), {200},
                         "listing images");
    if (!j) {
        return j.error();
    }
    std::vector<ImageInfo> out;
    for (const auto& i : *j) {
        ImageInfo info{{}, i.value("Size", std::int64_t{0})};
        if (i.contains("RepoTags") && i["RepoTags"].is_array()) {
            for (const auto& t : i["RepoTags"]) {
                info.tags.push_back(t.get<std::string>());
            }
        }
        out.push_back(std::move(info));
    }
    return out;
}

Result<void> DockerClient::remove_image(const std::string& id) {
    // Not forced: an image a container still uses stays.
    if (auto r = expect("DELETE", "/images/" + id, {200, 404}, "removing image " + id); !r) {
        return r.error();
    }
    return {};
}

// ---- LogDemuxer ----

void LogDemuxer::feed(std::string_view bytes,
                      const std::function<void(std::string_view, std::string_view)>& on_frame) {
    pending_.append(bytes);
    std::size_t at = 0;
    while (pending_.size() - at >= 8) {
        const auto* h = reinterpret_cast<const unsigned char*>(pending_.data() + at);
        const std::size_t len = (std::size_t{h[4]} << 24) | (std::size_t{h[5]} << 16) |
                                (std::size_t{h[6]} << 8) | std::size_t{h[7]};
        if (pending_.size() - at - 8 < len) {
            break;
        }
        const std::string_view stream = h[0] == 2 ? "stderr" : "stdout";
        on_frame(stream, std::string_view(pending_).substr(at + 8, len));
        at += 8 + len;
    }
    pending_.erase(0, at);
}

std::string docker_message(const std::string& body) {
    auto j = json::parse(body, nullptr, false);
    if (j.is_object() && j.contains("message") && j["message"].is_string()) {
        return j["message"].get<std::string>();
    }
    return body.substr(0, 500);
}

}  // namespace unidesk::agent
