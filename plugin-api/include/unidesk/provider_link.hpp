#pragma once

// Commands to compute nodes go through the session that node holds with the kernel; reports
// from nodes that the kernel does not handle itself (task reports) go to one report handler.

#include "unidesk/result.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace unidesk {

//! A message from a node that the kernel passes on (docs/reference/provider-protocol.md):
//! `task.status` and `task.log` with their protocol body, and `register.running`, whose body is
//! `{"running": [{"attempt_id", "state"}]}`: the attempts a node holds as it registers.
struct NodeReport {
    std::string node_name;
    std::int64_t session_generation = 0;
    std::string type;
    nlohmann::json body;
};

//! Runs on a kernel worker thread with reports of one node session, in the order the node sent
//! them: all those that arrived while the previous call for that session ran (one call at a
//! time per session; calls for different sessions run in parallel). Returns one result per
//! report, in the same order: ok once the report is durably recorded (or was recorded before),
//! and the kernel then acknowledges a task report to the node (`task.ack`). An error leaves
//! that report unacknowledged, so the node sends it again (after 10 s without an
//! acknowledgement, or in its next session); acknowledgements are cumulative, so a handler must
//! not accept a later report of the same attempt before it. Must not throw.
using NodeReportHandler = std::function<std::vector<Result<void>>(const std::vector<NodeReport>&)>;

//! Thread-safe.
class ProviderLink {
public:
    virtual ~ProviderLink() = default;

    //! Fails with `node_offline` (Errc::unavailable) when the node holds no session with this
    //! kernel instance, and with `frame_too_large` (Errc::too_large) for a frame past the
    //! link's limit (provider.max_frame_bytes), which no retry would get through.
    virtual Result<void> send(const std::string& node_name, const std::string& type,
                              const nlohmann::json& body) = 0;

    //! Installs the one report handler (the scheduler's); an empty function removes it and
    //! returns only once no call into the old one is running. Without a handler, task reports
    //! are not acknowledged: the nodes keep them until a handler is there.
    virtual void set_report_handler(NodeReportHandler handler) = 0;
};

}  // namespace unidesk
