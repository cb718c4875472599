#include "scanner/daemon/work_item_runner.h"

#include <map>
#include <mutex>
#include <optional>
#include <sstream>

#include "collectors/discovery/discovery.h"
#include "collectors/net/targets.h"
#include "collectors/snmp/snmp_client.h"
#include "scanner/cli/discovery_setup.h"
#include "scanner/metrics/daemon_metrics.h"
#include "scanner/report_identity.h"
#include "scanner/scan_pipeline.h"
#include "storage/timestamps.h"

namespace tlsaudit::scanner {
namespace {

namespace v1 = tlsaudit::v1;

// Net-SNMP keeps its USM user and engine tables process-wide: two sweeps with SNMPv3 users at
// once would share them. Sweeps that use SNMP take turns; the others run side by side.
std::mutex& snmpSweepMutex() {
  static std::mutex m;
  return m;
}

std::string endpointKey(const std::string& ip, uint32_t port) {
  return ip + "|" + std::to_string(port);
}

// Collects the reports of one host and hands the host over when the probe moves on.
class HostAssembler {
 public:
  HostAssembler(const WorkItemRequest& req, const rules::CompiledPolicy& policy,
                const HostSink& sink)
      : req_(req), policy_(policy), sink_(sink) {}

  // Starts the result of asset `index` (flushing the previous one).
  absl::Status begin(v1::Asset asset) {
    if (auto st = flush(); !st.ok()) return st;
    current_.emplace();
    current_->set_scan_id(req_.scan.id());
    *current_->mutable_asset() = std::move(asset);
    if (!req_.scan.site().empty()) current_->mutable_asset()->set_site(req_.scan.site());
    return absl::OkStatus();
  }

  // Adds one probed service: identifies the device from it, evaluates the rules.
  void add(v1::TlsReport&& report, int service_index) {
    v1::Asset& asset = *current_->mutable_asset();
    v1::Service service;
    if (service_index >= 0 && service_index < asset.services_size()) {
      identifyFromReport(report, asset, *asset.mutable_services(service_index));
      service = asset.services(service_index);
    } else {
      // A direct endpoint: the asset learns its service from the probe.
      auto* added = asset.add_services();
      added->set_port(report.target().port());
      added->set_transport("tcp");
      identifyFromReport(report, asset, *added);
      service = *added;
    }
    service.clear_report_index();
    auto* sr = current_->add_services();
    *sr->mutable_service() = service;
    v1::RuleInput input;
    *input.mutable_tls() = report;
    *input.mutable_asset() = asset;
    std::vector<v1::Finding> findings;
    policy_.evaluate(input, req_.now, scratch_, findings);
    uint32_t port = report.target().port();
    for (auto& f : findings) {
      rules::applyWaivers(req_.waivers, req_.now, asset, port, f);
      *sr->add_findings() = std::move(f);
    }
    counts_.findings += findings.size();
    // Only a probe that reached the service and spoke TLS saw everything the rules look at;
    // an unreachable service must not resolve its findings.
    sr->set_complete(report.reachable() && report.tls());
    *sr->mutable_report() = std::move(report);
    ++counts_.services;
  }

  absl::Status flush() {
    if (!current_) return absl::OkStatus();
    *current_->mutable_observed_at() = storage::nowTimestamp();
    // Services the asset lists without a report (not probed) are not part of the result.
    v1::HostResult host = std::move(*current_);
    current_.reset();
    ++counts_.hosts;
    return sink_(std::move(host));
  }

  storage::WorkItemCounts& counts() { return counts_; }

