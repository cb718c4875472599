// The batch ingest path (PgFindingStore::ingestBatch, HostResultWriter batches) against a real
// PostgreSQL: a poisoned host does not keep the others out, a replayed batch changes nothing,
// every lifecycle transition equals one-host-at-a-time ingest (differential, over every table),
// hostile text travels through COPY as data, concurrent batch writers store shared
// certificates once, and a server crash in the middle of batches loses and duplicates nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "storage/host_result_writer.h"
#include "storage/migrator.h"
#include "storage/pg_finding_store.h"
#include "storage/pg_inventory_store.h"
#include "tests/integration/storage_fixture.h"

namespace tlsaudit::itest {
namespace {

using std::chrono::seconds;
using storage::PgFindingStore;
using ::testing::ElementsAre;

using Outcomes = std::vector<absl::StatusOr<v1::IngestOutcome>>;

std::string ipOf(int block, int i) {
  return "10." + std::to_string(block) + "." + std::to_string(i / 250) + "." +
         std::to_string(i % 250 + 1);
}

// Every row of the schema by natural keys (addresses, ports, scan ids, rule ids), never by
// surrogate ids, which two write paths may hand out in different orders. One entry per table.
std::map<std::string, std::vector<std::string>> contentByNaturalKeys(storage::PgConnection& c) {
  static const std::pair<const char*, const char*> kTables[] = {
      {"assets",
       "SELECT concat_ws('|', host(address), addresses, mac, hostname, vendor, model, firmware,"
       " serial, device_class, site, inventory, first_seen, last_seen) FROM assets"},
      {"services",
       "SELECT concat_ws('|', host(s.address), s.port, s.transport, host(a.address), s.protocol,"
       " s.starttls, s.product, s.first_seen, s.last_seen, s.last_scan_id, o.scan_id)"
       " FROM services s JOIN assets a ON a.id = s.asset_id"
       " LEFT JOIN observations o ON o.id = s.last_observation_id"},
      {"observations",
       "SELECT concat_ws('|', host(s.address), s.port, o.scan_id, host(a.address), o.observed_at,"
       " o.reachable, o.tls, o.complete, o.report) FROM observations o"
       " JOIN services s ON s.id = o.service_id JOIN assets a ON a.id = o.asset_id"},
      {"observation_versions",
       "SELECT concat_ws('|', host(s.address), s.port, o.scan_id, v.version, v.supported,"
       " v.cipher_order) FROM observation_versions v JOIN observations o ON o.id ="
       " v.observation_id JOIN services s ON s.id = o.service_id"},
      {"observation_cipher_suites",
       "SELECT concat_ws('|', host(s.address), s.port, o.scan_id, x.version, x.codes, x.names,"
       " x.kx, x.auth, x.ciphers, x.macs, x.bits, x.forward_secret)"
       " FROM observation_cipher_suites x JOIN observations o ON o.id = x.observation_id"
       " JOIN services s ON s.id = o.service_id"},
      {"observation_client_auth",
       "SELECT concat_ws('|', host(s.address), s.port, o.scan_id, x.version,"
       " x.signature_algorithms, x.ca_names, x.certificate_types)"
       " FROM observation_client_auth x JOIN observations o ON o.id = x.observation_id"
       " JOIN services s ON s.id = o.service_id"},
      {"observation_extensions",
       "SELECT concat_ws('|', host(s.address), s.port, o.scan_id, row(x.secure_renegotiation,"
       " x.fallback_scsv, x.compression, x.ocsp_stapling, x.heartbeat, x.session_ticket,"
       " x.extended_master_secret, x.encrypt_then_mac, x.alpn))"
       " FROM observation_extensions x JOIN observations o ON o.id = x.observation_id"
       " JOIN services s ON s.id = o.service_id"},
      {"observation_certificates",
       "SELECT concat_ws('|', host(s.address), s.port, o.scan_id, x.chain_index, x.position,"
       " encode(x.sha256, 'hex'), x.source, x.trusted) FROM observation_certificates x"
       " JOIN observations o ON o.id = x.observation_id JOIN services s ON s.id = o.service_id"},
      // first_seen is the server's clock at insert time.
      {"certificates",
       "SELECT concat_ws('|', encode(sha256, 'hex'), encode(sha1, 'hex'), md5(der), subject,"
       " issuer, common_name, serial, not_before, not_after, signature_algorithm,"
       " signature_hash, key_type, key_bits, curve, subject_alt_names, is_ca, self_signed,"
       " x509_version) FROM certificates"},
      {"findings",
       "SELECT concat_ws('|', host(s.address), s.port, f.rule_id, host(a.address),"
       " host(f.address), f.severity, f.state, f.title, f.evidence, f.profiles, f.references_,"
       " f.tags, f.waiver_id, f.first_seen, f.last_seen, f.last_scan_id, f.state_changed)"
       " FROM findings f JOIN services s ON s.id = f.service_id"
       " JOIN assets a ON a.id = f.asset_id"},
      // A finding's events in their order (their rank), each with its outbox entry.
      {"finding_events+alert_outbox",
       "SELECT concat_ws('|', host(s.address), s.port, f.rule_id,"
       " rank() OVER (PARTITION BY e.finding_id ORDER BY e.id), e.scan_id, e.kind, e.from_state,"
       " e.to_state, e.at, e.evidence, o.kind, o.payload - 'findingId',"
       " o.payload->>'findingId' = e.finding_id::text, o.delivered_at, o.attempts)"
       " FROM finding_events e JOIN findings f ON f.id = e.finding_id"
       " JOIN services s ON s.id = f.service_id LEFT JOIN alert_outbox o ON o.event_id = e.id"},
      {"scan_findings",
       "SELECT concat_ws('|', x.scan_id, host(s.address), s.port, f.rule_id) FROM scan_findings x"
       " JOIN findings f ON f.id = x.finding_id JOIN services s ON s.id = f.service_id"},
      {"counts",
       "SELECT concat_ws('|', (SELECT count(*) FROM assets), (SELECT count(*) FROM services),"
       " (SELECT count(*) FROM observations), (SELECT count(*) FROM certificates),"
       " (SELECT count(*) FROM findings), (SELECT count(*) FROM finding_events),"
       " (SELECT count(*) FROM alert_outbox), (SELECT count(*) FROM scan_findings))"},
  };
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& [table, sql] : kTables) {
    auto r = c.exec(std::string(sql) + " ORDER BY 1");
    EXPECT_TRUE(r.ok()) << table << ": " << r.status();
    for (int i = 0; r.ok() && i < r->rows(); ++i) out[table].push_back(r->str(i, 0));
  }
  return out;
}

class StorageBatchTest : public StorageTest {
 protected:
  Outcomes batch(const std::vector<v1::HostResult>& hosts) {
    return PgFindingStore(*db_).ingestBatch(hosts);
  }
  // Another migrated database on the shared cluster.
  std::unique_ptr<storage::PgConnection> secondDatabase() {
    static std::atomic<int> counter{0};
    std::string name = "t_" + std::to_string(::getpid()) + "_second_" + std::to_string(++counter);
    auto admin = connectOrFail(sharedPostgres()->dsn("postgres"));
    if (admin == nullptr) return nullptr;
    // CREATE DATABASE takes no parameters; the name is made here from digits, never from input.
    EXPECT_TRUE(admin->exec("CREATE DATABASE " + name).ok());
    auto c = connectOrFail(sharedPostgres()->dsn(name));
    if (c == nullptr) return nullptr;
    auto migrations = storage::parseMigrations(storage::embeddedMigrationFiles());
    EXPECT_TRUE(migrations.ok() && storage::migrate(*c, *migrations, false).ok());
    return c;
  }
};

TEST_F(StorageBatchTest, APoisonedHostDoesNotKeepTheOthersOut) {
  std::string scan = createScan(*db_);
  std::vector<v1::HostResult> hosts;
  for (int i = 0; i < 12; ++i) {
    hosts.push_back(makeHostResult(scan, ipOf(9, i), 443, {makeFinding("tls10", v1::HIGH)}));
  }
  // Refused by PostgreSQL inside the batch statement: a second service with a bad address.
  auto* bad = hosts[3].add_services();
  *bad = hosts[3].services(0);
  bad->mutable_service()->set_port(8443);
  bad->mutable_report()->mutable_target()->set_ip("not-an-address");
  // Refused before anything is sent: a finding without a rule, a scan id that is none.
  hosts[7].mutable_services(0)->add_findings()->set_rule_id("");
  hosts[9].set_scan_id("1; DROP TABLE findings");
  // A later result for the same asset as the poisoned one waits for it: not written.
  hosts.push_back(makeHostResult(createScan(*db_), ipOf(9, 3), 443, {}));

  Outcomes out = batch(hosts);
  ASSERT_EQ(out.size(), hosts.size());
  for (size_t i = 0; i < hosts.size(); ++i) {
    if (i == 3 || i == 7 || i == 9) {
      ASSERT_FALSE(out[i].ok()) << i;
      EXPECT_EQ(out[i].status().code(), absl::StatusCode::kInvalidArgument) << out[i].status();
    } else if (i == 12) {
      ASSERT_FALSE(out[i].ok());
      EXPECT_EQ(out[i].status().code(), absl::StatusCode::kAborted) << out[i].status();
    } else {
      ASSERT_TRUE(out[i].ok()) << i << ": " << out[i].status();
      EXPECT_EQ(out[i]->services_stored(), 1u);
      EXPECT_EQ(out[i]->findings_opened(), 1u);
    }
  }
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM assets"), 9);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM observations"), 9);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM findings"), 9);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM alert_outbox"), 9);
  // Nothing of a refused host was written.
  for (int i : {3, 7, 9}) {
    EXPECT_EQ(queryCount(
                  *db_, "SELECT count(*) FROM services WHERE address = '" + ipOf(9, i) + "'::inet"),
              0);
  }
  // The held-back result goes in once it is retried.
  Outcomes later = batch({hosts[12]});
  ASSERT_TRUE(later[0].ok()) << later[0].status();
  EXPECT_EQ(later[0]->services_stored(), 1u);
}

