// FindingStore on PostgreSQL (schema: storage/migrations).
#pragma once

#include <functional>

#include "storage/finding_store.h"
#include "storage/pg_connection.h"
#include "tlsaudit/v1/asset.pb.h"

namespace tlsaudit::storage {

// Which findings a waiver refresh looks at (OPEN and WAIVED ones only; RESOLVED stay resolved).
struct WaiverRefreshScope {
  enum Kind {
    kAll,     // every finding that is WAIVED or whose rule has a waiver
    kRules,   // the findings of `rules`
    kLapsed,  // WAIVED findings whose waiver is gone or has expired
  };
  Kind kind = kAll;
  std::vector<std::string> rules;
  int64_t now = 0;  // Unix seconds at which waivers are judged unexpired
  int page = 1000;  // findings per transaction (1..1000)
};
// The waiver that covers `finding` (on `port` of `asset`) now: its id, or "" for none.
using WaiverDecision = std::function<std::string(const tlsaudit::v1::Finding& finding,
                                                 const tlsaudit::v1::Asset& asset, uint32_t port)>;

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

  // Applies changed waivers to stored findings without waiting for the next scan: in one
  // transaction, locks the findings in `scope`, asks `decide` which waiver covers each now and
  // moves OPEN <-> WAIVED where that changed, with an event (waived, unwaived) and an alert
  // outbox entry for each, as ingest does. A finding that stays WAIVED under another waiver
  // only changes its waiver_id. Returns how many findings changed state.
  absl::StatusOr<int> refreshWaiverStates(const WaiverRefreshScope& scope,
                                          const WaiverDecision& decide);

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
