#include "storage/pg_finding_store.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "storage/finding_reconciler.h"
#include "storage/ingest_rows.h"
#include "storage/page_token.h"
#include "storage/timestamps.h"

namespace tlsaudit::storage {

namespace v1 = tlsaudit::v1;
using nlohmann::json;

std::string serviceName(const std::string& ip, uint32_t port) {
  if (ip.find(':') != std::string::npos) return absl::StrCat("[", ip, "]:", port);
  return absl::StrCat(ip, ":", port);
}

bool parseServiceName(const std::string& text, std::string& ip, uint32_t& port) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 >= text.size()) return false;
  ip = text.substr(0, colon);
  if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  const char* begin = text.data() + colon + 1;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(begin, end, port);
  return ec == std::errc() && p == end && port <= 65535 && !ip.empty();
}

namespace {

absl::Status invalid(std::string_view what) {
  return absl::InvalidArgumentError(std::string(what));
}

// Invalid UTF-8 (hostile peers) becomes U+FFFD instead of an exception.
std::string jsonText(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

json stringArray(const google::protobuf::RepeatedPtrField<std::string>& values) {
  json a = json::array();
  for (const auto& v : values) a.push_back(v);
  return a;
}

// ---- statements ---------------------------------------------------------------------------

// The scan a host result is written for, locked as the foreign keys did (migration 0003: once
// per transaction instead of once per row): it cannot be deleted before the result commits,
// and a result for a scan that does not exist is refused.
constexpr const char* kLockScan = R"sql(
SELECT 1 FROM scans WHERE id = $1::bigint FOR KEY SHARE)sql";

constexpr const char* kUpsertAsset = R"sql(
INSERT INTO assets (address, addresses, mac, hostname, vendor, model, firmware, serial,
                    device_class, site, inventory, first_seen, last_seen)
VALUES ($1::inet, $2::inet[], NULLIF($3, '')::macaddr, $4, $5, $6, $7, $8, $9::smallint, $10,
        $11::jsonb, $12::timestamptz, $12::timestamptz)
ON CONFLICT (address) DO UPDATE SET)sql" TLSAUDIT_ASSET_MERGE R"sql(
RETURNING id)sql";

// One statement per service: the service, the observation (skipped when this scan already
// stored this service: the idempotency key), its normalised rows and certificates. Rows travel
// as JSON arrays (jsonb_to_recordset), so a service is one round trip whatever its size.
constexpr const char* kInsertObservation = R"sql(
WITH svc AS (
  INSERT INTO services (asset_id, address, port, transport, protocol, starttls, product,
                        first_seen, last_seen)
  VALUES ($1, $2::inet, $3, $4, $5, $6, $7, $8::timestamptz, $8::timestamptz)
  ON CONFLICT (address, port, transport) DO UPDATE SET
    asset_id = EXCLUDED.asset_id,
    protocol = COALESCE(NULLIF(EXCLUDED.protocol, ''), services.protocol),
    starttls = EXCLUDED.starttls,
    product = COALESCE(NULLIF(EXCLUDED.product, ''), services.product),
    first_seen = LEAST(services.first_seen, EXCLUDED.first_seen),
    last_seen = GREATEST(services.last_seen, EXCLUDED.last_seen)
  RETURNING id
), obs AS (
  INSERT INTO observations (scan_id, service_id, asset_id, observed_at, reachable, tls, complete,
                            report)
  SELECT $9, svc.id, $1, $8::timestamptz, $10, $11, $12, $13::jsonb FROM svc
  ON CONFLICT (scan_id, service_id) DO NOTHING
  RETURNING id
), ver AS (
  INSERT INTO observation_versions (observation_id, version, supported, cipher_order)
  SELECT obs.id, x.version, x.supported, x.cipher_order
  FROM obs, jsonb_to_recordset($14::jsonb)
    AS x(version smallint, supported boolean, cipher_order smallint)
), suites AS (
  INSERT INTO observation_cipher_suites (observation_id, version, codes, names, kx, auth, ciphers,
                                         macs, bits, forward_secret)
  SELECT obs.id, x.version, x.codes::integer[], x.names::text[], x.kx::text[], x.auth::text[],
         x.ciphers::text[], x.macs::text[], x.bits::integer[], x.forward_secret::boolean[]
  FROM obs, jsonb_to_recordset($15::jsonb)
    AS x(version smallint, codes text, names text, kx text, auth text, ciphers text, macs text,
         bits text, forward_secret text)
), auth AS (
  INSERT INTO observation_client_auth (observation_id, version, signature_algorithms, ca_names,
                                       certificate_types)
  SELECT obs.id, x.version, x.signature_algorithms, x.ca_names, x.certificate_types
  FROM obs, jsonb_to_recordset($16::jsonb)
    AS x(version smallint, signature_algorithms text[], ca_names text[], certificate_types text[])
), ext AS (
  INSERT INTO observation_extensions (observation_id, secure_renegotiation, fallback_scsv,
                                      compression, ocsp_stapling, heartbeat, session_ticket,
                                      extended_master_secret, encrypt_then_mac, alpn)
  SELECT obs.id, x.secure_renegotiation, x.fallback_scsv, x.compression, x.ocsp_stapling,
         x.heartbeat, x.session_ticket, x.extended_master_secret, x.encrypt_then_mac, x.alpn
  FROM obs, jsonb_to_record($17::jsonb)
    AS x(secure_renegotiation boolean, fallback_scsv smallint, compression boolean,
         ocsp_stapling boolean, heartbeat boolean, session_ticket boolean,
         extended_master_secret boolean, encrypt_then_mac boolean, alpn text[])
), cert AS (
  -- Sorted by SHA-256 so two writers inserting the same certificates lock them in one order.
  INSERT INTO certificates (sha256, sha1, der, subject, issuer, common_name, serial, not_before,
                            not_after, signature_algorithm, signature_hash, key_type, key_bits,
                            curve, subject_alt_names, is_ca, self_signed, x509_version)
  SELECT decode(x.sha256, 'hex'), decode(NULLIF(x.sha1, ''), 'hex'), decode(x.der, 'base64'),
         x.subject, x.issuer, x.common_name, x.serial, x.not_before, x.not_after,
         x.signature_algorithm, x.signature_hash, x.key_type, x.key_bits, x.curve,
         x.subject_alt_names, x.is_ca, x.self_signed, x.x509_version
  FROM (SELECT 1 FROM obs) AS o, jsonb_to_recordset($18::jsonb)
    AS x(sha256 text, sha1 text, der text, subject text, issuer text, common_name text,
         serial text, not_before timestamptz, not_after timestamptz, signature_algorithm text,
         signature_hash text, key_type text, key_bits integer, curve text,
         subject_alt_names text[], is_ca boolean, self_signed boolean, x509_version smallint)
  ORDER BY x.sha256
  ON CONFLICT (sha256) DO NOTHING
  RETURNING 1
), chain AS (
  INSERT INTO observation_certificates (observation_id, chain_index, position, sha256, source,
                                        trusted)
  SELECT obs.id, x.chain_index, x.position, decode(x.sha256, 'hex'), x.source, x.trusted
  FROM obs, jsonb_to_recordset($19::jsonb)
    AS x(chain_index smallint, position smallint, sha256 text, source smallint, trusted boolean)
), known AS (
  -- The certificates stored before: locked as the chain rows' foreign key did (migration 0003),
  -- so none can be deleted before this transaction commits. The others are inserted by `cert`.
  SELECT 1 FROM certificates c
  WHERE c.sha256 IN (SELECT decode(x.sha256, 'hex') FROM jsonb_to_recordset($18::jsonb)
                       AS x(sha256 text))
  FOR KEY SHARE
)
SELECT (SELECT id FROM svc), (SELECT id FROM obs), (SELECT count(*) FROM cert),
       (SELECT count(*) FROM known))sql";