// The follower's repeated asset is what ends the poisoned result's transaction: it must see that
// transaction fail before it is planned into the next one.
TEST_F(StorageBatchTest, AResultRightAfterAPoisonedOneOfItsAssetWaits) {
  std::string scan1 = createScan(*db_), scan2 = createScan(*db_);
  std::vector<v1::HostResult> hosts;
  hosts.push_back(makeHostResult(scan1, ipOf(10, 1), 443, {makeFinding("tls10", v1::HIGH)}));
  auto* bad = hosts[0].add_services();
  *bad = hosts[0].services(0);
  bad->mutable_service()->set_port(8443);
  bad->mutable_report()->mutable_target()->set_ip("not-an-address");
  hosts.push_back(makeHostResult(scan2, ipOf(10, 1), 443, {}));
  Outcomes out = batch(hosts);
  ASSERT_EQ(out.size(), 2u);
  ASSERT_FALSE(out[0].ok());
  EXPECT_EQ(out[0].status().code(), absl::StatusCode::kInvalidArgument) << out[0].status();
  ASSERT_FALSE(out[1].ok()) << "written before the earlier result of its asset was settled";
  EXPECT_EQ(out[1].status().code(), absl::StatusCode::kAborted) << out[1].status();
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM observations"), 0);
}

TEST_F(StorageBatchTest, ReplayingABatchChangesNothing) {
  std::string scan = createScan(*db_);
  std::vector<v1::HostResult> hosts;
  for (int i = 0; i < 30; ++i) {
    auto h = makeHostResult(scan, ipOf(11, i), 443,
                            {makeFinding("tls10", v1::HIGH), makeFinding("md5", v1::CRITICAL)});
    if (i % 3 == 0) {  // a second service presenting the same chain
      auto* second = h.add_services();
      *second = h.services(0);
      second->mutable_service()->set_port(5061);
      second->mutable_report()->mutable_target()->set_port(5061);
    }
    hosts.push_back(std::move(h));
  }
  Outcomes first = batch(hosts);
  uint32_t stored = 0, certificates = 0;
  for (const auto& o : first) {
    ASSERT_TRUE(o.ok()) << o.status();
    stored += o->services_stored();
    certificates += o->certificates_new();
  }
  EXPECT_EQ(stored, 40u);
  EXPECT_EQ(certificates, 31u);  // 30 leaves and the root, once
  std::string before = databaseFingerprint(*db_);
  ASSERT_FALSE(before.empty());

  Outcomes again = batch(hosts);
  for (size_t i = 0; i < hosts.size(); ++i) {
    ASSERT_TRUE(again[i].ok()) << again[i].status();
    EXPECT_EQ(again[i]->services_stored(), 0u);
    EXPECT_EQ(again[i]->services_replayed(), static_cast<uint32_t>(hosts[i].services_size()));
    EXPECT_EQ(again[i]->findings_opened() + again[i]->findings_resolved(), 0u);
    EXPECT_EQ(again[i]->certificates_new(), 0u);
  }
  EXPECT_EQ(databaseFingerprint(*db_), before);
  // The same results one at a time are replays too.
  for (const auto& h : hosts) ASSERT_TRUE(PgFindingStore(*db_).ingest(h).ok());
  EXPECT_EQ(databaseFingerprint(*db_), before);
}

