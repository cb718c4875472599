// Waivers applied to stored findings when they change (scanner/daemon/waiver_refresh.h), on a
// real PostgreSQL: the SQL that narrows the candidates must never hide a finding that the
// scan's own matching (rules::applyWaivers) would waive, and that matching decides.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ctime>
#include <map>

#include "rules/waivers.h"
#include "scanner/daemon/waiver_refresh.h"
#include "storage/pg_finding_store.h"
#include "tests/integration/storage_fixture.h"

namespace tlsaudit::itest {
namespace {

using storage::PgFindingStore;
using storage::WaiverRefreshScope;

struct Host {
  std::string ip;
  uint32_t port;
  std::string vendor, model;
  std::vector<std::string> more_addresses;
};

const std::vector<Host> kHosts = {
    {"10.50.1.10", 443, "Yealink", "SIP-T46S", {}},
    {"10.50.1.11", 5061, "yealink", "SIP-T48S", {"192.168.7.11"}},
    {"10.50.2.20", 443, "Polycom", "VVX 450", {}},
    {"10.50.2.21", 5061, "POLYCOM", "vvx 450", {"192.168.7.21"}},
    {"10.60.0.5", 443, "", "", {}},
    {"2001:db8::5", 443, "Snom", "D785", {}},
    {"2001:db8:1::6", 5061, "Snom", "D785", {"10.70.0.6"}},
    {"10.50.3.30", 8443, "Yealinks", "SIP-T46", {}},  // near misses of vendor and model
};
const std::vector<std::string> kRules = {"proto-tls10", "cert-sig-md5", "kx-rsa-only"};

v1::Waiver waiver(const std::string& id, const std::string& rule, int64_t expires) {
  v1::Waiver w;
  w.set_id(id);
  w.set_rule_id(rule);
  w.set_reason("test");
  w.set_origin("api:test");
  w.mutable_expires()->set_seconds(expires);
  return w;
}

class WaiverRefreshTest : public StorageTest {
 protected:
  void SetUp() override {
    StorageTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    std::string scan = createScan(*db_);
    for (const auto& h : kHosts) {
      std::vector<v1::Finding> findings;
      for (const auto& r : kRules) findings.push_back(makeFinding(r, v1::HIGH));
      auto result = makeHostResult(scan, h.ip, h.port, findings, true, h.vendor, h.model);
      for (const auto& a : h.more_addresses) result.mutable_asset()->add_addresses(a);
      auto r = PgFindingStore(*db_).ingest(result);
      ASSERT_TRUE(r.ok()) << r.status();
    }
  }

  void put(const v1::Waiver& w) { ASSERT_TRUE(PgFindingStore(*db_).putWaiver(w).ok()); }

  // rule@address -> "STATE waiver_id" as stored.
  std::map<std::string, std::string> stored() {
    std::map<std::string, std::string> out;
    auto page = PgFindingStore(*db_).listFindings(v1::FindingFilter(), 1000, "");
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) return out;
    for (const auto& f : page->findings()) {
      out[f.rule_id() + "@" + f.asset()] = v1::FindingState_Name(f.state()) + " " + f.waiver_id();
    }
    return out;
  }

  // The same, as the scan's matching decides it for the hosts as built, at `now`.
  std::map<std::string, std::string> expected(int64_t now) {
    rules::WaiverSet set;
    auto list = PgFindingStore(*db_).listWaivers();
    EXPECT_TRUE(list.ok());
    if (list.ok()) set.waivers = *list;
    std::map<std::string, std::string> out;
    for (const auto& h : kHosts) {
      v1::Asset asset;
      asset.add_addresses(h.ip);
      for (const auto& a : h.more_addresses) asset.add_addresses(a);
      asset.set_vendor(h.vendor);
      asset.set_model(h.model);
      for (const auto& r : kRules) {
        v1::Finding f;
        f.set_rule_id(r);
        f.set_asset(h.ip);
        f.set_state(v1::OPEN);
        rules::applyWaivers(set, now, asset, h.port, f);
        out[r + "@" + h.ip] = v1::FindingState_Name(f.state()) + " " + f.waiver_id();
      }
    }
    return out;
  }

