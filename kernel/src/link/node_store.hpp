#pragma once

// The `nodes` table: what the provider link knows of each compute node, and every change of a
// node's state written together with its event (node.registered, node.left, node.offline,
// node.connect_refused; docs/reference/events.md).
//
// Heartbeats are not events and are not written one by one: the provider server collects them
// in memory and hands them to flush() in batches, which also tells which of the caller's live
// sessions must end (fenced by a newer session, token revoked, or marked offline meanwhile).
//
// Errors: `registration_refused` (Errc::forbidden) when the register body does not fit the
// token; otherwise the database's own (`database_unavailable` ...).
//
// Owned by the Kernel. Thread-safe; every call blocks on PostgreSQL, so it runs on a blocking
// worker or the provider server's housekeeping thread, never on a network thread.

#include "unidesk/auth.hpp"
#include "unidesk/clock.hpp"
#include "unidesk/database.hpp"
#include "unidesk/event_bus.hpp"
#include "unidesk/protocol/messages.hpp"

#include <spdlog/logger.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace unidesk::kernel {

//! One node as the REST API shows it.
struct NodeRecord {
    std::string name;
    std::string state;  // "online" or "offline"
    protocol::Register resources;
    std::int64_t session_generation = 0;
    std::string session_instance;
    std::string remote;
    std::chrono::system_clock::time_point first_registered_at;
    std::chrono::system_clock::time_point connected_at;
    std::chrono::system_clock::time_point last_heartbeat_at;
    std::optional<std::chrono::system_clock::time_point> offline_at;
};

//! {"name", "state", "agent_version", "os", "arch", "cpu_cores", "memory_bytes", "disk_bytes",
//!  "gpus", "labels", "session_generation", "session_instance", "remote",
//!  "first_registered_at", "connected_at", "last_heartbeat_at", "offline_at"} with UTC times.
nlohmann::json node_json(const NodeRecord& node);

//! A live session as its holder sees it.
struct SessionRef {
    std::string node;
    std::int64_t generation = 0;
    std::int64_t token_id = 0;
};

//! The newest heartbeat of one session since the last flush.
struct HeartbeatMark {
    std::string node;
    std::int64_t generation = 0;
    std::chrono::system_clock::time_point at;
};

//! Why a live session must end; keep when it may go on.
enum class SessionVerdict { keep, superseded, token_revoked, offline };

class NodeStore {
public:
    NodeStore(Database& db, EventBus& bus, Clock& clock, std::shared_ptr<spdlog::logger> log);

    //! Records a registration: the node becomes online with the next session generation, its
    //! resources replaced by `hello`, and a node.registered event. Refuses a node name other
    //! than the one the token was issued for. Returns the new generation.
    Result<std::int64_t> register_session(const NodeIdentity& identity,
                                          const protocol::Register& hello,
                                          const std::string& instance, const std::string& remote);

    //! Writes the heartbeats in one statement (a mark of a fenced generation writes nothing),
    //! then judges every live session. The verdicts come in the order of `live`.
    Result<std::vector<SessionVerdict>> flush(const std::vector<HeartbeatMark>& beats,
                                              const std::vector<SessionRef>& live);

    //! The node said it is leaving: offline now with a node.left event, if `generation` is
    //! still its newest session (a fenced session's goodbye changes nothing).
    Result<void> record_left(const std::string& node, std::int64_t generation,
                             const std::string& reason);

    //! The connection of a registered session ended without `leaving` (the agent crashed, the
    //! network broke, the session was closed): offline now with a node.offline event (reason
    //! `disconnected`), if `generation` is still its newest session.
    Result<void> record_disconnected(const std::string& node, std::int64_t generation,
                                     const std::string& error);

    //! Marks offline, each with a node.offline event, every online node whose last heartbeat
    //! is older than `cutoff`. Only one kernel instance sweeps at a time (a transaction-scoped
    //! advisory lock; another instance's call returns no names). Returns the names marked.
    Result<std::vector<std::string>> mark_silent_offline(
        std::chrono::system_clock::time_point cutoff);

    //! A connection refused before the upgrade (wrong, unknown or revoked token): a
    //! node.connect_refused event. `node` is empty when the token named none.
    Result<void> record_refusal(const std::string& code, const std::string& node,
                                const std::string& remote);

    Result<std::vector<NodeRecord>> list();
    //! `node_not_found` (Errc::not_found) for a name never registered.
    Result<NodeRecord> get(const std::string& name);

    //! Key of the advisory lock held while sweeping, so one instance marks nodes offline.
    static constexpr std::int64_t kSweepLockKey = 0x756e'6964'6e6f'6465;  // "unidnode"

private:
    Database& db_;
    EventBus& bus_;
    Clock& clock_;
    std::shared_ptr<spdlog::logger> log_;
};

}  // namespace unidesk::kernel
