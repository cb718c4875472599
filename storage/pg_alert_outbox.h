// AlertOutbox on PostgreSQL (tables alert_outbox, alert_sinks, alert_deliveries).
#pragma once

#include "storage/alert_outbox.h"
#include "storage/pg_connection.h"

namespace tlsaudit::storage {

// Uses `connection` (not owned) from one thread at a time. The sink lock is held by the
// connection's session: keep the same connection while delivering.
class PgAlertOutbox : public AlertOutbox {
 public:
  explicit PgAlertOutbox(PgConnection& connection) : c_(connection) {}

  absl::StatusOr<bool> tryLockSink(const std::string& sink) override;
  absl::Status unlockSink(const std::string& sink) override;
  absl::StatusOr<std::vector<OutboxEvent>> pending(const std::string& sink, int limit) override;
  absl::Status markTaken(const std::string& sink, int64_t outbox_id, bool delivered,
                         int attempts) override;
  absl::Status recordFailure(const std::string& sink, const std::string& error) override;
  absl::StatusOr<int64_t> advanceWatermark(const std::string& sink,
                                           std::chrono::seconds settle) override;
  absl::StatusOr<int64_t> depth(const std::string& sink) override;

 private:
  absl::Status ensureSink(const std::string& sink);
  PgConnection& c_;
};

}  // namespace tlsaudit::storage
