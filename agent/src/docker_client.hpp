#pragma once

// A small client of the Docker Engine API over the engine's local socket
// (/var/run/docker.sock): HTTP/1.1 with Beast on a Unix stream socket, one connection per call.
// docs/reference/docker-engine-api.md lists every endpoint used and why.
//
// Every call blocks (disk and socket) and may run on any thread except the agent's network
// thread; one DockerClient may be used by several threads at once (it holds no connection).
// Failures come back as values: `docker_unavailable` (Errc::unavailable) when the socket does
// not answer, `docker_error` with the engine's own message for an error status, and the typed
// calls' own codes (`image_build_failed`, `not_found`).

#include "unidesk/protocol/messages.hpp"
#include "unidesk/result.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace unidesk::agent {

//! Ends a blocking stream from another thread by shutting its socket down; the reader then
//! returns `cancelled`. Shared by the thread that streams and the thread that cancels.
class StreamCancel {
public:
    void cancel();
    bool cancelled() const;

    //! For DockerClient: the socket of the stream in progress (-1: none). When the cancel came
    //! first, attach() shuts the socket down at once.
    void attach(int fd);
    void detach();

private:
    mutable std::mutex mutex_;
    int fd_ = -1;
    bool cancelled_ = false;
};

struct DockerResponse {
    int status = 0;
    std::string body;
};

//! What a task container gets: image, command, environment, the code folder at /workspace,
//! limits, GPUs and labels.
struct ContainerSpec {
    std::string name;
    std::string image;
    std::vector<std::string> command;  // empty: the image's own
    std::map<std::string, std::string> env;
    std::string workspace_dir;       // host folder mounted at /workspace, the working folder
    std::uint64_t nano_cpus = 0;     // 0: no limit
    std::uint64_t memory_bytes = 0;  // 0: no limit
    std::vector<std::uint64_t> gpu_indices;
    std::map<std::string, std::string> labels;
};

//! A container found by its labels.
struct ContainerInfo {
    std::string id;
    std::string state;  // created, running, exited ...
    std::map<std::string, std::string> labels;
};

//! A task image found by its labels.
struct ImageInfo {
    std::vector<std::string> tags;
    std::int64_t size = 0;
};

//! follow_logs() merges frames up to this size: what one task.log carries.
inline constexpr std::size_t kMergedFrameBytes = protocol::kMaxLogData;

//! One frame of a container's log: which stream, the engine's timestamp of the line
//! (RFC 3339 with nanoseconds) and the bytes.
struct LogFrame {
    std::string_view stream;  // "stdout" or "stderr"
    std::string_view timestamp;
    std::string_view data;
};

class DockerClient {
public:
    //! The newest API version this client is written for; older engines are spoken to in theirs.
    static constexpr std::string_view kApiVersion = "1.41";

    explicit DockerClient(std::string socket_path = "/var/run/docker.sock");

    //! Asks the engine (GET /version) and uses the older of its API version and kApiVersion.
    //! Calls made before it use kApiVersion. Returns the version chosen.
    Result<std::string> negotiate();
    std::string api_version() const;

    //! One request with a body held in memory; waits at most `timeout` for each read or write.
    Result<DockerResponse> call(const std::string& method, const std::string& target,
                                const std::string& body = {},
                                std::chrono::seconds timeout = std::chrono::seconds(60));

    Result<bool> image_exists(const std::string& tag);

    //! POST /build with `context_tar` as the build context. Each line of the builder's output
    //! goes to `on_output`; a build that fails (the engine says so inside a 200 stream) is
    //! `image_build_failed` with the builder's message.
    Result<void> build_image(const std::filesystem::path& context_tar,
                             const std::string& dockerfile, const std::string& tag,
                             const std::map<std::string, std::string>& labels,
                             const std::function<void(std::string_view)>& on_output,
                             StreamCancel* cancel);

    Result<std::string> create_container(const ContainerSpec& spec);
    Result<void> start_container(const std::string& id);

    //! Follows the container's stdout and stderr until it ends (or `cancel`), with timestamps.
    //! `since`: RFC 3339 time; frames at or before it are skipped. Empty: from the start. The
    //! frames of one stream that arrive together are passed on as one, up to kMergedFrameBytes
    //! (a larger frame alone), timed by the last of them. Once the container has stopped, the
    //! log is read once more without following, and what the followed read missed (the
    //! engine may end it early) is passed on too.
    Result<void> follow_logs(const std::string& id, const std::string& since,
                             const std::function<void(const LogFrame&)>& on_frame,
                             StreamCancel* cancel);

    //! Waits for the container to stop; its exit code.
    Result<std::int64_t> wait_container(const std::string& id);
    //! SIGTERM, then SIGKILL after `grace`; returns when it has stopped.
    Result<void> stop_container(const std::string& id, std::chrono::seconds grace);
    Result<void> remove_container(const std::string& id);

    //! Containers (running or not) that carry the label `key=value`.
    Result<std::vector<ContainerInfo>> list_containers(const std::string& key,
                                                       const std::string& value);
    //! Images that carry the label `key` (any value).
    Result<std::vector<ImageInfo>> list_images(const std::string& key);
    Result<void> remove_image(const std::string& id);

private:
    //! call() on the versioned `endpoint`; a status not in `ok` is an error saying `what` failed.
    Result<DockerResponse> expect(const std::string& method, const std::string& endpoint,
                                  std::initializer_list<int> ok, const std::string& what,
                                  const std::string& body = {},
                                  std::chrono::seconds timeout = std::chrono::seconds(60));
    //! expect() with a JSON answer.
    Result<nlohmann::json> expect_json(const std::string& method, const std::string& endpoint,
                                       std::initializer_list<int> ok, const std::string& what,
                                       const std::string& body = {});
    //! `what` names the call in an error status's message (people read it in a task's cause).
    Result<int> stream(const std::string& method, const std::string& target,
                       const std::filesystem::path* upload,
                       const std::function<void(std::string_view)>& on_data, StreamCancel* cancel,
                       const std::string& what);
    std::string path(std::string_view endpoint) const;

    std::string socket_path_;
    mutable std::mutex mutex_;
    std::string version_{kApiVersion};
};

//! Splits the body of a non-TTY container's log stream into frames (8-byte header: stream
//! type, three zero bytes, big-endian length). Bytes of a frame that is not complete yet stay
//! buffered until the next feed.
class LogDemuxer {
public:
    //! Calls `on_frame(stream, payload)` for each complete frame in what has arrived so far.
    void feed(std::string_view bytes,
              const std::function<void(std::string_view, std::string_view)>& on_frame);

private:
    std::string pending_;
};

//! The message of an engine error body ({"message": ...}), or the body itself.
std::string docker_message(const std::string& body);

}  // namespace unidesk::agent