// Certificates another transaction stored while this one inserted them (ON CONFLICT skipped
// them, and `known` above could not see them yet): locked now that they are visible.
constexpr const char* kLockCertificates = R"sql(
SELECT count(*) FROM (
  SELECT 1 FROM certificates c
  WHERE c.sha256 IN (SELECT decode(x, 'hex') FROM unnest($1::text[]) AS x)
  FOR KEY SHARE) AS locked)sql";

constexpr const char* kLockServiceFindings = R"sql(
SELECT id, rule_id, state, severity, title FROM findings WHERE service_id = $1
ORDER BY rule_id FOR UPDATE)sql";

// The finding changes of one service and everything that must commit with them: events,
// alert outbox, the scan's membership and the service's latest observation.
constexpr const char* kWriteFindings = R"sql(
WITH inc AS (
  SELECT * FROM jsonb_to_recordset($6::jsonb)
    AS x(rule_id text, severity smallint, title text, evidence text, profiles text[],
         refs text[], tags text[], state smallint, waiver_id text, event text,
         from_state smallint)
), up AS (
  INSERT INTO findings (asset_id, service_id, address, rule_id, severity, state, title,
                        evidence, profiles, references_, tags, waiver_id, first_seen, last_seen,
                        last_scan_id, state_changed)
  SELECT $2, $1, $8::inet, rule_id, severity, state, title, evidence, profiles, refs, tags,
         waiver_id, $4::timestamptz, $4::timestamptz, $3, $4::timestamptz
  FROM inc ORDER BY rule_id
  ON CONFLICT (service_id, rule_id) DO UPDATE SET
    asset_id = EXCLUDED.asset_id,
    address = EXCLUDED.address,
    severity = EXCLUDED.severity,
    state = EXCLUDED.state,
    title = EXCLUDED.title,
    evidence = EXCLUDED.evidence,
    profiles = EXCLUDED.profiles,
    references_ = EXCLUDED.references_,
    tags = EXCLUDED.tags,
    waiver_id = EXCLUDED.waiver_id,
    last_seen = GREATEST(findings.last_seen, EXCLUDED.last_seen),
    -- A result that arrives late (an older scan) does not move "last" backwards.
    last_scan_id = CASE WHEN EXCLUDED.last_seen >= findings.last_seen THEN EXCLUDED.last_scan_id
                        ELSE findings.last_scan_id END,
    state_changed = CASE WHEN findings.state <> EXCLUDED.state THEN EXCLUDED.state_changed
                         ELSE findings.state_changed END
  RETURNING id, rule_id
), gone AS (
  SELECT * FROM jsonb_to_recordset($7::jsonb)
    AS r(id bigint, rule_id text, severity smallint, title text, from_state smallint)
), res AS (
  UPDATE findings f SET state = 2, state_changed = $4::timestamptz
  FROM gone WHERE f.id = gone.id
  RETURNING f.id
), changes AS (
  SELECT up.id AS finding_id, inc.event, inc.from_state, inc.state AS to_state, inc.rule_id,
         inc.severity, inc.title, inc.evidence
  FROM up JOIN inc USING (rule_id) WHERE inc.event <> ''
  UNION ALL
  SELECT gone.id, 'resolved', gone.from_state, 2, gone.rule_id, gone.severity, gone.title, ''
  FROM gone
), ev AS (
  INSERT INTO finding_events (finding_id, scan_id, kind, from_state, to_state, at, evidence)
  SELECT finding_id, $3, event, from_state, to_state, $4::timestamptz, evidence FROM changes
  RETURNING id, finding_id, kind
), outbox AS (
  INSERT INTO alert_outbox (event_id, kind, payload)
  SELECT ev.id, 'finding.' || ev.kind,
         jsonb_build_object('findingId', ev.finding_id::text, 'event', ev.kind,
                            'ruleId', c.rule_id, 'severity', c.severity, 'title', c.title,
                            'evidence', c.evidence, 'fromState', c.from_state,
                            'toState', c.to_state, 'asset', host($8::inet), 'service', $9::text,
                            'scanId', $3::text, 'at', $4::text)
  FROM ev JOIN changes c ON c.finding_id = ev.finding_id AND c.event = ev.kind
), member AS (
  INSERT INTO scan_findings (scan_id, finding_id) SELECT $3, id FROM up ON CONFLICT DO NOTHING
), latest AS (
  UPDATE services SET last_observation_id = $5, last_scan_id = $3
  WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM observations o
                                WHERE o.id = services.last_observation_id
                                  AND o.observed_at > $4::timestamptz)
)
SELECT (SELECT count(*) FROM ev), (SELECT count(*) FROM res))sql";

}  // namespace