// One host's scan: "a b~ c" are the findings (~ = waived), a leading "!" marks a partial
// result (absent findings are left as they are).
v1::HostResult scenarioResult(const std::string& scan, int host, const std::string& spec) {
  std::vector<v1::Finding> findings;
  bool complete = spec.empty() || spec[0] != '!';
  for (size_t i = complete ? 0 : 1; i < spec.size(); ++i) {
    if (spec[i] == ' ' || spec[i] == '~') continue;
    v1::Finding f = makeFinding(std::string(1, spec[i]), static_cast<v1::Severity>(1 + i % 5));
    if (i + 1 < spec.size() && spec[i + 1] == '~') {
      f.set_state(v1::WAIVED);
      f.set_waiver_id("w-" + std::string(1, spec[i]));
    }
    findings.push_back(f);
  }
  std::string ip = ipOf(12, host);
  v1::HostResult h = makeHostResult(scan, ip, 443, findings, complete,
                                    host % 2 == 0 && scan == "1" ? "Yealink" : "",
                                    host % 2 == 0 && scan == "1" ? "T46G" : "");
  if (host == 5) {  // shares host 4's leaf, and has a second service with other findings
    FakeCert leaf = fakeCert("leaf-" + ipOf(12, 4));
    auto* cert =
        h.mutable_services(0)->mutable_report()->mutable_chains(0)->mutable_certificates(0);
    cert->set_sha256(leaf.sha256);
    cert->set_der(leaf.der);
    auto* second = h.add_services();
    *second = h.services(0);
    second->mutable_service()->set_port(5061);
    second->mutable_report()->mutable_target()->set_port(5061);
    second->clear_findings();
    if (spec.find('a') != std::string::npos) *second->add_findings() = makeFinding("z", v1::LOW);
  }
  return h;
}

