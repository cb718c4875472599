// ScanQueue on PostgreSQL (tables scans and scan_work_items).
#pragma once

#include "storage/pg_connection.h"
#include "storage/scan_queue.h"

namespace tlsaudit::storage {

// Uses `connection` (not owned) from one thread at a time; cheap to construct per task.
class PgScanQueue : public ScanQueue {
 public:
  explicit PgScanQueue(PgConnection& connection) : c_(connection) {}

  absl::StatusOr<tlsaudit::v1::Scan> createScan(const tlsaudit::v1::Scan& scan) override;
  absl::StatusOr<tlsaudit::v1::Scan> getScan(const std::string& id) override;
  absl::StatusOr<std::vector<tlsaudit::v1::Scan>> listScans(
      const std::vector<tlsaudit::v1::ScanState>& states, const std::string& group, int page_size,
      const std::string& page_token, std::string& next_page_token) override;
  absl::StatusOr<tlsaudit::v1::Scan> cancelScan(const std::string& id) override;
  absl::Status markRunning(const std::vector<std::string>& scan_ids) override;
  absl::StatusOr<tlsaudit::v1::ScanState> finishIfDone(const std::string& scan_id) override;
  absl::StatusOr<int64_t> finishAllDone() override;
  absl::Status setScanState(const std::string& id, tlsaudit::v1::ScanState state) override;
  absl::StatusOr<int64_t> addWorkItems(const std::string& scan_id,
                                       const std::vector<std::string>& targets) override;
  absl::StatusOr<std::vector<tlsaudit::v1::WorkItem>> claim(const std::string& owner, int max_items,
                                                            std::chrono::seconds lease) override;
  absl::StatusOr<std::vector<std::string>> heartbeat(const std::string& owner,
                                                     const std::vector<std::string>& ids,
                                                     std::chrono::seconds lease) override;
  absl::StatusOr<bool> complete(const std::string& owner, const std::string& id) override;
  absl::StatusOr<bool> complete(const std::string& owner, const std::string& id,
                                const WorkItemCounts& counts) override;
  absl::StatusOr<bool> release(const std::string& owner, const std::string& id) override;
  absl::StatusOr<bool> fail(const std::string& owner, const std::string& id,
                            const std::string& error, int max_attempts) override;
  absl::StatusOr<int64_t> reclaimExpired(int max_attempts) override;
  absl::StatusOr<std::vector<tlsaudit::v1::WorkItem>> workItems(
      const std::string& scan_id) override;

 private:
  PgConnection& c_;
};

}  // namespace tlsaudit::storage