absl::StatusOr<v1::IngestOutcome> PgFindingStore::ingest(const v1::HostResult& host) {
  if (!isDecimalId(host.scan_id())) return invalid("host result: scan_id must be a scan id");
  std::string address = hostAddress(host);
  if (address.empty()) return invalid("host result: no address (asset.addresses or target.ip)");

  v1::IngestOutcome outcome;
  auto tx = PgTransaction::begin(c_);
  if (!tx.ok()) return tx.status();
  if (host.services_size() > 0) {
    auto scan = c_.execPrepared("ingest_lock_scan", kLockScan, {host.scan_id()});
    if (!scan.ok()) return scan.status();
    if (scan->rows() == 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("host result: scan ", host.scan_id(), " does not exist"));
    }
  }
  google::protobuf::Timestamp observed =
      host.has_observed_at() ? host.observed_at() : nowTimestamp();
  std::string addresses = pgTextArray(
      std::vector<std::string>(host.asset().addresses().begin(), host.asset().addresses().end()));
  auto asset =
      c_.execPrepared("ingest_asset", kUpsertAsset,
                      {address, addresses, host.asset().mac(), host.asset().hostname(),
                       host.asset().vendor(), host.asset().model(), host.asset().firmware(),
                       host.asset().serial(), std::to_string(host.asset().device_class()),
                       host.asset().site(), assetJson(host.asset()), pgTimestamp(observed)});
  if (!asset.ok()) return asset.status();
  int64_t asset_id = asset->int64(0, 0);
  for (const auto& service : host.services()) {
    if (auto s = ingestService(host, asset_id, address, service, outcome); !s.ok()) return s;
  }
  if (auto s = (*tx)->commit(); !s.ok()) return s;
  return outcome;
}

