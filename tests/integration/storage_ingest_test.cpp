// Ingest against a real PostgreSQL: normalised rows and certificates stored once, idempotent
// replay, every finding lifecycle transition with its event and outbox entry, atomicity of a
// host result, scan diffs, and concurrent writers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "storage/pg_finding_store.h"
#include "storage/pg_inventory_store.h"
#include "tests/integration/storage_fixture.h"

namespace tlsaudit::itest {
namespace {

using storage::PgFindingStore;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class StorageIngestTest : public StorageTest {
 protected:
  v1::IngestOutcome ingestOk(const v1::HostResult& h) {
    auto r = PgFindingStore(*db_).ingest(h);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : v1::IngestOutcome{};
  }
  // "rule:STATE" for every finding, ordered by rule.
  std::vector<std::string> states() {
    std::vector<std::string> out;
    auto r = db_->exec("SELECT rule_id || ':' || state FROM findings ORDER BY rule_id");
    EXPECT_TRUE(r.ok()) << r.status();
    for (int i = 0; r.ok() && i < r->rows(); ++i) out.push_back(r->str(i, 0));
    return out;
  }
  // The event kinds of `rule`, oldest first.
  std::vector<std::string> events(const std::string& rule) {
    std::vector<std::string> out;
    auto r = db_->exec(
        "SELECT e.kind FROM finding_events e JOIN findings f ON f.id = e.finding_id"
        " WHERE f.rule_id = $1 ORDER BY e.id",
        {rule});
    EXPECT_TRUE(r.ok()) << r.status();
    for (int i = 0; r.ok() && i < r->rows(); ++i) out.push_back(r->str(i, 0));
    return out;
  }
};

TEST_F(StorageIngestTest, StoresObservationRowsAndEachCertificateOnce) {
  std::string scan = createScan(*db_);
  v1::HostResult h = makeHostResult(scan, "10.1.2.3", 443, {}, true, "Yealink", "T46G");
  // A second service of the host presenting the same chain.
  auto* second = h.add_services();
  *second = h.services(0);
  second->mutable_service()->set_port(5061);
  second->mutable_report()->mutable_target()->set_port(5061);
  auto outcome = ingestOk(h);
  EXPECT_EQ(outcome.services_stored(), 2u);
  EXPECT_EQ(outcome.certificates_new(), 2u);  // leaf + root, stored once for both services
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM assets"), 1);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM services"), 2);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM observations"), 2);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM certificates"), 2);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM observation_certificates"), 4);
  // 5 versions probed per service, 2 supported with 4 suites each, client auth on TLS 1.2.
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM observation_versions"), 10);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM observation_versions WHERE supported"), 4);
  // One cipher-suite row per (observation, version) with the version's suites in order.
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM observation_cipher_suites"), 4);
  EXPECT_EQ(queryCount(*db_, "SELECT sum(cardinality(codes)) FROM observation_cipher_suites"), 16);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM observation_cipher_suite_rows"), 16);
  EXPECT_EQ(queryValue(*db_,
                       "SELECT codes::text || ' ' || array_to_string(names, ',') || ' ' ||"
                       " bits::text || ' ' || forward_secret::text FROM observation_cipher_suites"
                       " WHERE version = 5 LIMIT 1"),
            "{49199,49200,49201,49202} TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,"
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,TLS_RSA_WITH_AES_128_CBC_SHA,"
            "TLS_RSA_WITH_3DES_EDE_CBC_SHA {128,128,128,112} {t,t,f,f}");
  EXPECT_EQ(queryValue(*db_,
                       "SELECT position || ':' || code || ':' || kx || ':' || cipher FROM"
                       " observation_cipher_suite_rows WHERE version = 5 AND position = 3 LIMIT 1"),
            "3:49202:RSA:3DES_EDE_CBC");
  EXPECT_EQ(queryValue(*db_,
                       "SELECT array_to_string(signature_algorithms, ',') FROM "
                       "observation_client_auth LIMIT 1"),
            "rsa_pkcs1_sha256,rsa_pkcs1_md5");
  EXPECT_EQ(queryCount(*db_,
                       "SELECT count(*) FROM observation_extensions WHERE "
                       "secure_renegotiation AND alpn = '{http/1.1}'"),
            2);
  // The JSONB report keeps everything but the DER, which lives once in certificates.
  EXPECT_EQ(queryValue(*db_, "SELECT report->'target'->>'ip' FROM observations LIMIT 1"),
            "10.1.2.3");
  EXPECT_EQ(queryCount(*db_,
                       "SELECT count(*) FROM observations WHERE report::text LIKE "
                       "'%\"der\"%'"),
            0);
  FakeCert leaf = fakeCert("leaf-10.1.2.3");
  EXPECT_EQ(queryValue(*db_, "SELECT length(der) FROM certificates WHERE sha256 = decode('" +
                                 leaf.sha256 + "', 'hex')"),
            std::to_string(leaf.der.size()));
  // The stored report reads back equal to what was ingested, DER included.
  auto back = storage::PgInventoryStore(*db_).latestReport("10.1.2.3:443");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->SerializeAsString(), h.services(0).report().SerializeAsString());
  EXPECT_EQ(queryValue(*db_, "SELECT vendor || '/' || model FROM assets"), "Yealink/T46G");
}

