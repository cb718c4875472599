#include "scanner/daemon/scan_starter.h"

#include "collectors/net/targets.h"
#include "scanner/daemon/work_plan.h"
#include "storage/pg_scan_queue.h"

namespace tlsaudit::scanner {

namespace v1 = tlsaudit::v1;

absl::StatusOr<PlannedScan> planScan(const DaemonConfig& config,
                                     const v1::StartScanRequest& request,
                                     const std::string& requested_by) {
  auto invalid = [](const std::string& field, const std::string& why) {
    return absl::InvalidArgumentError(field + ": " + why);
  };
  PlannedScan p;
  v1::Scan& s = p.scan;
  const TargetGroup* group = nullptr;
  if (!request.group().empty()) {
    group = config.group(request.group());
    if (group == nullptr) {
      std::string known;
      for (const auto& g : config.groups) known += (known.empty() ? "" : ", ") + g.name;
      return invalid("group", "no target group '" + request.group() + "' is configured" +
                                  (known.empty() ? "" : " (configured: " + known + ")"));
    }
    if (!request.targets().empty()) {
      return invalid("targets", "give targets or a group, not both");
    }
  } else if (request.targets().empty()) {
    return invalid("targets", "give at least one target (address, CIDR, range, host, host:port) "
                              "or a configured group");
  }
  if (request.targets_size() > 10000) return invalid("targets", "more than 10000 targets");
  std::vector<std::string> targets =
      group ? group->targets
            : std::vector<std::string>(request.targets().begin(), request.targets().end());
  // A group's targets were checked when the configuration was loaded (and may be @FILE lists).
  for (size_t i = 0; i < targets.size() && !group; ++i) {
    const std::string& t = targets[i];
    std::string field = "targets[" + std::to_string(i) + "]";
    // Targets from the API are addresses, blocks, ranges, names or endpoints; never files on
    // the daemon's machine.
    if (!t.empty() && t[0] == '@') {
      return invalid(field, "'" + t + "': @FILE lists are read by the CLI, not by the daemon");
    }
    auto spec = net::parseTarget(t);
    if (!spec.ok()) return invalid(field, std::string(spec.status().message()));
  }
  for (int i = 0; i < request.ports_size(); ++i) {
    if (request.ports(i) == 0 || request.ports(i) > 65535) {
      return invalid("ports[" + std::to_string(i) + "]",
                     std::to_string(request.ports(i)) + " is not a port (1..65535)");
    }
  }
  std::vector<std::string> exclude = group ? group->exclude : std::vector<std::string>{};
  for (int i = 0; i < request.exclude_size(); ++i) {
    auto spec = net::parseTarget(request.exclude(i));
    if (!spec.ok() || spec->port || !spec->scheme.empty()) {
      return invalid("exclude[" + std::to_string(i) + "]",
                     spec.ok() ? "'" + request.exclude(i) + "' is an endpoint; exclude addresses, "
                                 "blocks or ranges"
                               : std::string(spec.status().message()));
    }
    exclude.push_back(request.exclude(i));
  }
  std::string profile = request.profile();
  if (profile.empty() && group) profile = group->profile;
  if (profile.empty()) profile = config.policy.profile;
  if (request.name().size() > 200) return invalid("name", "longer than 200 characters");
  if (request.site().size() > 200) return invalid("site", "longer than 200 characters");

  auto items = splitIntoWorkItems(targets, config.workers.addresses_per_item);
  if (!items.ok()) return invalid("targets", std::string(items.status().message()));
  p.items = *std::move(items);
  s.set_name(!request.name().empty() ? request.name() : group ? group->name : "");
  for (const auto& t : targets) s.add_targets(t);
  if (request.ports_size() > 0) {
    *s.mutable_ports() = request.ports();
  } else if (group && !group->ports.empty()) {
    for (uint16_t port : group->ports) s.add_ports(port);
  }
  for (const auto& e : exclude) s.add_exclude(e);
  s.set_profile(profile);
  s.set_group(group ? group->name : "");
  s.set_site(!request.site().empty() ? request.site() : group ? group->site : "");
  s.set_requested_by(requested_by);
  return p;
}

absl::StatusOr<v1::Scan> createPlannedScan(storage::PgConnection& connection,
                                           const PlannedScan& planned, bool own_transaction) {
  std::unique_ptr<storage::PgTransaction> tx;
  if (own_transaction) {
    auto t = storage::PgTransaction::begin(connection);
    if (!t.ok()) return t.status();
    tx = *std::move(t);
  }
  storage::PgScanQueue queue(connection);
  auto scan = queue.createScan(planned.scan);
  if (!scan.ok()) return scan.status();
  // Items are added in slices so one statement's parameter stays small.
  constexpr size_t kSlice = 10000;
  for (size_t i = 0; i < planned.items.size(); i += kSlice) {
    std::vector<std::string> slice(
        planned.items.begin() + static_cast<std::ptrdiff_t>(i),
        planned.items.begin() + static_cast<std::ptrdiff_t>(std::min(planned.items.size(), i + kSlice)));
    auto added = queue.addWorkItems(scan->id(), slice);
    if (!added.ok()) return added.status();
  }
  if (tx) {
    if (auto st = tx->commit(); !st.ok()) return st;
  }
  return queue.getScan(scan->id());
}

}  // namespace tlsaudit::scanner