absl::Status PgFindingStore::ingestService(const v1::HostResult& host, int64_t asset_id,
                                           const std::string& asset_address,
                                           const v1::ServiceResult& service,
                                           v1::IngestOutcome& outcome) {
  const v1::TlsReport& report = service.report();
  auto identity = serviceIdentity(host, service, asset_address);
  if (!identity.ok()) return identity.status();
  const std::string& ip = identity->ip;
  uint32_t port = identity->port;
  const std::string& transport = identity->transport;
  const google::protobuf::Timestamp& observed = identity->observed;

  ObservationRows rows = observationRows(report);
  json versions = json::array(), suites = json::array(), auth = json::array();
  for (const auto& v : rows.versions) {
    versions.push_back(
        {{"version", v.version}, {"supported", v.supported}, {"cipher_order", v.cipher_order}});
  }
  for (const auto& s : rows.suites) {
    SuiteArrays a = suiteArrays(s);
    suites.push_back({{"version", s.version},
                      {"codes", a.codes},
                      {"names", a.names},
                      {"kx", a.kx},
                      {"auth", a.auth},
                      {"ciphers", a.ciphers},
                      {"macs", a.macs},
                      {"bits", a.bits},
                      {"forward_secret", a.forward_secret}});
  }
  for (const auto& a : rows.client_auth) {
    auth.push_back({{"version", a.version},
                    {"signature_algorithms", stringArray(a.auth->signature_algorithms())},
                    {"ca_names", stringArray(a.auth->ca_names())},
                    {"certificate_types", stringArray(a.auth->certificate_types())}});
  }
  const auto& e = report.extensions();
  json ext = {{"secure_renegotiation", e.secure_renegotiation()},
              {"fallback_scsv", static_cast<int>(e.fallback_scsv())},
              {"compression", e.compression()},
              {"ocsp_stapling", e.ocsp_stapling()},
              {"heartbeat", e.heartbeat()},
              {"session_ticket", e.session_ticket()},
              {"extended_master_secret", e.extended_master_secret()},
              {"encrypt_then_mac", e.encrypt_then_mac()},
              {"alpn", stringArray(e.alpn())}};
  json certs = json::array(), chain_rows = json::array();
  for (const auto& c : rows.chain) {
    chain_rows.push_back({{"chain_index", c.chain_index},
                          {"position", c.position},
                          {"sha256", c.sha256},
                          {"source", c.source},
                          {"trusted", c.trusted}});
  }
  for (const auto& c : rows.certificates) {
    const v1::Certificate& cert = *c.certificate;
    json row = {{"sha256", c.sha256},
                {"sha1", c.sha1},
                {"der", absl::Base64Escape(cert.der())},
                {"subject", cert.subject()},
                {"issuer", cert.issuer()},
                {"common_name", cert.common_name()},
                {"serial", cert.serial()},
                {"signature_algorithm", cert.signature_algorithm()},
                {"signature_hash", cert.signature_hash()},
                {"key_type", cert.key_type()},
                {"key_bits", cert.key_bits()},
                {"curve", cert.curve()},
                {"subject_alt_names", stringArray(cert.subject_alt_names())},
                {"is_ca", cert.is_ca()},
                {"self_signed", cert.self_signed()},
                {"x509_version", cert.version()}};
    if (cert.has_not_before()) row["not_before"] = pgTimestamp(cert.not_before());
    if (cert.has_not_after()) row["not_after"] = pgTimestamp(cert.not_after());
    certs.push_back(std::move(row));
  }

  auto obs = c_.execPrepared(
      "ingest_observation", kInsertObservation,
      {std::to_string(asset_id), ip, std::to_string(port), transport, service.service().protocol(),
       report.target().starttls(), service.service().product(), pgTimestamp(observed),
       host.scan_id(), pgBool(report.reachable()), pgBool(report.tls()), pgBool(service.complete()),
       reportJson(report), jsonText(versions), jsonText(suites), jsonText(auth), jsonText(ext),
       jsonText(certs), jsonText(chain_rows)});
  if (!obs.ok()) return obs.status();
  int64_t service_id = obs->int64(0, 0);
  if (obs->isNull(0, 1)) {
    // This scan already stored this service: a replay, so nothing else may change.
    outcome.set_services_replayed(outcome.services_replayed() + 1);
    return absl::OkStatus();
  }
  int64_t observation_id = obs->int64(0, 1);
  outcome.set_services_stored(outcome.services_stored() + 1);
  outcome.set_certificates_new(outcome.certificates_new() + obs->int64(0, 2));
  if (obs->int64(0, 2) + obs->int64(0, 3) < static_cast<int64_t>(rows.certificates.size())) {
    std::vector<std::string> shas;
    for (const auto& c : rows.certificates) shas.push_back(c.sha256);
    auto locked =
        c_.execPrepared("ingest_lock_certificates", kLockCertificates, {pgTextArray(shas)});
    if (!locked.ok()) return locked.status();
    if (locked->int64(0, 0) != static_cast<int64_t>(shas.size())) {
      return absl::AbortedError("ingest: a certificate was deleted while being stored");
    }
  }

  auto locked =
      c_.execPrepared("ingest_lock_findings", kLockServiceFindings, {std::to_string(service_id)});
  if (!locked.ok()) return locked.status();
  std::vector<StoredFinding> stored(locked->rows());
  for (int i = 0; i < locked->rows(); ++i) {
    stored[i] = {locked->int64(i, 0), locked->str(i, 1),
                 static_cast<v1::FindingState>(locked->int64(i, 2)),
                 static_cast<v1::Severity>(locked->int64(i, 3)), locked->str(i, 4)};
  }
  Reconciliation rec = reconcileFindings(stored, service.findings(), service.complete());
  json incoming = json::array(), gone = json::array();
  for (const auto& u : rec.upserts) {
    const v1::Finding& f = *u.finding;
    if (f.rule_id().empty()) return invalid("finding without a rule_id");
    incoming.push_back({{"rule_id", f.rule_id()},
                        {"severity", static_cast<int>(f.severity())},
                        {"title", f.title()},
                        {"evidence", f.evidence()},
                        {"profiles", stringArray(f.profiles())},
                        {"refs", stringArray(f.references())},
                        {"tags", stringArray(f.tags())},
                        {"state", static_cast<int>(u.to_state)},
                        {"waiver_id", u.to_state == v1::WAIVED ? f.waiver_id() : ""},
                        {"event", u.event},
                        {"from_state", static_cast<int>(u.from_state)}});
    if (u.event == "opened") outcome.set_findings_opened(outcome.findings_opened() + 1);
    if (u.event == "reopened") outcome.set_findings_reopened(outcome.findings_reopened() + 1);
    if (u.event == "waived") outcome.set_findings_waived(outcome.findings_waived() + 1);
    if (u.event == "unwaived") outcome.set_findings_unwaived(outcome.findings_unwaived() + 1);
  }
  for (const auto& r : rec.resolved) {
    gone.push_back({{"id", r.stored->id},
                    {"rule_id", r.stored->rule_id},
                    {"severity", static_cast<int>(r.stored->severity)},
                    {"title", r.stored->title},
                    {"from_state", static_cast<int>(r.stored->state)}});
  }
  outcome.set_findings_resolved(outcome.findings_resolved() + rec.resolved.size());
  auto written =
      c_.execPrepared("ingest_findings", kWriteFindings,
                      {std::to_string(service_id), std::to_string(asset_id), host.scan_id(),
                       pgTimestamp(observed), std::to_string(observation_id), jsonText(incoming),
                       jsonText(gone), asset_address, serviceName(ip, port)});
  return written.status();
}

// ---- queries --------------------------------------------------------------------------------

