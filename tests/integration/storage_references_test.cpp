// References without foreign keys (migration 0003) against a real PostgreSQL: ingest refuses a
// scan that does not exist and locks the rows it refers to; deleting an asset, service, scan,
// observation, finding or event takes what referred to it along (or forgets the scan), as the
// foreign keys did; a presented certificate cannot be deleted; referenced keys do not change;
// TRUNCATE cascades; and 0003 keeps the cipher suites of observations stored before it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "storage/migrator.h"
#include "storage/pg_finding_store.h"
#include "storage/pg_inventory_store.h"
#include "tests/integration/storage_fixture.h"

namespace tlsaudit::itest {
namespace {

using storage::PgFindingStore;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class StorageReferencesTest : public StorageTest {
 protected:
  // Two hosts of two scans each, with findings, events and outbox entries; then one delivery.
  void fill() {
    scan1_ = createScan(*db_);
    scan2_ = createScan(*db_);
    for (const std::string& scan : {scan1_, scan2_}) {
      for (const char* ip : {"10.20.0.1", "10.20.0.2"}) {
        auto r = PgFindingStore(*db_).ingest(makeHostResult(
            scan, ip, 443, {makeFinding("tls10", v1::HIGH), makeFinding("md5", v1::CRITICAL)}));
        ASSERT_TRUE(r.ok()) << r.status();
      }
    }
    ASSERT_TRUE(db_->exec("INSERT INTO alert_deliveries (sink, outbox_id, delivered)"
                          " SELECT 'hook', id, true FROM alert_outbox")
                    .ok());
  }
  // Rows of every table that hangs off observations and findings, as "table=count".
  std::vector<std::string> counts() {
    std::vector<std::string> out;
    for (const char* table :
         {"assets", "services", "observations", "observation_versions", "observation_cipher_suites",
          "observation_client_auth", "observation_extensions", "observation_certificates",
          "certificates", "findings", "finding_events", "scan_findings", "alert_outbox",
          "alert_deliveries"}) {
      out.push_back(std::string(table) + "=" +
                    queryValue(*db_, std::string("SELECT count(*) FROM ") + table));
    }
    return out;
  }
  std::string scan1_, scan2_;
};

TEST_F(StorageReferencesTest, IngestRefusesAScanThatDoesNotExist) {
  std::string scan = createScan(*db_);
  auto alone = PgFindingStore(*db_).ingest(makeHostResult("999999", "10.21.0.1", 443, {}));
  ASSERT_FALSE(alone.ok());
  EXPECT_EQ(alone.status().code(), absl::StatusCode::kFailedPrecondition) << alone.status();
  EXPECT_THAT(std::string(alone.status().message()), HasSubstr("scan 999999 does not exist"));
  // In a batch the others are stored and the culprit gets the same error.
  std::vector<v1::HostResult> hosts = {makeHostResult(scan, "10.21.0.2", 443, {}),
                                       makeHostResult("999999", "10.21.0.3", 443, {}),
                                       makeHostResult(scan, "10.21.0.4", 443, {})};
  auto out = PgFindingStore(*db_).ingestBatch(hosts);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[0].ok()) << out[0].status();
  EXPECT_EQ(out[1].status().code(), absl::StatusCode::kFailedPrecondition) << out[1].status();
  EXPECT_TRUE(out[2].ok()) << out[2].status();
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM observations"), 2);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM assets WHERE address = '10.21.0.3'"), 0);
}

TEST_F(StorageReferencesTest, ADeleteWaitsForTheIngestThatReferencesTheRow) {
  // A transaction holding what ingest holds (the scan locked FOR KEY SHARE, a certificate it
  // presents locked the same way): a DELETE of either must wait for it, as with foreign keys.
  std::string scan = createScan(*db_);
  ASSERT_TRUE(PgFindingStore(*db_).ingest(makeHostResult(scan, "10.22.0.1", 443, {})).ok());
  auto other = connectOrFail(dsn_);
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(other->exec("SET lock_timeout = '200ms'").ok());
  auto tx = storage::PgTransaction::begin(*db_);
  ASSERT_TRUE(tx.ok());
  ASSERT_TRUE(db_->exec("SELECT 1 FROM scans WHERE id = $1::bigint FOR KEY SHARE", {scan}).ok());
  ASSERT_TRUE(db_->exec("SELECT 1 FROM certificates FOR KEY SHARE").ok());
  auto scan_delete = other->exec("DELETE FROM scans WHERE id = $1::bigint", {scan});
  EXPECT_FALSE(scan_delete.ok());
  EXPECT_THAT(std::string(scan_delete.status().message()), HasSubstr("lock timeout"));
  auto cert_delete = other->exec("DELETE FROM certificates");
  EXPECT_FALSE(cert_delete.ok());
  ASSERT_TRUE((*tx)->commit().ok());
}

