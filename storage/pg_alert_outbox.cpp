#include "storage/pg_alert_outbox.h"

#include "absl/strings/str_cat.h"
#include "storage/timestamps.h"

namespace tlsaudit::storage {

namespace {

// Advisory lock keys are per database; the prefix keeps ours apart from other applications'.
constexpr const char* kLockKey = "hashtextextended('tlsaudit.alert-sink.' || $1, 0)";

}  // namespace

absl::Status PgAlertOutbox::ensureSink(const std::string& sink) {
  // A sink configured later starts with the events written from then on, not with the
  // outbox's whole history.
  auto r = c_.exec(
      "INSERT INTO alert_sinks (name, watermark) SELECT $1, COALESCE(max(id), 0) FROM alert_outbox"
      " ON CONFLICT DO NOTHING",
      {sink});
  return r.status();
}

absl::StatusOr<bool> PgAlertOutbox::tryLockSink(const std::string& sink) {
  auto r = c_.exec(absl::StrCat("SELECT pg_try_advisory_lock(", kLockKey, ")"), {sink});
  if (!r.ok()) return r.status();
  bool held = r->boolean(0, 0);
  if (held) {
    if (auto st = ensureSink(sink); !st.ok()) return st;
  }
  return held;
}

absl::Status PgAlertOutbox::unlockSink(const std::string& sink) {
  auto r = c_.exec(absl::StrCat("SELECT pg_advisory_unlock(", kLockKey, ")"), {sink});
  return r.status();
}

absl::StatusOr<std::vector<OutboxEvent>> PgAlertOutbox::pending(const std::string& sink,
                                                                int limit) {
  if (limit < 1 || limit > 1000) return absl::InvalidArgumentError("limit must be 1..1000");
  auto r = c_.exec(
      "SELECT o.id, o.kind, o.payload::text, o.idempotency_key::text, " TLSAUDIT_MICROS(
          "o.created_at") " FROM alert_outbox o"
                          " WHERE o.id > COALESCE((SELECT watermark FROM alert_sinks"
                          "  WHERE name = $1), 0)"
                          " AND NOT EXISTS (SELECT 1 FROM alert_deliveries d"
                          "  WHERE d.sink = $1 AND d.outbox_id = o.id)"
                          " ORDER BY o.id LIMIT $2::integer",
      {sink, std::to_string(limit)});
  if (!r.ok()) return r.status();
  std::vector<OutboxEvent> out;
  for (int i = 0; i < r->rows(); ++i) {
    out.push_back({r->int64(i, 0), r->str(i, 1), r->str(i, 2), r->str(i, 3), r->int64(i, 4)});
  }
  return out;
}

absl::Status PgAlertOutbox::markTaken(const std::string& sink, int64_t outbox_id, bool delivered,
                                      int attempts) {
  auto r = c_.exec(
      "INSERT INTO alert_deliveries (sink, outbox_id, delivered, attempts)"
      " VALUES ($1, $2::bigint, $3::boolean, $4::integer) ON CONFLICT DO NOTHING",
      {sink, std::to_string(outbox_id), pgBool(delivered), std::to_string(attempts)});
  if (!r.ok()) return r.status();
  auto ok = c_.exec("UPDATE alert_sinks SET last_error = '', updated_at = now() WHERE name = $1"
                    " AND last_error <> ''",
                    {sink});
  return ok.status();
}

absl::Status PgAlertOutbox::recordFailure(const std::string& sink, const std::string& error) {
  auto r = c_.exec(
      "INSERT INTO alert_sinks (name, last_error, failures) VALUES ($1, $2, 1)"
      " ON CONFLICT (name) DO UPDATE SET last_error = EXCLUDED.last_error,"
      " failures = alert_sinks.failures + 1, updated_at = now()",
      {sink, error.substr(0, 1000)});
  return r.status();
}

absl::StatusOr<int64_t> PgAlertOutbox::advanceWatermark(const std::string& sink,
                                                        std::chrono::seconds settle) {
  auto tx = PgTransaction::begin(c_);
  if (!tx.ok()) return tx.status();
  // The new watermark: just below the first event not taken yet, and no further than the
  // newest event that has settled.
  auto r = c_.exec(
      "WITH s AS (SELECT watermark FROM alert_sinks WHERE name = $1 FOR UPDATE),"
      " settled AS (SELECT COALESCE(max(o.id), 0) AS id FROM alert_outbox o, s"
      "  WHERE o.id > s.watermark"
      "  AND o.created_at < now() - make_interval(secs => $2::double precision)),"
      " open AS (SELECT COALESCE(min(o.id) - 1, 9223372036854775806) AS id FROM alert_outbox o, s"
      "  WHERE o.id > s.watermark AND NOT EXISTS (SELECT 1 FROM alert_deliveries d"
      "  WHERE d.sink = $1 AND d.outbox_id = o.id))"
      " UPDATE alert_sinks SET watermark = greatest(alert_sinks.watermark,"
      "  least((SELECT id FROM settled), (SELECT id FROM open)))"
      " WHERE name = $1 RETURNING watermark",
      {sink, std::to_string(settle.count())});
  if (!r.ok()) return r.status();
  int64_t watermark = r->rows() > 0 ? r->int64(0, 0) : 0;
  auto drop = c_.exec(
      "DELETE FROM alert_deliveries WHERE sink = $1 AND outbox_id <= $2::bigint",
      {sink, std::to_string(watermark)});
  if (!drop.ok()) return drop.status();
  if (auto st = (*tx)->commit(); !st.ok()) return st;
  return watermark;
}

absl::StatusOr<int64_t> PgAlertOutbox::depth(const std::string& sink) {
  auto r = c_.exec(
      "SELECT count(*) FROM alert_outbox o"
      " WHERE o.id > COALESCE((SELECT watermark FROM alert_sinks WHERE name = $1), 0)"
      " AND NOT EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.sink = $1"
      " AND d.outbox_id = o.id)",
      {sink});
  if (!r.ok()) return r.status();
  return r->int64(0, 0);
}

}  // namespace tlsaudit::storage
