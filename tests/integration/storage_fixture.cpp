#include "tests/integration/storage_fixture.h"

#include <gmock/gmock.h>

#include <atomic>
#include <cstdio>
#include <mutex>

#include "storage/migrator.h"
#include "storage/pg_scan_queue.h"

namespace tlsaudit::itest {
namespace {

std::unique_ptr<PostgresCluster>& clusterSlot() {
  static std::unique_ptr<PostgresCluster> cluster;
  return cluster;
}

// Stops the shared cluster when the test program ends (inside gtest, so failures still report).
class SharedPostgresEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { clusterSlot().reset(); }
};

[[maybe_unused]] const bool kRegistered = [] {
  ::testing::AddGlobalTestEnvironment(new SharedPostgresEnvironment);
  return true;
}();

std::string hexOf(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

PostgresCluster* sharedPostgres() {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  auto& slot = clusterSlot();
  if (slot == nullptr) {
    slot = std::make_unique<PostgresCluster>(
        PostgresCluster::Options{.tcp = false, .server_certificate = false, .settings = {}});
  }
  return slot->ok() ? slot.get() : nullptr;
}

std::unique_ptr<storage::PgConnection> connectOrFail(const std::string& dsn) {
  storage::PgConnectOptions options;
  options.dsn = dsn;
  auto c = storage::PgConnection::connect(options);
  if (!c.ok()) {
    ADD_FAILURE() << c.status();
    return nullptr;
  }
  return *std::move(c);
}

std::string queryValue(storage::PgConnection& c, const std::string& sql) {
  auto r = c.exec(sql);
  if (!r.ok()) {
    ADD_FAILURE() << sql << ": " << r.status();
    return "";
  }
  if (r->rows() != 1) {
    ADD_FAILURE() << sql << ": " << r->rows() << " rows";
    return "";
  }
  return r->str(0, 0);
}

int64_t queryCount(storage::PgConnection& c, const std::string& sql) {
  std::string v = queryValue(c, sql);
  return v.empty() ? -1 : std::stoll(v);
}

std::string databaseFingerprint(storage::PgConnection& c) {
  auto tables =
      c.exec("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename");
  if (!tables.ok()) {
    ADD_FAILURE() << tables.status();
    return "";
  }
  std::string out;
  for (int i = 0; i < tables->rows(); ++i) {
    std::string t = tables->str(i, 0);
    // Table names come from pg_tables, not from test input; quote_ident keeps them names.
    auto r = c.exec(
        "SELECT format('SELECT %s || '':'' || COALESCE(md5(string_agg(t::text, "
        "''|'' ORDER BY t::text)), '''') FROM %I t', quote_literal($1), $1)",
        {t});
    if (!r.ok()) {
      ADD_FAILURE() << r.status();
      return "";
    }
    out += queryValue(c, r->str(0, 0)) + "\n";
  }
  return out;
}

std::vector<std::string> orphanReferences(storage::PgConnection& c, bool require) {
  std::vector<std::string> out;
  if (queryValue(c, "SELECT to_regproc('tlsaudit_orphan_references') IS NOT NULL") != "t") {
    // The schema predates migration 0003 (or was never migrated); on a migrated database the
    // check must not pass for want of the function.
    if (require) ADD_FAILURE() << "tlsaudit_orphan_references() is missing after migration";
    return out;
  }
  auto r = c.exec(
      "SELECT reference || '=' || orphans FROM tlsaudit_orphan_references() WHERE orphans > 0"
      " ORDER BY 1");
  if (!r.ok()) {
    ADD_FAILURE() << r.status();
    return out;
  }
  for (int i = 0; i < r->rows(); ++i) out.push_back(r->str(i, 0));
  return out;
}

void StorageTest::TearDown() {
  if (db_ == nullptr || db_->broken()) return;
  EXPECT_THAT(orphanReferences(*db_, migrateOnSetUp()), ::testing::IsEmpty());
}

void StorageTest::SetUp() {
  SKIP_WITHOUT_POSTGRES();
  PostgresCluster* pg = sharedPostgres();
  ASSERT_NE(pg, nullptr) << "no PostgreSQL cluster";
  static std::atomic<int> counter{0};
  std::string name = "t_" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
  auto admin = connectOrFail(pg->dsn("postgres"));
  ASSERT_NE(admin, nullptr);
  // CREATE DATABASE takes no parameters; the name is made here from digits, never from input.
  ASSERT_TRUE(admin->exec("CREATE DATABASE " + name).ok());
  dsn_ = pg->dsn(name);
  db_ = connectOrFail(dsn_);
  ASSERT_NE(db_, nullptr);
  if (migrateOnSetUp()) {
    auto migrations = storage::parseMigrations(storage::embeddedMigrationFiles());
    ASSERT_TRUE(migrations.ok()) << migrations.status();
    auto report = storage::migrate(*db_, *migrations, false);
    ASSERT_TRUE(report.ok()) << report.status();
  }
}

FakeCert fakeCert(const std::string& name, const std::string& signature_hash, size_t der_bytes) {
  FakeCert c;
  uint64_t h = std::hash<std::string>{}(name);
  for (int i = 0; i < 4; ++i) c.sha256 += hexOf(h * (i + 1) + 0x9e3779b97f4a7c15ULL * i);
  c.der = "\x30\x82" + name;
  while (c.der.size() < der_bytes) c.der += static_cast<char>(c.der.size() * 31 + h);
  c.subject = "CN=" + name;
  c.signature_hash = signature_hash;
  return c;
}

namespace {
void addCert(v1::CertificateChain* chain, const FakeCert& f, const std::string& issuer, bool ca) {
  auto* c = chain->add_certificates();
  c->set_sha256(f.sha256);
  c->set_der(f.der);
  c->set_subject(f.subject);
  c->set_issuer(issuer);
  c->set_common_name(f.subject.substr(3));
  c->set_serial("0a1b2c");
  c->set_signature_algorithm(f.signature_hash == "MD5" ? "md5WithRSAEncryption"
                                                       : "sha256WithRSAEncryption");
  c->set_signature_hash(f.signature_hash);
  c->set_key_type("RSA");
  c->set_key_bits(2048);
  c->add_subject_alt_names("DNS:" + f.subject.substr(3));
  c->set_is_ca(ca);
  c->set_version(3);
  c->mutable_not_before()->set_seconds(1600000000);
  c->mutable_not_after()->set_seconds(2050000000);
  c->set_source(v1::CERTIFICATE_SOURCE_PRESENTED);
}
}  // namespace

v1::TlsReport makeReport(const std::string& ip, uint32_t port,
                         const std::vector<v1::TlsVersion>& versions, const FakeCert& leaf,
                         const FakeCert& issuer) {
  v1::TlsReport r;
  r.mutable_target()->set_host(ip);
  r.mutable_target()->set_ip(ip);
  r.mutable_target()->set_port(port);
  r.set_reachable(true);
  r.set_tls(!versions.empty());
  for (auto v : {v1::SSL3, v1::TLS1_0, v1::TLS1_1, v1::TLS1_2, v1::TLS1_3}) {
    auto* vr = r.add_versions();
    vr->set_version(v);
    bool supported = std::find(versions.begin(), versions.end(), v) != versions.end();
    vr->set_supported(supported);
    if (!supported) continue;
    vr->set_cipher_order(v1::CIPHER_ORDER_SERVER);
    const char* names[] = {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                           "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_RSA_WITH_AES_128_CBC_SHA",
                           "TLS_RSA_WITH_3DES_EDE_CBC_SHA"};
    for (int i = 0; i < 4; ++i) {
      auto* cs = vr->add_cipher_suites();
      cs->set_code(0xc02f + i);
      cs->set_name(names[i]);
      cs->set_kx(i < 2 ? "ECDHE" : "RSA");
      cs->set_auth("RSA");
      cs->set_cipher(i == 3 ? "3DES_EDE_CBC" : "AES_128_GCM");
      cs->set_mac(i < 2 ? "AEAD" : "SHA");
      cs->set_bits(i == 3 ? 112 : 128);
      cs->set_forward_secret(i < 2);
    }
    if (v == v1::TLS1_2) {
      auto* ca = vr->mutable_client_auth();
      ca->set_version(v);
      ca->set_requested(true);
      ca->add_signature_algorithms("rsa_pkcs1_sha256");
      ca->add_signature_algorithms("rsa_pkcs1_md5");
      ca->add_ca_names(issuer.subject);
    }
  }
  auto* chain = r.add_chains();
  addCert(chain, leaf, issuer.subject, false);
  addCert(chain, issuer, issuer.subject, true);
  chain->set_key_type("RSA");
  chain->set_trusted(false);
  chain->set_validation_error("unable to get local issuer certificate");
  r.mutable_extensions()->set_secure_renegotiation(true);
  r.mutable_extensions()->set_fallback_scsv(v1::SUPPORT_YES);
  r.mutable_extensions()->add_alpn("http/1.1");
  r.add_groups()->set_name("x25519");
  r.set_duration_ms(1234);
  r.set_connections(17);
  return r;
}

v1::Finding makeFinding(const std::string& rule_id, v1::Severity severity,
                        const std::vector<std::string>& profiles) {
  v1::Finding f;
  f.set_rule_id(rule_id);
  f.set_severity(severity);
  f.set_title("title of " + rule_id);
  f.set_evidence("evidence of " + rule_id);
  for (const auto& p : profiles) f.add_profiles(p);
  f.add_references("RFC 8996");
  return f;
}

v1::HostResult makeHostResult(const std::string& scan_id, const std::string& ip, uint32_t port,
                              const std::vector<v1::Finding>& findings, bool complete,
                              const std::string& vendor, const std::string& model) {
  v1::HostResult h;
  h.set_scan_id(scan_id);
  h.mutable_asset()->add_addresses(ip);
  h.mutable_asset()->set_vendor(vendor);
  h.mutable_asset()->set_model(model);
  auto* s = h.add_services();
  s->mutable_service()->set_port(port);
  s->mutable_service()->set_protocol("https");
  *s->mutable_report() =
      makeReport(ip, port, {v1::TLS1_0, v1::TLS1_2}, fakeCert("leaf-" + ip), fakeCert("Root CA"));
  for (const auto& f : findings) *s->add_findings() = f;
  s->set_complete(complete);
  // Later scans observe later, as in life, so last_seen moves forward.
  h.mutable_observed_at()->set_seconds(1700000000 +
                                       std::stoll(scan_id.empty() ? "0" : scan_id) * 3600);
  return h;
}

std::string createScan(storage::PgConnection& c, const std::string& name) {
  v1::Scan scan;
  scan.set_name(name);
  auto s = storage::PgScanQueue(c).createScan(scan);
  if (!s.ok()) {
    ADD_FAILURE() << s.status();
    return "";
  }
  return s->id();
}

}  // namespace tlsaudit::itest
