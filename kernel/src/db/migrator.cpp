#include "db/migrator.hpp"

#include "db/db_errors.hpp"

#include <set>

namespace unidesk::kernel {
namespace {

// Session advisory lock held while migrating; the same key in every kernel instance.
constexpr std::int64_t kMigrationLockKey = 0x756e696465736b01;  // "unidesk" + 1

const char* kCreateTable = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
    namespace text NOT NULL,
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace, version)
)
)sql";

Result<void> validate(const std::string& ns, const std::vector<Migration>& migrations) {
    if (ns.empty()) {
        return make_error(Errc::invalid_argument, "migration_invalid",
                          "migration namespace is empty");
    }
    int previous = 0;
    for (const auto& m : migrations) {
        if (m.version <= 0 || m.version <= previous) {
            return make_error(Errc::invalid_argument, "migration_invalid",
                              "migrations of namespace=" + ns +
                                  " must have positive, strictly increasing versions; version=" +
                                  std::to_string(m.version) + " name=" + m.name +
                                  " follows version=" + std::to_string(previous));
        }
        previous = m.version;
    }
    return {};
}

std::set<int> applied_versions(pqxx::connection& conn, const std::string& ns) {
    pqxx::work tx(conn);
    std::set<int> out;
    for (const auto& row :
         tx.exec_params("SELECT version FROM schema_migrations WHERE namespace = $1", ns)) {
        out.insert(row[0].as<int>());
    }
    tx.commit();
    return out;
}

// One migration and its record row in one transaction: all of it or nothing.
Result<void> apply_one(pqxx::connection& conn, const std::string& ns, const Migration& m) {
    try {
        pqxx::work tx(conn);
        tx.exec(m.sql);
        tx.exec_params(
            "INSERT INTO schema_migrations (namespace, version, name) VALUES ($1, $2, $3)", ns,
            m.version, m.name);
        tx.commit();
        return {};
    } catch (...) {
        auto failure = classify_db_exception(std::current_exception());
        if (failure.connection_lost) {
            return failure.error;
        }
        return make_error(Errc::internal, "migration_failed",
                          "migration failed namespace=" + ns +
                              " version=" + std::to_string(m.version) + " name=" + m.name + ": " +
                              failure.error.message);
    }
}

Result<int> apply_locked(pqxx::connection& conn, const std::string& ns,
                         const std::vector<Migration>& migrations) {
    {
        pqxx::nontransaction tx(conn);
        tx.exec(kCreateTable);
    }
    auto done = applied_versions(conn, ns);
    int applied = 0;
    for (const auto& m : migrations) {
        if (done.count(m.version) != 0) {
            continue;
        }
        auto r = apply_one(conn, ns, m);
        if (!r) {
            return r.error();
        }
        ++applied;
    }
    return applied;
}

}  // namespace

Result<int> apply_migrations(Pool& pool, const std::string& ns,
                             const std::vector<Migration>& migrations) {
    if (auto v = validate(ns, migrations); !v) {
        return v.error();
    }

    // A connection of its own: the session lock belongs to it, and closing it (also on a
    // crash) releases the lock.
    try {
        auto conn = pool.connect_direct();
        {
            pqxx::nontransaction tx(*conn);
            tx.exec("SELECT pg_advisory_lock(" + std::to_string(kMigrationLockKey) + ")");
        }
        auto result = apply_locked(*conn, ns, migrations);
        if (conn->is_open()) {
            pqxx::nontransaction tx(*conn);
            tx.exec("SELECT pg_advisory_unlock(" + std::to_string(kMigrationLockKey) + ")");
        }
        return result;
    } catch (...) {
        return classify_db_exception(std::current_exception()).error;
    }
}

}  // namespace unidesk::kernel
