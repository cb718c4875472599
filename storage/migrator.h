// Schema migrations: numbered, forward-only SQL files (storage/migrations/NNNN_name.sql)
// compiled into the binary, applied in order and recorded in `schema_migrations` with a
// checksum. Several daemons may start at once: the whole run holds a PostgreSQL advisory lock,
// so exactly one applies each migration and the others find it done.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/pg_connection.h"

namespace tlsaudit::storage {

// A migration file as embedded at build time.
struct MigrationFile {
  const char* name;  // "0001_initial.sql"
  const char* sql;
};

// Generated from storage/migrations/*.sql (embed_migrations.cmake), in file-name order.
const std::vector<MigrationFile>& embeddedMigrationFiles();

struct Migration {
  int version = 0;   // NNNN
  std::string name;  // "initial"
  std::string sql;
};

// Checks the names (NNNN_name.sql, versions 1, 2, 3... with no gap or duplicate) and returns
// the migrations in order. kInvalidArgument names the offending file.
absl::StatusOr<std::vector<Migration>> parseMigrations(const std::vector<MigrationFile>& files);

struct MigrationReport {
  int version_before = 0;            // highest applied version before the run (0: empty database)
  int version_after = 0;             // after it (equal to before on a dry run)
  std::vector<std::string> applied;  // "0001_initial" applied by this run
  std::vector<std::string> pending;  // what a dry run would apply
};

// The advisory-lock key every tlsaudit migrator takes (pg_advisory_lock(bigint)).
inline constexpr int64_t kMigrationLockKey = 0x746c7361756469;  // "tlsaudi"

// Brings the database to the newest of `migrations`, each in its own transaction; with
// `dry_run` only reports what would be applied. Errors: a recorded migration this binary does
// not know, or whose checksum differs from the embedded text (kFailedPrecondition); a failing
// migration (its PostgreSQL error, nothing of it applied); lost connection (kUnavailable).
// Blocks while another migrator holds the lock. Call from a thread that may block.
absl::StatusOr<MigrationReport> migrate(PgConnection& connection,
                                        const std::vector<Migration>& migrations, bool dry_run);

}  // namespace tlsaudit::storage
