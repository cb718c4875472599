// PgFindingStore::ingestBatch: many hosts' results per transaction, written set-based. Per
// transaction ("chunk") there is a fixed number of round trips whatever its size: one query
// locks the chunk's scans, one statement upserts every asset and service and inserts every
// observation, one query finds (and locks) the certificates already stored and one inserts the
// others, COPY writes the normalised rows straight into their tables, one query locks the
// stored findings, the lifecycle is reconciled in C++ (finding_reconciler.h, the same function
// as for one host), one query reserves ids, COPY writes new findings, events, outbox entries and
// scan membership, and one statement updates findings seen again or resolved and the latest
// observations. Executor start-up, planning and the commit's WAL flush are paid once per chunk
// instead of once per service, and no reference is checked row by row: the locks taken here
// are what the foreign keys did (migration 0003; tests/bench/README.md, "Storage benchmark").
#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "storage/finding_reconciler.h"
#include "storage/ingest_rows.h"
#include "storage/pg_finding_store.h"
#include "storage/proto_json.h"
#include "storage/timestamps.h"

namespace tlsaudit::storage {

namespace v1 = tlsaudit::v1;

namespace {

// A JSON array of flat objects written straight as text: a batch's parameters are thousands
// of small rows, and a DOM per row costs more than the database's parsing of them. Keys are
// constants of this file; values are escaped (appendJsonString), so the text is always valid.
class JsonRows {
 public:
  // Starts the next object.
  JsonRows& row() {
    if (rows_++ > 0) text_ += "},";
    text_ += '{';
    first_ = true;
    return *this;
  }
  JsonRows& str(std::string_view key, std::string_view value) {
    appendJsonString(value, this->key(key));
    return *this;
  }
  JsonRows& num(std::string_view key, int64_t value) {
    absl::StrAppend(&this->key(key), value);
    return *this;
  }
  JsonRows& flag(std::string_view key, bool value) {
    this->key(key) += value ? "true" : "false";
    return *this;
  }
  JsonRows& null(std::string_view key) {
    this->key(key) += "null";
    return *this;
  }
  JsonRows& strs(std::string_view key,
                 const google::protobuf::RepeatedPtrField<std::string>& values) {
    std::string& out = this->key(key);
    out += '[';
    for (int i = 0; i < values.size(); ++i) {
      if (i > 0) out += ',';
      appendJsonString(values[i], out);
    }
    out += ']';
    return *this;
  }
  bool empty() const { return rows_ == 0; }
  // The array's text; the writer is spent.
  std::string finish() {
    text_ += rows_ > 0 ? "}]" : "]";
    return std::move(text_);
  }

 private:
  std::string& key(std::string_view key) {
    text_ += first_ ? "\"" : ",\"";
    text_.append(key.data(), key.size());
    text_ += "\":";
    first_ = false;
    return text_;
  }

  std::string text_ = "[";
  size_t rows_ = 0;
  bool first_ = true;
};

// Parameters moved in, not copied as an initializer list would: a chunk's reports and
// certificates are megabytes.
template <typename... Values>
PgParams movedParams(Values&&... values) {
  PgParams out;
  out.reserve(sizeof...(values));
  (out.emplace_back(std::forward<Values>(values)), ...);
  return out;
}

// ---- statements ---------------------------------------------------------------------------

// The report is TOAST-compressed with lz4 where the server has it: several times faster than
// pglz for the same data, and reads back transparently. Setting it per transaction (and only
// when available) changes nothing for other sessions or servers built without lz4.
constexpr const char* kUseLz4 = R"sql(
SELECT set_config('default_toast_compression', 'lz4', true) FROM pg_settings
WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals))sql";

// Every statement of a chunk is planned for its own parameters and the tables as they are now.
// A prepared statement otherwise switches to a generic plan after five runs, chosen while the
// tables were small: the latest-observation update then read all of services by a hash join,
// once per chunk (30 us per observation at 100,000 services instead of 10). Planning costs
// well under a millisecond per chunk.
constexpr const char* kCustomPlans = R"sql(
SELECT set_config('plan_cache_mode', 'force_custom_plan', true))sql";

// The scans the chunk writes for, locked as the foreign keys did (migration 0003: once per
// transaction instead of once per row): none can be deleted before the chunk commits.
constexpr const char* kLockScans = R"sql(
SELECT count(*) FROM (SELECT 1 FROM scans WHERE id = ANY ($1::bigint[]) FOR KEY SHARE) AS locked)sql";

