#include "storage/pg_scan_queue.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "storage/page_token.h"
#include "storage/timestamps.h"

namespace tlsaudit::storage {

namespace v1 = tlsaudit::v1;

namespace {

bool isId(const std::string& s) {
  return !s.empty() && s.size() <= 18 && std::all_of(s.begin(), s.end(), ::isdigit);
}

// A scan with its progress: work items by state and what the finished ones found.
constexpr const char* kScanSelect =
    "SELECT s.id, s.name, s.state, s.targets, s.profile, s.requested_by, " TLSAUDIT_MICROS(
        "s.created_at") ", " TLSAUDIT_MICROS("s.started_at") ", " TLSAUDIT_MICROS(
        "s.finished_at") ", s.group_name, s.site, s.ports::text[], s.error, s.exclude,"
                         " p.total, p.pending, p.running, p.done, p.failed, p.cancelled,"
                         " p.addresses, p.hosts, p.services, p.findings"
                         " FROM scans s CROSS JOIN LATERAL (SELECT count(*) AS total,"
                         "  count(*) FILTER (WHERE w.state = 1) AS pending,"
                         "  count(*) FILTER (WHERE w.state = 2) AS running,"
                         "  count(*) FILTER (WHERE w.state = 3) AS done,"
                         "  count(*) FILTER (WHERE w.state = 4) AS failed,"
                         "  count(*) FILTER (WHERE w.state = 5) AS cancelled,"
                         "  COALESCE(sum(w.addresses), 0) AS addresses,"
                         "  COALESCE(sum(w.hosts), 0) AS hosts,"
                         "  COALESCE(sum(w.services), 0) AS services,"
                         "  COALESCE(sum(w.findings), 0) AS findings"
                         "  FROM scan_work_items w WHERE w.scan_id = s.id) p";

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
  s.set_group(r.str(i, 9));
  s.set_site(r.str(i, 10));
  for (const auto& p : parsePgTextArray(r.text(i, 11))) {
    s.add_ports(static_cast<uint32_t>(std::stoul(p)));
  }
  s.set_error(r.str(i, 12));
  for (auto& e : parsePgTextArray(r.text(i, 13))) s.add_exclude(std::move(e));
  auto* p = s.mutable_progress();
  constexpr int kP = 14;  // first progress column
  p->set_work_items(static_cast<uint64_t>(r.int64(i, kP)));
  p->set_work_items_pending(static_cast<uint64_t>(r.int64(i, kP + 1)));
  p->set_work_items_running(static_cast<uint64_t>(r.int64(i, kP + 2)));
  p->set_work_items_done(static_cast<uint64_t>(r.int64(i, kP + 3)));
  p->set_work_items_failed(static_cast<uint64_t>(r.int64(i, kP + 4)));
  p->set_work_items_cancelled(static_cast<uint64_t>(r.int64(i, kP + 5)));
  p->set_addresses(static_cast<uint64_t>(r.int64(i, kP + 6)));
  p->set_hosts(static_cast<uint64_t>(r.int64(i, kP + 7)));
  p->set_services(static_cast<uint64_t>(r.int64(i, kP + 8)));
  p->set_findings(static_cast<uint64_t>(r.int64(i, kP + 9)));
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
  std::vector<std::string> ports;
  for (uint32_t p : scan.ports()) ports.push_back(std::to_string(p));
  auto r = c_.exec(
      "INSERT INTO scans (name, state, targets, profile, requested_by, group_name, site, ports,"
      " exclude) VALUES ($1, $2::smallint, $3::text[], $4, $5, $6, $7, $8::integer[],"
      " $9::text[]) RETURNING id",
      {scan.name(), std::to_string(state),
       pgTextArray({scan.targets().begin(), scan.targets().end()}), scan.profile(),
       scan.requested_by(), scan.group(), scan.site(), pgTextArray(ports),
       pgTextArray({scan.exclude().begin(), scan.exclude().end()})});
  if (!r.ok()) return r.status();
  return getScan(r->str(0, 0));
}

absl::StatusOr<v1::Scan> PgScanQueue::getScan(const std::string& id) {
  if (!isId(id)) return absl::InvalidArgumentError("scan id must be a number");
  auto r = c_.exec(absl::StrCat(kScanSelect, " WHERE s.id = $1"), {id});
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return absl::NotFoundError(absl::StrCat("no scan ", id));
  return scanFromRow(*r, 0);
}

absl::StatusOr<std::vector<v1::Scan>> PgScanQueue::listScans(
    const std::vector<v1::ScanState>& states, const std::string& group, int page_size,
    const std::string& page_token, std::string& next_page_token) {
  next_page_token.clear();
  if (page_size < 1 || page_size > 1000) {
    return absl::InvalidArgumentError("page size must be 1..1000");
  }
  int64_t before = std::numeric_limits<int64_t>::max();
  if (!page_token.empty()) {
    auto last = decodeIdPageToken("scans", page_token);
    if (!last.ok()) return last.status();
    before = *last;
  }
  std::vector<std::string> state_values;
  for (auto st : states) state_values.push_back(std::to_string(static_cast<int>(st)));
  auto r = c_.exec(absl::StrCat(kScanSelect,
                                " WHERE s.id < $1::bigint"
                                " AND (cardinality($2::smallint[]) = 0 OR s.state = ANY($2))"
                                " AND ($3 = '' OR s.group_name = $3)"
                                " ORDER BY s.id DESC LIMIT $4::integer"),
                   {std::to_string(before), pgTextArray(state_values), group,
                    std::to_string(page_size + 1)});
  if (!r.ok()) return r.status();
  std::vector<v1::Scan> out;
  int n = std::min(r->rows(), page_size);
  for (int i = 0; i < n; ++i) out.push_back(scanFromRow(*r, i));
  if (r->rows() > page_size) next_page_token = encodePageToken("scans", out.back().id());
  return out;
}

absl::StatusOr<v1::Scan> PgScanQueue::cancelScan(const std::string& id) {
  if (!isId(id)) return absl::InvalidArgumentError("scan id must be a number");
  auto tx = PgTransaction::begin(c_);
  if (!tx.ok()) return tx.status();
  auto r = c_.exec(
      "UPDATE scans SET state = 4, finished_at = now() WHERE id = $1 AND state IN (1, 2)", {id});
  if (!r.ok()) return r.status();
  if (r->affected() == 1) {
    auto items = c_.exec(
        "UPDATE scan_work_items SET state = 5, lease_owner = NULL, lease_expires = NULL,"
        " last_error = 'scan cancelled', updated_at = now()"
        " WHERE scan_id = $1 AND state IN (1, 2)",
        {id});
    if (!items.ok()) return items.status();
  }
  if (auto st = (*tx)->commit(); !st.ok()) return st;
  return getScan(id);
}

absl::Status PgScanQueue::markRunning(const std::vector<std::string>& scan_ids) {
  for (const auto& id : scan_ids) {
    if (!isId(id)) return absl::InvalidArgumentError("scan ids must be numbers");
  }
  if (scan_ids.empty()) return absl::OkStatus();
  auto r = c_.exec(
      "UPDATE scans SET state = 2, started_at = COALESCE(started_at, now())"
      " WHERE id = ANY($1::bigint[]) AND state = 1",
      {pgTextArray(scan_ids)});
  return r.ok() ? absl::OkStatus() : r.status();
}

absl::StatusOr<v1::ScanState> PgScanQueue::finishIfDone(const std::string& scan_id) {
  if (!isId(scan_id)) return absl::InvalidArgumentError("scan id must be a number");
  auto tx = PgTransaction::begin(c_);
  if (!tx.ok()) return tx.status();
  // The row lock orders concurrent finishers: the second sees the first's committed items.
  auto lock = c_.exec("SELECT state FROM scans WHERE id = $1 FOR UPDATE", {scan_id});
  if (!lock.ok()) return lock.status();
  if (lock->rows() == 0) return absl::NotFoundError(absl::StrCat("no scan ", scan_id));
  auto state = static_cast<v1::ScanState>(lock->int64(0, 0));
  if (state != v1::SCAN_PENDING && state != v1::SCAN_RUNNING) return state;
  auto r = c_.exec(
      "UPDATE scans s SET state = CASE WHEN c.failed > 0 AND c.failed = c.total THEN 5 ELSE 3"
      " END, finished_at = now(), started_at = COALESCE(s.started_at, now()),"
      " error = CASE WHEN c.failed > 0 THEN c.failed || ' of ' || c.total ||"
      "  ' work items failed' ELSE '' END"
      " FROM (SELECT count(*) AS total, count(*) FILTER (WHERE state = 4) AS failed,"
      "  count(*) FILTER (WHERE state IN (1, 2)) AS open"
      "  FROM scan_work_items WHERE scan_id = $1) c"
      " WHERE s.id = $1 AND c.open = 0 RETURNING s.state",
      {scan_id});
  if (!r.ok()) return r.status();
  if (r->rows() == 1) state = static_cast<v1::ScanState>(r->int64(0, 0));
  if (auto st = (*tx)->commit(); !st.ok()) return st;
  return state;
}

absl::StatusOr<int64_t> PgScanQueue::finishAllDone() {
  auto r = c_.exec(
      "SELECT s.id FROM scans s WHERE s.state IN (1, 2) AND NOT EXISTS (SELECT 1 FROM"
      " scan_work_items w WHERE w.scan_id = s.id AND w.state IN (1, 2))"
      " AND EXISTS (SELECT 1 FROM scan_work_items w WHERE w.scan_id = s.id) LIMIT 1000");
  if (!r.ok()) return r.status();
  int64_t ended = 0;
  for (int i = 0; i < r->rows(); ++i) {
    auto st = finishIfDone(r->str(i, 0));
    if (!st.ok()) return st.status();
    if (*st != v1::SCAN_PENDING && *st != v1::SCAN_RUNNING) ++ended;
  }
  return ended;
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

absl::StatusOr<bool> PgScanQueue::complete(const std::string& owner, const std::string& id,
                                           const WorkItemCounts& counts) {
  if (!isId(id)) return absl::InvalidArgumentError("work item id must be a number");
  auto r = c_.exec(
      "UPDATE scan_work_items SET state = 3, lease_expires = NULL, updated_at = now(),"
      " addresses = $3::bigint, hosts = $4::bigint, services = $5::bigint,"
      " findings = $6::bigint WHERE id = $2 AND state = 2 AND lease_owner = $1",
      {owner, id, std::to_string(counts.addresses), std::to_string(counts.hosts),
       std::to_string(counts.services), std::to_string(counts.findings)});
  if (!r.ok()) return r.status();
  return r->affected() == 1;
}

absl::StatusOr<bool> PgScanQueue::release(const std::string& owner, const std::string& id) {
  if (!isId(id)) return absl::InvalidArgumentError("work item id must be a number");
  auto r = c_.exec(
      "UPDATE scan_work_items SET state = 1, lease_owner = NULL, lease_expires = NULL,"
      " attempts = greatest(attempts - 1, 0), last_error = 'released by ' || $1,"
      " updated_at = now() WHERE id = $2 AND state = 2 AND lease_owner = $1",
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