TEST_F(StorageIngestTest, ReplayingAHostResultChangesNothing) {
  std::string scan = createScan(*db_);
  v1::HostResult h = makeHostResult(
      scan, "10.1.2.4", 443, {makeFinding("tls10", v1::HIGH), makeFinding("md5", v1::CRITICAL)});
  auto first = ingestOk(h);
  EXPECT_EQ(first.findings_opened(), 2u);
  std::string before = databaseFingerprint(*db_);
  ASSERT_FALSE(before.empty());
  auto again = ingestOk(h);
  EXPECT_EQ(again.services_stored(), 0u);
  EXPECT_EQ(again.services_replayed(), 1u);
  EXPECT_EQ(again.findings_opened(), 0u);
  EXPECT_EQ(databaseFingerprint(*db_), before);
}

TEST_F(StorageIngestTest, EveryLifecycleTransitionHasItsEventAndOutboxEntry) {
  const std::string ip = "10.1.2.5";
  auto a = makeFinding("a", v1::HIGH);
  auto b = makeFinding("b", v1::MEDIUM);
  // Scan 1: both new -> OPEN.
  auto o1 = ingestOk(makeHostResult(createScan(*db_), ip, 443, {a, b}));
  EXPECT_EQ(o1.findings_opened(), 2u);
  EXPECT_THAT(states(), ElementsAre("a:1", "b:1"));
  // Scan 2, complete, b absent -> b RESOLVED; a still present: last_seen moves, no event.
  std::string last_seen_1 = queryValue(*db_, "SELECT last_seen FROM findings WHERE rule_id='a'");
  auto o2 = ingestOk(makeHostResult(createScan(*db_), ip, 443, {a}));
  EXPECT_EQ(o2.findings_resolved(), 1u);
  EXPECT_THAT(states(), ElementsAre("a:1", "b:2"));
  EXPECT_NE(queryValue(*db_, "SELECT last_seen FROM findings WHERE rule_id='a'"), last_seen_1);
  // Scan 3, partial (not complete), a absent -> nothing resolved.
  auto o3 = ingestOk(makeHostResult(createScan(*db_), ip, 443, {}, /*complete=*/false));
  EXPECT_EQ(o3.findings_resolved(), 0u);
  EXPECT_THAT(states(), ElementsAre("a:1", "b:2"));
  // Scan 4: b back -> reopened; a now waived.
  auto a_waived = a;
  a_waived.set_state(v1::WAIVED);
  a_waived.set_waiver_id("w-1");
  auto o4 = ingestOk(makeHostResult(createScan(*db_), ip, 443, {a_waived, b}));
  EXPECT_EQ(o4.findings_reopened(), 1u);
  EXPECT_EQ(o4.findings_waived(), 1u);
  EXPECT_THAT(states(), ElementsAre("a:3", "b:1"));
  EXPECT_EQ(queryValue(*db_, "SELECT waiver_id FROM findings WHERE rule_id='a'"), "w-1");
  // Scan 5: still waived -> no event; scan 6: waiver gone -> unwaived.
  auto o5 = ingestOk(makeHostResult(createScan(*db_), ip, 443, {a_waived, b}));
  EXPECT_EQ(o5.findings_waived() + o5.findings_unwaived(), 0u);
  auto o6 = ingestOk(makeHostResult(createScan(*db_), ip, 443, {a, b}));
  EXPECT_EQ(o6.findings_unwaived(), 1u);
  EXPECT_THAT(states(), ElementsAre("a:1", "b:1"));
  // Scan 7: a waived again, b absent -> resolved; scan 8: a waived finding that disappears
  // is resolved too.
  auto o7 = ingestOk(makeHostResult(createScan(*db_), ip, 443, {a_waived}));
  EXPECT_EQ(o7.findings_resolved(), 1u);
  auto o8 = ingestOk(makeHostResult(createScan(*db_), ip, 443, {}));
  EXPECT_EQ(o8.findings_resolved(), 1u);
  EXPECT_THAT(states(), ElementsAre("a:2", "b:2"));

  EXPECT_THAT(events("a"), ElementsAre("opened", "waived", "unwaived", "waived", "resolved"));
  EXPECT_THAT(events("b"), ElementsAre("opened", "resolved", "reopened", "resolved"));
  // One outbox entry per event, written with it, naming the finding and its service.
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM alert_outbox"),
            queryCount(*db_, "SELECT count(*) FROM finding_events"));
  EXPECT_EQ(queryCount(*db_,
                       "SELECT count(*) FROM alert_outbox o JOIN finding_events e ON"
                       " e.id = o.event_id WHERE o.kind = 'finding.' || e.kind AND"
                       " o.payload->>'service' = '10.1.2.5:443' AND"
                       " o.payload->>'findingId' = e.finding_id::text"),
            9);
  // History through the store API, with from/to states.
  auto id = queryValue(*db_, "SELECT id FROM findings WHERE rule_id = 'b'");
  auto history = PgFindingStore(*db_).findingHistory(id);
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->size(), 4u);
  EXPECT_EQ((*history)[1].from_state, v1::OPEN);
  EXPECT_EQ((*history)[1].to_state, v1::RESOLVED);
  EXPECT_EQ((*history)[2].kind, "reopened");
  // first_seen stays at the first scan.
  EXPECT_EQ(queryValue(*db_,
                       "SELECT extract(epoch FROM first_seen)::bigint FROM findings "
                       "WHERE rule_id = 'b'"),
            queryValue(*db_,
                       "SELECT extract(epoch FROM min(observed_at))::bigint FROM "
                       "observations"));
}

