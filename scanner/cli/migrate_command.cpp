#include "scanner/cli/migrate_command.h"

#include <cstdlib>
#include <iostream>
#include <string>

#include "storage/migrator.h"
#include "storage/pg_connection.h"

namespace tlsaudit::scanner {
namespace {

struct MigrateArgs {
  std::string database;
  bool dry_run = false;
  double connect_timeout = 5;
};

int runMigrateCommand(const MigrateArgs& a) {
  auto fail = [](const std::string& msg) {
    std::cerr << "tlsaudit migrate: " << msg << "\n";
    return 2;
  };
  std::string dsn = a.database;
  if (dsn.empty()) {
    const char* env = std::getenv("TLSAUDIT_DATABASE");
    if (env != nullptr) dsn = env;
  }
  if (dsn.empty()) return fail("--database DSN is required (or set TLSAUDIT_DATABASE)");
  if (!(a.connect_timeout >= 1 && a.connect_timeout <= 600)) {
    return fail("--connect-timeout must be between 1 and 600 seconds");
  }
  auto migrations = storage::parseMigrations(storage::embeddedMigrationFiles());
  if (!migrations.ok()) return fail(std::string(migrations.status().message()));
  storage::PgConnectOptions options;
  options.dsn = dsn;
  options.connect_timeout = std::chrono::seconds(static_cast<int64_t>(a.connect_timeout));
  options.application_name = "tlsaudit migrate";
  auto connection = storage::PgConnection::connect(options);
  if (!connection.ok()) return fail(std::string(connection.status().message()));
  auto report = storage::migrate(**connection, *migrations, a.dry_run);
  if (!report.ok()) return fail(std::string(report.status().message()));
  if (a.dry_run) {
    if (report->pending.empty()) {
      std::cout << "schema is at version " << report->version_before << ", nothing to apply\n";
    }
    for (const auto& m : report->pending) std::cout << "would apply " << m << "\n";
    return 0;
  }
  for (const auto& m : report->applied) std::cout << "applied " << m << "\n";
  std::cout << "schema is at version " << report->version_after << "\n";
  return 0;
}

}  // namespace

void addMigrateCommand(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<MigrateArgs>();
  auto* cmd = app.add_subcommand("migrate", "Apply the database schema migrations");
  cmd->add_option("--database", args->database,
                  "PostgreSQL connection string (libpq key=value or postgresql:// URI); "
                  "default $TLSAUDIT_DATABASE");
  cmd->add_flag("--dry-run", args->dry_run, "List the migrations that would be applied");
  cmd->add_option("--connect-timeout", args->connect_timeout, "Seconds to wait for the server")
      ->capture_default_str();
  cmd->callback([args, &exit_code] { exit_code = runMigrateCommand(*args); });
}

}  // namespace tlsaudit::scanner