TEST_F(StorageBatchTest, LifecycleThroughBatchesEqualsOneHostAtATime) {
  // Per host, scans 1 to 6: every transition (opened, seen, resolved from OPEN and WAIVED,
  // partial, reopened, waived, unwaived) happens somewhere.
  const std::vector<std::vector<std::string>> plan = {
      {"a b", "a", "!", "a~ b", "a~ b", "a b"},
      {"a", "a~", "", "a", "a~", ""},
      {"b c", "c", "b c", "!b", "", "c"},
      {"", "a", "a", "!", "a", "a~"},
      {"a b c", "a b c", "a b~ c", "a b c", "!", "a b c"},
      {"c", "", "c", "", "c a", ""},
  };
  std::vector<std::string> scans;
  auto single = secondDatabase();
  ASSERT_NE(single, nullptr);
  for (int s = 0; s < 6; ++s) {
    scans.push_back(createScan(*db_));
    ASSERT_EQ(createScan(*single), scans.back());
  }
  // Arrival order: scan by scan, except that scan 2's result of host 0 arrives after scan 3's
  // (a late result), scan 1 of host 1 is delivered again after scan 2 (a replay), and scans 3
  // and 4 of host 2 arrive together.
  std::vector<v1::HostResult> arrivals;
  for (int s = 0; s < 6; ++s) {
    for (int h = 0; h < 6; ++h) {
      if (s == 1 && h == 0) continue;
      if (s == 3 && h == 2) continue;
      arrivals.push_back(scenarioResult(scans[s], h, plan[h][s]));
      if (s == 2 && h == 0) arrivals.push_back(scenarioResult(scans[1], 0, plan[0][1]));
      if (s == 2 && h == 2) arrivals.push_back(scenarioResult(scans[3], 2, plan[2][3]));
    }
    if (s == 1) arrivals.push_back(scenarioResult(scans[0], 1, plan[1][0]));
  }

  std::vector<v1::IngestOutcome> one_by_one;
  for (const auto& h : arrivals) {
    auto r = PgFindingStore(*single).ingest(h);
    ASSERT_TRUE(r.ok()) << r.status();
    one_by_one.push_back(*r);
  }
  // Batches of uneven sizes, some holding several scans of one host.
  std::vector<v1::IngestOutcome> batched;
  const size_t sizes[] = {5, 1, 9, 3, 14, 100};
  for (size_t at = 0, k = 0; at < arrivals.size(); ++k) {
    size_t n = std::min(sizes[k % std::size(sizes)], arrivals.size() - at);
    Outcomes out =
        PgFindingStore(*db_).ingestBatch(std::span<const v1::HostResult>(arrivals.data() + at, n));
    for (const auto& r : out) {
      ASSERT_TRUE(r.ok()) << r.status();
      batched.push_back(*r);
    }
    at += n;
  }
  ASSERT_EQ(batched.size(), one_by_one.size());
  for (size_t i = 0; i < batched.size(); ++i) {
    EXPECT_EQ(batched[i].DebugString(), one_by_one[i].DebugString()) << "arrival " << i;
  }
  auto expected = contentByNaturalKeys(*single);
  auto actual = contentByNaturalKeys(*db_);
  for (const auto& [table, rows] : expected) {
    EXPECT_EQ(actual[table], rows) << table;
  }
  EXPECT_THAT(orphanReferences(*single, /*require=*/true), ::testing::IsEmpty());
  // The scenario did exercise every kind of event.
  EXPECT_EQ(
      queryValue(*db_, "SELECT string_agg(DISTINCT kind, ',' ORDER BY kind) FROM finding_events"),
      "opened,reopened,resolved,unwaived,waived");
}

