// `tlsaudit discover TARGET...`: sweeps ranges, inventories SNMP agents and their neighbour
// tables, fingerprints what answers, and prints the assets as a table or JSON.
#pragma once

#include <CLI/CLI.hpp>

namespace tlsaudit::scanner {

// Registers the subcommand; its exit code (0 ok, 2 usage or runtime error) goes to `exit_code`.
void addDiscoverCommand(CLI::App& app, int& exit_code);

}  // namespace tlsaudit::scanner