  int64_t waivedCount() {
    return queryCount(*db_, "SELECT count(*) FROM findings WHERE state = 3");
  }
};

TEST_F(WaiverRefreshTest, StoredStatesFollowTheScansMatchingForEverySelector) {
  int64_t now = std::time(nullptr);
  int64_t month = now + 30 * 86400;
  // Every kind of selector, and near misses: a secondary address, blocks of both families, a
  // vendor and a model in another case, a port, two conditions at once, an expired waiver, a
  // waiver of a rule no finding has.
  auto by_secondary = waiver("w01", "proto-tls10", month);
  by_secondary.mutable_selector()->set_address("192.168.7.21");
  auto by_cidr = waiver("w02", "cert-sig-md5", month);
  by_cidr.mutable_selector()->set_cidr("10.50.1.0/24");
  auto by_v6_cidr = waiver("w03", "kx-rsa-only", month);
  by_v6_cidr.mutable_selector()->set_cidr("2001:db8::/32");
  auto by_vendor = waiver("w04", "proto-tls10", month);
  by_vendor.mutable_selector()->set_vendor("YEALINK");
  auto by_model_port = waiver("w05", "kx-rsa-only", month);
  by_model_port.mutable_selector()->set_model("VVX 450");
  by_model_port.mutable_selector()->set_port(5061);
  auto cidr_and_vendor = waiver("w06", "cert-sig-md5", month);
  cidr_and_vendor.mutable_selector()->set_cidr("192.168.7.0/24");
  cidr_and_vendor.mutable_selector()->set_vendor("polycom");
  auto expired = waiver("w07", "cert-sig-md5", now - 60);
  expired.mutable_selector()->set_cidr("10.60.0.0/16");
  auto other_rule = waiver("w08", "tls-compression", month);
  other_rule.mutable_selector()->set_cidr("0.0.0.0/0");
  auto secondary_v4_of_v6 = waiver("w09", "proto-tls10", month);
  secondary_v4_of_v6.mutable_selector()->set_cidr("10.70.0.0/16");
  for (const auto& w : {by_secondary, by_cidr, by_v6_cidr, by_vendor, by_model_port,
                        cidr_and_vendor, expired, other_rule, secondary_v4_of_v6}) {
    put(w);
  }

  // Pages of 4 findings (of 24), so the walk from page to page is exercised too.
  auto changed = scanner::refreshWaivers(*db_, {WaiverRefreshScope::kAll, {}, 0, 4}, now);
  ASSERT_TRUE(changed.ok()) << changed.status();
  auto want = expected(now);
  EXPECT_EQ(stored(), want);
  // What the scan's matching waives, spelled out (so both sides cannot be wrong together).
  EXPECT_EQ(want["proto-tls10@10.50.2.21"], "WAIVED w01");
  EXPECT_EQ(want["cert-sig-md5@10.50.1.11"], "WAIVED w02");
  EXPECT_EQ(want["kx-rsa-only@2001:db8::5"], "WAIVED w03");
  EXPECT_EQ(want["kx-rsa-only@2001:db8:1::6"], "WAIVED w03");
  EXPECT_EQ(want["proto-tls10@10.50.1.10"], "WAIVED w04");
  EXPECT_EQ(want["proto-tls10@10.50.3.30"], "OPEN ");  // Yealinks is not Yealink
  EXPECT_EQ(want["kx-rsa-only@10.50.2.21"], "WAIVED w05");
  EXPECT_EQ(want["kx-rsa-only@10.50.2.20"], "OPEN ");  // port 443, not 5061
  EXPECT_EQ(want["cert-sig-md5@10.50.2.21"], "WAIVED w06");
  EXPECT_EQ(want["cert-sig-md5@10.60.0.5"], "OPEN ");  // its waiver expired
  EXPECT_EQ(want["proto-tls10@2001:db8:1::6"], "WAIVED w09");
  EXPECT_EQ(*changed, waivedCount());
  // w01 1, w02 2 (10.50.1.10 and .11), w03 2, w04 2, w05 1, w06 1, w09 1.
  EXPECT_EQ(*changed, 10);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM finding_events WHERE kind = 'waived'"), 10);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM alert_outbox WHERE kind = 'finding.waived'"), 10);

  // Again: nothing changes, nothing is written.
  auto fingerprint = databaseFingerprint(*db_);
  auto again = scanner::refreshWaivers(*db_, {WaiverRefreshScope::kAll, {}, 0}, now);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);
  EXPECT_EQ(databaseFingerprint(*db_), fingerprint);

  // A waiver deleted and another narrowed: only their rules are looked at, and the findings
  // they no longer cover are OPEN again.
  ASSERT_TRUE(PgFindingStore(*db_).deleteWaiver("w04").ok());
  by_cidr.mutable_selector()->set_cidr("10.50.1.11/32");
  put(by_cidr);
  auto rules = scanner::refreshWaivers(
      *db_, {WaiverRefreshScope::kRules, {"proto-tls10", "cert-sig-md5"}, 0, 3}, now);
  ASSERT_TRUE(rules.ok()) << rules.status();
  EXPECT_EQ(stored(), expected(now));
  EXPECT_EQ(expected(now)["proto-tls10@10.50.1.10"], "OPEN ");
  EXPECT_EQ(expected(now)["cert-sig-md5@10.50.1.10"], "OPEN ");
  EXPECT_EQ(expected(now)["cert-sig-md5@10.50.1.11"], "WAIVED w02");

  // Time passes beyond every waiver: the lapsed ones are OPEN again, with their events.
  int64_t later = month + 1;
  auto lapsed =
      scanner::refreshWaivers(*db_, {WaiverRefreshScope::kLapsed, {}, later, 2}, later);
  ASSERT_TRUE(lapsed.ok()) << lapsed.status();
  EXPECT_EQ(waivedCount(), 0);
  EXPECT_EQ(stored(), expected(later));
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM finding_events WHERE kind = 'waived'"),
            queryCount(*db_, "SELECT count(*) FROM finding_events WHERE kind = 'unwaived'"));
}

}  // namespace
}  // namespace tlsaudit::itest
