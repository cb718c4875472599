// `tlsaudit migrate [--dry-run] --database DSN`: brings a PostgreSQL database to the schema this
// binary embeds (storage/migrations), or lists what that would apply.
#pragma once

#include <CLI/CLI.hpp>

namespace tlsaudit::scanner {

// Registers the subcommand; when it runs, its exit code (0 ok, 2 usage or runtime error) is
// written to `exit_code`.
void addMigrateCommand(CLI::App& app, int& exit_code);

}  // namespace tlsaudit::scanner