TEST_F(StorageBatchTest, HostileTextTravelsThroughCopyAsData) {
  const std::string hostile =
      "tab\there\nnewline\\N back\\slash \"quote\" {brace,comma} '); "
      "DROP TABLE findings; --";
  std::string scan = createScan(*db_);
  auto h = makeHostResult(scan, "10.13.0.1", 443, {makeFinding("r", v1::LOW)});
  auto* report = h.mutable_services(0)->mutable_report();
  report->mutable_versions(1)->mutable_cipher_suites(0)->set_name(hostile);
  report->mutable_extensions()->add_alpn(hostile);
  report->mutable_versions(3)->mutable_client_auth()->add_ca_names(hostile);
  report->mutable_chains(0)->mutable_certificates(0)->set_subject(hostile);
  Outcomes out = batch({h});
  ASSERT_TRUE(out[0].ok()) << out[0].status();
  EXPECT_EQ(queryValue(*db_, "SELECT names[1] FROM observation_cipher_suites WHERE version = 3"),
            hostile);
  EXPECT_EQ(queryValue(*db_,
                       "SELECT name FROM observation_cipher_suite_rows WHERE version = 3"
                       " AND position = 0"),
            hostile);
  EXPECT_THAT(
      storage::parsePgTextArray(queryValue(*db_, "SELECT alpn FROM observation_extensions")),
      ElementsAre("http/1.1", hostile));
  EXPECT_THAT(
      storage::parsePgTextArray(queryValue(*db_, "SELECT ca_names FROM observation_client_auth")),
      ElementsAre("CN=Root CA", hostile));
  EXPECT_EQ(queryValue(*db_, "SELECT subject FROM certificates WHERE NOT is_ca"), hostile);
  auto back = storage::PgInventoryStore(*db_).latestReport("10.13.0.1:443");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->SerializeAsString(), report->SerializeAsString());
  EXPECT_EQ(queryValue(*db_, "SELECT to_regclass('findings') IS NOT NULL"), "t");
  // The one-host path writes the suites as array literals inside JSON: the same text arrives.
  auto single = h;
  single.mutable_asset()->set_addresses(0, "10.13.0.2");
  single.mutable_services(0)->mutable_report()->mutable_target()->set_ip("10.13.0.2");
  ASSERT_TRUE(PgFindingStore(*db_).ingest(single).ok());
  EXPECT_EQ(queryValue(*db_,
                       "SELECT x.names[1] FROM observation_cipher_suites x JOIN observations o"
                       " ON o.id = x.observation_id JOIN services s ON s.id = o.service_id"
                       " WHERE s.address = '10.13.0.2' AND x.version = 3"),
            hostile);
}

