// Findings in `tlsaudit scan` as a user sees them: the table, JSON beside the reports, SARIF
// 2.1.0 validated against a schema, --fail-on exit codes, waivers (applied, expired, malformed),
// --policy and --profile errors, and the `rules` subcommands.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "tests/integration/harness.h"

namespace tlsaudit::itest {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

std::string target(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// A phone-like endpoint: TLS 1.0 only, RSA key exchange, MD5-signed 1024-bit chain.
std::unique_ptr<Server> legacyPhone() {
  return startOpensslServer({"-tls1", "-cert", "md5-leaf.crt", "-key", "md5-leaf.key",
                             "-cert_chain", "md5-root.crt", "-cipher", "AES128-SHA:@SECLEVEL=0"});
}

std::string writeFile(const std::string& name, const std::string& text) {
  std::string path = scratchDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

std::set<std::string> ruleIds(const Json& findings) {
  std::set<std::string> ids;
  for (const auto& f : findings) ids.insert(f.value("ruleId", ""));
  return ids;
}

Json scanJson(uint16_t port, std::vector<std::string> extra, int expected_exit = 0) {
  std::vector<std::string> args = {
      "scan",      target(port),       "--timeout", "2", "--format", "json", "--no-system-trust",
      "--ca-file", pki("md5-root.crt")};
  args.insert(args.end(), extra.begin(), extra.end());
  auto r = runTlsaudit(args, milliseconds(30000));
  EXPECT_EQ(r.exit_code, expected_exit) << r.err;
  Json doc = Json::parse(r.out, nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << "stdout is not JSON: " << r.out;
  return doc;
}

TEST(Findings, TableShowsEvidenceAndFailOnSetsTheExitCode) {
  auto phone = legacyPhone();
  ASSERT_TRUE(phone->ok());
  std::vector<std::string> base = {"scan", target(phone->port()), "--timeout",
                                   "2",    "--ca-file",           pki("md5-root.crt")};
  auto r = runTlsaudit(base, milliseconds(30000));
  EXPECT_EQ(r.exit_code, 0) << r.err;  // no --fail-on: findings do not change the exit code
  EXPECT_THAT(r.out, HasSubstr("findings (baseline):"));
  EXPECT_THAT(r.out, HasSubstr("CRITICAL cert-sig-md5  Certificate signed with MD5"));
  EXPECT_THAT(r.out, HasSubstr("leaf " + certificateSubject(pki("md5-leaf.crt")) +
                               " signed md5WithRSAEncryption by " +
                               certificateSubject(pki("md5-root.crt"))));
  EXPECT_THAT(r.out, HasSubstr("HIGH     proto-tls10  TLS 1.0 is enabled"));
  EXPECT_THAT(r.out, HasSubstr("profile baseline: "));
  auto args = base;
  args.insert(args.end(), {"--fail-on", "critical"});
  EXPECT_EQ(runTlsaudit(args, milliseconds(30000)).exit_code, 1);
  // The RFC 7568 profile only cares about SSL 3.0, which the phone does not speak.
  args.insert(args.end(), {"--profile", "rfc7568"});
  auto rfc = runTlsaudit(args, milliseconds(30000));
  EXPECT_EQ(rfc.exit_code, 0) << rfc.out;
  EXPECT_THAT(rfc.out, HasSubstr("profile rfc7568: 0 open findings"));
}

TEST(Findings, ModernServerPassesBaselineAndJsonCarriesFindings) {
  auto modern =
      startOpensslServer({"-tls1_2", "-cert", "rsa-leaf.crt", "-key", "rsa-leaf.key", "-cipher",
                          "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384"});
  ASSERT_TRUE(modern->ok());
  auto r = runTlsaudit({"scan", target(modern->port()), "--timeout", "2", "--format", "json",
                        "--no-system-trust", "--ca-file", pki("rsa-root.crt"), "--fail-on", "low"},
                       milliseconds(30000));
  Json doc = Json::parse(r.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << r.out;
  EXPECT_EQ(doc["profile"], "baseline");
  ASSERT_TRUE(doc["findings"].is_array());
  EXPECT_TRUE(doc["findings"].empty()) << doc["findings"].dump(2);
  EXPECT_EQ(r.exit_code, 0) << r.err;

  auto phone = legacyPhone();
  ASSERT_TRUE(phone->ok());
  Json legacy = scanJson(phone->port(), {"--profile", "pci-dss-4.0"});
  EXPECT_EQ(legacy["profile"], "pci-dss-4.0");
  EXPECT_THAT(ruleIds(legacy["findings"]),
              ::testing::IsSupersetOf(
                  {"cert-sig-md5", "proto-tls10", "kx-rsa-only", "cert-rsa-key-small"}));
  for (const auto& f : legacy["findings"]) {
    EXPECT_EQ(f["service"], target(phone->port()));
    EXPECT_EQ(f["asset"], "127.0.0.1");
    EXPECT_EQ(f["state"], "OPEN");
    EXPECT_TRUE(f["firstSeen"].is_string());
    if (f["ruleId"] == "proto-tls10") {
      EXPECT_EQ(f["severity"], "HIGH");
      EXPECT_THAT(f["references"].dump(), HasSubstr("PCI DSS v4.0 4.2.1"));
      EXPECT_THAT(f["profiles"].dump(), HasSubstr("rfc8996"));
    }
  }
}

TEST(Findings, SarifValidatesAgainstTheSchemaAndMatchesTheFindings) {
  auto phone = legacyPhone();
  ASSERT_TRUE(phone->ok());
  Json json_doc = scanJson(phone->port(), {});
  std::string waivers = writeFile("sarif-waivers.yaml", R"(waivers:
  - asset: {address: 127.0.0.1}
    rule: proto-tls10
    reason: phone firmware upgrade ordered
    owner: voice-team
    expires: 2099-12-31
)");
  auto r =
      runTlsaudit({"scan", target(phone->port()), "--timeout", "2", "--format", "sarif",
                   "--no-system-trust", "--ca-file", pki("md5-root.crt"), "--waivers", waivers},
                  milliseconds(30000));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string sarif = writeFile("scan.sarif", r.out);
  auto check = runCommand(
      {"python3", "-c",
       "import json,sys,jsonschema\n"
       "schema=json.load(open(sys.argv[1])); doc=json.load(open(sys.argv[2]))\n"
       "jsonschema.Draft7Validator.check_schema(schema)\n"
       "errors=sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=str)\n"
       "[print(list(e.absolute_path), e.message) for e in errors]\n"
       "sys.exit(1 if errors else 0)\n",
       std::string(TLSAUDIT_SOURCE_DIR) + "/tests/fixtures/sarif-2.1.0-subset.schema.json", sarif},
      milliseconds(30000));
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  Json doc = Json::parse(r.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded());
  EXPECT_EQ(doc["version"], "2.1.0");
  const auto& run = doc["runs"][0];
  EXPECT_EQ(run["tool"]["driver"]["name"], "tlsaudit");
  const auto& rules = run["tool"]["driver"]["rules"];
  const auto& results = run["results"];
  ASSERT_EQ(results.size(), json_doc["findings"].size());
  std::set<std::string> sarif_rules;
  for (const auto& res : results) {
    sarif_rules.insert(res["ruleId"]);
    const auto& rule = rules[res["ruleIndex"].get<size_t>()];
    EXPECT_EQ(rule["id"], res["ruleId"]);
    EXPECT_FALSE(rule["fullDescription"]["text"].get<std::string>().empty());
    EXPECT_FALSE(rule["help"]["text"].get<std::string>().empty());
    EXPECT_EQ(res["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
              target(phone->port()));
    bool waived = res.contains("suppressions");
    EXPECT_EQ(waived, res["ruleId"] == "proto-tls10") << res.dump();
    if (waived) {
      EXPECT_EQ(res["suppressions"][0]["status"], "accepted");
      EXPECT_EQ(res["suppressions"][0]["justification"], "phone firmware upgrade ordered");
    }
    if (res["ruleId"] == "cert-sig-md5") {
      EXPECT_EQ(res["level"], "error");
    }
  }
  EXPECT_EQ(sarif_rules, ruleIds(json_doc["findings"]));
}

TEST(Findings, WaiversAppliedExpiredAndMalformed) {
  auto phone = legacyPhone();
  ASSERT_TRUE(phone->ok());
  std::string good = writeFile("waivers.yaml", R"(waivers:
  - id: phone-md5
    asset: {cidr: 127.0.0.0/8}
    rule: cert-sig-md5
    reason: vendor replaces device certificates in firmware 7.2
    owner: voice-team@example.com
    expires: 2099-01-31
  - asset: {address: 127.0.0.1}
    rule: proto-tls10
    reason: old waiver
    owner: netops
    expires: 2020-01-01
)");
  auto r = runTlsaudit(
      {"scan", target(phone->port()), "--timeout", "2", "--format", "json", "--no-system-trust",
       "--ca-file", pki("md5-root.crt"), "--waivers", good, "--fail-on", "critical"},
      milliseconds(30000));
  // The only critical finding is waived: --fail-on critical passes.
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr(good + ":8:5: waiver for rule 'proto-tls10' on address 127.0.0.1 "
                                      "(owner netops) expired after 2020-01-01"));
  Json doc = Json::parse(r.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded());
  bool md5_waived = false, tls10_open = false;
  for (const auto& f : doc["findings"]) {
    if (f["ruleId"] == "cert-sig-md5") {
      md5_waived = f["state"] == "WAIVED" && f["waiverId"] == "phone-md5" &&
                   f["waiverReason"] == "vendor replaces device certificates in firmware 7.2";
    }
    if (f["ruleId"] == "proto-tls10") tls10_open = f["state"] == "OPEN";
  }
  EXPECT_TRUE(md5_waived) << doc["findings"].dump(2);
  EXPECT_TRUE(tls10_open);

  std::string bad = writeFile("bad-waivers.yaml", R"(waivers:
  - asset: {address: 127.0.0.1}
    rule: cert-sig-md5
    reason: no owner and no expiry
)");
  auto b = runTlsaudit({"scan", target(phone->port()), "--waivers", bad}, milliseconds(30000));
  EXPECT_EQ(b.exit_code, 2);
  EXPECT_THAT(b.err, HasSubstr("1 malformed waiver in " + bad));
  EXPECT_THAT(b.err, HasSubstr(bad + ":2:5: waivers[0]: missing required key 'owner'"));
  EXPECT_TRUE(b.out.empty()) << "nothing is scanned when a waiver is malformed";
  std::string unknown = writeFile("unknown-rule.yaml", R"(waivers:
  - asset: {address: 127.0.0.1}
    rule: cert-sig-md6
    reason: typo
    owner: me
    expires: 2099-01-01
)");
  auto u = runTlsaudit({"scan", target(phone->port()), "--waivers", unknown}, milliseconds(30000));
  EXPECT_EQ(u.exit_code, 2);
  EXPECT_THAT(u.err, HasSubstr(unknown + ":2:5: waiver names unknown rule 'cert-sig-md6'"));
}

TEST(Findings, PolicyFilesAddRulesAndBadInputIsOneClearError) {
  auto phone = legacyPhone();
  ASSERT_TRUE(phone->ok());
  std::string site = writeFile("site.yaml", R"(rules:
  - id: site-port-443-only
    title: TLS on a port other than 443
    severity: low
    condition: tls.target.port != 443
    evidence: "TLS on port {tls.target.port}"
)");
  Json doc = scanJson(phone->port(), {"--policy", site});
  bool found = false;
  for (const auto& f : doc["findings"]) {
    if (f["ruleId"] == "site-port-443-only") {
      found = f["evidence"] == "TLS on port " + std::to_string(phone->port());
    }
  }
  EXPECT_TRUE(found) << doc["findings"].dump(2);

  std::string broken = writeFile("broken.yaml", R"(rules:
  - id: broken
    title: broken
    severity: high
    condition: any(v in tls.versions: v.supported
)");
  auto r = runTlsaudit({"scan", target(phone->port()), "--policy", broken}, milliseconds(30000));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr(broken + ":5:37: YAML syntax error: illegal map value"));
  std::string broken2 = writeFile("broken2.yaml", R"(rules:
  - id: broken
    title: broken
    severity: high
    condition: 'any(v in tls.versions: v.supported'
)");
  auto r2 = runTlsaudit({"scan", target(phone->port()), "--policy", broken2}, milliseconds(30000));
  EXPECT_EQ(r2.exit_code, 2);
  EXPECT_THAT(r2.err, HasSubstr(broken2 + ":5:51: rule 'broken' condition: expected ')' (opened "
                                          "at offset 3)"));
  auto p = runTlsaudit({"scan", target(phone->port()), "--profile", "pci"}, milliseconds(30000));
  EXPECT_EQ(p.exit_code, 2);
  EXPECT_THAT(p.err, HasSubstr("--profile: unknown profile 'pci' (known: "));
  EXPECT_THAT(p.err, HasSubstr("pci-dss-4.0"));
  auto f = runTlsaudit({"scan", target(phone->port()), "--fail-on", "severe"}, milliseconds(30000));
  EXPECT_EQ(f.exit_code, 2);
  EXPECT_THAT(f.err, HasSubstr("--fail-on"));
}

TEST(RulesCommand, CheckListExplain) {
  std::string ok = writeFile("ok-rules.yaml", R"(rules:
  - id: site-rule
    title: Site rule
    severity: info
    condition: tls.tls
)");
  auto c = runTlsaudit({"rules", "check", ok}, milliseconds(10000));
  EXPECT_EQ(c.exit_code, 0) << c.err;
  EXPECT_THAT(c.out, HasSubstr(ok + ": ok (1 new rules)"));
  std::string bad = writeFile("bad-rules.yaml", R"(rules:
  - id: site-rule
    title: Site rule
    severity: info
    condition: tls.tls and tls.target.port == "443"
)");
  auto b = runTlsaudit({"rules", "check", bad}, milliseconds(10000));
  EXPECT_EQ(b.exit_code, 2);
  EXPECT_THAT(b.err, HasSubstr(bad + ":5:44: rule 'site-rule' condition: cannot compare integer "
                                     "with string using '=='"));
  auto l = runTlsaudit({"rules", "list", "--profile", "rfc8996"}, milliseconds(10000));
  EXPECT_EQ(l.exit_code, 0);
  EXPECT_THAT(l.out, HasSubstr("proto-tls10"));
  EXPECT_THAT(l.out, HasSubstr("proto-tls11"));
  EXPECT_THAT(l.out, ::testing::Not(HasSubstr("cert-sig-md5")));
  auto e = runTlsaudit({"rules", "explain", "client-auth-rejects-legacy"}, milliseconds(10000));
  EXPECT_EQ(e.exit_code, 0);
  EXPECT_THAT(e.out, HasSubstr("RFC 5246 §7.4.4"));
  EXPECT_THAT(e.out, HasSubstr("baseline (tlsaudit baseline): low"));
  auto u = runTlsaudit({"rules", "explain", "nope"}, milliseconds(10000));
  EXPECT_EQ(u.exit_code, 2);
  EXPECT_THAT(u.err, HasSubstr("unknown rule 'nope'"));
}

}  // namespace
}  // namespace tlsaudit::itest
