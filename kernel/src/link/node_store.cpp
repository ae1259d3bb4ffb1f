#include "link/node_store.hpp"

#include "core/time_format.hpp"
#include "db/sql_time.hpp"

#include <limits>
#include <map>
#include <utility>

namespace unidesk::kernel {
namespace {

constexpr std::size_t kMaxGpus = 256;
constexpr std::size_t kMaxLabels = 256;

constexpr const char* kNodeColumns =
    "name, state, agent_version, os, arch, cpu_cores, memory_bytes, disk_bytes, gpus::text, "
    "labels::text, session_generation, session_instance, remote, " UNIDESK_MICROS(
        "first_registered_at") ", " UNIDESK_MICROS("connected_at") ", " UNIDESK_MICROS(
        "last_heartbeat_at") ", " UNIDESK_MICROS("offline_at");

nlohmann::json gpus_json(const std::vector<protocol::GpuInfo>& gpus) {
    auto out = nlohmann::json::array();
    for (const auto& g : gpus) {
        out.push_back({{"index", g.index},
                       {"model", g.model},
                       {"memory_bytes", g.memory_bytes},
                       {"driver", g.driver}});
    }
    return out;
}

NodeRecord node_from_row(const pqxx::row& row) {
    NodeRecord n;
    n.name = row[0].as<std::string>();
    n.state = row[1].as<std::string>();
    n.resources.node_name = n.name;
    n.resources.agent_version = row[2].as<std::string>();
    n.resources.os = row[3].as<std::string>();
    n.resources.arch = row[4].as<std::string>();
    n.resources.cpu_cores = row[5].as<std::uint32_t>();
    n.resources.memory_bytes = row[6].as<std::uint64_t>();
    n.resources.disk_bytes = row[7].as<std::uint64_t>();
    const auto gpus = nlohmann::json::parse(row[8].as<std::string>());
    const auto labels = nlohmann::json::parse(row[9].as<std::string>());
    for (const auto& g : gpus) {
        n.resources.gpus.push_back({g.at("index").get<int>(), g.at("model").get<std::string>(),
                                    g.at("memory_bytes").get<std::uint64_t>(),
                                    g.at("driver").get<std::string>()});
    }
    for (const auto& [k, v] : labels.items()) {
        n.resources.labels.emplace(k, v.get<std::string>());
    }
    n.session_generation = row[10].as<std::int64_t>();
    n.session_instance = row[11].as<std::string>();
    n.remote = row[12].as<std::string>();
    n.first_registered_at = from_micros(row[13].as<std::int64_t>());
    n.connected_at = from_micros(row[14].as<std::int64_t>());
    n.last_heartbeat_at = from_micros(row[15].as<std::int64_t>());
    n.offline_at = optional_time(row[16]);
    return n;
}

// A PostgreSQL array literal of plain words. Node names are checked when their token is
// issued (letters, digits, '.', '_', '-'), so no element needs quoting.
template <class T, class F>
std::string array_literal(const std::vector<T>& items, F element) {
    std::string out = "{";
    for (const auto& item : items) {
        if (out.size() > 1) {
            out += ',';
        }
        out += element(item);
    }
    return out + "}";
}

}  // namespace

nlohmann::json node_json(const NodeRecord& n) {
    return {{"name", n.name},
            {"state", n.state},
            {"agent_version", n.resources.agent_version},
            {"os", n.resources.os},
            {"arch", n.resources.arch},
            {"cpu_cores", n.resources.cpu_cores},
            {"memory_bytes", n.resources.memory_bytes},
            {"disk_bytes", n.resources.disk_bytes},
            {"gpus", gpus_json(n.resources.gpus)},
            {"labels", n.resources.labels},
            {"session_generation", n.session_generation},
            {"session_instance", n.session_instance},
            {"remote", n.remote},
            {"first_registered_at", format_utc_iso8601(n.first_registered_at)},
            {"connected_at", format_utc_iso8601(n.connected_at)},
            {"last_heartbeat_at", format_utc_iso8601(n.last_heartbeat_at)},
            {"offline_at",
             n.offline_at ? nlohmann::json(format_utc_iso8601(*n.offline_at)) : nlohmann::json()}};
}

NodeStore::NodeStore(Database& db, EventBus& bus, Clock& clock, std::shared_ptr<spdlog::logger> log)
    : db_(db), bus_(bus), clock_(clock), log_(std::move(log)) {}

Result<std::int64_t> NodeStore::register_session(const NodeIdentity& identity,
                                                 const protocol::Register& hello,
                                                 const std::string& instance,
                                                 const std::string& remote) {
    if (hello.node_name != identity.node_name) {
        return make_error(Errc::forbidden, "registration_refused",
                          "this node token is for the node \"" + identity.node_name + "\", not \"" +
                              hello.node_name + "\"");
    }
    constexpr auto kMaxBigint =
        static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (hello.memory_bytes > kMaxBigint || hello.disk_bytes > kMaxBigint) {
        return make_error(Errc::forbidden, "registration_refused",
                          "memory_bytes and disk_bytes must be below 2^63");
    }
    if (hello.gpus.size() > kMaxGpus || hello.labels.size() > kMaxLabels) {
        return make_error(Errc::forbidden, "registration_refused",
                          "a node may declare at most 256 GPUs and 256 labels");
    }
    const auto now = to_micros(clock_.now());
    const std::string gpus = gpus_json(hello.gpus).dump();
    const std::string labels = nlohmann::json(hello.labels).dump();

    return db_.transact([&](pqxx::work& tx) {
        // The row lock orders concurrent registrations of one node: each gets its own number.
        const auto before =
            tx.exec_params("SELECT state, session_generation FROM nodes WHERE name = $1 FOR UPDATE",
                           hello.node_name);
        const std::string previous = before.empty() ? "new" : before[0][0].as<std::string>();
        const std::int64_t generation = before.empty() ? 1 : before[0][1].as<std::int64_t>() + 1;

        tx.exec_params(
            "INSERT INTO nodes (name, state, agent_version, os, arch, cpu_cores, memory_bytes, "
            "disk_bytes, gpus, labels, token_id, session_generation, session_instance, remote, "
            "connected_at, last_heartbeat_at, offline_at) VALUES ($1, 'online', $2, $3, $4, $5, "
            "$6, $7, $8::jsonb, $9::jsonb, $10, $11, $12, $13, " UNIDESK_TS("$14") ", " UNIDESK_TS(
                "$14") ", NULL) "
            "ON CONFLICT (name) DO UPDATE SET state = 'online', agent_version = $2, os = $3, "
            "arch = $4, cpu_cores = $5, memory_bytes = $6, disk_bytes = $7, gpus = $8::jsonb, "
            "labels = $9::jsonb, token_id = $10, session_generation = $11, "
            "session_instance = $12, remote = $13, connected_at = " UNIDESK_TS(
                "$14") ", last_heartbeat_at = " UNIDESK_TS("$14") ", offline_at = NULL",
            hello.node_name, hello.agent_version, hello.os, hello.arch,
            static_cast<std::int64_t>(hello.cpu_cores),
            static_cast<std::int64_t>(hello.memory_bytes),
            static_cast<std::int64_t>(hello.disk_bytes), gpus, labels, identity.token_id,
            generation, instance, remote, now);

        bus_.append(tx, {"node.registered",
                         "node:" + hello.node_name,
                         "node:" + hello.node_name,
                         {{"generation", generation},
                          {"instance", instance},
                          {"remote", remote},
                          {"previous_state", previous},
                          {"agent_version", hello.agent_version},
                          {"cpu_cores", hello.cpu_cores},
                          {"memory_bytes", hello.memory_bytes},
                          {"gpu_count", hello.gpus.size()}}});
        return generation;
    });
}

Result<std::vector<SessionVerdict>> NodeStore::flush(const std::vector<HeartbeatMark>& beats,
                                                     const std::vector<SessionRef>& live) {
    auto names = [](const auto& v) {
        return array_literal(v, [](const auto& x) { return x.node; });
    };
    auto generations = [](const auto& v) {
        return array_literal(v, [](const auto& x) { return std::to_string(x.generation); });
    };
    const auto beat_times = array_literal(
        beats, [](const HeartbeatMark& b) { return std::to_string(to_micros(b.at)); });
    const auto token_ids =
        array_literal(live, [](const SessionRef& s) { return std::to_string(s.token_id); });

    return db_.transact([&](pqxx::work& tx) {
        if (!beats.empty()) {
            // Only the newest session of a node that is still online writes: a fenced session
            // or one already marked offline must not bring the row back.
            tx.exec_params(
                "UPDATE nodes n SET last_heartbeat_at = " UNIDESK_TS("b.at_us") " FROM "
                "unnest($1::text[], $2::bigint[], $3::bigint[]) AS b(name, gen, at_us) "
                "WHERE n.name = b.name AND n.session_generation = b.gen AND n.state = 'online' "
                "AND n.last_heartbeat_at < " UNIDESK_TS("b.at_us"),
                names(beats), generations(beats), beat_times);
        }

        std::vector<SessionVerdict> verdicts(live.size(), SessionVerdict::keep);
        if (live.empty()) {
            return verdicts;
        }
        const auto rows = tx.exec_params(
            "SELECT s.ord, n.session_generation, n.state, t.revoked_at IS NOT NULL "
            "FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS s(name, token_id, ord) "
            "LEFT JOIN nodes n ON n.name = s.name "
            "LEFT JOIN node_tokens t ON t.id = s.token_id",
            names(live), token_ids);
        for (const auto& row : rows) {
            const auto i = static_cast<std::size_t>(row[0].as<std::int64_t>() - 1);
            if (i >= live.size()) {
                continue;
            }
            if (!row[3].is_null() && row[3].as<bool>()) {
                verdicts[i] = SessionVerdict::token_revoked;
            } else if (row[1].is_null() || row[1].as<std::int64_t>() != live[i].generation) {
                verdicts[i] = SessionVerdict::superseded;
            } else if (row[2].as<std::string>() != "online") {
                verdicts[i] = SessionVerdict::offline;
            }
        }
        return verdicts;
    });
}

Result<void> NodeStore::record_left(const std::string& node, std::int64_t generation,
                                    const std::string& reason) {
    const auto now = to_micros(clock_.now());
    return db_.transact_void([&](pqxx::work& tx) {
        const std::string sql =
            "UPDATE nodes SET state = 'offline', offline_at = " UNIDESK_TS("$3") " WHERE name = $1 "
            "AND session_generation = $2 AND state = 'online' RETURNING name";
        const auto r = tx.exec_params(sql, node, generation, now);
        if (r.empty()) {
            return;
        }
        bus_.append(tx, {"node.left",
                         "node:" + node,
                         "node:" + node,
                         {{"generation", generation}, {"reason", reason}}});
    });
}

Result<void> NodeStore::record_disconnected(const std::string& node, std::int64_t generation,
                                            const std::string& error) {
    const auto now = to_micros(clock_.now());
    return db_.transact_void([&](pqxx::work& tx) {
        const auto r = tx.exec_params(
            "UPDATE nodes SET state = 'offline', offline_at = " UNIDESK_TS(
                "$3") " WHERE name = $1 AND session_generation = $2 AND state = 'online' "
                      "RETURNING " UNIDESK_MICROS("last_heartbeat_at"),
            node, generation, now);
        if (r.empty()) {
            return;
        }
        bus_.append(
            tx,
            {"node.offline",
             "node:" + node,
             "kernel",
             {{"generation", generation},
              {"reason", "disconnected"},
              {"error", error},
              {"last_heartbeat_at", format_utc_iso8601(from_micros(r[0][0].as<std::int64_t>()))}}});
    });
}

Result<std::vector<std::string>> NodeStore::mark_silent_offline(
    std::chrono::system_clock::time_point cutoff) {
    const auto cutoff_us = to_micros(cutoff);
    const auto now = to_micros(clock_.now());
    return db_.transact([&](pqxx::work& tx) {
        std::vector<std::string> marked;
        if (!tx.exec_params1("SELECT pg_try_advisory_xact_lock($1)", kSweepLockKey)[0].as<bool>()) {
            return marked;  // another instance is sweeping right now
        }
        const auto rows = tx.exec_params(
            "UPDATE nodes SET state = 'offline', offline_at = " UNIDESK_TS("$2") " WHERE state = "
            "'online' AND last_heartbeat_at < " UNIDESK_TS("$1") " RETURNING name, "
            "session_generation, " UNIDESK_MICROS("last_heartbeat_at"),
            cutoff_us, now);
        for (const auto& row : rows) {
            const auto name = row[0].as<std::string>();
            const auto last = format_utc_iso8601(from_micros(row[2].as<std::int64_t>()));
            bus_.append(tx, {"node.offline",
                             "node:" + name,
                             "kernel",
                             {{"generation", row[1].as<std::int64_t>()},
                              {"reason", "heartbeat_timeout"},
                              {"last_heartbeat_at", last}}});
            marked.push_back(name);
        }
        return marked;
    });
}

Result<void> NodeStore::record_refusal(const std::string& code, const std::string& node,
                                       const std::string& remote) {
    return db_.transact_void([&](pqxx::work& tx) {
        bus_.append(tx, {"node.connect_refused",
                         node.empty() ? "provider" : "node:" + node,
                         "remote:" + remote,
                         {{"code", code}, {"remote", remote}}});
    });
}

Result<std::vector<NodeRecord>> NodeStore::list() {
    return db_.transact([](pqxx::work& tx) {
        std::vector<NodeRecord> out;
        for (const auto& row :
             tx.exec(std::string("SELECT ") + kNodeColumns + " FROM nodes ORDER BY name")) {
            out.push_back(node_from_row(row));
        }
        return out;
    });
}

Result<NodeRecord> NodeStore::get(const std::string& name) {
    return db_.transact([&](pqxx::work& tx) {
        const auto r = tx.exec_params(
            std::string("SELECT ") + kNodeColumns + " FROM nodes WHERE name = $1", name);
        if (r.empty()) {
            throw ResultError(
                make_error(Errc::not_found, "node_not_found", "no node is named " + name));
        }
        return node_from_row(r[0]);
    });
}

}  // namespace unidesk::kernel