TEST_F(StorageBatchTest, ConcurrentBatchWritersSharingCertificatesStoreEverythingOnce) {
  constexpr int kWriters = 4, kHostsEach = 60, kBatch = 12;
  std::string scan = createScan(*db_);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0}, retried{0};
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      auto c = connectOrFail(dsn_);
      if (c == nullptr) return ++failures, void();
      std::vector<v1::HostResult> hosts;
      for (int i = 0; i < kHostsEach; ++i) {
        // Leaves are shared by hosts of different writers, in opposite orders.
        auto h = makeHostResult(scan, ipOf(14, w * kHostsEach + i), 443,
                                {makeFinding("r" + std::to_string(i % 3), v1::HIGH)});
        auto* cert =
            h.mutable_services(0)->mutable_report()->mutable_chains(0)->mutable_certificates(0);
        FakeCert shared = fakeCert("shared-" + std::to_string(w % 2 == 0 ? i : kHostsEach - 1 - i));
        cert->set_sha256(shared.sha256);
        cert->set_der(shared.der);
        hosts.push_back(std::move(h));
      }
      for (int at = 0; at < kHostsEach; at += kBatch) {
        std::vector<v1::HostResult> pending(hosts.begin() + at, hosts.begin() + at + kBatch);
        for (int attempt = 0; !pending.empty() && attempt < 10; ++attempt) {
          Outcomes out = PgFindingStore(*c).ingestBatch(pending);
          std::vector<v1::HostResult> again;
          for (size_t i = 0; i < out.size(); ++i) {
            if (out[i].ok()) continue;
            // A deadlock or serialization failure is retried, as the writer does.
            if (out[i].status().code() != absl::StatusCode::kAborted) {
              ADD_FAILURE() << out[i].status();
              ++failures;
              continue;
            }
            ++retried;
            again.push_back(pending[i]);
          }
          pending = std::move(again);
        }
        if (!pending.empty()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM observations"), kWriters * kHostsEach);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM assets"), kWriters * kHostsEach);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM certificates"), kHostsEach + 1);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM findings"), kWriters * kHostsEach);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM finding_events"), kWriters * kHostsEach);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM alert_outbox"), kWriters * kHostsEach);
  // The idempotency keys the batch path makes: version 4 UUIDs, each once.
  EXPECT_EQ(queryCount(*db_, "SELECT count(DISTINCT idempotency_key) FROM alert_outbox"),
            kWriters * kHostsEach);
  EXPECT_EQ(queryCount(*db_,
                       "SELECT count(*) FROM alert_outbox WHERE substr(idempotency_key::text, 15,"
                       " 1) <> '4' OR substr(idempotency_key::text, 20, 1) NOT IN"
                       " ('8', '9', 'a', 'b')"),
            0);
  RecordProperty("aborted_and_retried", retried.load());
}

TEST_F(StorageBatchTest, ConcurrentBatchWritersOfTwoScansOfTheSameHosts) {
  // Two writers store two scans of the same hosts at the same time, in opposite host orders:
  // whichever commits a finding first inserts it (one "opened" event), the other sees it again;
  // each service's latest observation is the later scan's, whatever the commit order.
  constexpr int kHosts = 60, kBatch = 12;
  std::string scans[2] = {createScan(*db_), createScan(*db_)};
  std::vector<std::thread> threads;
  std::atomic<int> failures{0}, retried{0};
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      auto c = connectOrFail(dsn_);
      if (c == nullptr) return ++failures, void();
      std::vector<v1::HostResult> hosts;
      for (int i = 0; i < kHosts; ++i) {
        int host = w == 0 ? i : kHosts - 1 - i;
        hosts.push_back(makeHostResult(scans[w], ipOf(17, host), 443,
                                       {makeFinding("tls10", v1::HIGH),
                                        makeFinding("r" + std::to_string(host % 4), v1::LOW)}));
      }
      for (int at = 0; at < kHosts; at += kBatch) {
        std::vector<v1::HostResult> pending(hosts.begin() + at, hosts.begin() + at + kBatch);
        for (int attempt = 0; !pending.empty() && attempt < 20; ++attempt) {
          Outcomes out = PgFindingStore(*c).ingestBatch(pending);
          std::vector<v1::HostResult> again;
          for (size_t i = 0; i < out.size(); ++i) {
            if (out[i].ok()) continue;
            if (out[i].status().code() != absl::StatusCode::kAborted) {
              ADD_FAILURE() << out[i].status();
              ++failures;
              continue;
            }
            ++retried;
            again.push_back(pending[i]);
          }
          pending = std::move(again);
        }
        if (!pending.empty()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM observations"), 2 * kHosts);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM findings"), 2 * kHosts);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM finding_events"), 2 * kHosts);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM finding_events WHERE kind = 'opened'"),
            2 * kHosts);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM alert_outbox"), 2 * kHosts);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM scan_findings"), 4 * kHosts);
  // The later scan is every service's latest observation and every finding's last sighting.
  auto latest = db_->exec(
      "SELECT (SELECT count(*) FROM services s JOIN observations o ON o.id = s.last_observation_id"
      " WHERE o.scan_id = $1::bigint), (SELECT count(*) FROM findings WHERE last_scan_id ="
      " $1::bigint AND last_seen = (SELECT max(observed_at) FROM observations))",
      {scans[1]});
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->int64(0, 0), kHosts);
  EXPECT_EQ(latest->int64(0, 1), 2 * kHosts);
  RecordProperty("aborted_and_retried", retried.load());
}

