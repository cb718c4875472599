// `tlsaudit scan TARGET...`: options, validation with one clear message, and output.
#pragma once

#include <CLI/CLI.hpp>

namespace tlsaudit::scanner {

// Registers the subcommand; when it runs, its exit code (0 ok, 1 an open finding at or above
// --fail-on, 2 usage or runtime error) is
// written to `exit_code`.
void addScanCommand(CLI::App& app, int& exit_code);

}  // namespace tlsaudit::scanner
