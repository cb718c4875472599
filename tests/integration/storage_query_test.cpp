// Queries against a real PostgreSQL: finding filters one by one, keyset pages, hostile filter
// values, inventory lists, the fleet summary and retention.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "storage/page_token.h"
#include "storage/pg_finding_store.h"
#include "storage/pg_inventory_store.h"
#include "tests/integration/storage_fixture.h"

namespace tlsaudit::itest {
namespace {

using storage::PgFindingStore;
using storage::PgInventoryStore;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

class StorageQueryTest : public StorageTest {
 protected:
  void SetUp() override {
    StorageTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    scan1_ = createScan(*db_);
    scan2_ = createScan(*db_);
    PgFindingStore store(*db_);
    // 10.0.1.0/24: phones (Yealink T46G); 10.0.2.0/24: gateways (AudioCodes M500).
    auto tls10 = makeFinding("tls10", v1::HIGH, {"baseline", "pci-dss-4.0"});
    auto md5 = makeFinding("md5-signature", v1::CRITICAL, {"baseline"});
    auto ocsp = makeFinding("no-ocsp", v1::LOW, {"mozilla-modern"});
    ASSERT_TRUE(
        store.ingest(makeHostResult(scan1_, "10.0.1.1", 443, {tls10, md5}, true, "Yealink", "T46G"))
            .ok());
    ASSERT_TRUE(
        store.ingest(makeHostResult(scan1_, "10.0.1.2", 443, {tls10}, true, "yealink", "t46g"))
            .ok());
    ASSERT_TRUE(store
                    .ingest(makeHostResult(scan1_, "10.0.2.1", 443, {ocsp, md5}, true, "AudioCodes",
                                           "M500"))
                    .ok());
    // Scan 2 resolves md5 on the gateway.
    ASSERT_TRUE(store.ingest(makeHostResult(scan2_, "10.0.2.1", 443, {ocsp}, true)).ok());
  }
  // "address/rule" of every finding the filter selects (all pages).
  std::vector<std::string> select(const v1::FindingFilter& filter) {
    std::vector<std::string> out;
    std::string token;
    do {
      auto page = PgFindingStore(*db_).listFindings(filter, 2, token);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      for (const auto& f : page->findings()) out.push_back(f.asset() + "/" + f.rule_id());
      token = page->next_page_token();
    } while (!token.empty());
    std::sort(out.begin(), out.end());
    return out;
  }
  std::string scan1_, scan2_;
};

TEST_F(StorageQueryTest, EachFilterSelectsExactlyItsFindings) {
  v1::FindingFilter all;
  EXPECT_EQ(select(all).size(), 5u);
  v1::FindingFilter f;
  f.add_severities(v1::CRITICAL);
  EXPECT_THAT(select(f), ElementsAre("10.0.1.1/md5-signature", "10.0.2.1/md5-signature"));
  f.Clear();
  f.set_min_severity(v1::HIGH);
  EXPECT_EQ(select(f).size(), 4u);
  f.Clear();
  f.add_rule_ids("tls10");
  EXPECT_THAT(select(f), ElementsAre("10.0.1.1/tls10", "10.0.1.2/tls10"));
  f.Clear();
  f.add_states(v1::RESOLVED);
  EXPECT_THAT(select(f), ElementsAre("10.0.2.1/md5-signature"));
  f.Clear();
  f.set_address("10.0.1.0/24");
  EXPECT_EQ(select(f).size(), 3u);
  f.set_address("10.0.1.2");
  EXPECT_THAT(select(f), ElementsAre("10.0.1.2/tls10"));
  f.Clear();
  f.set_vendor("YEALINK");  // case-insensitive
  f.set_model("T46G");
  EXPECT_EQ(select(f).size(), 3u);
  f.Clear();
  f.set_profile("pci-dss-4.0");
  EXPECT_THAT(select(f), ElementsAre("10.0.1.1/tls10", "10.0.1.2/tls10"));
  f.Clear();
  f.set_scan_id(scan2_);
  EXPECT_THAT(select(f), ElementsAre("10.0.2.1/no-ocsp"));
  f.Clear();
  // makeHostResult observes scan N at 1700000000 + N hours: only scan 2's finding is that new.
  f.mutable_since()->set_seconds(1700000000 + std::stoll(scan2_) * 3600);
  EXPECT_THAT(select(f), ElementsAre("10.0.2.1/no-ocsp"));
  f.Clear();
  f.add_states(v1::OPEN);
  f.set_min_severity(v1::HIGH);
  f.set_address("10.0.0.0/16");
  f.set_profile("baseline");
  EXPECT_THAT(select(f), ElementsAre("10.0.1.1/md5-signature", "10.0.1.1/tls10", "10.0.1.2/tls10"));
}

TEST_F(StorageQueryTest, HostileFilterValuesAreInert) {
  std::string before = databaseFingerprint(*db_);
  for (const std::string evil :
       {"x' OR '1'='1", "'; DROP TABLE findings; --", "\") OR 1=1 --", "a\",\"baseline",
        "baseline\"}", "%", "_", "\\", "$1", "tls10' --"}) {
    v1::FindingFilter f;
    f.set_vendor(evil);
    EXPECT_THAT(select(f), IsEmpty()) << evil;
    f.Clear();
    f.add_rule_ids(evil);
    EXPECT_THAT(select(f), IsEmpty()) << evil;
    f.Clear();
    f.set_profile(evil);
    EXPECT_THAT(select(f), IsEmpty()) << evil;
    f.Clear();
    f.set_address(evil);
    auto page = PgFindingStore(*db_).listFindings(f, 10, "");
    EXPECT_EQ(page.status().code(), absl::StatusCode::kInvalidArgument) << evil;
    auto page2 = PgFindingStore(*db_).listFindings(v1::FindingFilter(), 10, evil);
    EXPECT_EQ(page2.status().code(), absl::StatusCode::kInvalidArgument) << evil;
    v1::CertificateFilter cf;
    cf.set_subject_contains(evil);
    auto certs = PgInventoryStore(*db_).listCertificates(cf, 10, "", false);
    ASSERT_TRUE(certs.ok()) << certs.status();
    EXPECT_EQ(certs->certificates_size(), 0) << evil;
  }
  EXPECT_EQ(databaseFingerprint(*db_), before);
  EXPECT_EQ(select(v1::FindingFilter()).size(), 5u);
}

TEST_F(StorageQueryTest, KeysetPagesCoverEveryFindingOnce) {
  std::string scan = createScan(*db_);
  PgFindingStore store(*db_);
  std::vector<v1::Finding> many;
  for (int i = 0; i < 25; ++i) many.push_back(makeFinding("r" + std::to_string(i), v1::MEDIUM));
  for (int h = 0; h < 10; ++h) {
    ASSERT_TRUE(
        store.ingest(makeHostResult(scan, "10.9.0." + std::to_string(h + 1), 443, many)).ok());
  }
  // Without an address: newest first by id. With one: by (address, id).
  for (bool by_address : {false, true}) {
    v1::FindingFilter f;
    if (by_address) {
      f.set_address("10.9.0.0/24");
    } else {
      f.add_rule_ids("r1");
      f.add_rule_ids("r2");
      f.add_rule_ids("r3");
      f.add_rule_ids("r4");
      f.add_rule_ids("r5");
    }
    std::set<std::string> ids;
    std::vector<int> sizes;
    std::string token;
    std::pair<uint32_t, int64_t> previous = {0, 0};
    int64_t previous_id = INT64_MAX;
    do {
      auto page = store.listFindings(f, by_address ? 100 : 20, token);
      ASSERT_TRUE(page.ok()) << page.status();
      sizes.push_back(page->findings_size());
      for (const auto& finding : page->findings()) {
        EXPECT_TRUE(ids.insert(finding.id()).second) << "duplicate " << finding.id();
        int64_t id = std::stoll(finding.id());
        if (by_address) {
          // The last octet orders the addresses of 10.9.0.0/24.
          uint32_t octet = std::stoul(finding.asset().substr(finding.asset().rfind('.') + 1));
          std::pair<uint32_t, int64_t> key = {octet, id};
          EXPECT_GT(key, previous) << finding.asset() << " " << id;
          previous = key;
        } else {
          EXPECT_LT(id, previous_id);  // newest first, strictly
          previous_id = id;
        }
      }
      token = page->next_page_token();
    } while (!token.empty());
    if (by_address) {
      EXPECT_THAT(sizes, ElementsAre(100, 100, 50));
      EXPECT_EQ(ids.size(), 250u);
    } else {
      EXPECT_THAT(sizes, ElementsAre(20, 20, 10));  // 5 rules x 10 hosts
      EXPECT_EQ(ids.size(), 50u);
    }
  }
  v1::FindingFilter f;
  f.set_address("10.9.0.0/24");
  // A token of another list is refused rather than used.
  auto other = store.listFindings(f, 100, storage::encodePageToken("assets", "5"));
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store.listFindings(f, 0, "").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(StorageQueryTest, InventoryListsFilterAndPage) {
  PgInventoryStore inv(*db_);
  v1::AssetFilter af;
  af.set_vendor("yealink");
  auto assets = inv.listAssets(af, 1, "");
  ASSERT_TRUE(assets.ok()) << assets.status();
  ASSERT_EQ(assets->assets_size(), 1);
  EXPECT_EQ(assets->assets(0).addresses(0), "10.0.1.1");
  ASSERT_FALSE(assets->next_page_token().empty());
  auto rest = inv.listAssets(af, 10, assets->next_page_token());
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->assets_size(), 1);
  EXPECT_EQ(rest->assets(0).addresses(0), "10.0.1.2");
  EXPECT_TRUE(rest->next_page_token().empty());

  v1::ServiceFilter sf;
  sf.set_address("10.0.2.0/24");
  sf.set_supports_version(v1::TLS1_0);
  auto services = inv.listServices(sf, 10, "");
  ASSERT_TRUE(services.ok()) << services.status();
  ASSERT_EQ(services->services_size(), 1);
  EXPECT_EQ(services->services(0).address(), "10.0.2.1");
  EXPECT_THAT(services->services(0).versions(), ElementsAre(v1::TLS1_0, v1::TLS1_2));
  EXPECT_EQ(services->services(0).leaf_sha256(), fakeCert("leaf-10.0.2.1").sha256);
  EXPECT_EQ(services->services(0).last_scan_id(), scan2_);
  sf.set_supports_version(v1::TLS1_3);
  EXPECT_EQ(inv.listServices(sf, 10, "")->services_size(), 0);

  v1::CertificateFilter cf;
  cf.set_subject_contains("root ca");
  auto certs = inv.listCertificates(cf, 10, "", true);
  ASSERT_TRUE(certs.ok()) << certs.status();
  ASSERT_EQ(certs->certificates_size(), 1);
  EXPECT_EQ(certs->certificates(0).services(), 3u);  // every service presents the root
  EXPECT_EQ(certs->certificates(0).certificate().der(), fakeCert("Root CA").der);
  cf.Clear();
  cf.set_signature_hash("sha256");
  auto all = inv.listCertificates(cf, 2, "", false);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->certificates_size(), 2);
  EXPECT_FALSE(all->next_page_token().empty());
  EXPECT_TRUE(all->certificates(0).certificate().der().empty());
}

TEST_F(StorageQueryTest, FleetSummaryCountsLatestObservations) {
  auto summary = PgInventoryStore(*db_).fleetSummary();
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->assets(), 3u);
  EXPECT_EQ(summary->services(), 3u);
  EXPECT_EQ(summary->open_findings(), 4u);
  auto entries = [](const auto& list) {
    std::vector<std::string> out;
    for (const auto& e : list) {
      out.push_back(e.key() + "=" + std::to_string(e.count()) + "/" + std::to_string(e.assets()));
    }
    return out;
  };
  EXPECT_THAT(entries(summary->versions()), ElementsAre("TLS1_0=3/3", "TLS1_2=3/3"));
  EXPECT_THAT(entries(summary->signature_hashes()), ElementsAre("SHA256=3/3"));
  EXPECT_THAT(entries(summary->rules()),
              ElementsAre("tls10=2/2", "md5-signature=1/1", "no-ocsp=1/1"));
  // "How many phones still speak TLS 1.0": vendor/model grouped whatever their case.
  EXPECT_THAT(entries(summary->legacy_tls_by_vendor_model()),
              UnorderedElementsAre("Yealink/T46G=2/2", "AudioCodes/M500=1/1"));
}

