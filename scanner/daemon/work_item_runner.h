// One work item, start to end: discovery over its slice (TCP connects to the scan's ports, SNMP
// inventory and neighbour tables with the group's credentials), TLS probes of the open services,
// the rules of the scan's profile with the waivers in force, and one HostResult per host handed
// to a sink (storage) as soon as that host's services are probed. Runs on a worker thread; the
// collectors run their own io_context inside.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "collectors/tls/x509_analysis.h"
#include "rules/policy.h"
#include "rules/waivers.h"
#include "scanner/daemon/daemon_config.h"
#include "storage/scan_queue.h"
#include "tlsaudit/v1/scan.pb.h"

namespace tlsaudit::scanner {

class DaemonMetrics;

// What every work item of a daemon shares; immutable once built (a reload builds a new one).
struct WorkEnvironment {
  std::shared_ptr<const DaemonConfig> config;
  std::shared_ptr<const collectors::tls::TrustStore> trust;
  std::shared_ptr<const rules::PolicyLibrary> library;
  DaemonMetrics* metrics = nullptr;  // may be null
};

struct WorkItemRequest {
  tlsaudit::v1::Scan scan;
  tlsaudit::v1::WorkItem item;
  rules::WaiverSet waivers;  // in force now (configured file and API-created)
  int64_t now = 0;           // unix seconds: the rules' and waivers' clock
};

// Takes one host's result; returns an error when it could not be stored (the item then fails
// and is retried by whichever daemon claims it next; storage is idempotent per scan and service).
using HostSink = std::function<absl::Status(tlsaudit::v1::HostResult&&)>;

// Runs the item. `stop` is polled between hosts and endpoints (lease lost, scan cancelled,
// shutdown); a stopped item returns kCancelled after handing over what it finished. Errors:
// kInvalidArgument for a target or profile that cannot work (retrying will not help), the
// sink's error otherwise.
absl::StatusOr<storage::WorkItemCounts> runWorkItem(const WorkItemRequest& request,
                                                    const WorkEnvironment& env,
                                                    const HostSink& sink,
                                                    const std::function<bool()>& stop);

}  // namespace tlsaudit::scanner