// Every asset and service of the chunk, and an observation per service unless this scan
// already stored it (the idempotency key). Upserts run in key order, so concurrent writers lock
// rows in one order. The same rules as the one-host statements (pg_finding_store.cpp).
constexpr const char* kBatchObservations = R"sql(
WITH h AS (
  SELECT x.*, i.inventory
  FROM jsonb_to_recordset($1::jsonb)
    AS x(host_no integer, address inet, addresses inet[], mac macaddr, hostname text,
         vendor text, model text, firmware text, serial text, device_class smallint, site text,
         observed_at timestamptz)
  JOIN jsonb_array_elements($2::jsonb) WITH ORDINALITY AS i(inventory, n) ON i.n = x.host_no
), a AS (
  INSERT INTO assets (address, addresses, mac, hostname, vendor, model, firmware, serial,
                      device_class, site, inventory, first_seen, last_seen)
  SELECT address, addresses, mac, hostname, vendor, model, firmware, serial, device_class, site,
         inventory, observed_at, observed_at
  FROM h ORDER BY address
  ON CONFLICT (address) DO UPDATE SET)sql" TLSAUDIT_ASSET_MERGE R"sql(
  RETURNING id, address
), s AS (
  SELECT x.*, a.id AS asset_id, h.address AS asset_address
  FROM jsonb_to_recordset($3::jsonb)
    AS x(svc_no integer, host_no integer, scan_id bigint, address inet, port integer,
         transport text, protocol text, starttls text, product text, observed_at timestamptz,
         reachable boolean, tls boolean, complete boolean)
  JOIN h ON h.host_no = x.host_no
  JOIN a ON a.address = h.address
), svc AS (
  INSERT INTO services (asset_id, address, port, transport, protocol, starttls, product,
                        first_seen, last_seen)
  SELECT asset_id, address, port, transport, protocol, starttls, product, observed_at, observed_at
  FROM s ORDER BY address, port, transport
  ON CONFLICT (address, port, transport) DO UPDATE SET
    asset_id = EXCLUDED.asset_id,
    protocol = COALESCE(NULLIF(EXCLUDED.protocol, ''), services.protocol),
    starttls = EXCLUDED.starttls,
    product = COALESCE(NULLIF(EXCLUDED.product, ''), services.product),
    first_seen = LEAST(services.first_seen, EXCLUDED.first_seen),
    last_seen = GREATEST(services.last_seen, EXCLUDED.last_seen)
  RETURNING id, address, port, transport
), sv AS (
  SELECT s.svc_no, s.scan_id, s.asset_id, s.asset_address, s.observed_at, s.reachable, s.tls,
         s.complete, svc.id AS service_id
  FROM s JOIN svc ON svc.address = s.address AND svc.port = s.port AND svc.transport = s.transport
), obs AS (
  INSERT INTO observations (scan_id, service_id, asset_id, observed_at, reachable, tls, complete,
                            report)
  SELECT sv.scan_id, sv.service_id, sv.asset_id, sv.observed_at, sv.reachable, sv.tls,
         sv.complete, r.report
  FROM sv JOIN jsonb_array_elements($4::jsonb) WITH ORDINALITY AS r(report, n) ON r.n = sv.svc_no
  ORDER BY sv.svc_no
  ON CONFLICT (scan_id, service_id) DO NOTHING
  RETURNING id, service_id
)
SELECT sv.svc_no, sv.service_id, sv.asset_id, obs.id, host(sv.asset_address),
       sv.observed_at::text
FROM sv LEFT JOIN obs ON obs.service_id = sv.service_id
ORDER BY sv.svc_no)sql";

// Sorted by SHA-256 so two writers inserting the same certificates lock them in one order.
constexpr const char* kBatchCertificates = R"sql(
INSERT INTO certificates (sha256, sha1, der, subject, issuer, common_name, serial, not_before,
                          not_after, signature_algorithm, signature_hash, key_type, key_bits,
                          curve, subject_alt_names, is_ca, self_signed, x509_version)
SELECT decode(x.sha256, 'hex'), decode(NULLIF(x.sha1, ''), 'hex'), decode(x.der, 'base64'),
       x.subject, x.issuer, x.common_name, x.serial, x.not_before, x.not_after,
       x.signature_algorithm, x.signature_hash, x.key_type, x.key_bits, x.curve,
       x.subject_alt_names, x.is_ca, x.self_signed, x.x509_version
FROM jsonb_to_recordset($1::jsonb)
  AS x(sha256 text, sha1 text, der text, subject text, issuer text, common_name text,
       serial text, not_before timestamptz, not_after timestamptz, signature_algorithm text,
       signature_hash text, key_type text, key_bits integer, curve text,
       subject_alt_names text[], is_ca boolean, self_signed boolean, x509_version smallint)
ORDER BY x.sha256
ON CONFLICT (sha256) DO NOTHING
RETURNING encode(sha256, 'hex'))sql";

// Which of the batch's certificates are stored already: their DER (the bulk of a batch) is
// then not sent again. They are locked as the chain rows' foreign key did, once per
// transaction instead of once per row (migration 0003): none can be deleted before the chain
// rows that present it commit. A certificate stored concurrently in between is caught by
// ON CONFLICT, and locked afterwards (kLockCertificates).
constexpr const char* kKnownCertificates = R"sql(
SELECT encode(c.sha256, 'hex') FROM certificates c
WHERE c.sha256 IN (SELECT decode(x, 'hex') FROM unnest($1::text[]) AS x)
FOR KEY SHARE)sql";