namespace {

constexpr const char* kFindingColumns =
    "f.id, f.rule_id, f.severity, f.title, f.evidence, host(a.address), host(s.address), s.port,"
    " f.state, " TLSAUDIT_MICROS("f.first_seen") ", " TLSAUDIT_MICROS(
        "f.last_seen") ", f.profiles, f.waiver_id, f.references_, f.tags, a.hostname";

v1::Finding findingFromRow(const PgResult& r, int i) {
  v1::Finding f;
  f.set_id(r.str(i, 0));
  f.set_rule_id(r.str(i, 1));
  f.set_severity(static_cast<v1::Severity>(r.int64(i, 2)));
  f.set_title(r.str(i, 3));
  f.set_evidence(r.str(i, 4));
  f.set_asset(r.str(i, 5));
  f.set_service(serviceName(r.str(i, 6), static_cast<uint32_t>(r.int64(i, 7))));
  f.set_state(static_cast<v1::FindingState>(r.int64(i, 8)));
  *f.mutable_first_seen() = fromMicros(r.int64(i, 9));
  *f.mutable_last_seen() = fromMicros(r.int64(i, 10));
  for (auto& p : parsePgTextArray(r.text(i, 11))) f.add_profiles(std::move(p));
  f.set_waiver_id(r.str(i, 12));
  for (auto& p : parsePgTextArray(r.text(i, 13))) f.add_references(std::move(p));
  for (auto& p : parsePgTextArray(r.text(i, 14))) f.add_tags(std::move(p));
  f.set_host(r.str(i, 15));
  return f;
}

// Builds a WHERE clause of fixed SQL fragments; every value becomes a parameter.
class Where {
 public:
  // `fragment` uses "$?" where the parameter goes.
  void add(std::string_view fragment, std::string value) {
    params_.push_back(std::move(value));
    std::string f(fragment);
    size_t at = f.find("$?");
    f.replace(at, 2, "$" + std::to_string(params_.size()));
    clauses_.push_back(std::move(f));
  }
  // A fragment with two "$?".
  void add(std::string_view fragment, std::string first, std::string second) {
    std::string f(fragment);
    params_.push_back(std::move(first));
    f.replace(f.find("$?"), 2, "$" + std::to_string(params_.size()));
    params_.push_back(std::move(second));
    f.replace(f.find("$?"), 2, "$" + std::to_string(params_.size()));
    clauses_.push_back(std::move(f));
  }
  std::string sql() const {
    std::string out;
    for (size_t i = 0; i < clauses_.size(); ++i)
      out += (i == 0 ? " WHERE " : " AND ") + clauses_[i];
    return out;
  }
  PgParams& params() { return params_; }
  std::string next() const { return "$" + std::to_string(params_.size() + 1); }

 private:
  std::vector<std::string> clauses_;
  PgParams params_;
};

template <typename Enum>
std::string enumArray(const google::protobuf::RepeatedField<int>& values) {
  std::string out = "{";
  for (int i = 0; i < values.size(); ++i) out += (i ? "," : "") + std::to_string(values[i]);
  return out + "}";
}

}  // namespace

absl::StatusOr<v1::FindingPage> PgFindingStore::listFindings(const v1::FindingFilter& filter,
                                                             int page_size,
                                                             const std::string& page_token) {
  if (page_size < 1 || page_size > 1000) return invalid("page size must be 1..1000");
  Where w;
  // With an address or CIDR the page order is (address, id) and the token carries both (see
  // findings_address_idx); otherwise newest first by id.
  bool by_address = !filter.address().empty();
  if (!page_token.empty() && by_address) {
    auto last = decodeAddressIdPageToken("findings-by-address", page_token);
    if (!last.ok()) return last.status();
    // Row comparison: btree reads it as the start of the range.
    w.add("(f.address, f.id) > ($?::inet, $?::bigint)", last->address, std::to_string(last->id));
  } else if (!page_token.empty()) {
    auto last = decodeIdPageToken("findings", page_token);
    if (!last.ok()) return last.status();
    w.add("f.id < $?::bigint", std::to_string(*last));
  }
  // A single value is matched with "=", not "= ANY": PostgreSQL 15 cannot read a btree index
  // in order under = ANY, and the page order (id) then costs a scan of the whole table.
  if (filter.severities_size() == 1) {
    w.add("f.severity = $?::smallint", std::to_string(filter.severities(0)));
  } else if (filter.severities_size() > 1) {
    w.add("f.severity = ANY($?::smallint[])", enumArray<v1::Severity>(filter.severities()));
  }
  if (filter.min_severity() != v1::SEVERITY_UNSPECIFIED) {
    w.add("f.severity >= $?::smallint", std::to_string(filter.min_severity()));
  }
  if (filter.rule_ids_size() == 1) {
    w.add("f.rule_id = $?", filter.rule_ids(0));
  } else if (filter.rule_ids_size() > 1) {
    w.add("f.rule_id = ANY($?::text[])",
          pgTextArray({filter.rule_ids().begin(), filter.rule_ids().end()}));
  }
  if (filter.states_size() == 1) {
    w.add("f.state = $?::smallint", std::to_string(filter.states(0)));
  } else if (filter.states_size() > 1) {
    w.add("f.state = ANY($?::smallint[])", enumArray<v1::FindingState>(filter.states()));
  }
  if (by_address) w.add("f.address <<= $?::inet", filter.address());
  if (!filter.vendor().empty()) w.add("lower(a.vendor) = lower($?)", filter.vendor());
  if (!filter.model().empty()) w.add("lower(a.model) = lower($?)", filter.model());
  if (!filter.profile().empty()) {
    w.add("f.profiles @> $?::text[]", pgTextArray({filter.profile()}));
  }
  if (filter.has_since()) w.add("f.last_seen >= $?::timestamptz", pgTimestamp(filter.since()));
  if (!filter.scan_id().empty()) {
    if (!isDecimalId(filter.scan_id())) return invalid("scan_id must be a scan id");
    w.add("f.last_scan_id = $?::bigint", filter.scan_id());
  }
  std::string sql =
      absl::StrCat("SELECT ", kFindingColumns,
                   " FROM findings f JOIN assets a ON a.id = f.asset_id"
                   " JOIN services s ON s.id = f.service_id",
                   w.sql(), by_address ? " ORDER BY f.address, f.id" : " ORDER BY f.id DESC",
                   " LIMIT ", w.next());
  w.params().push_back(std::to_string(page_size + 1));
  auto r = c_.exec(sql, w.params());
  if (!r.ok()) return r.status();
  v1::FindingPage page;
  int n = std::min(r->rows(), page_size);
  for (int i = 0; i < n; ++i) *page.add_findings() = findingFromRow(*r, i);
  if (r->rows() > page_size && by_address) {
    page.set_next_page_token(encodeAddressIdPageToken(
        "findings-by-address", page.findings(n - 1).asset(), page.findings(n - 1).id()));
  } else if (r->rows() > page_size) {
    page.set_next_page_token(encodePageToken("findings", page.findings(n - 1).id()));
  }
  return page;
}

