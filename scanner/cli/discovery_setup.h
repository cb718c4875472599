// The discovery options shared by `tlsaudit discover` and `tlsaudit scan` (which discovers
// first when given address ranges): SNMP credentials (options, environment, file), scope and
// exclusions, and the translation of targets into address spaces.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "collectors/discovery/discovery.h"
#include "collectors/net/targets.h"
#include "collectors/snmp/credentials.h"

namespace tlsaudit::scanner {

struct DiscoveryArgs {
  std::vector<std::string> exclude;
  std::vector<std::string> scope;
  collectors::snmp::CredentialInputs snmp;
  uint16_t snmp_port = 161;
  bool no_snmp_tables = false;
  bool no_neighbours = false;
  double udp_timeout = 1.0;
  int retries = 1;
  size_t per_subnet = 64;
  uint64_t seed = 0;
};

// Adds --exclude, --scope and the SNMP options to `cmd`.
void addDiscoveryOptions(CLI::App* cmd, DiscoveryArgs& args);

struct DiscoveryPlan {
  net::AddressSpace targets;
  net::AddressSpace scope;
  std::vector<collectors::snmp::Credential> credentials;
};

// Resolves host names (every address, bounded), builds the sweep and scope spaces and the
// credential list. Errors are user mistakes, worded for the terminal.
absl::StatusOr<DiscoveryPlan> planDiscovery(const std::vector<net::TargetSpec>& targets,
                                            const DiscoveryArgs& args);

}  // namespace tlsaudit::scanner
