// Scans and their work items, shared by every daemon on one database. A work item is claimed
// with a lease (SELECT ... FOR UPDATE SKIP LOCKED, so claimers never wait on each other), kept
// alive by heartbeats, and completed; a lease that expires (its daemon died) is reclaimed.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tlsaudit/v1/scan.pb.h"

namespace tlsaudit::storage {

// What a work item found, recorded when it completes; a scan's progress is their sum.
struct WorkItemCounts {
  uint64_t addresses = 0;  // addresses swept
  uint64_t hosts = 0;      // hosts stored
  uint64_t services = 0;   // TLS services probed and stored
  uint64_t findings = 0;   // findings over them
};

// Bound to one database session, used by one thread at a time (see finding_store.h).
class ScanQueue {
 public:
  virtual ~ScanQueue() = default;

  // Creates a scan (state SCAN_PENDING unless set; name, targets, profile, requested_by,
  // group, site and ports are kept) and returns it with its id.
  virtual absl::StatusOr<tlsaudit::v1::Scan> createScan(const tlsaudit::v1::Scan& scan) = 0;
  // The scan with its progress (work items by state and what they found).
  virtual absl::StatusOr<tlsaudit::v1::Scan> getScan(const std::string& id) = 0;
  // Scans newest first, with progress; `states` and `group` filter when not empty. page_size
  // 1..1000; page_token "" or the previous call's `next_page_token` (set when more remain).
  virtual absl::StatusOr<std::vector<tlsaudit::v1::Scan>> listScans(
      const std::vector<tlsaudit::v1::ScanState>& states, const std::string& group, int page_size,
      const std::string& page_token, std::string& next_page_token) = 0;
  // Cancels a pending or running scan: its pending and leased items become WORK_CANCELLED (a
  // worker holding one loses its lease at the next heartbeat). A scan that already ended is
  // returned unchanged.
  virtual absl::StatusOr<tlsaudit::v1::Scan> cancelScan(const std::string& id) = 0;
  // Moves the scans of freshly claimed items from PENDING to RUNNING.
  virtual absl::Status markRunning(const std::vector<std::string>& scan_ids) = 0;
  // Ends a RUNNING or PENDING scan whose items are all terminal: DONE, or FAILED when every item
  // failed. The scan row is locked first, so two daemons completing the last two items cannot
  // both miss it. Returns the state the scan has afterwards.
  virtual absl::StatusOr<tlsaudit::v1::ScanState> finishIfDone(const std::string& scan_id) = 0;
  // finishIfDone for every unfinished scan (after crashes or cancellations); returns how many
  // scans ended.
  virtual absl::StatusOr<int64_t> finishAllDone() = 0;
  // Sets the state; RUNNING stamps started, DONE/CANCELLED/FAILED stamp finished.
  virtual absl::Status setScanState(const std::string& id, tlsaudit::v1::ScanState state) = 0;

  // Adds one pending work item per target; returns how many were added.
  virtual absl::StatusOr<int64_t> addWorkItems(const std::string& scan_id,
                                               const std::vector<std::string>& targets) = 0;
  // Leases up to `max_items` pending items (oldest first) to `owner` for `lease`. Items leased
  // by others are skipped, never waited for.
  virtual absl::StatusOr<std::vector<tlsaudit::v1::WorkItem>> claim(const std::string& owner,
                                                                    int max_items,
                                                                    std::chrono::seconds lease) = 0;
  // Extends `owner`'s leases on `ids`; returns the ids still held (a lease that expired and was
  // reclaimed is gone: the caller must stop working on it).
  virtual absl::StatusOr<std::vector<std::string>> heartbeat(const std::string& owner,
                                                             const std::vector<std::string>& ids,
                                                             std::chrono::seconds lease) = 0;
  // Marks an item done; false when `owner` no longer holds its lease.
  virtual absl::StatusOr<bool> complete(const std::string& owner, const std::string& id) = 0;
  // complete() that also records what the item found.
  virtual absl::StatusOr<bool> complete(const std::string& owner, const std::string& id,
                                        const WorkItemCounts& counts) = 0;
  // Gives an item back untouched (shutdown): pending again, the attempt not counted; false when
  // `owner` no longer holds its lease.
  virtual absl::StatusOr<bool> release(const std::string& owner, const std::string& id) = 0;
  // Gives an item back after a failure: pending again, or WORK_FAILED after `max_attempts`.
  virtual absl::StatusOr<bool> fail(const std::string& owner, const std::string& id,
                                    const std::string& error, int max_attempts) = 0;
  // Returns expired leases to pending (or WORK_FAILED after `max_attempts`); returns how many.
  virtual absl::StatusOr<int64_t> reclaimExpired(int max_attempts) = 0;
  virtual absl::StatusOr<std::vector<tlsaudit::v1::WorkItem>> workItems(
      const std::string& scan_id) = 0;
};

}  // namespace tlsaudit::storage
