// Where a scan's results go and where findings are read back: ingest of one host's results
// (observations, certificates, finding lifecycle, alert outbox), finding lists, their history,
// scan diffs and waivers.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tlsaudit/v1/api.pb.h"
#include "tlsaudit/v1/finding.pb.h"
#include "tlsaudit/v1/scan.pb.h"

namespace tlsaudit::storage {

// One change of a finding's state, as kept in its history.
struct FindingEvent {
  int64_t id = 0;
  std::string kind;  // opened, reopened, resolved, waived, unwaived
  tlsaudit::v1::FindingState from_state = tlsaudit::v1::FINDING_STATE_UNSPECIFIED;
  tlsaudit::v1::FindingState to_state = tlsaudit::v1::FINDING_STATE_UNSPECIFIED;
  std::string scan_id;
  int64_t at_micros = 0;  // Unix time in microseconds
};

// Implementations are bound to one database session and used by one thread at a time; run them
// on a pool or writer thread, never on an io_context thread (every call blocks on the network).
class FindingStore {
 public:
  virtual ~FindingStore() = default;

  // Stores one host's results in one transaction: upserts the asset and its services, inserts
  // one observation per service (normalised rows, certificates by SHA-256), reconciles the
  // findings of each service (new: OPEN; present: last seen; absent from a complete result:
  // RESOLVED; back: reopened; WAIVED when the incoming finding is WAIVED), records an event
  // and an outbox entry per state change. A service already stored for this scan is skipped,
  // so replaying a result changes nothing. Nothing is written when an error is returned.
  virtual absl::StatusOr<tlsaudit::v1::IngestOutcome> ingest(
      const tlsaudit::v1::HostResult& result) = 0;

  // Stores several hosts' results, as ingest() would one after the other, in as few
  // transactions as it can; returns one outcome per result, in order. Each result is either
  // written whole or not at all. A result that fails (its error, as ingest() gives it) does not
  // keep the others from being stored; a later result for the same asset or service is then
  // held back (kAborted) so one asset's results are never applied out of order. kUnavailable and
  // kAborted mean "not written, retry"; retrying a stored result is a replay. The caller chooses
  // the batch size (a few hundred hosts is one statement of a few MB). The default writes one
  // result per transaction.
  virtual std::vector<absl::StatusOr<tlsaudit::v1::IngestOutcome>> ingestBatch(
      std::span<const tlsaudit::v1::HostResult> results) {
    std::vector<absl::StatusOr<tlsaudit::v1::IngestOutcome>> out;
    for (const auto& r : results) out.push_back(ingest(r));
    return out;
  }

  // Findings matching `filter`, newest first, `page_size` (1..1000) at a time. `page_token` is
  // "" for the first page, then the previous page's next_page_token (kInvalidArgument when it
  // is not one).
  virtual absl::StatusOr<tlsaudit::v1::FindingPage> listFindings(
      const tlsaudit::v1::FindingFilter& filter, int page_size, const std::string& page_token) = 0;

  // A finding's state changes, oldest first.
  virtual absl::StatusOr<std::vector<FindingEvent>> findingHistory(const std::string& id) = 0;

  // One finding with its history (kNotFound when there is none with that id).
  virtual absl::StatusOr<tlsaudit::v1::GetFindingResponse> getFinding(const std::string& id) = 0;
  // The id of the newest finding event (0 when there is none): where a watcher starts.
  virtual absl::StatusOr<int64_t> lastFindingEventId() = 0;
  // Finding changes with an event id above `after_id`, oldest first, at most `limit` (1..1000),
  // each with the finding as it is now. Events commit out of id order (concurrent ingests): a
  // watcher that must not miss one re-reads from an older id and skips the ids it has seen.
  virtual absl::StatusOr<std::vector<tlsaudit::v1::FindingChange>> findingChanges(int64_t after_id,
                                                                                   int limit) = 0;

  // Findings new in `to_scan`, resolved by it, and persisting, relative to `from_scan`.
  virtual absl::StatusOr<tlsaudit::v1::ScanDiff> diffScans(const std::string& from_scan,
                                                           const std::string& to_scan) = 0;

  // Creates or replaces a waiver (by id).
  virtual absl::Status putWaiver(const tlsaudit::v1::Waiver& waiver) = 0;
  virtual absl::StatusOr<std::vector<tlsaudit::v1::Waiver>> listWaivers() = 0;
  virtual absl::Status deleteWaiver(const std::string& id) = 0;
};

}  // namespace tlsaudit::storage
