// `tlsaudit serve`: the daemon (scanner/daemon/daemon.h).
#pragma once

#include <CLI/CLI.hpp>

namespace tlsaudit::scanner {

void addServeCommand(CLI::App& app, int& exit_code);

}  // namespace tlsaudit::scanner
