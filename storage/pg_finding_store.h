// FindingStore on PostgreSQL (schema: storage/migrations).
#pragma once

#include "storage/finding_store.h"
#include "storage/pg_connection.h"

namespace tlsaudit::storage {

// Uses `connection` (not owned; must outlive the store) from one thread at a time. Cheap to
// construct: make one per pool task.
class PgFindingStore : public FindingStore {
 public:
  explicit PgFindingStore(PgConnection& connection) : c_(connection) {}

  absl::StatusOr<tlsaudit::v1::IngestOutcome> ingest(
      const tlsaudit::v1::HostResult& result) override;
  // Set-based: one transaction per run of results with distinct assets and services, a fixed
  // number of statements each (see pg_batch_ingest.cpp); a transaction refused because of one
  // result is redone one result at a time through ingest().
  std::vector<absl::StatusOr<tlsaudit::v1::IngestOutcome>> ingestBatch(
      std::span<const tlsaudit::v1::HostResult> results) override;
  absl::StatusOr<tlsaudit::v1::FindingPage> listFindings(const tlsaudit::v1::FindingFilter& filter,
                                                         int page_size,
                                                         const std::string& page_token) override;
  absl::StatusOr<std::vector<FindingEvent>> findingHistory(const std::string& id) override;
  absl::StatusOr<tlsaudit::v1::GetFindingResponse> getFinding(const std::string& id) override;
  absl::StatusOr<int64_t> lastFindingEventId() override;
  absl::StatusOr<std::vector<tlsaudit::v1::FindingChange>> findingChanges(int64_t after_id,
                                                                           int limit) override;
  absl::StatusOr<tlsaudit::v1::ScanDiff> diffScans(const std::string& from_scan,
                                                   const std::string& to_scan) override;
  absl::Status putWaiver(const tlsaudit::v1::Waiver& waiver) override;
  absl::StatusOr<std::vector<tlsaudit::v1::Waiver>> listWaivers() override;
  absl::Status deleteWaiver(const std::string& id) override;

 private:
  absl::Status ingestService(const tlsaudit::v1::HostResult& host, int64_t asset_id,
                             const std::string& asset_address,
                             const tlsaudit::v1::ServiceResult& service,
                             tlsaudit::v1::IngestOutcome& outcome);

  PgConnection& c_;
};

// "ip:port", IPv6 addresses in brackets.
std::string serviceName(const std::string& ip, uint32_t port);
// Parses "ip:port" / "[v6]:port"; false when malformed.
bool parseServiceName(const std::string& text, std::string& ip, uint32_t& port);

}  // namespace tlsaudit::storage