absl::StatusOr<std::vector<FindingEvent>> PgFindingStore::findingHistory(const std::string& id) {
  if (!isDecimalId(id)) return invalid("finding id must be a number");
  auto r = c_.exec("SELECT id, kind, from_state, to_state, scan_id, " TLSAUDIT_MICROS(
                       "at") " FROM finding_events WHERE finding_id = $1 ORDER BY id",
                   {id});
  if (!r.ok()) return r.status();
  std::vector<FindingEvent> out;
  for (int i = 0; i < r->rows(); ++i) {
    out.push_back({r->int64(i, 0), r->str(i, 1), static_cast<v1::FindingState>(r->int64(i, 2)),
                   static_cast<v1::FindingState>(r->int64(i, 3)), r->str(i, 4), r->int64(i, 5)});
  }
  return out;
}

absl::StatusOr<v1::ScanDiff> PgFindingStore::diffScans(const std::string& from_scan,
                                                       const std::string& to_scan) {
  if (!isDecimalId(from_scan) || !isDecimalId(to_scan)) return invalid("scan ids must be numbers");
  // kind 1: new, 2: resolved (the service was completely rescanned by `to` without it),
  // 3: persisting.
  std::string sql = absl::StrCat(
      "WITH a AS (SELECT finding_id FROM scan_findings WHERE scan_id = $1),"
      " b AS (SELECT finding_id FROM scan_findings WHERE scan_id = $2),"
      " k AS ("
      "  SELECT finding_id, 1 AS kind FROM b WHERE finding_id NOT IN (SELECT finding_id FROM a)"
      "  UNION ALL SELECT finding_id, 3 FROM b WHERE finding_id IN (SELECT finding_id FROM a)"
      "  UNION ALL SELECT a.finding_id, 2 FROM a JOIN findings f2 ON f2.id = a.finding_id"
      "   WHERE a.finding_id NOT IN (SELECT finding_id FROM b) AND EXISTS ("
      "    SELECT 1 FROM observations o WHERE o.scan_id = $2 AND o.service_id = f2.service_id"
      "     AND o.complete))"
      " SELECT ",
      kFindingColumns,
      ", k.kind FROM k JOIN findings f ON f.id = k.finding_id JOIN assets a ON a.id = f.asset_id"
      " JOIN services s ON s.id = f.service_id ORDER BY f.id");
  auto r = c_.exec(sql, {from_scan, to_scan});
  if (!r.ok()) return r.status();
  v1::ScanDiff diff;
  diff.set_from_scan_id(from_scan);
  diff.set_to_scan_id(to_scan);
  constexpr int kKindColumn = 16;  // after kFindingColumns
  for (int i = 0; i < r->rows(); ++i) {
    switch (r->int64(i, kKindColumn)) {
      case 1:
        *diff.add_new_findings() = findingFromRow(*r, i);
        break;
      case 2:
        *diff.add_resolved_findings() = findingFromRow(*r, i);
        break;
      default:
        *diff.add_persisting_findings() = findingFromRow(*r, i);
        break;
    }
  }
  return diff;
}

absl::Status PgFindingStore::putWaiver(const v1::Waiver& w) {
  if (w.id().empty() || w.rule_id().empty() || w.reason().empty()) {
    return invalid("a waiver needs an id, a rule_id and a reason");
  }
  const auto& s = w.selector();
  auto r = c_.exec(
      "INSERT INTO waivers (id, rule_id, address, cidr, vendor, model, port, reason, owner,"
      " expires, origin) VALUES ($1, $2, NULLIF($3, '')::inet, NULLIF($4, '')::cidr, $5, $6,"
      " $7::integer, $8, $9, $10::timestamptz, $11)"
      " ON CONFLICT (id) DO UPDATE SET rule_id = EXCLUDED.rule_id, address = EXCLUDED.address,"
      " cidr = EXCLUDED.cidr, vendor = EXCLUDED.vendor, model = EXCLUDED.model,"
      " port = EXCLUDED.port, reason = EXCLUDED.reason, owner = EXCLUDED.owner,"
      " expires = EXCLUDED.expires, origin = EXCLUDED.origin"
      // A waiver from the configured file is changed there, never over the API.
      " WHERE EXCLUDED.origin NOT LIKE 'api:%' OR waivers.origin LIKE 'api:%'"
      " RETURNING id",
      {w.id(), w.rule_id(), s.address(), s.cidr(), s.vendor(), s.model(), std::to_string(s.port()),
       w.reason(), w.owner(), w.has_expires() ? PgParam(pgTimestamp(w.expires())) : std::nullopt,
       w.origin()});
  if (!r.ok()) return r.status();
  if (r->rows() == 0) {
    return absl::FailedPreconditionError("waiver '" + w.id() +
                                         "' comes from the waivers file; change it there");
  }
  return absl::OkStatus();
}