TEST_F(StorageIngestTest, AFailingServiceLeavesNothingOfTheHostWritten) {
  std::string scan = createScan(*db_);
  v1::HostResult h = makeHostResult(scan, "10.1.2.6", 443, {makeFinding("a", v1::HIGH)});
  auto* bad = h.add_services();
  *bad = h.services(0);
  bad->mutable_service()->set_port(8443);
  bad->mutable_report()->mutable_target()->set_port(8443);
  bad->add_findings()->set_rule_id("");  // rejected after the first service was written
  auto r = PgFindingStore(*db_).ingest(h);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  for (const char* table : {"assets", "services", "observations", "certificates", "findings",
                            "finding_events", "alert_outbox"}) {
    EXPECT_EQ(queryCount(*db_, std::string("SELECT count(*) FROM ") + table), 0) << table;
  }
  // The same error coming from PostgreSQL (an address it refuses) is just as atomic.
  v1::HostResult worse = makeHostResult(scan, "10.1.2.7", 443, {});
  auto* svc = worse.add_services();
  *svc = worse.services(0);
  svc->mutable_report()->mutable_target()->set_ip("not-an-address");
  auto r2 = PgFindingStore(*db_).ingest(worse);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.status().code(), absl::StatusCode::kInvalidArgument) << r2.status();
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM assets"), 0);
}

