#include "storage/migrator.h"

#include <cctype>
#include <map>

#include "absl/strings/str_cat.h"

namespace tlsaudit::storage {

absl::StatusOr<std::vector<Migration>> parseMigrations(const std::vector<MigrationFile>& files) {
  std::map<int, Migration> by_version;
  for (const auto& file : files) {
    std::string name = file.name;
    size_t underscore = name.find('_');
    bool digits = underscore == 4;
    for (size_t i = 0; digits && i < 4; ++i) digits = std::isdigit((unsigned char)name[i]) != 0;
    if (!digits || name.size() <= 9 || name.substr(name.size() - 4) != ".sql") {
      return absl::InvalidArgumentError(
          absl::StrCat("migration file ", name, ": expected NNNN_name.sql"));
    }
    Migration m;
    m.version = std::stoi(name.substr(0, 4));
    m.name = name.substr(5, name.size() - 9);
    m.sql = file.sql;
    if (by_version.contains(m.version)) {
      return absl::InvalidArgumentError(
          absl::StrCat("migration file ", name, ": version ", m.version, " used twice"));
    }
    by_version.emplace(m.version, std::move(m));
  }
  std::vector<Migration> out;
  int expected = 1;
  for (auto& [version, m] : by_version) {
    if (version != expected) {
      return absl::InvalidArgumentError(absl::StrCat(
          "migration ", expected, " is missing (next is ", version, "_", m.name, ".sql)"));
    }
    ++expected;
    out.push_back(std::move(m));
  }
  return out;
}

namespace {

std::string label(const Migration& m) {
  std::string version = std::to_string(m.version);
  return std::string(4 - std::min<size_t>(4, version.size()), '0') + version + "_" + m.name;
}

absl::StatusOr<std::string> checksum(PgConnection& c, const std::string& sql) {
  // The server computes it (pgcrypto-free since PostgreSQL 11), so storage needs no hash library.
  auto r = c.exec("SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')", {sql});
  if (!r.ok()) return r.status();
  return r->str(0, 0);
}

absl::StatusOr<MigrationReport> migrateLocked(PgConnection& c,
                                              const std::vector<Migration>& migrations,
                                              bool dry_run) {
  MigrationReport report;
  auto exists = c.exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
  if (!exists.ok()) return exists.status();
  std::map<int, std::pair<std::string, std::string>> applied;  // version -> (name, checksum)
  if (exists->boolean(0, 0)) {
    auto rows = c.exec("SELECT version, name, checksum FROM schema_migrations ORDER BY version");
    if (!rows.ok()) return rows.status();
    for (int i = 0; i < rows->rows(); ++i) {
      applied[static_cast<int>(rows->int64(i, 0))] = {rows->str(i, 1), rows->str(i, 2)};
    }
  } else if (!dry_run) {
    auto created = c.exec(
        "CREATE TABLE schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())");
    if (!created.ok()) return created.status();
  }
  if (!applied.empty()) report.version_before = applied.rbegin()->first;
  for (const auto& [version, recorded] : applied) {
    if (version < 1 || version > static_cast<int>(migrations.size())) {
      return absl::FailedPreconditionError(
          absl::StrCat("the database has migration ", version, " (", recorded.first,
                       ") which this tlsaudit does not know; it was migrated by a newer version"));
    }
    const Migration& m = migrations[version - 1];
    auto sum = checksum(c, m.sql);
    if (!sum.ok()) return sum.status();
    if (*sum != recorded.second) {
      return absl::FailedPreconditionError(
          absl::StrCat("migration ", label(m), " was changed after it was applied (checksum ",
                       recorded.second.substr(0, 12), " in the database, ", sum->substr(0, 12),
                       " in this binary); migrations are forward-only: add a new one"));
    }
  }
  report.version_after = report.version_before;
  for (const auto& m : migrations) {
    if (applied.contains(m.version)) continue;
    if (dry_run) {
      report.pending.push_back(label(m));
      continue;
    }
    auto sum = checksum(c, m.sql);
    if (!sum.ok()) return sum.status();
    auto tx = PgTransaction::begin(c);
    if (!tx.ok()) return tx.status();
    if (auto s = c.execScript(m.sql); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("migration ", label(m), ": ", s.message()));
    }
    auto recorded =
        c.exec("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
               {std::to_string(m.version), m.name, *sum});
    if (!recorded.ok()) return recorded.status();
    if (auto s = (*tx)->commit(); !s.ok()) return s;
    report.applied.push_back(label(m));
    report.version_after = m.version;
  }
  return report;
}

}  // namespace

absl::StatusOr<MigrationReport> migrate(PgConnection& c, const std::vector<Migration>& migrations,
                                        bool dry_run) {
  // A migration may take longer than the session's statement timeout, and a second migrator
  // waits on the lock for as long as the first one runs.
  auto previous = c.exec("SELECT current_setting('statement_timeout')");
  if (!previous.ok()) return previous.status();
  std::string timeout = previous->str(0, 0);
  if (auto s = c.exec("SELECT set_config('statement_timeout', '0', false)"); !s.ok()) {
    return s.status();
  }
  auto lock = c.exec("SELECT pg_advisory_lock($1)", {std::to_string(kMigrationLockKey)});
  if (!lock.ok()) return lock.status();
  auto report = migrateLocked(c, migrations, dry_run);
  // On a lost connection the server has released the lock with the session.
  if (!c.broken()) {
    (void)c.exec("SELECT pg_advisory_unlock($1)", {std::to_string(kMigrationLockKey)});
    (void)c.exec("SELECT set_config('statement_timeout', $1, false)", {timeout});
  }
  return report;
}

}  // namespace tlsaudit::storage