TEST_F(StorageBatchTest, WriterStoresTheOthersAndGivesUpOnlyThePoisonedResult) {
  std::string scan1 = createScan(*db_), scan2 = createScan(*db_);
  std::mutex mutex;
  std::vector<std::pair<std::string, absl::StatusCode>> reported;  // (scan/address, code)
  storage::HostResultWriterOptions o;
  o.connect.dsn = dsn_;
  o.batch_hosts = 40;
  o.max_attempts = 3;
  o.backoff_initial = milliseconds(10);
  o.backoff_max = milliseconds(40);
  storage::HostResultWriter writer(o, [&](const v1::HostResult& h, const auto& outcome) {
    std::lock_guard lock(mutex);
    reported.push_back({h.scan_id() + "/" + h.asset().addresses(0), outcome.status().code()});
  });
  constexpr int kHosts = 100;
  for (int i = 0; i < kHosts; ++i) {
    auto h = makeHostResult(scan1, ipOf(15, i), 443, {makeFinding("tls10", v1::HIGH)});
    if (i == 30) h.mutable_services(0)->mutable_report()->mutable_target()->set_ip("bad");
    ASSERT_TRUE(writer.enqueue(std::move(h)).ok());
  }
  // The poisoned host's next scan, in the same batch: written after the poisoned one is given
  // up, never before.
  ASSERT_TRUE(writer.enqueue(makeHostResult(scan2, ipOf(15, 30), 443, {})).ok());
  ASSERT_TRUE(writer.flush(milliseconds(30000)));
  auto stats = writer.stats();
  EXPECT_EQ(stats.stored, static_cast<uint64_t>(kHosts));
  EXPECT_EQ(stats.given_up, 1u);
  EXPECT_EQ(stats.buffered, 0u);
  std::map<std::string, int> times;
  size_t poisoned_at = 0, follower_at = 0;
  for (size_t i = 0; i < reported.size(); ++i) {
    ++times[reported[i].first];
    if (reported[i].first == scan1 + "/" + ipOf(15, 30)) {
      poisoned_at = i;
      EXPECT_EQ(reported[i].second, absl::StatusCode::kInvalidArgument);
    } else {
      EXPECT_EQ(reported[i].second, absl::StatusCode::kOk) << reported[i].first;
    }
    if (reported[i].first == scan2 + "/" + ipOf(15, 30)) follower_at = i;
  }
  EXPECT_EQ(reported.size(), static_cast<size_t>(kHosts + 1));
  for (const auto& [host, n] : times) EXPECT_EQ(n, 1) << host;
  EXPECT_GT(follower_at, poisoned_at);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM observations"), kHosts);
}

// A cluster of its own: the test crashes it.
class StorageBatchFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_POSTGRES();
    pg_ = std::make_unique<PostgresCluster>(
        PostgresCluster::Options{.tcp = false, .server_certificate = false, .settings = {}});
    ASSERT_TRUE(pg_->ok());
    auto db = connectOrFail(pg_->dsn());
    ASSERT_NE(db, nullptr);
    auto migrations = storage::parseMigrations(storage::embeddedMigrationFiles());
    ASSERT_TRUE(migrations.ok());
    ASSERT_TRUE(storage::migrate(*db, *migrations, false).ok());
    scan_ = createScan(*db);
  }
  std::unique_ptr<PostgresCluster> pg_;
  std::string scan_;
};