TEST_F(StorageIngestTest, DiffBetweenScansIsNewResolvedPersisting) {
  std::string s1 = createScan(*db_), s2 = createScan(*db_);
  auto a = makeFinding("a", v1::HIGH), b = makeFinding("b", v1::HIGH),
       c = makeFinding("c", v1::HIGH);
  ingestOk(makeHostResult(s1, "10.2.0.1", 443, {a, b}));
  ingestOk(makeHostResult(s1, "10.2.0.2", 443, {a}));  // not rescanned by s2
  ingestOk(makeHostResult(s2, "10.2.0.1", 443, {b, c}));
  auto diff = PgFindingStore(*db_).diffScans(s1, s2);
  ASSERT_TRUE(diff.ok()) << diff.status();
  auto keys = [](const auto& findings) {
    std::vector<std::string> out;
    for (const auto& f : findings) out.push_back(f.service() + "/" + f.rule_id());
    return out;
  };
  EXPECT_THAT(keys(diff->new_findings()), ElementsAre("10.2.0.1:443/c"));
  EXPECT_THAT(keys(diff->resolved_findings()), ElementsAre("10.2.0.1:443/a"));
  EXPECT_THAT(keys(diff->persisting_findings()), ElementsAre("10.2.0.1:443/b"));
  EXPECT_EQ(PgFindingStore(*db_).diffScans(s1, "1; DROP TABLE findings").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(StorageIngestTest, ALateResultOfAnOlderScanDoesNotBecomeTheLatest) {
  std::string s1 = createScan(*db_), s2 = createScan(*db_);
  ingestOk(makeHostResult(s2, "10.4.0.1", 443, {makeFinding("a", v1::HIGH)}));
  // Scan 1 observed an hour earlier, but its result is written after scan 2's.
  auto late = ingestOk(makeHostResult(s1, "10.4.0.1", 443, {makeFinding("a", v1::HIGH)}));
  EXPECT_EQ(late.services_stored(), 1u);  // kept as history
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM observations"), 2);
  EXPECT_EQ(queryValue(*db_, "SELECT last_scan_id FROM services"), s2);
  EXPECT_EQ(queryValue(*db_,
                       "SELECT o.scan_id FROM services s JOIN observations o ON"
                       " o.id = s.last_observation_id"),
            s2);
  EXPECT_EQ(queryValue(*db_, "SELECT last_scan_id FROM findings"), s2);
}

TEST_F(StorageIngestTest, ConcurrentWritersSharingCertificatesStoreEverythingOnce) {
  constexpr int kWriters = 4, kHostsEach = 40;
  std::string scan = createScan(*db_);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0}, retried{0};
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      auto c = connectOrFail(dsn_);
      if (c == nullptr) return ++failures, void();
      for (int i = 0; i < kHostsEach; ++i) {
        // Every writer presents the same intermediate; leaves are shared by pairs of hosts
        // written by different writers, in opposite orders.
        int host = w * kHostsEach + i;
        auto h = makeHostResult(
            scan, "10.3." + std::to_string(host / 250) + "." + std::to_string(host % 250 + 1), 443,
            {makeFinding("r" + std::to_string(i % 3), v1::HIGH)});
        auto* chain = h.mutable_services(0)->mutable_report()->mutable_chains(0);
        FakeCert shared =
            fakeCert("shared-" + std::to_string((w % 2 == 0 ? i : kHostsEach - 1 - i)));
        chain->mutable_certificates(0)->set_sha256(shared.sha256);
        chain->mutable_certificates(0)->set_der(shared.der);
        absl::StatusOr<v1::IngestOutcome> r = absl::UnknownError("");
        for (int attempt = 0; attempt < 5; ++attempt) {
          r = PgFindingStore(*c).ingest(h);
          // A deadlock or serialization failure is retried, as the writer does.
          if (r.ok() || r.status().code() != absl::StatusCode::kAborted) break;
          ++retried;
        }
        if (!r.ok()) {
          ADD_FAILURE() << r.status();
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM observations"), kWriters * kHostsEach);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM assets"), kWriters * kHostsEach);
  // kHostsEach shared leaves + one root, each once.
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM certificates"), kHostsEach + 1);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM findings"), kWriters * kHostsEach);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM finding_events"), kWriters * kHostsEach);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM alert_outbox"), kWriters * kHostsEach);
  RecordProperty("aborted_and_retried", retried.load());
}

}  // namespace
}  // namespace tlsaudit::itest
