// `tlsaudit rules check FILE...`, `rules list`, `rules explain ID`: validate, list and explain
// the policy without scanning anything.
#pragma once

#include <CLI/CLI.hpp>

namespace tlsaudit::scanner {

// Registers `rules` and its subcommands; the exit code (0 ok, 2 an invalid file or unknown id)
// is written to `exit_code`.
void addRulesCommand(CLI::App& app, int& exit_code);

}  // namespace tlsaudit::scanner