TEST_F(StorageBatchFaultTest, ServerCrashMidBatchLosesAndDuplicatesNothing) {
  constexpr int kHosts = 3000;
  storage::HostResultWriterOptions o;
  o.connect.dsn = pg_->dsn();
  o.connect.connect_timeout = seconds(2);
  o.buffer_capacity = kHosts;
  o.batch_hosts = 100;
  o.backoff_initial = milliseconds(20);
  o.backoff_max = milliseconds(200);
  std::mutex mutex;
  std::map<std::string, int> ok_reports;
  int failed_reports = 0;
  storage::HostResultWriter writer(o, [&](const v1::HostResult& h, const auto& outcome) {
    std::lock_guard lock(mutex);
    if (outcome.ok()) {
      ++ok_reports[h.asset().addresses(0)];
    } else {
      ++failed_reports;
    }
  });
  std::thread producer([&] {
    for (int i = 0; i < kHosts; ++i) {
      auto s = writer.enqueue(
          makeHostResult(scan_, ipOf(16, i), 443,
                         {makeFinding("tls10", v1::HIGH), makeFinding("md5", v1::CRITICAL)}));
      if (!s.ok()) {
        ADD_FAILURE() << s;
        return;
      }
      // Spread the results over the outage instead of buffering them all at once.
      if (i % 50 == 0) std::this_thread::sleep_for(milliseconds(10));
    }
  });
  // Crash the server while batches are being written (immediate = no clean shutdown: the
  // transaction in flight is lost and must be retried whole).
  for (int spins = 0; writer.stats().stored < 300 && spins < 4000; ++spins) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_GE(writer.stats().stored, 300u);  // the crash lands mid-ingest, not before it
  ASSERT_TRUE(pg_->stop("immediate"));
  std::this_thread::sleep_for(milliseconds(400));
  EXPECT_GT(writer.stats().buffered, 0u);  // held while the server is down
  ASSERT_TRUE(pg_->start());
  producer.join();
  ASSERT_TRUE(writer.flush(milliseconds(120000)));
  auto stats = writer.stats();
  EXPECT_EQ(stats.stored, static_cast<uint64_t>(kHosts));
  EXPECT_EQ(stats.given_up, 0u);
  EXPECT_GT(stats.retries, 0u);
  EXPECT_GE(stats.reconnects, 2u);
  EXPECT_LT(stats.batches, static_cast<uint64_t>(kHosts));  // results did share transactions
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(failed_reports, 0);
    EXPECT_EQ(ok_reports.size(), static_cast<size_t>(kHosts));
    for (const auto& [host, n] : ok_reports) EXPECT_EQ(n, 1) << host;  // each reported once
  }

  auto db = connectOrFail(pg_->dsn());
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(queryCount(*db, "SELECT count(*) FROM assets"), kHosts);
  EXPECT_EQ(queryCount(*db, "SELECT count(*) FROM observations"), kHosts);
  EXPECT_EQ(queryCount(*db, "SELECT count(*) FROM observation_versions"), kHosts * 5);
  EXPECT_EQ(queryCount(*db, "SELECT count(*) FROM observation_cipher_suites"), kHosts * 2);
  EXPECT_EQ(queryCount(*db, "SELECT sum(cardinality(codes)) FROM observation_cipher_suites"),
            kHosts * 8);
  EXPECT_EQ(queryCount(*db, "SELECT count(*) FROM observation_certificates"), kHosts * 2);
  EXPECT_EQ(queryCount(*db, "SELECT count(*) FROM certificates"), kHosts + 1);
  EXPECT_EQ(queryCount(*db, "SELECT count(*) FROM findings"), kHosts * 2);
  EXPECT_EQ(queryCount(*db, "SELECT count(*) FROM finding_events"), kHosts * 2);
  EXPECT_EQ(queryCount(*db, "SELECT count(*) FROM alert_outbox"), kHosts * 2);
  EXPECT_EQ(queryCount(*db, "SELECT count(*) FROM scan_findings"), kHosts * 2);
  // Nothing half-written survived the crash: every observation has its rows and is its
  // service's latest.
  EXPECT_EQ(queryCount(*db,
                       "SELECT count(*) FROM observations o WHERE NOT EXISTS (SELECT 1"
                       " FROM observation_extensions e WHERE e.observation_id = o.id)"),
            0);
  EXPECT_EQ(queryCount(*db,
                       "SELECT count(*) FROM services s JOIN observations o ON"
                       " o.id = s.last_observation_id"),
            kHosts);
  EXPECT_THAT(orphanReferences(*db, /*require=*/true), ::testing::IsEmpty());
}

}  // namespace
}  // namespace tlsaudit::itest