constexpr const char* kLockCertificates = R"sql(
SELECT count(*) FROM (
  SELECT 1 FROM certificates c
  WHERE c.sha256 IN (SELECT decode(x, 'hex') FROM unnest($1::text[]) AS x)
  FOR KEY SHARE) AS locked)sql";

constexpr const char* kCopyVersions =
    "COPY observation_versions (observation_id, version, supported, cipher_order) FROM STDIN";
constexpr const char* kCopySuites =
    "COPY observation_cipher_suites (observation_id, version, codes, names, kx, auth, ciphers,"
    " macs, bits, forward_secret) FROM STDIN";
constexpr const char* kCopyClientAuth =
    "COPY observation_client_auth (observation_id, version, signature_algorithms, ca_names,"
    " certificate_types) FROM STDIN";
constexpr const char* kCopyExtensions =
    "COPY observation_extensions (observation_id, secure_renegotiation, fallback_scsv,"
    " compression, ocsp_stapling, heartbeat, session_ticket, extended_master_secret,"
    " encrypt_then_mac, alpn) FROM STDIN";
constexpr const char* kCopyChains =
    "COPY observation_certificates (observation_id, chain_index, position, sha256, source,"
    " trusted) FROM STDIN";

constexpr const char* kBatchLockFindings = R"sql(
SELECT service_id, id, rule_id, state, severity, title FROM findings
WHERE service_id = ANY ($1::bigint[])
ORDER BY service_id, rule_id FOR UPDATE)sql";

// Ids for the chunk's new findings and events, taken before COPY writes them: the events,
// outbox entries and scan membership written with them refer to these ids.
constexpr const char* kReserveIds = R"sql(
SELECT ARRAY(SELECT nextval('findings_id_seq') FROM generate_series(1, $1::integer)),
       ARRAY(SELECT nextval('finding_events_id_seq') FROM generate_series(1, $2::integer)))sql";

// New findings, their events, outbox entries and scan membership go by COPY. A new finding
// cannot collide with a stored one: its service's row is locked by kBatchObservations, so no
// other writer adds findings to it before this transaction ends, and kBatchLockFindings read
// what was there (a collision anyway fails the chunk, whose results are then written alone).
constexpr const char* kCopyFindings =
    "COPY findings (id, asset_id, service_id, address, rule_id, severity, state, title,"
    " evidence, profiles, references_, tags, waiver_id, first_seen, last_seen, last_scan_id,"
    " state_changed) FROM STDIN";
constexpr const char* kCopyEvents =
    "COPY finding_events (id, finding_id, scan_id, kind, from_state, to_state, at, evidence)"
    " FROM STDIN";
constexpr const char* kCopyOutbox =
    "COPY alert_outbox (event_id, kind, payload, idempotency_key) FROM STDIN";
constexpr const char* kCopyMembership = "COPY scan_findings (scan_id, finding_id) FROM STDIN";

// Stored findings seen again or resolved, and the services' latest observations (with the
// late-result rule). The same rules as the one-host statement (pg_finding_store.cpp).
constexpr const char* kBatchUpdates = R"sql(
WITH seen AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb)
    AS x(id bigint, asset_id bigint, address inet, severity smallint, state smallint,
         title text, evidence text, profiles text[], refs text[], tags text[], waiver_id text,
         scan_id bigint, observed_at timestamptz)
), up AS (
  UPDATE findings f SET
    asset_id = x.asset_id,
    address = x.address,
    severity = x.severity,
    state = x.state,
    title = x.title,
    evidence = x.evidence,
    profiles = x.profiles,
    references_ = x.refs,
    tags = x.tags,
    waiver_id = x.waiver_id,
    last_seen = GREATEST(f.last_seen, x.observed_at),
    -- A result that arrives late (an older scan) does not move "last" backwards.
    last_scan_id = CASE WHEN x.observed_at >= f.last_seen THEN x.scan_id ELSE f.last_scan_id END,
    state_changed = CASE WHEN f.state <> x.state THEN x.observed_at ELSE f.state_changed END
  FROM seen x
  WHERE f.id = x.id
), gone AS (
  SELECT * FROM jsonb_to_recordset($2::jsonb) AS x(id bigint, observed_at timestamptz)
), res AS (
  UPDATE findings f SET state = 2, state_changed = x.observed_at
  FROM gone x
  WHERE f.id = x.id
), o AS (
  SELECT * FROM jsonb_to_recordset($3::jsonb)
    AS x(service_id bigint, observation_id bigint, scan_id bigint, observed_at timestamptz)
), latest AS (
  UPDATE services s SET last_observation_id = o.observation_id, last_scan_id = o.scan_id
  FROM o
  WHERE s.id = o.service_id
    AND NOT EXISTS (SELECT 1 FROM observations x
                    WHERE x.id = s.last_observation_id AND x.observed_at > o.observed_at)
)
SELECT 1)sql";

