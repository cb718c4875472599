#include "storage/pg_scan_queue.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "storage/timestamps.h"

namespace tlsaudit::storage {

namespace v1 = tlsaudit::v1;

namespace {

bool isId(const std::string& s) {
  return !s.empty() && s.size() <= 18 && std::all_of(s.begin(), s.end(), ::isdigit);
}

constexpr const char* kScanColumns =
    "id, name, state, targets, profile, requested_by, " TLSAUDIT_MICROS(
        "created_at") ", " TLSAUDIT_MICROS("started_at") ", " TLSAUDIT_MICROS("finished_at");

v1::Scan scanFromRow(const PgResult& r, int i) {
  v1::Scan s;
  s.set_id(r.str(i, 0));
  s.set_name(r.str(i, 1));
  s.set_state(static_cast<v1::ScanState>(r.int64(i, 2)));
  for (auto& t : parsePgTextArray(r.text(i, 3))) s.add_targets(std::move(t));
  s.set_profile(r.str(i, 4));
  s.set_requested_by(r.str(i, 5));
  *s.mutable_created() = fromMicros(r.int64(i, 6));
  if (!r.isNull(i, 7)) *s.mutable_started() = fromMicros(r.int64(i, 7));
  if (!r.isNull(i, 8)) *s.mutable_finished() = fromMicros(r.int64(i, 8));
  return s;
}

constexpr const char* kItemColumns =
    "id, scan_id, target, state, COALESCE(lease_owner, ''), " TLSAUDIT_MICROS(
        "lease_expires") ", attempts, last_error";

v1::WorkItem itemFromRow(const PgResult& r, int i) {
  v1::WorkItem w;
  w.set_id(r.str(i, 0));
  w.set_scan_id(r.str(i, 1));
  w.set_target(r.str(i, 2));
  w.set_state(static_cast<v1::WorkItemState>(r.int64(i, 3)));
  w.set_lease_owner(r.str(i, 4));
  if (!r.isNull(i, 5)) *w.mutable_lease_expires() = fromMicros(r.int64(i, 5));
  w.set_attempts(static_cast<uint32_t>(r.int64(i, 6)));
  w.set_last_error(r.str(i, 7));
  return w;
}

}  // namespace

absl::StatusOr<v1::Scan> PgScanQueue::createScan(const v1::Scan& scan) {
  auto state = scan.state() == v1::SCAN_STATE_UNSPECIFIED ? v1::SCAN_PENDING : scan.state();
  auto r = c_.exec(absl::StrCat("INSERT INTO scans (name, state, targets, profile, requested_by)"
                                " VALUES ($1, $2::smallint, $3::text[], $4, $5) RETURNING ",
                                kScanColumns),
                   {scan.name(), std::to_string(state),
                    pgTextArray({scan.targets().begin(), scan.targets().end()}), scan.profile(),
                    scan.requested_by()});
  if (!r.ok()) return r.status();
  return scanFromRow(*r, 0);
}

absl::StatusOr<v1::Scan> PgScanQueue::getScan(const std::string& id) {
  if (!isId(id)) return absl::InvalidArgumentError("scan id must be a number");
  auto r = c_.exec(absl::StrCat("SELECT ", kScanColumns, " FROM scans WHERE id = $1"), {id});
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return absl::NotFoundError(absl::StrCat("no scan ", id));
  return scanFromRow(*r, 0);
}

absl::Status PgScanQueue::setScanState(const std::string& id, v1::ScanState state) {
  if (!isId(id)) return absl::InvalidArgumentError("scan id must be a number");
  auto r = c_.exec(
      "UPDATE scans SET state = $2::smallint,"
      " started_at = CASE WHEN $2::smallint = 2 THEN COALESCE(started_at, now()) ELSE started_at"
      " END,"
      " finished_at = CASE WHEN $2::smallint IN (3, 4, 5) THEN now() ELSE finished_at END"
      " WHERE id = $1",
      {id, std::to_string(state)});
  if (!r.ok()) return r.status();
  if (r->affected() == 0) return absl::NotFoundError(absl::StrCat("no scan ", id));
  return absl::OkStatus();
}

absl::StatusOr<int64_t> PgScanQueue::addWorkItems(const std::string& scan_id,
                                                  const std::vector<std::string>& targets) {
  if (!isId(scan_id)) return absl::InvalidArgumentError("scan id must be a number");
  auto r = c_.exec(
      "INSERT INTO scan_work_items (scan_id, target) SELECT $1, t FROM unnest($2::text[]) AS t",
      {scan_id, pgTextArray(targets)});
  if (!r.ok()) return r.status();
  return r->affected();
}

absl::StatusOr<std::vector<v1::WorkItem>> PgScanQueue::claim(const std::string& owner,
                                                             int max_items,
                                                             std::chrono::seconds lease) {
  if (owner.empty() || max_items < 1) {
    return absl::InvalidArgumentError("claim needs an owner and at least one item");
  }
  // SKIP LOCKED: items another daemon is claiming right now are passed over, never waited for.
  auto r =
      c_.exec(absl::StrCat("UPDATE scan_work_items w SET state = 2, lease_owner = $1,"
                           " lease_expires = now() + make_interval(secs => $3::double precision),"
                           " attempts = w.attempts + 1, updated_at = now()"
                           " WHERE w.id IN (SELECT id FROM scan_work_items WHERE state = 1"
                           "  ORDER BY id LIMIT $2::integer FOR UPDATE SKIP LOCKED)"
                           " RETURNING ",
                           kItemColumns),
              {owner, std::to_string(max_items), std::to_string(lease.count())});
  if (!r.ok()) return r.status();
  std::vector<v1::WorkItem> out;
  for (int i = 0; i < r->rows(); ++i) out.push_back(itemFromRow(*r, i));
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return std::stoll(a.id()) < std::stoll(b.id()); });
  return out;
}