TEST_F(StorageReferencesTest, DeletingAnAssetTakesEverythingObservedAndFoundOnIt) {
  fill();
  ASSERT_TRUE(db_->exec("DELETE FROM assets WHERE address = '10.20.0.1'").ok());
  EXPECT_THAT(counts(),
              ElementsAre("assets=1", "services=1", "observations=2", "observation_versions=10",
                          "observation_cipher_suites=4", "observation_client_auth=2",
                          "observation_extensions=2", "observation_certificates=4",
                          "certificates=3", "findings=2", "finding_events=2", "scan_findings=4",
                          "alert_outbox=2", "alert_deliveries=2"));
}

TEST_F(StorageReferencesTest, DeletingAServiceTakesItsObservationsAndFindings) {
  fill();
  ASSERT_TRUE(db_->exec("DELETE FROM services WHERE address = '10.20.0.2'").ok());
  EXPECT_THAT(counts(),
              ElementsAre("assets=2", "services=1", "observations=2", "observation_versions=10",
                          "observation_cipher_suites=4", "observation_client_auth=2",
                          "observation_extensions=2", "observation_certificates=4",
                          "certificates=3", "findings=2", "finding_events=2", "scan_findings=4",
                          "alert_outbox=2", "alert_deliveries=2"));
}

TEST_F(StorageReferencesTest, DeletingAScanTakesItsObservationsAndMembershipAndForgetsIt) {
  fill();
  ASSERT_TRUE(db_->exec("DELETE FROM scans WHERE id = $1::bigint", {scan2_}).ok());
  EXPECT_THAT(counts(),
              ElementsAre("assets=2", "services=2", "observations=2", "observation_versions=10",
                          "observation_cipher_suites=4", "observation_client_auth=2",
                          "observation_extensions=2", "observation_certificates=4",
                          "certificates=3", "findings=4", "finding_events=4", "scan_findings=4",
                          "alert_outbox=4", "alert_deliveries=4"));
  // Services and findings were last seen by scan 2: they keep their rows and forget it.
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM services WHERE last_scan_id IS NULL"), 2);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM findings WHERE last_scan_id IS NULL"), 4);
  ASSERT_TRUE(db_->exec("DELETE FROM scans WHERE id = $1::bigint", {scan1_}).ok());
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM finding_events WHERE scan_id IS NULL"), 4);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM observations"), 0);
}

TEST_F(StorageReferencesTest, DeletesThatCouldMissConcurrentRowsAreRefusedInRepeatableRead) {
  fill();
  auto tx = storage::PgTransaction::begin(*db_, "REPEATABLE READ");
  ASSERT_TRUE(tx.ok());
  auto refused = db_->exec("DELETE FROM assets");
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("READ COMMITTED"));
  ASSERT_TRUE((*tx)->rollback().ok());
  // Observations are written with their rows in one transaction: nothing to miss.
  auto rr = storage::PgTransaction::begin(*db_, "REPEATABLE READ");
  ASSERT_TRUE(rr.ok());
  EXPECT_TRUE(db_->exec("DELETE FROM observations WHERE scan_id = $1::bigint", {scan1_}).ok());
  ASSERT_TRUE((*rr)->commit().ok());
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM observation_versions"), 10);
}

TEST_F(StorageReferencesTest, DeletingAFindingTakesItsEventsOutboxAndMembership) {
  fill();
  ASSERT_TRUE(db_->exec("DELETE FROM findings WHERE rule_id = 'md5'").ok());
  EXPECT_THAT(counts(),
              ElementsAre("assets=2", "services=2", "observations=4", "observation_versions=20",
                          "observation_cipher_suites=8", "observation_client_auth=4",
                          "observation_extensions=4", "observation_certificates=8",
                          "certificates=3", "findings=2", "finding_events=2", "scan_findings=4",
                          "alert_outbox=2", "alert_deliveries=2"));
}

TEST_F(StorageReferencesTest, PresentedCertificatesStayAndReferencedKeysDoNotChange) {
  fill();
  auto refused = db_->exec("DELETE FROM certificates");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("cannot be deleted"));
  ASSERT_TRUE(db_->exec("INSERT INTO certificates (sha256, der) VALUES"
                        " (sha256('unused'::bytea), 'unused'::bytea)")
                  .ok());
  auto unused = db_->exec("DELETE FROM certificates WHERE der = 'unused'::bytea");
  ASSERT_TRUE(unused.ok()) << unused.status();
  EXPECT_EQ(unused->affected(), 1);
  for (const char* sql :
       {"UPDATE certificates SET sha256 = sha256(der || 'x'::bytea)",
        "UPDATE observations SET id = DEFAULT", "UPDATE findings SET id = DEFAULT",
        "UPDATE finding_events SET id = DEFAULT", "UPDATE assets SET id = DEFAULT",
        "UPDATE services SET id = DEFAULT", "UPDATE scans SET id = DEFAULT"}) {
    auto r = db_->exec(sql);
    ASSERT_FALSE(r.ok()) << sql;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << sql << r.status();
  }
}