// A random (version 4) UUID: an alert's idempotency key, made here instead of by the column's
// default (gen_random_uuid() took about 4 us per event on the server, more than the rest of
// the outbox row). Keys only need to be unique: 122 random bits from a generator per thread,
// seeded from the operating system's entropy.
std::string randomUuid() {
  thread_local std::mt19937_64 generator = [] {
    std::random_device entropy;
    std::seed_seq seed{entropy(), entropy(), entropy(), entropy(),
                       entropy(), entropy(), entropy(), entropy()};
    return std::mt19937_64(seed);
  }();
  uint64_t high = generator(), low = generator();
  high = (high & ~0xF000ULL) | 0x4000ULL;                // version 4
  low = (low & ~(0xC000ULL << 48)) | (0x8000ULL << 48);  // RFC 4122 variant
  char text[37];
  std::snprintf(text, sizeof(text), "%08llx-%04llx-%04llx-%04llx-%012llx",
                static_cast<unsigned long long>(high >> 32),
                static_cast<unsigned long long>((high >> 16) & 0xFFFF),
                static_cast<unsigned long long>(high & 0xFFFF),
                static_cast<unsigned long long>(low >> 48),
                static_cast<unsigned long long>(low & 0xFFFFFFFFFFFFULL));
  return text;
}

// ---- planning a batch -----------------------------------------------------------------------

// A host result as the batch writes it, with its services' identities computed once.
struct PlannedHost {
  size_t index = 0;  // in the batch
  const v1::HostResult* host = nullptr;
  std::string address;
  google::protobuf::Timestamp observed;  // the asset's
  std::vector<ServiceIdentity> services;
  // The rows this result writes under: its asset's address and each service's key. A later
  // result under one of them must be written after this one.
  std::vector<std::string> keys;
  // False when the result cannot go into a set-based chunk (invalid, or naming one service
  // twice): it is written alone by ingest(), which also gives its exact error.
  bool batchable = true;
  v1::IngestOutcome outcome;
};

PlannedHost planHost(size_t index, const v1::HostResult& host) {
  PlannedHost p;
  p.index = index;
  p.host = &host;
  p.address = hostAddress(host);
  p.observed = host.has_observed_at() ? host.observed_at() : nowTimestamp();
  p.keys.push_back(absl::StrCat("asset ", p.address));
  p.batchable = isDecimalId(host.scan_id()) && !p.address.empty();
  std::set<std::string> service_keys;
  for (const auto& service : host.services()) {
    auto id = serviceIdentity(host, service, p.address);
    if (!id.ok()) {
      p.batchable = false;
      continue;
    }
    std::string key = absl::StrCat("service ", id->ip, " ", id->port, " ", id->transport);
    if (!service_keys.insert(key).second) p.batchable = false;
    p.keys.push_back(std::move(key));
    for (const auto& f : service.findings()) {
      if (f.rule_id().empty()) p.batchable = false;
    }
    p.services.push_back(*std::move(id));
  }
  return p;
}

// One service of a chunk.
struct ChunkService {
  PlannedHost* host = nullptr;
  const v1::ServiceResult* result = nullptr;
  const ServiceIdentity* identity = nullptr;
  int64_t service_id = 0;
  int64_t asset_id = 0;
  int64_t observation_id = 0;  // 0: this scan already stored this service (a replay)
  // As the server writes them in alert payloads (the address without its /32, timestamptz
  // output).
  std::string asset_address_text;
  std::string observed_text;
};

void countEvent(const std::string& event, v1::IngestOutcome& o) {
  if (event == "opened") o.set_findings_opened(o.findings_opened() + 1);
  if (event == "reopened") o.set_findings_reopened(o.findings_reopened() + 1);
  if (event == "waived") o.set_findings_waived(o.findings_waived() + 1);
  if (event == "unwaived") o.set_findings_unwaived(o.findings_unwaived() + 1);
}

