#include "scanner/cli/discover_command.h"

#include <google/protobuf/util/time_util.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <memory>

#include "collectors/discovery/discovery.h"
#include "scanner/cli/discovery_setup.h"
#include "scanner/cli/wall_clock.h"
#include "scanner/output/asset_format.h"

namespace tlsaudit::scanner {
namespace {

// Ports that tell what a device is: SSH, Telnet, HTTP(S) and alternates, SIP and SIP-TLS.
constexpr const char* kDefaultDiscoverPorts = "22,23,80,443,5060,5061,8080,8443";

struct DiscoverArgs {
  std::vector<std::string> targets;
  std::string ports = kDefaultDiscoverPorts;
  bool no_sip_udp = false;
  uint16_t sip_port = 5060;
  std::string http_ports = "80,8080,8000,8008,8081,8888,8090";
  std::string https_ports = "443,8443,4443,9443,10443";
  double timeout = 1.0;
  double read_timeout = 2.0;
  size_t concurrency = 256;
  unsigned threads = 0;
  size_t per_host = 2;
  double rate = 0;
  std::string format = "table";
  bool no_identify = false;
  bool trace = false;
  bool stats = false;
  DiscoveryArgs discovery;
};

int runDiscover(const DiscoverArgs& a) {
  auto fail = [](const std::string& msg) {
    std::cerr << "tlsaudit discover: " << msg << "\n";
    return 2;
  };
  auto targets = net::parseTargets(a.targets);
  if (!targets.ok()) return fail(std::string(targets.status().message()));
  for (const auto& t : *targets) {
    if (t.port) {
      return fail("target '" + t.original +
                  "': discover sweeps addresses; give ports with --ports instead");
    }
  }
  collectors::discovery::DiscoveryOptions o;
  if (!a.ports.empty() && a.ports != "none") {
    auto ports = net::parsePortList(a.ports);
    if (!ports.ok()) return fail(std::string(ports.status().message()));
    o.tcp_ports = *ports;
  }
  if (!(a.timeout > 0 && a.timeout <= 600)) return fail("--timeout must be between 0 and 600");
  if (!(a.read_timeout > 0 && a.read_timeout <= 600)) {
    return fail("--read-timeout must be between 0 and 600");
  }
  if (!(a.discovery.udp_timeout > 0 && a.discovery.udp_timeout <= 600)) {
    return fail("--udp-timeout must be between 0 and 600");
  }
  if (a.discovery.retries < 0 || a.discovery.retries > 10) return fail("--retries must be 0..10");
  if (a.concurrency < 1 || a.concurrency > 65536) return fail("--concurrency must be 1..65536");
  if (a.per_host < 1 || a.per_host > 64) return fail("--per-host must be 1..64");
  if (a.rate < 0) return fail("--rate must be 0 (unlimited) or a positive number");
  auto plan = planDiscovery(*targets, a.discovery);
  if (!plan.ok()) return fail(std::string(plan.status().message()));

  o.sip_udp = !a.no_sip_udp;
  if (a.sip_port == 0) return fail("--sip-port must be 1..65535");
  o.sip_port = a.sip_port;
  auto http = net::parsePortList(a.http_ports);
  if (!http.ok()) return fail("--http-ports: " + std::string(http.status().message()));
  o.http_ports = *http;
  auto https = net::parsePortList(a.https_ports);
  if (!https.ok()) return fail("--https-ports: " + std::string(https.status().message()));
  o.https_ports = *https;
  o.snmp_credentials = plan->credentials;
  o.snmp_port = a.discovery.snmp_port;
  o.snmp_tables = !a.discovery.no_snmp_tables;
  o.follow_neighbours = !a.discovery.no_neighbours;
  o.identify_services = !a.no_identify;
  o.connect_timeout = std::chrono::milliseconds(static_cast<int64_t>(a.timeout * 1000));
  o.udp_timeout = std::chrono::milliseconds(static_cast<int64_t>(a.discovery.udp_timeout * 1000));
  o.read_timeout = std::chrono::milliseconds(static_cast<int64_t>(a.read_timeout * 1000));
  o.retries = a.discovery.retries;
  o.concurrency = a.concurrency;
  if (a.threads > 64) return fail("--threads must be 0 (one per core) .. 64");
  o.threads = a.threads;
  o.per_host = a.per_host;
  o.per_subnet = a.discovery.per_subnet;
  o.rate = a.rate;
  o.seed = a.discovery.seed;
  if (a.trace) o.trace = [](const std::string& line) { std::cerr << line << "\n"; };
  std::unique_ptr<collectors::snmp::SnmpClient> client;
  if (!o.snmp_credentials.empty()) client = collectors::snmp::makeNetSnmpClient();

  std::string started = nowRfc3339();
  auto result = collectors::discovery::discover(plan->targets, plan->scope, o, client.get());
  if (!result.ok()) return fail(std::string(result.status().message()));
  for (const auto& w : result->warnings) std::cerr << "tlsaudit discover: warning: " << w << "\n";
  if (a.format == "json") {
    std::cout << "{\n\"toolVersion\": \"" << TLSAUDIT_VERSION << "\",\n\"startedAt\": \"" << started
              << "\",\n\"assets\": [";
    bool first = true;
    for (const auto& asset : result->assets) {
      std::cout << (first ? "\n" : ",\n") << assetToJson(asset, true);
      first = false;
    }
    std::cout << (first ? "" : "\n") << "],\n\"finishedAt\": \"" << nowRfc3339() << "\"\n}\n";
  } else {
    writeAssetTable(std::cout, result->assets);
  }
  if (a.stats) {
    const auto& s = result->stats;
    std::cerr << "addresses " << s.addresses << ", tcp probes " << s.tcp_probes << ", udp probes "
              << s.udp_probes << ", open ports " << s.open_ports << ", snmp agents "
              << s.snmp_agents << ", neighbour rows " << s.neighbours << ", neighbour targets "
              << s.neighbour_targets << ", out of scope " << s.neighbours_out_of_scope
              << ", seconds " << s.seconds << ", tcp probes/s "
              << (s.seconds > 0 ? static_cast<double>(s.tcp_probes) / s.seconds : 0)
              << ", agents/s "
              << (s.seconds > 0 ? static_cast<double>(s.snmp_agents) / s.seconds : 0)
              << ", tcp answered at once " << s.tcp_answered_at_once << ", tcp sockets "
              << s.tcp_sockets << "\n";
  }
  std::cout.flush();
  return 0;
}

}  // namespace

void addDiscoverCommand(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<DiscoverArgs>();
  auto* cmd = app.add_subcommand(
      "discover",
      "Find devices in address ranges: TCP/UDP sweep, SNMP inventory and neighbour tables "
      "(LLDP, LLDP-MED, CDP, ARP), SIP/HTTP/TLS fingerprints");
  cmd->add_option("targets", args->targets,
                  "IPv4/IPv6 address, CIDR block, range (10.0.0.10-10.0.0.50 or 10.0.0.10-50), "
                  "host name, or @FILE")
      ->required();
  cmd->add_option("--ports", args->ports, "TCP ports to connect-probe ('none' for no TCP)")
      ->capture_default_str();
  cmd->add_flag("--no-sip-udp", args->no_sip_udp, "no SIP OPTIONS over UDP to the SIP port");
  cmd->add_option("--sip-port", args->sip_port, "SIP port (OPTIONS over UDP, and TCP when open)")
      ->capture_default_str();
  cmd->add_option("--http-ports", args->http_ports, "open ports where plain HTTP is expected")
      ->capture_default_str();
  cmd->add_option("--https-ports", args->https_ports, "open ports where HTTPS is expected")
      ->capture_default_str();
  cmd->add_option("--timeout", args->timeout, "seconds per TCP connect attempt")
      ->capture_default_str();
  cmd->add_option("--read-timeout", args->read_timeout, "seconds per banner read/write")
      ->capture_default_str();
  cmd->add_option("--concurrency", args->concurrency, "addresses probed at once")
      ->capture_default_str();
  cmd->add_option("--threads", args->threads, "sweep threads (0 = one per core)")
      ->capture_default_str();
  cmd->add_option("--per-host", args->per_host, "simultaneous probes to one address")
      ->capture_default_str();
  cmd->add_option("--rate", args->rate, "new probes per second overall (0 = unlimited)")
      ->capture_default_str();
  cmd->add_option("--format", args->format, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  cmd->add_flag("--no-identify", args->no_identify, "no SIP/HTTP/TLS banners on open ports");
  cmd->add_flag("--trace", args->trace, "print one line per probe to stderr");
  cmd->add_flag("--stats", args->stats, "print sweep statistics to stderr");
  addDiscoveryOptions(cmd, args->discovery);
  cmd->callback([args, &exit_code] { exit_code = runDiscover(*args); });
}

}  // namespace tlsaudit::scanner
