#include "scanner/cli/discovery_setup.h"

#include <cstdlib>

namespace tlsaudit::scanner {

void addDiscoveryOptions(CLI::App* cmd, DiscoveryArgs& a) {
  cmd->add_option("--exclude", a.exclude,
                  "addresses, CIDR blocks or ranges never to probe (repeatable, or @FILE)");
  cmd->add_option("--scope", a.scope,
                  "where addresses learned from LLDP/CDP/ARP may be probed (repeatable; default: "
                  "the targets)");
  cmd->add_option("--snmp-community", a.snmp.communities,
                  "SNMP community, tried in order (repeatable; also $TLSAUDIT_SNMP_COMMUNITIES)");
  cmd->add_option("--snmp-version", a.snmp.community_version, "1 or 2c for communities")
      ->capture_default_str();
  cmd->add_option("--snmp-v3-user", a.snmp.v3_user, "SNMPv3 USM user (or $TLSAUDIT_SNMP_V3_USER)");
  cmd->add_option("--snmp-v3-auth", a.snmp.v3_auth,
                  "PROTO:PASSPHRASE, PROTO MD5, SHA, SHA-224/256/384/512 "
                  "(or $TLSAUDIT_SNMP_V3_AUTH)");
  cmd->add_option("--snmp-v3-priv", a.snmp.v3_priv,
                  "PROTO:PASSPHRASE, PROTO DES, AES, AES-192, AES-256 (or $TLSAUDIT_SNMP_V3_PRIV)");
  cmd->add_option("--snmp-credentials", a.snmp.file,
                  "file of credentials: 'community SECRET [version=1]' and 'v3 user=U auth=P:S "
                  "priv=P:S' lines");
  cmd->add_option("--snmp-port", a.snmp_port, "UDP port of SNMP agents")->capture_default_str();
  cmd->add_flag("--no-snmp-tables", a.no_snmp_tables,
                "read only the system group (no ENTITY/IF/LLDP/CDP/ARP walks)");
  cmd->add_flag("--no-neighbours", a.no_neighbours,
                "do not probe addresses learned from neighbour tables");
  cmd->add_option("--udp-timeout", a.udp_timeout, "seconds per SNMP/SIP-over-UDP attempt")
      ->capture_default_str();
  cmd->add_option("--retries", a.retries, "extra attempts after a timeout")->capture_default_str();
  cmd->add_option("--per-subnet", a.per_subnet,
                  "connections at once into one /24 (IPv6 /64), 0 = unlimited")
      ->capture_default_str();
  cmd->add_option("--seed", a.seed, "key of the permuted sweep order (0 = random)");
}

namespace {

absl::StatusOr<std::vector<net::TargetSpec>> toAddresses(const std::vector<net::TargetSpec>& in,
                                                         const char* what) {
  std::vector<net::TargetSpec> out;
  net::asio::io_context io;
  net::tcp::resolver resolver(io);
  for (const auto& t : in) {
    if (t.isNetwork()) {
      out.push_back(t);
      continue;
    }
    if (!t.scheme.empty()) {
      return absl::InvalidArgumentError(std::string(what) + " '" + t.original +
                                        "': schemes are for endpoints, not address ranges");
    }
    boost::system::error_code ec;
    net::asio::ip::make_address(t.host, ec);
    if (!ec) {
      out.push_back(t);
      continue;
    }
    auto results = resolver.resolve(t.host, "", ec);
    if (ec || results.empty()) {
      return absl::InvalidArgumentError(
          std::string(what) + " '" + t.original +
          "': cannot resolve: " + (ec ? ec.message() : std::string("no address")));
    }
    size_t n = 0;
    for (const auto& r : results) {
      if (++n > 16) break;
      net::TargetSpec a;
      a.original = t.original;
      a.host = r.endpoint().address().to_string();
      bool dup = false;
      for (const auto& o : out) dup = dup || (!o.isNetwork() && o.host == a.host);
      if (!dup) out.push_back(a);
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<DiscoveryPlan> planDiscovery(const std::vector<net::TargetSpec>& targets,
                                            const DiscoveryArgs& args) {
  auto sweep = toAddresses(targets, "target");
  if (!sweep.ok()) return sweep.status();
  auto excl_specs = net::parseTargets(args.exclude);
  if (!excl_specs.ok()) return excl_specs.status();
  auto excl = toAddresses(*excl_specs, "--exclude");
  if (!excl.ok()) return excl.status();
  std::vector<net::TargetSpec> scope_in = *sweep;
  if (!args.scope.empty()) {
    auto scope_specs = net::parseTargets(args.scope);
    if (!scope_specs.ok()) return scope_specs.status();
    auto scope_addrs = toAddresses(*scope_specs, "--scope");
    if (!scope_addrs.ok()) return scope_addrs.status();
    scope_in = *scope_addrs;
  }
  auto target_space = net::AddressSpace::build(*sweep, *excl);
  if (!target_space.ok()) return target_space.status();
  auto scope_space = net::AddressSpace::build(scope_in, *excl);
  if (!scope_space.ok()) return scope_space.status();
  auto creds =
      collectors::snmp::buildCredentials(args.snmp, [](const char* v) { return std::getenv(v); });
  if (!creds.ok()) return creds.status();
  return DiscoveryPlan{*std::move(target_space), *std::move(scope_space), *std::move(creds)};
}

}  // namespace tlsaudit::scanner
