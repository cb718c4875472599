// `tlsaudit serve`: startup as an ordered list of named steps (open the database, migrate, load
// rules, sync waivers, start workers, scheduler, alerts, gRPC, metrics) whose teardown always
// runs in reverse, whatever step failed; then a main loop that turns signals into actions:
// SIGHUP reloads the configuration, SIGTERM/SIGINT stop the daemon (no new work is claimed,
// items in flight finish within the grace period or are released).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "scanner/daemon/daemon_config.h"

namespace tlsaudit::scanner {

struct DaemonOptions {
  std::string config_path;  // "" when running on defaults
  ConfigOverrides overrides;
  // Where the daemon writes "grpc=HOST:PORT metrics=HOST:PORT" once it serves (ports chosen
  // by the OS with :0 are only known then); "" for none.
  std::string ready_file;
};

// Runs until SIGTERM or SIGINT; returns 0 after a clean stop, 2 when a startup step failed
// (its error is logged, naming the step).
int runDaemon(const DaemonOptions& options);

}  // namespace tlsaudit::scanner
