#include "scanner/cli/serve_command.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <iostream>

#include "scanner/daemon/daemon.h"

namespace tlsaudit::scanner {
namespace {

struct ServeArgs {
  std::string config;
  std::vector<std::string> settings;
  std::string data_dir;
  std::string grpc_listen;
  std::string metrics_listen;
  std::string database;
  std::string ready_file;
  std::string log_level = "info";
  bool check = false;
};

int runServe(const ServeArgs& a) {
  auto level = spdlog::level::from_str(a.log_level);
  if (level == spdlog::level::off && a.log_level != "off") {
    std::cerr << "tlsaudit serve: --log-level '" << a.log_level
              << "' is not one of trace, debug, info, warning, error, off\n";
    return 2;
  }
  // The log goes to stderr (journald takes it from there under systemd); stdout stays free.
  spdlog::set_default_logger(spdlog::stderr_color_mt("tlsaudit"));
  spdlog::set_level(level);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  DaemonOptions o;
  o.config_path = a.config;
  o.overrides.settings = a.settings;
  if (!a.data_dir.empty()) o.overrides.data_dir = a.data_dir;
  if (!a.grpc_listen.empty()) o.overrides.grpc_listen = a.grpc_listen;
  if (!a.metrics_listen.empty()) o.overrides.metrics_listen = a.metrics_listen;
  if (!a.database.empty()) o.overrides.database_dsn = a.database;
  o.ready_file = a.ready_file;
  if (a.check) {
    auto cfg = loadDaemonConfig(o.config_path, o.overrides,
                                [](const char* v) { return std::getenv(v); });
    if (!cfg.ok()) {
      std::cerr << "tlsaudit serve: " << cfg.status().message() << "\n";
      return 2;
    }
    std::cout << cfg->source << ": ok (" << cfg->groups.size() << " target groups, "
              << cfg->grpc.tokens.size() << " tokens, " << cfg->alerts.size()
              << " alert sinks, database "
              << (cfg->database.dsn.empty() ? "embedded in " + cfg->data_dir : "external")
              << ")\n";
    return 0;
  }
  return runDaemon(o);
}

}  // namespace

void addServeCommand(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<ServeArgs>();
  auto* cmd = app.add_subcommand(
      "serve", "Run the daemon: scheduled fleet scans into PostgreSQL, gRPC API, alerts, metrics");
  cmd->add_option("--config", args->config, "configuration file (YAML)");
  cmd->add_option("-o,--set", args->settings,
                  "override one setting, e.g. -o workers.count=4 -o grpc.listen=127.0.0.1:6000 "
                  "(repeatable)");
  cmd->add_option("--data-dir", args->data_dir,
                  "state folder; the embedded PostgreSQL lives here when no DSN is configured");
  cmd->add_option("--grpc-listen", args->grpc_listen, "gRPC listen address (default 127.0.0.1:50051)");
  cmd->add_option("--metrics-listen", args->metrics_listen,
                  "Prometheus /metrics and /healthz listen address (default: none)");
  cmd->add_option("--database", args->database,
                  "PostgreSQL DSN (default: the embedded cluster under --data-dir)");
  cmd->add_option("--ready-file", args->ready_file,
                  "write 'grpc=ADDR metrics=ADDR' to this file once serving (ports chosen with :0)");
  cmd->add_option("--log-level", args->log_level, "trace, debug, info, warning, error")
      ->capture_default_str();
  cmd->add_flag("--check-config", args->check, "validate the configuration and exit");
  cmd->callback([args, &exit_code] { exit_code = runServe(*args); });
}

}  // namespace tlsaudit::scanner