 private:
  const WorkItemRequest& req_;
  const rules::CompiledPolicy& policy_;
  const HostSink& sink_;
  rules::CompiledPolicy::Scratch scratch_;
  std::optional<v1::HostResult> current_;
  storage::WorkItemCounts counts_;
};

}  // namespace

absl::StatusOr<storage::WorkItemCounts> runWorkItem(const WorkItemRequest& req,
                                                    const WorkEnvironment& env,
                                                    const HostSink& sink,
                                                    const std::function<bool()>& stop) {
  const DaemonConfig& cfg = *env.config;
  const TargetGroup* group = req.scan.group().empty() ? nullptr : cfg.group(req.scan.group());
  std::vector<uint16_t> ports;
  for (uint32_t p : req.scan.ports()) ports.push_back(static_cast<uint16_t>(p));
  if (ports.empty() && group != nullptr) ports = group->ports;
  if (ports.empty()) ports = cfg.default_ports;
  std::string profile = req.scan.profile().empty() ? cfg.policy.profile : req.scan.profile();
  auto policy = env.library->compile({profile});
  if (!policy.ok()) {
    return absl::InvalidArgumentError("profile '" + profile +
                                      "': " + std::string(policy.status().message()));
  }
  // One target, or several endpoints of one host separated by spaces (work_plan.h).
  std::vector<std::string> words;
  {
    std::istringstream in(req.item.target());
    std::string w;
    while (in >> w) words.push_back(w);
  }
  auto specs = net::parseTargets(words);
  if (!specs.ok()) return absl::InvalidArgumentError(specs.status().message());
  if (specs->empty()) return absl::InvalidArgumentError("work item without a target");
  bool endpoints = true;
  for (const auto& t : *specs) endpoints = endpoints && !t.isNetwork() && (t.port || !t.scheme.empty());
  if (specs->size() > 1 && !endpoints) {
    return absl::InvalidArgumentError("work item target '" + req.item.target() +
                                      "' mixes endpoints with hosts or blocks");
  }
  const net::TargetSpec& spec = specs->front();
  const Politeness& pol = cfg.politeness;
  HostAssembler hosts(req, *policy, sink);

  ScanSettings s;
  s.ports = ports;
  s.concurrency = pol.concurrency;
  s.per_host = pol.per_host;
  s.rate = pol.rate;
  s.threads = 1;  // several work items run at once; each keeps to one thread
  s.probe.timeout = pol.timeout;
  s.probe.max_suites_per_hello = pol.max_suites;
  s.probe.min_suites_per_hello = std::min<size_t>(8, pol.max_suites);
  s.probe.trust_store = env.trust;
  s.stop = stop;
  if (env.metrics != nullptr) {
    s.in_flight = [m = env.metrics](int delta) {
      if (delta > 0) {
        m->probeStarted();
      } else {
        m->probeEnded();
      }
    };
  }

  std::vector<v1::Asset> assets;
  // Which asset and service each probed endpoint belongs to.
  std::map<std::string, std::pair<size_t, int>> owner;
  if (endpoints) {
    // Endpoints: probed directly; their asset is the address they resolved to.
    for (const auto& t : *specs) s.targets.push_back(t);
  } else {
    DiscoveryArgs dargs;
    dargs.exclude = {req.scan.exclude().begin(), req.scan.exclude().end()};
    auto plan = planDiscovery({spec}, dargs);
    if (!plan.ok()) return absl::InvalidArgumentError(plan.status().message());
    collectors::discovery::DiscoveryOptions o;
    o.tcp_ports = ports;
    o.sip_udp = false;  // TLS services are TCP; SIP over TLS is probed on 5061 by the prober
    if (group != nullptr) {
      for (const auto& name : group->snmp) {
        if (const auto* c = cfg.snmpCredential(name)) o.snmp_credentials.push_back(*c);
      }
      o.snmp_port = group->snmp_port;
    }
    o.identify_services = false;  // the TLS probe opens every service anyway
    o.connect_timeout = pol.connect_timeout;
    o.retries = pol.retries;
    o.concurrency = std::max<size_t>(64, pol.concurrency * 4);
    o.per_host = pol.per_host;
    o.per_subnet = pol.per_subnet;
    o.rate = pol.rate;
    o.threads = 1;
    o.seed = std::hash<std::string>{}(req.scan.id() + "/" + req.item.id()) | 1;
    o.stop = stop;
    std::unique_ptr<collectors::snmp::SnmpClient> client;
    std::unique_lock<std::mutex> snmp_turn(snmpSweepMutex(), std::defer_lock);
    if (!o.snmp_credentials.empty()) {
      client = collectors::snmp::makeNetSnmpClient();
      snmp_turn.lock();
    }
    auto found = collectors::discovery::discover(plan->targets, plan->scope, o, client.get());
    if (snmp_turn.owns_lock()) snmp_turn.unlock();
    if (!found.ok()) return absl::InvalidArgumentError(found.status().message());
    hosts.counts().addresses = found->stats.addresses;
    if (env.metrics != nullptr) env.metrics->addressesSwept(found->stats.addresses);
    assets = std::move(found->assets);
    for (size_t i = 0; i < assets.size(); ++i) {
      const auto& asset = assets[i];
      if (asset.addresses().empty()) continue;
      for (int j = 0; j < asset.services_size(); ++j) {
        const auto& svc = asset.services(j);
        if (svc.transport() != "tcp") continue;
        auto t = net::parseTarget(asset.addresses(0));
        if (!t.ok()) continue;
        t->port = static_cast<uint16_t>(svc.port());
        s.targets.push_back(*std::move(t));
        owner.emplace(endpointKey(asset.addresses(0), svc.port()), std::make_pair(i, j));
      }
    }
  }
  if (stop && stop()) return absl::CancelledError("stopped before the TLS probes");

  // Hosts without a TCP service (an SNMP-only switch, a neighbour) are stored for the inventory.
  std::vector<bool> has_endpoint(assets.size(), false);
  for (const auto& [key, where] : owner) has_endpoint[where.first] = true;
  for (size_t i = 0; i < assets.size(); ++i) {
    if (has_endpoint[i] || assets[i].addresses().empty()) continue;
    if (auto st = hosts.begin(assets[i]); !st.ok()) return st;
  }
  if (auto st = hosts.flush(); !st.ok()) return st;

  absl::Status sink_status;
  std::optional<size_t> current;
  std::string current_direct;  // address of the direct endpoints' host being assembled
  auto on_report = [&](v1::TlsReport&& report) {
    if (env.metrics != nullptr) env.metrics->probeFinished(report);
    if (!sink_status.ok()) return;
    auto it = owner.find(endpointKey(report.target().ip(), report.target().port()));
    if (it == owner.end()) {
      // A direct endpoint: the asset is the address it resolved to; the endpoints of one host
      // arrive one after the other and are stored together.
      std::string ip = report.target().ip().empty() ? report.target().host() : report.target().ip();
      if (ip.empty()) return;
      if (current_direct != ip) {
        v1::Asset asset;
        asset.add_addresses(ip);
        if (!report.target().host().empty() && report.target().host() != ip) {
          asset.set_hostname(report.target().host());
        }
        asset.add_discovered_by("tcp");
        current.reset();
        current_direct = ip;
        sink_status = hosts.begin(std::move(asset));
      }
      if (sink_status.ok()) hosts.add(std::move(report), -1);
      return;
    }
    if (current != it->second.first) {
      current = it->second.first;
      sink_status = hosts.begin(assets[it->second.first]);
      if (!sink_status.ok()) return;
    }
    hosts.add(std::move(report), it->second.second);
  };
  if (!s.targets.empty()) {
    auto st = runScan(s, on_report);
    if (!st.ok()) return absl::InvalidArgumentError(st.message());
  }
  if (!sink_status.ok()) return sink_status;
  if (auto st = hosts.flush(); !st.ok()) return st;
  if (stop && stop()) return absl::CancelledError("stopped before every endpoint was probed");
  return hosts.counts();
}

}  // namespace tlsaudit::scanner
