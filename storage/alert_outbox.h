// The alert outbox as sinks read it: finding events written in the ingest transaction, taken
// by each configured sink (delivered, or filtered out by the sink's rules) at least once, in id
// order, with a key that stays the same across redeliveries.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tlsaudit::storage {

struct OutboxEvent {
  int64_t id = 0;
  std::string kind;             // finding.opened, finding.resolved...
  std::string payload;          // JSON object (see storage/README.md)
  std::string idempotency_key;  // UUID, the same on every delivery attempt
  int64_t created_micros = 0;
};

// Bound to one database session, used by one thread at a time (see finding_store.h).
class AlertOutbox {
 public:
  virtual ~AlertOutbox() = default;

  // A session-level lock on `sink`: while held, no other daemon delivers to it (so a receiver
  // sees events in order). False when another session holds it. Released by unlockSink or when
  // the session ends.
  virtual absl::StatusOr<bool> tryLockSink(const std::string& sink) = 0;
  virtual absl::Status unlockSink(const std::string& sink) = 0;

  // Events `sink` has not taken yet, oldest first, at most `limit` (1..1000).
  virtual absl::StatusOr<std::vector<OutboxEvent>> pending(const std::string& sink, int limit) = 0;
  // Records that `sink` took the event: delivered (true) or filtered out (false).
  virtual absl::Status markTaken(const std::string& sink, int64_t outbox_id, bool delivered,
                                 int attempts) = 0;
  // Records a failed delivery attempt (shown in metrics and logs).
  virtual absl::Status recordFailure(const std::string& sink, const std::string& error) = 0;
  // Moves the sink's watermark over events taken and older than `settle` (no ingest
  // transaction runs that long, so none can still add an event below it) and drops their
  // delivery rows. Returns the new watermark.
  virtual absl::StatusOr<int64_t> advanceWatermark(const std::string& sink,
                                                   std::chrono::seconds settle) = 0;
  // How many events `sink` has not taken yet.
  virtual absl::StatusOr<int64_t> depth(const std::string& sink) = 0;
};

}  // namespace tlsaudit::storage
