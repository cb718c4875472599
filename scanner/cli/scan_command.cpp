#include "scanner/cli/scan_command.h"

#include <google/protobuf/util/time_util.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "collectors/discovery/discovery.h"
#include "collectors/net/targets.h"
#include "scanner/cli/discovery_setup.h"
#include "scanner/cli/wall_clock.h"
#include "scanner/output/asset_format.h"
#include "scanner/output/findings_format.h"
#include "scanner/output/report_format.h"
#include "scanner/policy_stage.h"
#include "scanner/report_identity.h"
#include "scanner/scan_pipeline.h"

namespace tlsaudit::scanner {
namespace {

// Implicit-TLS and STARTTLS ports where devices and servers commonly speak TLS: HTTPS and its
// alternates, SIP-TLS, LDAPS, IMAPS, POP3S, SMTPS/submission, FTPS, RDP, WinRM, Kubernetes, MQTT.
constexpr const char* kDefaultPorts =
    "443,8443,5061,636,993,995,465,587,990,3389,5986,6443,8883,9443";

struct ScanArgs {
  std::vector<std::string> targets;
  std::string ports = kDefaultPorts;
  std::string sni;
  std::string starttls = "auto";
  double timeout = 5.0;
  size_t concurrency = 32;
  size_t per_host = 2;
  double rate = 0;
  std::vector<std::string> ca_files;
  bool no_system_trust = false;
  std::string format = "table";
  size_t max_suites = 64;
  bool no_progress = false;
  bool trace = false;
  PolicyArgs policy;
  DiscoveryArgs discovery;
};

// Runs discovery over the address blocks among `targets` and replaces them with one endpoint
// per open port found; single endpoints stay as they are. `assets` receives what was found.
absl::Status discoverFirst(const ScanArgs& a, ScanSettings& s,
                           std::vector<tlsaudit::v1::Asset>& assets) {
  std::vector<net::TargetSpec> blocks, rest;
  for (auto& t : s.targets) (t.isNetwork() ? blocks : rest).push_back(std::move(t));
  s.targets.clear();
  auto plan = planDiscovery(blocks, a.discovery);
  if (!plan.ok()) return plan.status();
  collectors::discovery::DiscoveryOptions o;
  o.tcp_ports = s.ports;
  o.sip_udp = false;  // the TLS scan wants TCP services; SIP over TLS is probed on 5061
  o.snmp_credentials = plan->credentials;
  o.snmp_port = a.discovery.snmp_port;
  o.snmp_tables = !a.discovery.no_snmp_tables;
  o.follow_neighbours = !a.discovery.no_neighbours;
  // The TLS prober will open every TLS service anyway; banners would double the connections a
  // fragile device sees.
  o.identify_services = false;
  o.connect_timeout = std::min(s.probe.timeout, std::chrono::milliseconds(2000));
  o.udp_timeout = std::chrono::milliseconds(static_cast<int64_t>(a.discovery.udp_timeout * 1000));
  o.retries = a.discovery.retries;
  o.concurrency = std::max<size_t>(a.concurrency, 64);
  o.per_host = a.per_host;
  o.per_subnet = a.discovery.per_subnet;
  o.rate = a.rate;
  o.seed = a.discovery.seed;
  if (a.trace) o.trace = [](const std::string& line) { std::cerr << line << "\n"; };
  std::unique_ptr<collectors::snmp::SnmpClient> client;
  if (!o.snmp_credentials.empty()) client = collectors::snmp::makeNetSnmpClient();
  auto result = collectors::discovery::discover(plan->targets, plan->scope, o, client.get());
  if (!result.ok()) return result.status();
  for (const auto& w : result->warnings) std::cerr << "tlsaudit scan: warning: " << w << "\n";
  assets = std::move(result->assets);
  for (const auto& asset : assets) {
    if (asset.addresses().empty()) continue;
    for (const auto& svc : asset.services()) {
      if (svc.transport() != "tcp") continue;
      auto t = net::parseTarget(asset.addresses(0));
      if (!t.ok()) continue;
      t->port = static_cast<uint16_t>(svc.port());
      s.targets.push_back(*std::move(t));
    }
  }
  for (auto& t : rest) s.targets.push_back(std::move(t));
  return absl::OkStatus();
}

std::string endpointKey(const std::string& ip, uint32_t port) {
  return ip + "|" + std::to_string(port);
}

int runScanCommand(const ScanArgs& a) {
  auto fail = [](const std::string& msg) {
    std::cerr << "tlsaudit scan: " << msg << "\n";
    return 2;
  };
  ScanSettings s;
  auto targets = net::parseTargets(a.targets);
  if (!targets.ok()) return fail(std::string(targets.status().message()));
  s.targets = *std::move(targets);
  auto ports = net::parsePortList(a.ports);
  if (!ports.ok()) return fail(std::string(ports.status().message()));
  s.ports = *ports;
  if (!(a.timeout > 0 && a.timeout <= 600))
    return fail("--timeout must be between 0 and 600 seconds");
  if (a.concurrency < 1 || a.concurrency > 4096) return fail("--concurrency must be 1..4096");
  if (a.per_host < 1 || a.per_host > 64) return fail("--per-host must be 1..64");
  if (a.rate < 0) return fail("--rate must be 0 (unlimited) or a positive number");
  if (a.max_suites < 1 || a.max_suites > 512) return fail("--max-suites must be 1..512");
  s.sni = a.sni;
  s.starttls = a.starttls;
  s.concurrency = a.concurrency;
  s.per_host = a.per_host;
  s.rate = a.rate;
  s.probe.timeout = std::chrono::milliseconds(static_cast<int64_t>(a.timeout * 1000));
  s.probe.max_suites_per_hello = a.max_suites;
  s.probe.min_suites_per_hello = std::min<size_t>(8, a.max_suites);
  auto store = collectors::tls::TrustStore::load(a.ca_files, !a.no_system_trust);
  if (!store.ok()) return fail(std::string(store.status().message()));
  s.probe.trust_store = *store;
  auto stage = PolicyStage::create(a.policy, nowUnixSeconds());
  if (!stage.ok()) return fail(std::string(stage.status().message()));
  for (const auto& w : (*stage)->warnings()) std::cerr << "tlsaudit scan: warning: " << w << "\n";
  FindingCounts counts;
  FindingSpool spool;
  std::optional<SarifWriter> sarif;
  if (a.format == "sarif") sarif.emplace((*stage)->policy());
  if (a.trace) {
    auto mutex = std::make_shared<std::mutex>();
    s.probe.trace = [mutex](const std::string& line) {
      std::lock_guard lock(*mutex);
      std::cerr << line << "\n";
    };
  }

  // Address blocks are discovered first; only the open services found are probed for TLS.
  std::vector<tlsaudit::v1::Asset> assets;
  bool discovered = false;
  for (const auto& t : s.targets) discovered = discovered || t.isNetwork();
  if (discovered) {
    auto st = discoverFirst(a, s, assets);
    if (!st.ok()) return fail(std::string(st.message()));
  }
  // Which asset and service each endpoint belongs to.
  std::map<std::string, std::pair<size_t, int>> owner;
  for (size_t i = 0; i < assets.size(); ++i) {
    for (int j = 0; j < assets[i].services_size(); ++j) {
      const auto& svc = assets[i].services(j);
      if (svc.transport() != "tcp") continue;
      for (const auto& addr : assets[i].addresses()) {
        owner.emplace(endpointKey(addr, svc.port()), std::make_pair(i, j));
      }
    }
  }
  uint32_t report_index = 0;
  std::optional<size_t> last_asset;

  bool tty_err = isatty(STDERR_FILENO) && !a.no_progress;
  bool tty_out = isatty(STDOUT_FILENO);
  auto& out = std::cout;
  bool first = true;
  std::string started = nowRfc3339();
  if (a.format == "json") {
    out << "{\n\"toolVersion\": \"" << TLSAUDIT_VERSION << "\",\n\"startedAt\": \"" << started
        << "\",\n\"reports\": [";
  } else if (a.format == "csv") {
    writeCsvHeader(out);
  }
  uint64_t last_draw = 0;
  auto progress = [&](uint64_t done, uint64_t total) {
    if (!tty_err) return;
    if (done != total && done - last_draw < std::max<uint64_t>(1, total / 200)) return;
    last_draw = done;
    int width = 30;
    int filled = total ? static_cast<int>(width * done / total) : width;
    std::cerr << "\r[" << std::string(static_cast<size_t>(filled), '#')
              << std::string(static_cast<size_t>(width - filled), ' ') << "] " << done << "/"
              << total << " endpoints" << std::flush;
    if (done == total) std::cerr << "\r" << std::string(60, ' ') << "\r" << std::flush;
  };
  auto sink = [&](tlsaudit::v1::TlsReport&& report) {
    if (tty_err) std::cerr << "\r" << std::string(60, ' ') << "\r";
    auto it = owner.find(endpointKey(report.target().ip(), report.target().port()));
    if (it != owner.end()) {
      auto* svc = assets[it->second.first].mutable_services(it->second.second);
      svc->set_report_index(report_index);
      identifyFromReport(report, assets[it->second.first], *svc);
      if (a.format == "table" && last_asset != it->second.first) {
        last_asset = it->second.first;
        const auto& asset = assets[it->second.first];
        out << "== " << asset.addresses(0) << ": "
            << (assetSummary(asset).empty() ? std::string("unidentified device")
                                            : assetSummary(asset))
            << "\n";
      }
    }
    ++report_index;
    auto findings = it != owner.end() ? (*stage)->evaluate(report, assets[it->second.first])
                                      : (*stage)->evaluate(report);
    if (a.format == "json") {
      out << (first ? "\n" : ",\n") << reportToJson(report, true);
    } else if (a.format == "csv") {
      writeCsvRows(out, report);
      for (const auto& f : findings) writeFindingCsvRow(out, report, f);
    } else if (a.format == "table") {
      writeTable(out, report, TableStyle{tty_out});
      writeFindingsTable(out, findings, (*stage)->profile(), tty_out);
      if (!findings.empty()) out << "\n";
    }
    for (const auto& f : findings) {
      counts.add(f);
      if (a.format == "json") spool.add(findingToJson(f, true));
      if (sarif) spool.add(sarif->result(f));
    }
    first = false;
    out.flush();
  };
  auto status = runScan(s, sink, progress);
  if (!status.ok()) return fail(std::string(status.message()));
  std::string finished = nowRfc3339();
  if (a.format == "json") {
    out << (first ? "" : "\n") << "],\n";
    if (discovered) {
      out << "\"assets\": [";
      bool first_asset = true;
      for (const auto& asset : assets) {
        out << (first_asset ? "\n" : ",\n") << assetToJson(asset, true);
        first_asset = false;
      }
      out << (first_asset ? "" : "\n") << "],\n";
    }
    out << "\"profile\": \"" << (*stage)->profile() << "\",\n\"findings\": [";
    if (spool.size() > 0) out << "\n";
    spool.copyTo(out, ",\n");
    out << (spool.size() > 0 ? "\n" : "") << "],\n\"finishedAt\": \"" << finished << "\"\n}\n";
  } else if (a.format == "sarif") {
    SarifRun run{TLSAUDIT_VERSION, (*stage)->profile(), started, finished, (*stage)->warnings()};
    sarif->write(out, run, spool);
  } else if (a.format == "table") {
    writeFindingsSummary(out, counts, (*stage)->profile(), tty_out);
  }
  out.flush();
  return (*stage)->exitCode();
}

}  // namespace

void addScanCommand(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<ScanArgs>();
  auto* cmd = app.add_subcommand("scan",
                                 "Probe TLS endpoints and report versions, cipher suites, "
                                 "groups, certificates, client-auth and behaviours");
  cmd->add_option("targets", args->targets,
                  "host, host:port, [v6]:port, IPv4/IPv6 address, CIDR block, scheme://host[:port] "
                  "(smtp, imap, pop3, ftp, ldap, xmpp, postgres, sips, https...), or @FILE")
      ->required();
  cmd->add_option("--ports", args->ports, "ports for targets without one (list and ranges)")
      ->capture_default_str();
  cmd->add_option("--sni", args->sni, "server name to send (default: the target's host name)");
  cmd->add_option("--starttls", args->starttls,
                  "auto (by well-known port), none, smtp, imap, pop3, ftp, ldap, xmpp, postgres")
      ->capture_default_str();
  cmd->add_option("--timeout", args->timeout, "seconds per connect and per answer")
      ->capture_default_str();
  cmd->add_option("--concurrency", args->concurrency, "endpoints probed at once")
      ->capture_default_str();
  cmd->add_option("--per-host", args->per_host, "simultaneous connections to one address")
      ->capture_default_str();
  cmd->add_option("--rate", args->rate, "new connections per second overall (0 = unlimited)")
      ->capture_default_str();
  cmd->add_option("--ca-file", args->ca_files, "extra trusted roots (PEM), repeatable");
  cmd->add_flag("--no-system-trust", args->no_system_trust,
                "validate only against --ca-file roots");
  cmd->add_option("--format", args->format, "table, json, csv or sarif (SARIF 2.1.0 findings)")
      ->check(CLI::IsMember({"table", "json", "csv", "sarif"}))
      ->capture_default_str();
  cmd->add_option("--max-suites", args->max_suites,
                  "cipher suites offered per ClientHello (smaller is gentler on embedded stacks)")
      ->capture_default_str();
  cmd->add_flag("--no-progress", args->no_progress, "no progress bar on a terminal");
  cmd->add_flag("--trace", args->trace, "print one line per connection to stderr");
  addPolicyOptions(cmd, args->policy);
  addDiscoveryOptions(cmd, args->discovery);
  cmd->callback([args, &exit_code] { exit_code = runScanCommand(*args); });
}

}  // namespace tlsaudit::scanner