absl::StatusOr<std::vector<std::string>> PgScanQueue::heartbeat(const std::string& owner,
                                                                const std::vector<std::string>& ids,
                                                                std::chrono::seconds lease) {
  for (const auto& id : ids) {
    if (!isId(id)) return absl::InvalidArgumentError("work item ids must be numbers");
  }
  auto r = c_.exec(
      "UPDATE scan_work_items SET lease_expires = now() + make_interval(secs =>"
      " $3::double precision), updated_at = now()"
      " WHERE id = ANY($2::bigint[]) AND state = 2 AND lease_owner = $1 RETURNING id",
      {owner, pgTextArray(ids), std::to_string(lease.count())});
  if (!r.ok()) return r.status();
  std::vector<std::string> held;
  for (int i = 0; i < r->rows(); ++i) held.push_back(r->str(i, 0));
  return held;
}

absl::StatusOr<bool> PgScanQueue::complete(const std::string& owner, const std::string& id) {
  if (!isId(id)) return absl::InvalidArgumentError("work item id must be a number");
  auto r = c_.exec(
      "UPDATE scan_work_items SET state = 3, lease_expires = NULL, updated_at = now()"
      " WHERE id = $2 AND state = 2 AND lease_owner = $1",
      {owner, id});
  if (!r.ok()) return r.status();
  return r->affected() == 1;
}

absl::StatusOr<bool> PgScanQueue::fail(const std::string& owner, const std::string& id,
                                       const std::string& error, int max_attempts) {
  if (!isId(id)) return absl::InvalidArgumentError("work item id must be a number");
  auto r = c_.exec(
      "UPDATE scan_work_items SET state = CASE WHEN attempts >= $4::integer THEN 4 ELSE 1 END,"
      " lease_owner = NULL, lease_expires = NULL, last_error = $3, updated_at = now()"
      " WHERE id = $2 AND state = 2 AND lease_owner = $1",
      {owner, id, error, std::to_string(max_attempts)});
  if (!r.ok()) return r.status();
  return r->affected() == 1;
}

absl::StatusOr<int64_t> PgScanQueue::reclaimExpired(int max_attempts) {
  auto r = c_.exec(
      "UPDATE scan_work_items w SET state = CASE WHEN w.attempts >= $1::integer THEN 4 ELSE 1"
      " END, last_error = 'lease of ' || COALESCE(w.lease_owner, '?') || ' expired',"
      " lease_owner = NULL, lease_expires = NULL, updated_at = now()"
      " WHERE w.id IN (SELECT id FROM scan_work_items WHERE state = 2 AND lease_expires < now()"
      "  FOR UPDATE SKIP LOCKED)",
      {std::to_string(max_attempts)});
  if (!r.ok()) return r.status();
  return r->affected();
}

absl::StatusOr<std::vector<v1::WorkItem>> PgScanQueue::workItems(const std::string& scan_id) {
  if (!isId(scan_id)) return absl::InvalidArgumentError("scan id must be a number");
  auto r = c_.exec(
      absl::StrCat("SELECT ", kItemColumns, " FROM scan_work_items WHERE scan_id = $1 ORDER BY id"),
      {scan_id});
  if (!r.ok()) return r.status();
  std::vector<v1::WorkItem> out;
  for (int i = 0; i < r->rows(); ++i) out.push_back(itemFromRow(*r, i));
  return out;
}

}  // namespace tlsaudit::storage