namespace {

// The state changes of a waiver refresh, with their events and outbox entries (the same payload
// as ingest's, without a scan).
constexpr const char* kWriteWaiverStates = R"sql(
WITH ch AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb)
    AS x(id bigint, to_state smallint, from_state smallint, waiver_id text, event text,
         service text)
), upd AS (
  UPDATE findings f SET state = ch.to_state, waiver_id = ch.waiver_id,
    state_changed = CASE WHEN f.state <> ch.to_state THEN $2::timestamptz ELSE f.state_changed END
  FROM ch WHERE f.id = ch.id
  RETURNING f.id, f.rule_id, f.severity, f.title, f.evidence, f.address
), ev AS (
  INSERT INTO finding_events (finding_id, scan_id, kind, from_state, to_state, at, evidence)
  SELECT ch.id, NULL, ch.event, ch.from_state, ch.to_state, $2::timestamptz, upd.evidence
  FROM ch JOIN upd ON upd.id = ch.id WHERE ch.event <> '' ORDER BY ch.id
  RETURNING id, finding_id, kind
)
INSERT INTO alert_outbox (event_id, kind, payload)
SELECT ev.id, 'finding.' || ev.kind,
       jsonb_build_object('findingId', ev.finding_id::text, 'event', ev.kind,
                          'ruleId', upd.rule_id, 'severity', upd.severity, 'title', upd.title,
                          'evidence', upd.evidence, 'fromState', ch.from_state,
                          'toState', ch.to_state, 'asset', host(upd.address),
                          'service', ch.service, 'scanId', '', 'at', $2::text)
FROM ev JOIN upd ON upd.id = ev.finding_id JOIN ch ON ch.id = ev.finding_id ORDER BY ev.id)sql";

}  // namespace

absl::StatusOr<int> PgFindingStore::refreshWaiverStates(const WaiverRefreshScope& scope,
                                                        const WaiverDecision& decide) {
  // OPEN findings are candidates only where an unexpired waiver of their rule could cover them.
  // This is a superset of what `decide` waives (which stays the judge): the same port, vendor
  // and model (ASCII case folded, as the scan compares them), and each address condition met
  // by one of the asset's addresses. So a waiver for one CIDR block does not read the
  // findings of the whole fleet.
  constexpr const char* kFold = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'";
  const std::string could_waive = absl::StrCat(
      "f.state = 1 AND EXISTS (SELECT 1 FROM waivers w WHERE w.rule_id = f.rule_id"
      " AND w.expires > to_timestamp($1::bigint) AND (w.port = 0 OR w.port = s.port)"
      " AND (w.vendor = '' OR translate(w.vendor, ", kFold, ") = translate(a.vendor, ", kFold,
      "))"
      " AND (w.model = '' OR translate(w.model, ", kFold, ") = translate(a.model, ", kFold, "))"
      " AND (w.address IS NULL OR EXISTS (SELECT 1 FROM unnest(array_append(a.addresses,"
      " a.address)) x WHERE host(x)::inet = host(w.address)::inet))"
      " AND (w.cidr IS NULL OR EXISTS (SELECT 1 FROM unnest(array_append(a.addresses,"
      " a.address)) x WHERE host(x)::inet <<= w.cidr)))");
  std::string where;
  std::vector<PgParam> params = {std::to_string(scope.now)};
  switch (scope.kind) {
    case WaiverRefreshScope::kAll:
      where = absl::StrCat("f.state = 3 OR (", could_waive, ")");
      break;
    case WaiverRefreshScope::kRules:
      if (scope.rules.empty()) return 0;
      where = absl::StrCat("f.rule_id = ANY($2::text[]) AND (f.state = 3 OR (", could_waive, "))");
      params.push_back(pgTextArray(scope.rules));
      break;
    case WaiverRefreshScope::kLapsed:
      where =
          "f.state = 3 AND NOT EXISTS (SELECT 1 FROM waivers w WHERE w.id = f.waiver_id"
          " AND w.expires > to_timestamp($1::bigint))";
      break;
  }
  // Pages of scope.page findings by id, one transaction each: locks are held briefly (ingest waits
  // on them), memory stays bounded, and every page's events commit well within the alert
  // dispatcher's settle time.
  const int page = std::clamp(scope.page, 1, 1000);
  constexpr int kAssetColumns = 16;  // first column after kFindingColumns
  constexpr int kHostnameColumn = 15;
  const std::string after = absl::StrCat("$", params.size() + 1);
  params.push_back("0");
  int changed = 0;
  for (;;) {
    auto tx = PgTransaction::begin(c_);
    if (!tx.ok()) return tx.status();
    auto r = c_.exec(
        absl::StrCat("SELECT ", kFindingColumns,
                     ", a.vendor, a.model, ARRAY(SELECT host(x) FROM unnest(a.addresses) x)"
                     " FROM findings f JOIN assets a ON a.id = f.asset_id"
                     " JOIN services s ON s.id = f.service_id WHERE f.id > ", after,
                     "::bigint AND (", where, ") ORDER BY f.id LIMIT ", page, " FOR UPDATE OF f"),
        params);
    if (!r.ok()) return r.status();
    json changes = json::array();
    for (int i = 0; i < r->rows(); ++i) {
      v1::Finding f = findingFromRow(*r, i);
      v1::Asset asset;
      asset.set_vendor(r->str(i, kAssetColumns));
      asset.set_model(r->str(i, kAssetColumns + 1));
      asset.set_hostname(r->str(i, kHostnameColumn));
      for (auto& a : parsePgTextArray(r->text(i, kAssetColumns + 2))) asset.add_addresses(a);
      uint32_t port = static_cast<uint32_t>(r->int64(i, 7));
      std::string waiver = decide(f, asset, port);
      v1::FindingState to = waiver.empty() ? v1::OPEN : v1::WAIVED;
      if (to == f.state() && waiver == f.waiver_id()) continue;
      std::string event;
      if (to != f.state()) {
        event = to == v1::WAIVED ? "waived" : "unwaived";
        ++changed;
      }
      changes.push_back({{"id", std::stoll(f.id())},
                         {"to_state", static_cast<int>(to)},
                         {"from_state", static_cast<int>(f.state())},
                         {"waiver_id", waiver},
                         {"event", event},
                         {"service", f.service()}});
    }
    if (!changes.empty()) {
      auto w = c_.exec(kWriteWaiverStates, {jsonText(changes), pgTimestamp(nowTimestamp())});
      if (!w.ok()) return w.status();
    }
    if (auto st = (*tx)->commit(); !st.ok()) return st;
    if (r->rows() < page) break;
    params.back() = r->str(r->rows() - 1, 0);  // the page's last finding id
  }
  return changed;
}

