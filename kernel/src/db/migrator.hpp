#pragma once

// Versioned schema migrations: the kernel's own (namespace "kernel") and each plugin's
// (namespace = plugin name). Each migration runs in its own transaction together with its
// row in `schema_migrations (namespace, version, name, applied_at)`, so a migration that fails
// halfway leaves nothing behind and is tried again on the next start. Several kernel instances
// starting at once serialize on a PostgreSQL advisory lock.

#include "db/pool.hpp"
#include "unidesk/plugin.hpp"

#include <string>
#include <vector>

namespace unidesk::kernel {

//! Applies those of `migrations` not yet recorded under `ns`, in version order.
//! Errors: `migration_failed` naming namespace, version and the database's message;
//! `migration_invalid` for duplicate or non-increasing versions;
//! `database_unavailable` when the database cannot be reached.
Result<int> apply_migrations(Pool& pool, const std::string& ns,
                             const std::vector<Migration>& migrations);

}  // namespace unidesk::kernel
