// tlsaudit: one binary for one-shot scans, the daemon (serve) and its clients. Subcommands live
// in scanner/cli; this file only dispatches.
#include <CLI/CLI.hpp>
#include <iostream>

#include "scanner/cli/client_commands.h"
#include "scanner/cli/discover_command.h"
#include "scanner/cli/migrate_command.h"
#include "scanner/cli/rules_command.h"
#include "scanner/cli/scan_command.h"
#include "scanner/cli/serve_command.h"

int main(int argc, char** argv) {
  CLI::App app{"tlsaudit: network-wide TLS crypto-compliance scanner"};
  app.set_version_flag("--version", TLSAUDIT_VERSION);
  app.require_subcommand(1);
  int exit_code = 0;
  tlsaudit::scanner::addScanCommand(app, exit_code);
  tlsaudit::scanner::addRulesCommand(app, exit_code);
  tlsaudit::scanner::addMigrateCommand(app, exit_code);
  tlsaudit::scanner::addDiscoverCommand(app, exit_code);
  tlsaudit::scanner::addServeCommand(app, exit_code);
  tlsaudit::scanner::addClientCommands(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "tlsaudit: " << e.what() << " (see tlsaudit --help)\n";
    return 2;
  }
  return exit_code;
}