// Writes `hosts` (distinct assets and services, all batchable) in one transaction and fills
// their outcomes; nothing is written when an error is returned.
absl::Status writeChunk(PgConnection& c, std::vector<PlannedHost>& hosts) {
  auto tx = PgTransaction::begin(c);
  if (!tx.ok()) return tx.status();
  if (auto r = c.execPrepared("batch_lz4", kUseLz4); !r.ok()) return r.status();
  if (auto r = c.execPrepared("batch_custom_plans", kCustomPlans); !r.ok()) return r.status();
  std::set<std::string> scans;
  for (const PlannedHost& h : hosts) {
    if (h.host->services_size() > 0) scans.insert(std::to_string(std::stoll(h.host->scan_id())));
  }
  if (!scans.empty()) {
    auto locked = c.execPrepared("batch_lock_scans", kLockScans,
                                 {absl::StrCat("{", absl::StrJoin(scans, ","), "}")});
    if (!locked.ok()) return locked.status();
    // A scan that does not exist: written one result at a time, which names it.
    if (locked->int64(0, 0) != static_cast<int64_t>(scans.size())) {
      return absl::FailedPreconditionError("batch ingest: a scan does not exist");
    }
  }

  // 1. Assets, services, observations.
  JsonRows host_rows, service_rows;
  std::string inventories = "[", reports = "[";
  std::vector<ChunkService> services;
  for (size_t h = 0; h < hosts.size(); ++h) {
    const v1::HostResult& host = *hosts[h].host;
    const v1::Asset& a = host.asset();
    host_rows.row().num("host_no", h + 1).str("address", hosts[h].address);
    host_rows.strs("addresses", a.addresses());
    a.mac().empty() ? host_rows.null("mac") : host_rows.str("mac", a.mac());
    host_rows.str("hostname", a.hostname()).str("vendor", a.vendor()).str("model", a.model());
    host_rows.str("firmware", a.firmware()).str("serial", a.serial());
    host_rows.num("device_class", a.device_class()).str("site", a.site());
    host_rows.str("observed_at", pgTimestamp(hosts[h].observed));
    absl::StrAppend(&inventories, h == 0 ? "" : ",", assetJson(a));
    for (int s = 0; s < host.services_size(); ++s) {
      const v1::ServiceResult& result = host.services(s);
      const ServiceIdentity& id = hosts[h].services[s];
      ChunkService& added = services.emplace_back();
      added.host = &hosts[h];
      added.result = &result;
      added.identity = &id;
      const v1::TlsReport& report = result.report();
      service_rows.row().num("svc_no", services.size()).num("host_no", h + 1);
      service_rows.str("scan_id", host.scan_id()).str("address", id.ip).num("port", id.port);
      service_rows.str("transport", id.transport).str("protocol", result.service().protocol());
      service_rows.str("starttls", report.target().starttls());
      service_rows.str("product", result.service().product());
      service_rows.str("observed_at", pgTimestamp(id.observed));
      service_rows.flag("reachable", report.reachable()).flag("tls", report.tls());
      service_rows.flag("complete", result.complete());
      absl::StrAppend(&reports, services.size() == 1 ? "" : ",", reportJson(report));
    }
  }
  inventories += "]";
  reports += "]";
  auto obs = c.execPrepared("batch_observations", kBatchObservations,
                            movedParams(host_rows.finish(), std::move(inventories),
                                        service_rows.finish(), std::move(reports)));
  if (!obs.ok()) return obs.status();
  if (obs->rows() != static_cast<int>(services.size())) {
    return absl::InternalError("batch ingest: a service was not stored");
  }
  std::vector<ChunkService*> fresh;  // services whose observation is new, in batch order
  for (int i = 0; i < obs->rows(); ++i) {
    ChunkService& s = services[obs->int64(i, 0) - 1];
    s.service_id = obs->int64(i, 1);
    s.asset_id = obs->int64(i, 2);
    s.observation_id = obs->int64(i, 3);
    s.asset_address_text = obs->str(i, 4);
    s.observed_text = obs->str(i, 5);
    v1::IngestOutcome& o = s.host->outcome;
    if (s.observation_id == 0) {
      // This scan already stored this service: a replay, so nothing else may change.
      o.set_services_replayed(o.services_replayed() + 1);
    } else {
      o.set_services_stored(o.services_stored() + 1);
      fresh.push_back(&s);
    }
  }

  // 2. Certificates (each once; a new one is counted for the first host that presents it),
  // then the normalised rows by COPY, chain positions after the certificates they point at.
  std::vector<ObservationRows> fresh_rows;
  std::set<std::string> shas;
  for (ChunkService* s : fresh) {
    fresh_rows.push_back(observationRows(s->result->report()));
    for (const auto& r : fresh_rows.back().certificates) shas.insert(r.sha256);
  }
  std::set<std::string> known;
  if (!shas.empty()) {
    auto r = c.execPrepared("batch_known_certificates", kKnownCertificates,
                            {pgTextArray({shas.begin(), shas.end()})});
    if (!r.ok()) return r.status();
    for (int i = 0; i < r->rows(); ++i) known.insert(r->str(i, 0));
  }
  PgCopyRows versions, suites, client_auth, extensions, chains;
  JsonRows certificates;
  std::map<std::string, PlannedHost*> first_presenter;
  for (size_t f = 0; f < fresh.size(); ++f) {
    ChunkService* s = fresh[f];
    const v1::TlsReport& report = s->result->report();
    const ObservationRows& rows = fresh_rows[f];
    int64_t id = s->observation_id;
    for (const auto& v : rows.versions) {
      versions.number(id).number(v.version).boolean(v.supported).number(v.cipher_order).endRow();
    }
    for (const auto& r : rows.suites) {
      SuiteArrays a = suiteArrays(r);
      suites.number(id).number(r.version).text(a.codes).text(a.names).text(a.kx).text(a.auth);
      suites.text(a.ciphers).text(a.macs).text(a.bits).text(a.forward_secret).endRow();
    }
    for (const auto& r : rows.client_auth) {
      client_auth.number(id).number(r.version);
      client_auth.text(pgTextArray(
          {r.auth->signature_algorithms().begin(), r.auth->signature_algorithms().end()}));
      client_auth.text(pgTextArray({r.auth->ca_names().begin(), r.auth->ca_names().end()}));
      client_auth.text(
          pgTextArray({r.auth->certificate_types().begin(), r.auth->certificate_types().end()}));
      client_auth.endRow();
    }
    const auto& e = report.extensions();
    extensions.number(id).boolean(e.secure_renegotiation()).number(e.fallback_scsv());
    extensions.boolean(e.compression()).boolean(e.ocsp_stapling()).boolean(e.heartbeat());
    extensions.boolean(e.session_ticket()).boolean(e.extended_master_secret());
    extensions.boolean(e.encrypt_then_mac());
    extensions.text(pgTextArray({e.alpn().begin(), e.alpn().end()})).endRow();
    for (const auto& r : rows.chain) {
      chains.number(id).number(r.chain_index).number(r.position).text("\\x" + r.sha256);
      chains.number(r.source).boolean(r.trusted).endRow();
    }
    for (const auto& r : rows.certificates) {
      if (known.contains(r.sha256) || !first_presenter.emplace(r.sha256, s->host).second) {
        continue;
      }
      const v1::Certificate& cert = *r.certificate;
      certificates.row().str("sha256", r.sha256).str("sha1", r.sha1);
      certificates.str("der", absl::Base64Escape(cert.der())).str("subject", cert.subject());
      certificates.str("issuer", cert.issuer()).str("common_name", cert.common_name());
      certificates.str("serial", cert.serial());
      certificates.str("signature_algorithm", cert.signature_algorithm());
      certificates.str("signature_hash", cert.signature_hash()).str("key_type", cert.key_type());
      certificates.num("key_bits", cert.key_bits()).str("curve", cert.curve());
      certificates.strs("subject_alt_names", cert.subject_alt_names());
      certificates.flag("is_ca", cert.is_ca()).flag("self_signed", cert.self_signed());
      certificates.num("x509_version", cert.version());
      if (cert.has_not_before()) certificates.str("not_before", pgTimestamp(cert.not_before()));
      if (cert.has_not_after()) certificates.str("not_after", pgTimestamp(cert.not_after()));
    }
  }
  if (!certificates.empty()) {
    auto inserted = c.execPrepared("batch_certificates", kBatchCertificates,
                                   movedParams(certificates.finish()));
    if (!inserted.ok()) return inserted.status();
    std::set<std::string> concurrent;  // stored by another transaction since kKnownCertificates
    for (const auto& [sha, presenter] : first_presenter) concurrent.insert(sha);
    for (int i = 0; i < inserted->rows(); ++i) {
      auto presenter = first_presenter.find(inserted->str(i, 0));
      if (presenter == first_presenter.end()) continue;
      concurrent.erase(presenter->first);
      v1::IngestOutcome& o = presenter->second->outcome;
      o.set_certificates_new(o.certificates_new() + 1);
    }
    if (!concurrent.empty()) {
      auto locked = c.execPrepared("batch_lock_certificates", kLockCertificates,
                                   {pgTextArray({concurrent.begin(), concurrent.end()})});
      if (!locked.ok()) return locked.status();
      if (locked->int64(0, 0) != static_cast<int64_t>(concurrent.size())) {
        return absl::AbortedError("batch ingest: a certificate was deleted while being stored");
      }
    }
  }
  for (auto [sql, rows] :
       {std::pair{kCopyVersions, &versions}, std::pair{kCopySuites, &suites},
        std::pair{kCopyClientAuth, &client_auth}, std::pair{kCopyExtensions, &extensions},
        std::pair{kCopyChains, &chains}}) {
    if (rows->empty()) continue;
    if (auto n = c.copyIn(sql, rows->data()); !n.ok()) return n.status();
  }

  // 3. Findings: lock what is stored for the new observations' services (in one order), then
  // reconcile each service as the one-host path does.
  if (fresh.empty()) return (*tx)->commit();
  std::vector<std::string> ids;
  for (ChunkService* s : fresh) ids.push_back(std::to_string(s->service_id));
  auto locked = c.execPrepared("batch_lock_findings", kBatchLockFindings, {pgTextArray(ids)});
  if (!locked.ok()) return locked.status();
  std::map<int64_t, std::vector<StoredFinding>> stored;
  for (int i = 0; i < locked->rows(); ++i) {
    stored[locked->int64(i, 0)].push_back(
        {locked->int64(i, 1), locked->str(i, 2), static_cast<v1::FindingState>(locked->int64(i, 3)),
         static_cast<v1::Severity>(locked->int64(i, 4)), locked->str(i, 5)});
  }
  struct Change {  // an event and its outbox entry
    int64_t finding_id = 0;
    const ChunkService* service = nullptr;
    std::string_view kind, rule_id, title, evidence;
    int severity = 0, from_state = 0, to_state = 0;
  };
  struct NewFinding {
    const ChunkService* service = nullptr;
    const FindingUpsert* upsert = nullptr;
  };
  std::vector<Reconciliation> recs;
  recs.reserve(fresh.size());
  size_t new_findings = 0, events = 0;
  for (ChunkService* s : fresh) {
    recs.push_back(
        reconcileFindings(stored[s->service_id], s->result->findings(), s->result->complete()));
    for (const auto& u : recs.back().upserts) {
      if (u.stored_id == 0) ++new_findings;
      if (!u.event.empty()) ++events;
    }
    events += recs.back().resolved.size();
  }
  std::vector<int64_t> finding_ids, event_ids;
  if (new_findings + events > 0) {
    auto ids = c.execPrepared("batch_reserve_ids", kReserveIds,
                              {std::to_string(new_findings), std::to_string(events)});
    if (!ids.ok()) return ids.status();
    for (const auto& v : parsePgTextArray(ids->text(0, 0))) finding_ids.push_back(std::stoll(v));
    for (const auto& v : parsePgTextArray(ids->text(0, 1))) event_ids.push_back(std::stoll(v));
    if (finding_ids.size() != new_findings || event_ids.size() != events) {
      return absl::InternalError("batch ingest: ids were not reserved");
    }
  }
  PgCopyRows new_rows, membership;
  JsonRows seen, gone, latest;
  std::vector<Change> changes;
  size_t next_finding = 0;
  for (size_t k = 0; k < fresh.size(); ++k) {
    const ChunkService* s = fresh[k];
    const ServiceIdentity& id = *s->identity;
    const std::string& scan = s->host->host->scan_id();
    std::string observed = pgTimestamp(id.observed);
    latest.row().num("service_id", s->service_id).num("observation_id", s->observation_id);
    latest.str("scan_id", scan).str("observed_at", observed);
    v1::IngestOutcome& o = s->host->outcome;
    for (const auto& u : recs[k].upserts) {
      const v1::Finding& f = *u.finding;
      const std::string& waiver = u.to_state == v1::WAIVED ? f.waiver_id() : "";
      int64_t finding_id = u.stored_id;
      if (finding_id == 0) {
        finding_id = finding_ids[next_finding++];
        new_rows.number(finding_id).number(s->asset_id).number(s->service_id);
        new_rows.text(s->host->address).text(f.rule_id()).number(f.severity());
        new_rows.number(u.to_state).text(f.title()).text(f.evidence());
        new_rows.text(pgTextArray({f.profiles().begin(), f.profiles().end()}));
        new_rows.text(pgTextArray({f.references().begin(), f.references().end()}));
        new_rows.text(pgTextArray({f.tags().begin(), f.tags().end()})).text(waiver);
        new_rows.text(observed).text(observed).text(scan).text(observed).endRow();
      } else {
        seen.row().num("id", finding_id).num("asset_id", s->asset_id);
        seen.str("address", s->host->address).num("severity", f.severity());
        seen.num("state", u.to_state).str("title", f.title()).str("evidence", f.evidence());
        seen.strs("profiles", f.profiles()).strs("refs", f.references()).strs("tags", f.tags());
        seen.str("waiver_id", waiver).str("scan_id", scan).str("observed_at", observed);
      }
      membership.text(scan).number(finding_id).endRow();
      if (!u.event.empty()) {
        changes.push_back({finding_id, s, u.event, f.rule_id(), f.title(), f.evidence(),
                           f.severity(), u.from_state, u.to_state});
      }
      countEvent(u.event, o);
    }
    for (const auto& r : recs[k].resolved) {
      gone.row().num("id", r.stored->id).str("observed_at", observed);
      changes.push_back({r.stored->id, s, "resolved", r.stored->rule_id, r.stored->title, "",
                         r.stored->severity, r.stored->state, v1::RESOLVED});
    }
    o.set_findings_resolved(o.findings_resolved() + recs[k].resolved.size());
  }
  // Events and their outbox entries; the payload as the one-host statement builds it with
  // jsonb_build_object (texts the server formatted: the asset's inet and the observation time).
  PgCopyRows event_rows, outbox_rows;
  std::string payload;
  for (size_t i = 0; i < changes.size(); ++i) {
    const Change& ch = changes[i];
    const ChunkService& s = *ch.service;
    std::string scan = std::to_string(std::stoll(s.host->host->scan_id()));
    event_rows.number(event_ids[i]).number(ch.finding_id).text(scan).text(ch.kind);
    event_rows.number(ch.from_state).number(ch.to_state);
    event_rows.text(pgTimestamp(s.identity->observed)).text(ch.evidence).endRow();
    payload = "{\"findingId\":\"";
    absl::StrAppend(&payload, ch.finding_id, "\",\"event\":");
    appendJsonString(ch.kind, payload);
    payload += ",\"ruleId\":";
    appendJsonString(ch.rule_id, payload);
    absl::StrAppend(&payload, ",\"severity\":", ch.severity, ",\"title\":");
    appendJsonString(ch.title, payload);
    payload += ",\"evidence\":";
    appendJsonString(ch.evidence, payload);
    absl::StrAppend(&payload, ",\"fromState\":", ch.from_state, ",\"toState\":", ch.to_state,
                    ",\"asset\":");
    appendJsonString(s.asset_address_text, payload);
    payload += ",\"service\":";
    appendJsonString(serviceName(s.identity->ip, s.identity->port), payload);
    absl::StrAppend(&payload, ",\"scanId\":\"", scan, "\",\"at\":");
    appendJsonString(s.observed_text, payload);
    payload += '}';
    outbox_rows.number(event_ids[i]).text("finding." + std::string(ch.kind)).text(payload);
    outbox_rows.text(randomUuid()).endRow();
  }
  for (auto [sql, rows] :
       {std::pair{kCopyFindings, &new_rows}, std::pair{kCopyEvents, &event_rows},
        std::pair{kCopyOutbox, &outbox_rows}, std::pair{kCopyMembership, &membership}}) {
    if (rows->empty()) continue;
    if (auto n = c.copyIn(sql, rows->data()); !n.ok()) return n.status();
  }
  auto updated = c.execPrepared("batch_updates", kBatchUpdates,
                                movedParams(seen.finish(), gone.finish(), latest.finish()));
  if (!updated.ok()) return updated.status();
  return (*tx)->commit();
}