TEST_F(StorageQueryTest, RetentionDropsOldObservationsButKeepsLatestAndFindings) {
  // Three observations of 10.0.2.1 (scan 1, scan 2) and one per phone; age them all.
  ASSERT_TRUE(db_->exec("UPDATE observations SET observed_at = now() - interval '100 days'").ok());
  std::string findings_before = queryValue(*db_,
                                           "SELECT md5(string_agg(f::text, '|' ORDER BY "
                                           "id)) FROM findings f");
  int64_t events_before = queryCount(*db_, "SELECT count(*) FROM finding_events");
  auto dropped = PgInventoryStore(*db_).dropObservationsOlderThan(30);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(*dropped, 1);  // scan 1's observation of the gateway; each latest stays
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM observations"), 3);
  EXPECT_EQ(queryCount(*db_,
                       "SELECT count(*) FROM observation_versions v WHERE NOT EXISTS "
                       "(SELECT 1 FROM observations o WHERE o.id = v.observation_id)"),
            0);
  EXPECT_EQ(queryValue(*db_, "SELECT md5(string_agg(f::text, '|' ORDER BY id)) FROM findings f"),
            findings_before);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM finding_events"), events_before);
  EXPECT_EQ(PgInventoryStore(*db_).dropObservationsOlderThan(0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tlsaudit::itest

namespace tlsaudit::itest {
namespace {

TEST_F(StorageQueryTest, WaiversArePutReplacedListedAndDeleted) {
  PgFindingStore store(*db_);
  v1::Waiver w;
  w.set_id("w-1");
  w.set_rule_id("md5-signature");
  w.set_reason("vendor root until firmware 2.0; ticket 'OPS-1'; DROP TABLE waivers; --");
  w.set_owner("voice team");
  w.mutable_selector()->set_cidr("10.0.1.0/24");
  w.mutable_selector()->set_vendor("Yealink");
  w.mutable_expires()->set_seconds(1900000000);
  w.set_origin("waivers.yaml:3");
  ASSERT_TRUE(store.putWaiver(w).ok());
  w.set_owner("network team");  // same id: replaced, not added
  ASSERT_TRUE(store.putWaiver(w).ok());
  auto list = store.listWaivers();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].owner(), "network team");
  EXPECT_EQ((*list)[0].reason(), w.reason());
  EXPECT_EQ((*list)[0].selector().cidr(), "10.0.1.0/24");
  EXPECT_EQ((*list)[0].expires().seconds(), 1900000000);
  v1::Waiver bad = w;
  bad.set_id("w-2");
  bad.mutable_selector()->set_cidr("not a network");
  EXPECT_EQ(store.putWaiver(bad).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store.putWaiver(v1::Waiver()).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(store.deleteWaiver("w-1").ok());
  EXPECT_EQ(store.deleteWaiver("w-1").code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store.listWaivers()->empty());
}

}  // namespace
}  // namespace tlsaudit::itest