TEST_F(StorageReferencesTest, TruncateTakesTheReferringRowsAlong) {
  fill();
  auto refused = db_->exec("TRUNCATE certificates");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  ASSERT_TRUE(db_->exec("TRUNCATE findings").ok());
  EXPECT_THAT(counts(),
              ElementsAre("assets=2", "services=2", "observations=4", "observation_versions=20",
                          "observation_cipher_suites=8", "observation_client_auth=4",
                          "observation_extensions=4", "observation_certificates=8",
                          "certificates=3", "findings=0", "finding_events=0", "scan_findings=0",
                          "alert_outbox=0", "alert_deliveries=0"));
  ASSERT_TRUE(db_->exec("TRUNCATE assets").ok());
  EXPECT_THAT(counts(),
              ElementsAre("assets=0", "services=0", "observations=0", "observation_versions=0",
                          "observation_cipher_suites=0", "observation_client_auth=0",
                          "observation_extensions=0", "observation_certificates=0",
                          "certificates=3", "findings=0", "finding_events=0", "scan_findings=0",
                          "alert_outbox=0", "alert_deliveries=0"));
  EXPECT_TRUE(db_->exec("TRUNCATE certificates").ok());
}

class StorageMigration0003Test : public StorageTest {
 protected:
  bool migrateOnSetUp() const override { return false; }
};

TEST_F(StorageMigration0003Test, CipherSuitesStoredBeforeBecomeOneRowPerVersionInOrder) {
  auto all = storage::parseMigrations(storage::embeddedMigrationFiles());
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_GE(all->size(), 3u);
  std::vector<storage::Migration> before(all->begin(), all->begin() + 2);
  ASSERT_TRUE(storage::migrate(*db_, before, false).ok());
  // An observation as 0002 stored it: one row per suite, positions out of insertion order.
  ASSERT_TRUE(db_->execScript(R"sql(
    INSERT INTO scans (name) VALUES ('old');
    INSERT INTO assets (address, first_seen, last_seen) VALUES ('10.23.0.1', now(), now());
    INSERT INTO services (asset_id, address, port, first_seen, last_seen)
      SELECT id, address, 443, now(), now() FROM assets;
    INSERT INTO observations (scan_id, service_id, asset_id, observed_at, reachable, tls,
                              complete, report)
      SELECT 1, s.id, s.asset_id, now(), true, true, true, '{}' FROM services s;
    INSERT INTO observation_cipher_suites (observation_id, version, position, code, name, kx,
                                           auth, cipher, mac, bits, forward_secret) VALUES
      (1, 5, 1, 47, 'TLS_RSA_WITH_AES_128_CBC_SHA', 'RSA', 'RSA', 'AES_128_CBC', 'SHA', 128, false),
      (1, 5, 0, 49199, 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'ECDHE', 'RSA', 'AES_128_GCM',
       'AEAD', 128, true),
      (1, 5, 2, 10, 'TLS_RSA_WITH_3DES_EDE_CBC_SHA', 'RSA', 'RSA', '3DES_EDE_CBC', 'SHA', 112,
       false),
      (1, 6, 0, 4865, 'TLS_AES_128_GCM_SHA256', '', '', 'AES_128_GCM', 'AEAD', 128, true);
  )sql")
                  .ok());
  auto report = storage::migrate(*db_, *all, false);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM observation_cipher_suites"), 2);
  EXPECT_EQ(queryValue(*db_,
                       "SELECT codes::text || names::text || bits::text || forward_secret::text"
                       " FROM observation_cipher_suites WHERE version = 5"),
            "{49199,47,10}{TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_RSA_WITH_AES_128_CBC_SHA,"
            "TLS_RSA_WITH_3DES_EDE_CBC_SHA}{128,128,112}{t,f,f}");
  // The view shows the rows as they were.
  EXPECT_EQ(queryValue(*db_,
                       "SELECT string_agg(concat_ws(':', version, position, code, name, kx, auth,"
                       " cipher, mac, bits, forward_secret), ' ' ORDER BY version, position)"
                       " FROM observation_cipher_suite_rows"),
            "5:0:49199:TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:ECDHE:RSA:AES_128_GCM:AEAD:128:t "
            "5:1:47:TLS_RSA_WITH_AES_128_CBC_SHA:RSA:RSA:AES_128_CBC:SHA:128:f "
            "5:2:10:TLS_RSA_WITH_3DES_EDE_CBC_SHA:RSA:RSA:3DES_EDE_CBC:SHA:112:f "
            "6:0:4865:TLS_AES_128_GCM_SHA256:::AES_128_GCM:AEAD:128:t");
  EXPECT_EQ(
      queryValue(*db_, "SELECT count(*) FROM observation_cipher_suites WHERE codes @> '{10}'"),
      "1");
  EXPECT_THAT(orphanReferences(*db_, /*require=*/true), IsEmpty());
}

}  // namespace
}  // namespace tlsaudit::itest
