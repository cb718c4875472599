#include "storage/pg_schedule_store.h"

#include "absl/strings/str_cat.h"
#include "storage/timestamps.h"

namespace tlsaudit::storage {

namespace {

// Unix microseconds as a timestamptz parameter.
std::string micros(int64_t us) { return pgTimestamp(fromMicros(us)); }

}  // namespace

absl::Status PgScheduleStore::sync(const std::vector<ScheduleEntry>& entries) {
  std::vector<std::string> groups, specs, firsts;
  for (const auto& e : entries) {
    groups.push_back(e.group);
    specs.push_back(e.spec);
    firsts.push_back(micros(e.first_run_micros));
  }
  auto tx = PgTransaction::begin(c_);
  if (!tx.ok()) return tx.status();
  auto del = c_.exec("DELETE FROM schedules WHERE NOT (group_name = ANY($1::text[]))",
                     {pgTextArray(groups)});
  if (!del.ok()) return del.status();
  // A spec that changed starts over; an unchanged one keeps its next run (a restart or a
  // reload must not start scans early or skip them).
  auto up = c_.exec(
      "INSERT INTO schedules (group_name, spec, next_run)"
      " SELECT g, s, f::timestamptz FROM unnest($1::text[], $2::text[], $3::text[]) AS t(g, s, f)"
      " ON CONFLICT (group_name) DO UPDATE SET spec = EXCLUDED.spec,"
      " next_run = EXCLUDED.next_run, updated_at = now()"
      " WHERE schedules.spec IS DISTINCT FROM EXCLUDED.spec",
      {pgTextArray(groups), pgTextArray(specs), pgTextArray(firsts)});
  if (!up.ok()) return up.status();
  return (*tx)->commit();
}

absl::StatusOr<std::vector<std::string>> PgScheduleStore::runDue(int64_t now_micros,
                                                                 const StartFn& start) {
  std::vector<std::string> started, groups_done;
  // One schedule per transaction: a failure of one group's start does not hold back the others.
  for (int guard = 0; guard < 1000; ++guard) {
    auto tx = PgTransaction::begin(c_);
    if (!tx.ok()) return tx.status();
    auto due = c_.exec(
        "SELECT group_name, " TLSAUDIT_MICROS("next_run") " FROM schedules"
        " WHERE next_run <= $1::timestamptz AND NOT (group_name = ANY($2::text[]))"
        " ORDER BY next_run LIMIT 1 FOR UPDATE SKIP LOCKED",
        {micros(now_micros), pgTextArray(groups_done)});
    if (!due.ok()) return due.status();
    if (due->rows() == 0) break;
    std::string group = due->str(0, 0);
    auto result = start(group, due->int64(0, 1));
    if (!result.ok()) {
      // This group's transaction rolls back and it stays due; the others still start. A lost
      // database ends the round.
      if (result.status().code() == absl::StatusCode::kUnavailable || c_.broken()) {
        return result.status();
      }
      groups_done.push_back(group);
      continue;
    }
    auto moved = c_.exec(
        "UPDATE schedules SET next_run = $2::timestamptz, last_scan_id = $3::bigint,"
        " updated_at = now() WHERE group_name = $1",
        {group, micros(result->second), result->first});
    if (!moved.ok()) return moved.status();
    if (auto st = (*tx)->commit(); !st.ok()) return st;
    started.push_back(result->first);
    groups_done.push_back(group);
  }
  return started;
}

absl::StatusOr<std::vector<ScheduleRow>> PgScheduleStore::list() {
  auto r = c_.exec("SELECT group_name, spec, " TLSAUDIT_MICROS(
      "next_run") ", COALESCE(last_scan_id::text, '') FROM schedules ORDER BY group_name");
  if (!r.ok()) return r.status();
  std::vector<ScheduleRow> out;
  for (int i = 0; i < r->rows(); ++i) {
    out.push_back({r->str(i, 0), r->str(i, 1), r->int64(i, 2), r->str(i, 3)});
  }
  return out;
}

}  // namespace tlsaudit::storage
