// Starting a scan, the same way for the API (StartScan) and the scheduler: the request is
// checked field by field, the scan row and its work items are written in one transaction, so a
// scan never exists without its work.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "scanner/daemon/daemon_config.h"
#include "storage/pg_connection.h"
#include "tlsaudit/v1/api.pb.h"
#include "tlsaudit/v1/scan.pb.h"

namespace tlsaudit::scanner {

// The scan a request describes, with the group's settings filled in, and its work item targets.
// kInvalidArgument names the field ("targets[2]: ...", "group: ...").
struct PlannedScan {
  tlsaudit::v1::Scan scan;
  std::vector<std::string> items;
};
absl::StatusOr<PlannedScan> planScan(const DaemonConfig& config,
                                     const tlsaudit::v1::StartScanRequest& request,
                                     const std::string& requested_by);

// Writes a planned scan and its items. With `own_transaction` false the caller has a
// transaction open on `connection` (the scheduler's, which also moves the schedule).
absl::StatusOr<tlsaudit::v1::Scan> createPlannedScan(storage::PgConnection& connection,
                                                     const PlannedScan& planned,
                                                     bool own_transaction);

}  // namespace tlsaudit::scanner
