// Waivers: selectors, expiry against an injected clock, and malformed entries reported instead of
// applied.
#include "rules/waivers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "rules/policy.h"
#include "rules/yaml_document.h"
#include "tests/unit/rules/rule_fixtures.h"

namespace tlsaudit::rules {
namespace {

using namespace fixtures;  // NOLINT
using ::testing::HasSubstr;

constexpr const char* kWaivers = R"(version: 1
waivers:
  - id: lobby-phones
    asset: {cidr: 10.20.0.0/16, vendor: polycom}
    rule: cert-sig-md5
    reason: firmware 7.2 replaces the device certificate
    owner: voice-team@example.com
    expires: 2026-06-30
  - asset: {address: "2001:db8::5", port: 5061}
    rule: proto-tls10
    reason: SBC upgrade scheduled
    owner: netops
    expires: 2026-05-01T12:00:00Z
  - asset: {}
    rule: proto-tls10
    reason: everything
    owner: someone
    expires: 2027-01-01
  - asset: {cidr: 10.0.0.0/33}
    rule: proto-tls11
    reason: bad network
    owner: someone
    expires: 2027-01-01
  - asset: {address: 10.1.1.1}
    rule: proto-tls11
    reason: no owner
    expires: 2027-01-01
  - asset: {address: 10.1.1.1}
    rule: proto-tls11
    reason: bad date
    owner: x
    expires: 2027-02-30
)";

v1::Finding finding(const std::string& rule, const std::string& address) {
  v1::Finding f;
  f.set_rule_id(rule);
  f.set_asset(address);
  f.set_state(v1::OPEN);
  return f;
}

int64_t seconds(const std::string& rfc3339) { return at(rfc3339).seconds(); }

TEST(Waivers, ParsesAndReportsMalformedEntries) {
  auto set = parseWaivers(kWaivers, "waivers.yaml");
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(set->waivers.size(), 2u);
  EXPECT_EQ(set->waivers[0].id(), "lobby-phones");
  EXPECT_EQ(set->waivers[1].id(), "waivers.yaml:9");
  ASSERT_EQ(set->malformed.size(), 4u);
  EXPECT_EQ(set->malformed[0].where, "waivers.yaml:14:12");
  EXPECT_THAT(set->malformed[0].message, HasSubstr("needs an address, cidr, vendor or model"));
  EXPECT_THAT(set->malformed[1].message, HasSubstr("'10.0.0.0/33' is not a network"));
  EXPECT_EQ(set->malformed[2].where, "waivers.yaml:24:5");
  EXPECT_THAT(set->malformed[2].message, HasSubstr("missing required key 'owner'"));
  EXPECT_THAT(set->malformed[3].message, HasSubstr("'2027-02-30' is not a valid date"));
}

TEST(Waivers, ExpiryWithAnInjectedClock) {
  auto set = parseWaivers(kWaivers, "waivers.yaml");
  ASSERT_TRUE(set.ok());
  v1::Asset polycom;
  polycom.add_addresses("10.20.3.4");
  polycom.set_vendor("Polycom");
  // Valid through 2026-06-30 (UTC), open again from 2026-07-01.
  for (auto [when, waived] :
       std::vector<std::pair<std::string, bool>>{{"2026-06-01T00:00:00Z", true},
                                                 {"2026-06-30T23:59:59Z", true},
                                                 {"2026-07-01T00:00:00Z", false}}) {
    auto f = finding("cert-sig-md5", "10.20.3.4");
    EXPECT_EQ(applyWaivers(*set, seconds(when), polycom, 443, f), waived) << when;
    EXPECT_EQ(f.state(), waived ? v1::WAIVED : v1::OPEN) << when;
    if (waived) {
      EXPECT_EQ(f.waiver_id(), "lobby-phones");
      EXPECT_EQ(f.waiver_reason(), "firmware 7.2 replaces the device certificate");
    }
    auto expired = expiredWaivers(*set, seconds(when));
    bool lobby_expired = false;
    for (const auto& p : expired) {
      if (p.message.find("cert-sig-md5") != std::string::npos) {
        lobby_expired = true;
        EXPECT_THAT(p.message, HasSubstr("expired after 2026-06-30; its findings are open again"));
        EXPECT_EQ(p.where, "waivers.yaml:3:5");
      }
    }
    EXPECT_EQ(lobby_expired, !waived) << when;
  }
}

TEST(Waivers, SelectorsMatchAddressCidrVendorModelPort) {
  auto set = parseWaivers(kWaivers, "waivers.yaml");
  ASSERT_TRUE(set.ok());
  const auto& lobby = set->waivers[0];
  const auto& sbc = set->waivers[1];
  v1::Asset a;
  a.add_addresses("10.20.3.4");
  a.set_vendor("POLYCOM");
  EXPECT_TRUE(waiverMatches(lobby, "cert-sig-md5", "10.20.3.4", 443, a));
  EXPECT_FALSE(waiverMatches(lobby, "cert-sig-sha1", "10.20.3.4", 443, a));           // other rule
  EXPECT_FALSE(waiverMatches(lobby, "cert-sig-md5", "10.21.3.4", 443, v1::Asset()));  // outside
  v1::Asset yealink = a;
  yealink.set_vendor("Yealink");
  EXPECT_FALSE(waiverMatches(lobby, "cert-sig-md5", "10.20.3.4", 443, yealink));
  // Without discovery there is no vendor: a vendor-scoped waiver does not apply.
  EXPECT_FALSE(waiverMatches(lobby, "cert-sig-md5", "10.20.3.4", 443, v1::Asset()));
  EXPECT_TRUE(waiverMatches(sbc, "proto-tls10", "2001:db8:0:0::5", 5061, v1::Asset()));
  EXPECT_FALSE(waiverMatches(sbc, "proto-tls10", "2001:db8::5", 443, v1::Asset()));  // port
  EXPECT_FALSE(waiverMatches(sbc, "proto-tls10", "2001:db8::6", 5061, v1::Asset()));
}

TEST(Waivers, FilesThatAreNotWaiversAreErrors) {
  auto notyaml = parseWaivers("waivers: [\n", "w.yaml");
  ASSERT_FALSE(notyaml.ok());
  EXPECT_THAT(std::string(notyaml.status().message()), HasSubstr("w.yaml:2:1: YAML syntax error"));
  auto rules = parseWaivers("rules: []\n", "w.yaml");
  ASSERT_FALSE(rules.ok());
  EXPECT_THAT(std::string(rules.status().message()),
              HasSubstr("w.yaml:1:1: (top): unknown key 'rules'"));
  auto missing = loadWaivers("/nonexistent/waivers.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("/nonexistent/waivers.yaml"));
}

}  // namespace
}  // namespace tlsaudit::rules

namespace tlsaudit::rules {
namespace {

// A file over the cap is refused while being read, for waivers and policy files alike.
TEST(UserFiles, OversizedFilesAreRefused) {
  std::string path = ::testing::TempDir() + "/oversized.yaml";
  {
    std::ofstream out(path);
    std::string line = "# " + std::string(1022, 'x') + "\n";
    for (size_t i = 0; i < kMaxUserFileBytes / line.size() + 2; ++i) out << line;
  }
  auto w = loadWaivers(path);
  ASSERT_FALSE(w.ok());
  EXPECT_THAT(std::string(w.status().message()), ::testing::HasSubstr("larger than 4 MiB"));
  PolicyLibrary lib;
  auto st = lib.addFile(path);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr("larger than 4 MiB; not a policy"));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace tlsaudit::rules
