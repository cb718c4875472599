#include "storage/pg_inventory_store.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "storage/page_token.h"
#include "storage/pg_finding_store.h"
#include "storage/timestamps.h"

namespace tlsaudit::storage {

namespace v1 = tlsaudit::v1;

namespace {

absl::Status invalid(std::string_view what) {
  return absl::InvalidArgumentError(std::string(what));
}

// A WHERE clause of fixed fragments; "$?" in a fragment is replaced by the next parameter.
class Where {
 public:
  void add(std::string_view fragment, std::string value) {
    params_.push_back(std::move(value));
    std::string f(fragment);
    f.replace(f.find("$?"), 2, "$" + std::to_string(params_.size()));
    clauses_.push_back(std::move(f));
  }
  std::string sql() const {
    std::string out;
    for (size_t i = 0; i < clauses_.size(); ++i) {
      out += (i == 0 ? " WHERE " : " AND ") + clauses_[i];
    }
    return out;
  }
  PgParams& params() { return params_; }
  std::string next() const { return "$" + std::to_string(params_.size() + 1); }

 private:
  std::vector<std::string> clauses_;
  PgParams params_;
};

// Adds each asset's services as stored (every scan's) to what discovery last reported, in one
// query for a page of assets: at most kMaxServicesPerAsset each (by port), so a host that
// answered on every port cannot make one page of assets unbounded. `ids[i]` is the database id
// of `assets[i]`.
constexpr int kMaxServicesPerAsset = 1024;

absl::Status mergeStoredServices(PgConnection& c, const std::vector<std::string>& ids,
                                 const std::vector<v1::Asset*>& assets) {
  if (ids.empty()) return absl::OkStatus();
  auto s = c.exec(
      "SELECT a.id, sv.port, sv.transport, sv.protocol, sv.starttls, sv.product, sv.tls"
      " FROM unnest($1::bigint[]) AS a(id) CROSS JOIN LATERAL ("
      "  SELECT port, transport, protocol, starttls, product,"
      "   COALESCE((SELECT o.tls FROM observations o WHERE o.id = services.last_observation_id),"
      "   false) AS tls FROM services WHERE asset_id = a.id ORDER BY port, transport"
      "  LIMIT $2::integer) sv ORDER BY a.id, sv.port, sv.transport",
      {pgTextArray(ids), std::to_string(kMaxServicesPerAsset)});
  if (!s.ok()) return s.status();
  struct Known {
    v1::Asset* asset;
    std::map<std::pair<uint32_t, std::string>, v1::Service*> services;  // filled on first use
    bool indexed = false;
  };
  std::map<std::string, Known> by_id;
  for (size_t i = 0; i < ids.size(); ++i) by_id[ids[i]] = Known{assets[i], {}, false};
  for (int i = 0; i < s->rows(); ++i) {
    auto it = by_id.find(s->str(i, 0));
    if (it == by_id.end()) continue;
    Known& k = it->second;
    if (!k.indexed) {
      for (auto& known : *k.asset->mutable_services()) {
        k.services[{known.port(), known.transport()}] = &known;
      }
      k.indexed = true;
    }
    uint32_t port = static_cast<uint32_t>(s->int64(i, 1));
    std::string transport = s->str(i, 2);
    v1::Service*& svc = k.services[{port, transport}];
    if (svc == nullptr) {
      svc = k.asset->add_services();
      svc->set_port(port);
      svc->set_transport(transport);
    }
    if (!s->text(i, 3).empty()) svc->set_protocol(s->str(i, 3));
    if (!s->text(i, 4).empty()) svc->set_starttls(s->str(i, 4));
    if (!s->text(i, 5).empty()) svc->set_product(s->str(i, 5));
    if (s->boolean(i, 6)) svc->set_tls(true);
    svc->clear_report_index();
  }
  return absl::OkStatus();
}

absl::Status checkPageSize(int page_size) {
  if (page_size < 1 || page_size > 1000) return invalid("page size must be 1..1000");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::AssetPage> PgInventoryStore::listAssets(const v1::AssetFilter& f, int page_size,
                                                           const std::string& page_token) {
  if (auto s = checkPageSize(page_size); !s.ok()) return s;
  Where w;
  if (!page_token.empty()) {
    auto last = decodeIdPageToken("assets", page_token);
    if (!last.ok()) return last.status();
    w.add("id > $?::bigint", std::to_string(*last));
  }
  if (!f.address().empty()) w.add("address <<= $?::inet", f.address());
  if (!f.vendor().empty()) w.add("lower(vendor) = lower($?)", f.vendor());
  if (!f.model().empty()) w.add("lower(model) = lower($?)", f.model());
  if (f.device_class() != v1::DEVICE_CLASS_UNSPECIFIED) {
    w.add("device_class = $?::smallint", std::to_string(f.device_class()));
  }
  if (f.has_seen_since()) w.add("last_seen >= $?::timestamptz", pgTimestamp(f.seen_since()));
  std::string sql = absl::StrCat(
      "SELECT id, inventory::text, host(address), " TLSAUDIT_MICROS("first_seen"),
      ", " TLSAUDIT_MICROS("last_seen"), " FROM assets", w.sql(), " ORDER BY id LIMIT ", w.next());
  w.params().push_back(std::to_string(page_size + 1));
  auto r = c_.exec(sql, w.params());
  if (!r.ok()) return r.status();
  v1::AssetPage page;
  int n = std::min(r->rows(), page_size);
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  for (int i = 0; i < n; ++i) {
    v1::Asset* a = page.add_assets();
    (void)google::protobuf::util::JsonStringToMessage(std::string(r->text(i, 1)), a, options);
    if (a->addresses_size() == 0) a->add_addresses(r->str(i, 2));
    *a->mutable_first_seen() = fromMicros(r->int64(i, 3));
    *a->mutable_last_seen() = fromMicros(r->int64(i, 4));
  }
  std::vector<std::string> ids;
  std::vector<v1::Asset*> assets;
  for (int i = 0; i < n; ++i) {
    ids.push_back(r->str(i, 0));
    assets.push_back(page.mutable_assets(i));
  }
  if (auto st = mergeStoredServices(c_, ids, assets); !st.ok()) return st;
  if (r->rows() > page_size) page.set_next_page_token(encodePageToken("assets", r->str(n - 1, 0)));
  return page;
}

absl::StatusOr<v1::Asset> PgInventoryStore::getAsset(const std::string& address) {
  auto r = c_.exec("SELECT id, inventory::text, host(address), " TLSAUDIT_MICROS(
                       "first_seen") ", " TLSAUDIT_MICROS("last_seen") " FROM assets"
                                                                       " WHERE address = $1::inet",
                   {address});
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return absl::NotFoundError(absl::StrCat("no asset at ", address));
  v1::Asset a;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  (void)google::protobuf::util::JsonStringToMessage(std::string(r->text(0, 1)), &a, options);
  if (a.addresses_size() == 0) a.add_addresses(r->str(0, 2));
  *a.mutable_first_seen() = fromMicros(r->int64(0, 3));
  *a.mutable_last_seen() = fromMicros(r->int64(0, 4));
  if (auto st = mergeStoredServices(c_, {r->str(0, 0)}, {&a}); !st.ok()) return st;
  return a;
}

absl::StatusOr<v1::ServicePage> PgInventoryStore::listServices(const v1::ServiceFilter& f,
                                                               int page_size,
                                                               const std::string& page_token) {
  if (auto s = checkPageSize(page_size); !s.ok()) return s;
  Where w;
  if (!page_token.empty()) {
    auto last = decodeIdPageToken("services", page_token);
    if (!last.ok()) return last.status();
    w.add("s.id > $?::bigint", std::to_string(*last));
  }
  if (!f.address().empty()) w.add("s.address <<= $?::inet", f.address());
  if (f.port() != 0) w.add("s.port = $?::integer", std::to_string(f.port()));
  if (f.supports_version() != v1::TLS_VERSION_UNSPECIFIED) {
    w.add(
        "EXISTS (SELECT 1 FROM observation_versions v WHERE v.observation_id ="
        " s.last_observation_id AND v.supported AND v.version = $?::smallint)",
        std::to_string(f.supports_version()));
  }
  if (!f.vendor().empty()) w.add("lower(a.vendor) = lower($?)", f.vendor());
  if (!f.model().empty()) w.add("lower(a.model) = lower($?)", f.model());
  std::string sql = absl::StrCat(
      "SELECT s.id, host(a.address), host(s.address), s.port, s.transport, s.protocol,"
      " s.starttls, s.product, " TLSAUDIT_MICROS("s.first_seen"),
      ", " TLSAUDIT_MICROS("s.last_seen"),
      ", COALESCE(s.last_scan_id::text, ''),"
      " (SELECT array_agg(v.version ORDER BY v.version) FROM observation_versions v"
      "   WHERE v.observation_id = s.last_observation_id AND v.supported),"
      " (SELECT encode(c.sha256, 'hex') FROM observation_certificates c"
      "   WHERE c.observation_id = s.last_observation_id AND c.chain_index = 0"
      "   AND c.position = 0)"
      " FROM services s JOIN assets a ON a.id = s.asset_id",
      w.sql(), " ORDER BY s.id LIMIT ", w.next());
  w.params().push_back(std::to_string(page_size + 1));
  auto r = c_.exec(sql, w.params());
  if (!r.ok()) return r.status();
  v1::ServicePage page;
  int n = std::min(r->rows(), page_size);
  for (int i = 0; i < n; ++i) {
    auto* s = page.add_services();
    s->set_asset(r->str(i, 1));
    s->set_address(r->str(i, 2));
    s->mutable_service()->set_port(static_cast<uint32_t>(r->int64(i, 3)));
    s->mutable_service()->set_transport(r->str(i, 4));
    s->mutable_service()->set_protocol(r->str(i, 5));
    s->mutable_service()->set_starttls(r->str(i, 6));
    s->mutable_service()->set_product(r->str(i, 7));
    s->mutable_service()->set_tls(true);
    *s->mutable_first_seen() = fromMicros(r->int64(i, 8));
    *s->mutable_last_seen() = fromMicros(r->int64(i, 9));
    s->set_last_scan_id(r->str(i, 10));
    for (const auto& v : parsePgTextArray(r->text(i, 11))) {
      s->add_versions(static_cast<v1::TlsVersion>(std::stoi(v)));
    }
    s->set_leaf_sha256(r->str(i, 12));
  }
  if (r->rows() > page_size) {
    page.set_next_page_token(encodePageToken("services", r->str(n - 1, 0)));
  }
  return page;
}

absl::StatusOr<v1::CertificatePage> PgInventoryStore::listCertificates(
    const v1::CertificateFilter& f, int page_size, const std::string& page_token, bool with_der) {
  if (auto s = checkPageSize(page_size); !s.ok()) return s;
  Where w;
  if (!page_token.empty()) {
    auto last = decodeSha256PageToken("certificates", page_token);
    if (!last.ok()) return last.status();
    w.add("c.sha256 > decode($?, 'hex')", *last);
  }
  if (!f.signature_hash().empty()) w.add("c.signature_hash = upper($?)", f.signature_hash());
  if (!f.subject_contains().empty()) {
    // strpos, not LIKE: the value is matched literally, % and _ included.
    w.add("strpos(lower(c.subject), lower($?)) > 0", f.subject_contains());
  }
  if (f.has_expires_before()) {
    w.add("c.not_after < $?::timestamptz", pgTimestamp(f.expires_before()));
  }
  if (!f.sha256().empty()) {
    std::string sha = f.sha256();
    if (sha.size() != 64 || !std::all_of(sha.begin(), sha.end(), ::isxdigit)) {
      return invalid("sha256 must be 64 hex digits");
    }
    w.add("c.sha256 = decode($?, 'hex')", sha);
  }
  if (f.self_signed_only()) w.add("c.self_signed = $?::boolean", "t");
  std::string sql = absl::StrCat(
      "SELECT encode(c.sha256, 'hex'), COALESCE(encode(c.sha1, 'hex'), ''), c.subject, c.issuer,"
      " c.common_name, c.serial, " TLSAUDIT_MICROS("c.not_before"),
      ", " TLSAUDIT_MICROS("c.not_after"),
      ", c.signature_algorithm, c.signature_hash, c.key_type, c.key_bits, c.curve,"
      " c.subject_alt_names, c.is_ca, c.self_signed, c.x509_version, ",
      with_der ? "c.der" : "NULL::bytea",
      ", (SELECT count(DISTINCT s.id) FROM observation_certificates oc"
      "   JOIN services s ON s.last_observation_id = oc.observation_id"
      "   WHERE oc.sha256 = c.sha256), " TLSAUDIT_MICROS("c.first_seen"),
      ", (SELECT " TLSAUDIT_MICROS("max(o.observed_at)") " FROM observation_certificates oc"
      "   JOIN observations o ON o.id = oc.observation_id WHERE oc.sha256 = c.sha256)"
      " FROM certificates c",
      w.sql(), " ORDER BY c.sha256 LIMIT ", w.next());
  w.params().push_back(std::to_string(page_size + 1));
  auto r = c_.exec(sql, w.params());
  if (!r.ok()) return r.status();
  v1::CertificatePage page;
  int n = std::min(r->rows(), page_size);
  for (int i = 0; i < n; ++i) {
    auto* rec = page.add_certificates();
    auto* c = rec->mutable_certificate();
    c->set_sha256(r->str(i, 0));
    c->set_sha1(r->str(i, 1));
    c->set_subject(r->str(i, 2));
    c->set_issuer(r->str(i, 3));
    c->set_common_name(r->str(i, 4));
    c->set_serial(r->str(i, 5));
    if (!r->isNull(i, 6)) *c->mutable_not_before() = fromMicros(r->int64(i, 6));
    if (!r->isNull(i, 7)) *c->mutable_not_after() = fromMicros(r->int64(i, 7));
    c->set_signature_algorithm(r->str(i, 8));
    c->set_signature_hash(r->str(i, 9));
    c->set_key_type(r->str(i, 10));
    c->set_key_bits(static_cast<uint32_t>(r->int64(i, 11)));
    c->set_curve(r->str(i, 12));
    for (auto& san : parsePgTextArray(r->text(i, 13))) c->add_subject_alt_names(std::move(san));
    c->set_is_ca(r->boolean(i, 14));
    c->set_self_signed(r->boolean(i, 15));
    c->set_version(static_cast<uint32_t>(r->int64(i, 16)));
    if (with_der) c->set_der(parsePgBytea(r->text(i, 17)));
    rec->set_services(static_cast<uint64_t>(r->int64(i, 18)));
    *rec->mutable_first_seen() = fromMicros(r->int64(i, 19));
    if (!r->isNull(i, 20)) *rec->mutable_last_seen() = fromMicros(r->int64(i, 20));
  }
  if (r->rows() > page_size) {
    page.set_next_page_token(encodePageToken("certificates", r->str(n - 1, 0)));
  }
  return page;
}

absl::StatusOr<v1::TlsReport> PgInventoryStore::latestReport(const std::string& service) {
  std::string ip;
  uint32_t port = 0;
  if (!parseServiceName(service, ip, port)) return invalid("service must be ip:port");
  auto r = c_.exec(
      "SELECT o.id, o.report::text FROM services s JOIN observations o ON o.service_id = s.id"
      " WHERE s.address = $1::inet AND s.port = $2::integer"
      " ORDER BY o.observed_at DESC, o.id DESC LIMIT 1",
      {ip, std::to_string(port)});
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return absl::NotFoundError(absl::StrCat("no observation of ", service));
  v1::TlsReport report;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (auto s =
          google::protobuf::util::JsonStringToMessage(std::string(r->text(0, 1)), &report, options);
      !s.ok()) {
    return absl::InternalError(absl::StrCat("stored report does not parse: ", s.ToString()));
  }
  // Put the DER (kept once per certificate) back into the chains.
  auto ders = c_.exec(
      "SELECT oc.chain_index, oc.position, c.der FROM observation_certificates oc"
      " JOIN certificates c ON c.sha256 = oc.sha256 WHERE oc.observation_id = $1",
      {r->str(0, 0)});
  if (!ders.ok()) return ders.status();
  for (int i = 0; i < ders->rows(); ++i) {
    int chain = static_cast<int>(ders->int64(i, 0));
    int pos = static_cast<int>(ders->int64(i, 1));
    if (chain < report.chains_size() && pos < report.chains(chain).certificates_size()) {
      report.mutable_chains(chain)->mutable_certificates(pos)->set_der(
          parsePgBytea(ders->text(i, 2)));
    }
  }
  return report;
}

absl::StatusOr<v1::FleetSummary> PgInventoryStore::fleetSummary() {
  v1::FleetSummary summary;
  // One snapshot for every count, so the numbers agree with each other.
  auto tx = PgTransaction::begin(c_, "REPEATABLE READ");
  if (!tx.ok()) return tx.status();
  auto fill = [&](const char* sql, auto* entries) -> absl::Status {
    auto r = c_.exec(sql);
    if (!r.ok()) return r.status();
    for (int i = 0; i < r->rows(); ++i) {
      auto* e = entries->Add();
      e->set_key(r->str(i, 0));
      e->set_count(static_cast<uint64_t>(r->int64(i, 1)));
      e->set_assets(static_cast<uint64_t>(r->int64(i, 2)));
    }
    return absl::OkStatus();
  };
  static const std::string kVersionNames =
      "(CASE v.version WHEN 1 THEN 'SSL2' WHEN 2 THEN 'SSL3' WHEN 3 THEN 'TLS1_0'"
      " WHEN 4 THEN 'TLS1_1' WHEN 5 THEN 'TLS1_2' WHEN 6 THEN 'TLS1_3' ELSE 'UNKNOWN' END)";
  // Vendor and model are grouped case-insensitively, as the filters match them, and shown in
  // one of their spellings.
  std::string versions = absl::StrCat(
      "SELECT ", kVersionNames,
      ", count(*), count(DISTINCT s.asset_id) FROM services s"
      " JOIN observation_versions v ON v.observation_id = s.last_observation_id AND v.supported"
      " GROUP BY v.version ORDER BY v.version");
  if (auto s = fill(versions.c_str(), summary.mutable_versions()); !s.ok()) return s;
  if (auto s = fill("SELECT CASE WHEN c.signature_hash = '' THEN 'UNKNOWN' ELSE c.signature_hash"
                    " END, count(DISTINCT s.id), count(DISTINCT s.asset_id) FROM services s"
                    " JOIN observation_certificates oc ON oc.observation_id ="
                    " s.last_observation_id AND oc.chain_index = 0 AND oc.position = 0"
                    " JOIN certificates c ON c.sha256 = oc.sha256"
                    " GROUP BY 1 ORDER BY 2 DESC, 1",
                    summary.mutable_signature_hashes());
      !s.ok()) {
    return s;
  }
  if (auto s = fill("SELECT rule_id, count(*), count(DISTINCT asset_id) FROM findings"
                    " WHERE state = 1 GROUP BY rule_id ORDER BY 2 DESC, 1",
                    summary.mutable_rules());
      !s.ok()) {
    return s;
  }
  if (auto s = fill("SELECT min(vendor) || '/' || min(model), count(*), count(*) FROM assets"
                    " GROUP BY lower(vendor), lower(model) ORDER BY 2 DESC, 1",
                    summary.mutable_vendor_models());
      !s.ok()) {
    return s;
  }
  if (auto s = fill("SELECT min(a.vendor) || '/' || min(a.model), count(DISTINCT s.id),"
                    " count(DISTINCT a.id) FROM assets a JOIN services s ON s.asset_id = a.id"
                    " JOIN observation_versions v ON v.observation_id = s.last_observation_id"
                    " AND v.supported AND v.version BETWEEN 1 AND 4"
                    " GROUP BY lower(a.vendor), lower(a.model) ORDER BY 3 DESC, 1",
                    summary.mutable_legacy_tls_by_vendor_model());
      !s.ok()) {
    return s;
  }
  auto totals = c_.exec(
      "SELECT (SELECT count(*) FROM assets), (SELECT count(*) FROM services),"
      " (SELECT count(*) FROM findings WHERE state = 1)");
  if (!totals.ok()) return totals.status();
  summary.set_assets(static_cast<uint64_t>(totals->int64(0, 0)));
  summary.set_services(static_cast<uint64_t>(totals->int64(0, 1)));
  summary.set_open_findings(static_cast<uint64_t>(totals->int64(0, 2)));
  if (auto s = (*tx)->commit(); !s.ok()) return s;
  return summary;
}

absl::StatusOr<int64_t> PgInventoryStore::dropObservationsOlderThan(int max_age_days) {
  if (max_age_days < 1) return invalid("retention must be at least one day");
  // Normalised rows and chain positions go with their observation (the observations_deleted
  // trigger of migration 0003, in the same statement). The latest observation of a service
  // stays whatever its age: summaries are computed from it.
  auto r = c_.exec(
      "DELETE FROM observations o WHERE o.observed_at < now() - make_interval(days => $1)"
      " AND NOT EXISTS (SELECT 1 FROM services s WHERE s.last_observation_id = o.id)",
      {std::to_string(max_age_days)});
  if (!r.ok()) return r.status();
  return r->affected();
}

}  // namespace tlsaudit::storage