absl::StatusOr<std::vector<v1::Waiver>> PgFindingStore::listWaivers() {
  auto r = c_.exec(
      "SELECT id, rule_id, COALESCE(host(address), ''), COALESCE(cidr::text, ''), vendor, model,"
      " port, reason, owner, " TLSAUDIT_MICROS("expires") ", " TLSAUDIT_MICROS(
          "created") ", origin FROM waivers ORDER BY id");
  if (!r.ok()) return r.status();
  std::vector<v1::Waiver> out;
  for (int i = 0; i < r->rows(); ++i) {
    v1::Waiver w;
    w.set_id(r->str(i, 0));
    w.set_rule_id(r->str(i, 1));
    w.mutable_selector()->set_address(r->str(i, 2));
    w.mutable_selector()->set_cidr(r->str(i, 3));
    w.mutable_selector()->set_vendor(r->str(i, 4));
    w.mutable_selector()->set_model(r->str(i, 5));
    w.mutable_selector()->set_port(static_cast<uint32_t>(r->int64(i, 6)));
    w.set_reason(r->str(i, 7));
    w.set_owner(r->str(i, 8));
    if (!r->isNull(i, 9)) *w.mutable_expires() = fromMicros(r->int64(i, 9));
    *w.mutable_created() = fromMicros(r->int64(i, 10));
    w.set_origin(r->str(i, 11));
    out.push_back(std::move(w));
  }
  return out;
}

absl::Status PgFindingStore::deleteWaiver(const std::string& id) {
  auto r = c_.exec("DELETE FROM waivers WHERE id = $1", {id});
  if (!r.ok()) return r.status();
  if (r->affected() == 0) return absl::NotFoundError(absl::StrCat("no waiver ", id));
  return absl::OkStatus();
}

absl::StatusOr<v1::GetFindingResponse> PgFindingStore::getFinding(const std::string& id) {
  if (!isDecimalId(id)) return invalid("finding id must be a number");
  auto r = c_.exec(absl::StrCat("SELECT ", kFindingColumns,
                                " FROM findings f JOIN assets a ON a.id = f.asset_id"
                                " JOIN services s ON s.id = f.service_id WHERE f.id = $1"),
                   {id});
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return absl::NotFoundError(absl::StrCat("no finding ", id));
  v1::GetFindingResponse out;
  *out.mutable_finding() = findingFromRow(*r, 0);
  auto history = findingHistory(id);
  if (!history.ok()) return history.status();
  for (const auto& e : *history) {
    auto* c = out.add_history();
    c->set_id(std::to_string(e.id));
    c->set_kind(e.kind);
    c->set_from_state(e.from_state);
    c->set_to_state(e.to_state);
    c->set_scan_id(e.scan_id);
    *c->mutable_at() = fromMicros(e.at_micros);
  }
  return out;
}

absl::StatusOr<int64_t> PgFindingStore::lastFindingEventId() {
  auto r = c_.exec("SELECT COALESCE(max(id), 0) FROM finding_events");
  if (!r.ok()) return r.status();
  return r->int64(0, 0);
}

absl::StatusOr<std::vector<v1::FindingChange>> PgFindingStore::findingChanges(int64_t after_id,
                                                                               int limit) {
  if (limit < 1 || limit > 1000) return invalid("limit must be 1..1000");
  auto r = c_.exec(
      absl::StrCat("SELECT ", kFindingColumns,
                   ", e.id, e.kind, e.from_state, e.to_state, COALESCE(e.scan_id::text, ''), ",
                   TLSAUDIT_MICROS("e.at"),
                   " FROM finding_events e JOIN findings f ON f.id = e.finding_id"
                   " JOIN assets a ON a.id = f.asset_id JOIN services s ON s.id = f.service_id"
                   " WHERE e.id > $1::bigint ORDER BY e.id LIMIT $2::integer"),
      {std::to_string(after_id), std::to_string(limit)});
  if (!r.ok()) return r.status();
  constexpr int kEvent = 16;  // first column after kFindingColumns
  std::vector<v1::FindingChange> out;
  for (int i = 0; i < r->rows(); ++i) {
    v1::FindingChange c;
    *c.mutable_finding() = findingFromRow(*r, i);
    c.set_id(r->str(i, kEvent));
    c.set_kind(r->str(i, kEvent + 1));
    c.set_from_state(static_cast<v1::FindingState>(r->int64(i, kEvent + 2)));
    c.set_to_state(static_cast<v1::FindingState>(r->int64(i, kEvent + 3)));
    c.set_scan_id(r->str(i, kEvent + 4));
    *c.mutable_at() = fromMicros(r->int64(i, kEvent + 5));
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace tlsaudit::storage
