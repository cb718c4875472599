// The daemon's command-line clients over gRPC: `tlsaudit scans start|list|status|watch|cancel`,
// `tlsaudit findings list|watch`, `tlsaudit assets list`, `tlsaudit summary`, each with
// --server, --token and --format table|json.
#pragma once

#include <CLI/CLI.hpp>

namespace tlsaudit::scanner {

void addClientCommands(CLI::App& app, int& exit_code);

}  // namespace tlsaudit::scanner