bool transientFailure(const absl::Status& s, const PgConnection& c) {
  return s.code() == absl::StatusCode::kUnavailable || s.code() == absl::StatusCode::kAborted ||
         c.broken();
}

}  // namespace

std::vector<absl::StatusOr<v1::IngestOutcome>> PgFindingStore::ingestBatch(
    std::span<const v1::HostResult> results) {
  std::vector<absl::StatusOr<v1::IngestOutcome>> out(results.size(),
                                                     absl::UnknownError("not written"));
  // Keys of results that failed: a later result under one of them is held back, so one asset's
  // or service's results are never applied out of order.
  std::set<std::string> failed_keys;
  std::vector<PlannedHost> chunk;
  std::set<std::string> chunk_keys;
  auto settle = [&](const PlannedHost& p, absl::StatusOr<v1::IngestOutcome> outcome) {
    if (!outcome.ok()) failed_keys.insert(p.keys.begin(), p.keys.end());
    out[p.index] = std::move(outcome);
  };
  auto flush = [&] {
    if (chunk.empty()) return;
    absl::Status s = writeChunk(c_, chunk);
    if (s.ok()) {
      for (const auto& p : chunk) settle(p, p.outcome);
    } else if (transientFailure(s, c_)) {
      for (const auto& p : chunk) settle(p, s);
    } else {
      // One of the results is refused (a value PostgreSQL rejects, a constraint): write each
      // alone, so the others are stored and the culprit gets its own error.
      for (const auto& p : chunk) settle(p, ingest(*p.host));
    }
    chunk.clear();
    chunk_keys.clear();
  };
  auto held_back = [&](const PlannedHost& p) {
    if (std::none_of(p.keys.begin(), p.keys.end(),
                     [&](const std::string& k) { return failed_keys.contains(k); })) {
      return false;
    }
    settle(p, absl::AbortedError(
                  "not written: an earlier result for the same asset or service in this batch "
                  "failed"));
    return true;
  };
  for (size_t i = 0; i < results.size(); ++i) {
    PlannedHost p = planHost(i, results[i]);
    if (held_back(p)) continue;
    if (!p.batchable) {
      flush();
      // The flush may just have failed an earlier result of this asset or service.
      if (held_back(p)) continue;
      settle(p, ingest(results[i]));
      continue;
    }
    // Set-based statements cannot touch one row twice, and a second result of a service must
    // be reconciled after the first: a repeated key starts the next transaction.
    if (std::any_of(p.keys.begin(), p.keys.end(),
                    [&](const std::string& k) { return chunk_keys.contains(k); })) {
      flush();
      // That earlier result was only written now: if it failed, this one waits for it.
      if (held_back(p)) continue;
    }
    chunk_keys.insert(p.keys.begin(), p.keys.end());
    chunk.push_back(std::move(p));
  }
  flush();
  return out;
}

}  // namespace tlsaudit::storage
