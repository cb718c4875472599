// The shipped policy: every rule fires on a report that has its fact and stays silent on a
// near miss; every profile accepts a compliant report and flags a non-compliant one; errors in
// users' files name file:line:column.
#include "rules/policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <random>
#include <set>

#include "tests/unit/rules/realistic_reports.h"
#include "tests/unit/rules/rule_fixtures.h"

namespace tlsaudit::rules {
namespace {

using namespace fixtures;   // NOLINT
using namespace ::testing;  // NOLINT
using ::testing::HasSubstr;

const PolicyLibrary& shipped() {
  static const PolicyLibrary* lib = [] {
    auto l = PolicyLibrary::shipped();
    EXPECT_TRUE(l.ok()) << l.status();
    return new PolicyLibrary(*std::move(l));
  }();
  return *lib;
}

// Compiles a one-profile policy holding exactly `rule_id` with its defaults.
std::vector<v1::Finding> evaluateRule(const std::string& rule_id, const v1::RuleInput& in) {
  PolicyLibrary lib = shipped();
  std::string profile =
      "version: 1\nprofile:\n  id: only\n  title: t\n  rules: [" + rule_id + "]\n";
  auto st = lib.addText(profile, "only.yaml", false);
  EXPECT_TRUE(st.ok()) << st;
  auto policy = lib.compile({"only"});
  EXPECT_TRUE(policy.ok()) << policy.status();
  CompiledPolicy::Scratch scratch;
  std::vector<v1::Finding> out;
  policy->evaluate(in, testNow(), scratch, out);
  return out;
}

std::set<std::string> ruleIds(const std::vector<v1::Finding>& findings) {
  std::set<std::string> ids;
  for (const auto& f : findings) ids.insert(f.rule_id());
  return ids;
}

std::vector<v1::Finding> evaluateProfile(const std::string& profile, const v1::RuleInput& in) {
  auto policy = shipped().compile({profile});
  EXPECT_TRUE(policy.ok()) << policy.status();
  CompiledPolicy::Scratch scratch;
  std::vector<v1::Finding> out;
  policy->evaluate(in, testNow(), scratch, out);
  return out;
}

using Mutation = std::function<void(v1::RuleInput&)>;
struct RuleCase {
  std::string rule;
  Mutation positive;          // the fact the rule is about
  Mutation negative;          // a near miss the rule must not flag
  std::string evidence = {};  // expected substring of the positive's evidence
};

void enableVersion(v1::RuleInput& in, v1::TlsVersion ver, const std::string& suite = "") {
  auto* v = version(in, ver);
  v->set_supported(true);
  if (ver == v1::SSL2) {
    addSuite(v, 0x0700C0, "SSL_CK_DES_192_EDE3_CBC_WITH_MD5", "RSA", "RSA", "DES_192_EDE3_CBC",
             "MD5", 112, false);
  } else {
    addSuite(v, 0xC013, suite.empty() ? "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA" : suite, "ECDHE",
             "RSA", "AES_128_CBC", "SHA", 128, true);
  }
}

v1::CipherSuite* addToTls12(v1::RuleInput& in, uint32_t code, const std::string& name,
                            const std::string& kx, const std::string& auth,
                            const std::string& cipher, const std::string& mac, uint32_t bits,
                            bool fs) {
  return addSuite(version(in, v1::TLS1_2), code, name, kx, auth, cipher, mac, bits, fs);
}

// A version that is listed but not supported, with a suite the rule would flag: must stay quiet.
void listedNotSupported(v1::RuleInput& in, v1::TlsVersion ver) {
  version(in, ver)->set_supported(false);
}

std::vector<RuleCase> ruleCases() {
  return {
      {"proto-sslv2", [](auto& in) { enableVersion(in, v1::SSL2); },
       [](auto& in) { listedNotSupported(in, v1::SSL2); }, "SSL 2.0 accepted (1 cipher kinds"},
      {"proto-sslv3", [](auto& in) { enableVersion(in, v1::SSL3); },
       [](auto& in) { listedNotSupported(in, v1::SSL3); }, "SSL 3.0 accepted"},
      {"proto-tls10", [](auto& in) { enableVersion(in, v1::TLS1_0); },
       [](auto& in) { listedNotSupported(in, v1::TLS1_0); }, "TLS 1.0 accepted (1 suites)"},
      {"proto-tls11", [](auto& in) { enableVersion(in, v1::TLS1_1); },
       [](auto& in) { listedNotSupported(in, v1::TLS1_1); }, "TLS 1.1 accepted"},
      {"proto-tls12", [](auto&) {}, [](auto& in) { version(in, v1::TLS1_2)->set_supported(false); },
       "TLS 1.2 accepted (2"},
      {"proto-tls13-missing", [](auto& in) { version(in, v1::TLS1_3)->set_supported(false); },
       [](auto&) {}, "TLS 1.3 not accepted"},
      {"cert-sig-md5",
       [](auto& in) {
         leaf(in)->set_signature_hash("MD5");
         leaf(in)->set_signature_algorithm("md5WithRSAEncryption");
       },
       [](auto& in) {
         // A root's own MD5 self-signature is not this rule's business.
         auto* root = in.mutable_tls()->mutable_chains(0)->mutable_certificates(2);
         root->set_signature_hash("MD5");
       },
       "leaf CN=server.example.test signed md5WithRSAEncryption by CN=Example Issuing CA"},
      {"cert-sig-sha1",
       [](auto& in) {
         auto* mid = in.mutable_tls()->mutable_chains(0)->mutable_certificates(1);
         mid->set_signature_hash("SHA1");
         mid->set_signature_algorithm("sha1WithRSAEncryption");
       },
       [](auto& in) {
         in.mutable_tls()->mutable_chains(0)->mutable_certificates(2)->set_signature_hash("SHA1");
       },
       "intermediate CN=Example Issuing CA signed sha1WithRSAEncryption by CN=Example Root CA"},
      {"cert-root-weak-hash",
       [](auto& in) {
         in.mutable_tls()->mutable_chains(0)->mutable_certificates(2)->set_signature_hash("MD5");
       },
       [](auto& in) { leaf(in)->set_signature_hash("SHA1"); }, "root CN=Example Root CA"},
      {"cert-root-weak-hash-long-lived",
       [](auto& in) {
         auto* root = in.mutable_tls()->mutable_chains(0)->mutable_certificates(2);
         root->set_signature_hash("SHA1");
         root->set_signature_algorithm("sha1WithRSAEncryption");
         *root->mutable_not_after() = at("2035-12-31T00:00:00Z");
       },
       [](auto& in) {
         // Weak, but expiring within the year: the long-lived rule stays quiet.
         auto* root = in.mutable_tls()->mutable_chains(0)->mutable_certificates(2);
         root->set_signature_hash("SHA1");
         *root->mutable_not_after() = at("2026-12-31T00:00:00Z");
       },
       "valid until 2035-12-31"},
      {"cert-rsa-key-small", [](auto& in) { leaf(in)->set_key_bits(1024); },
       [](auto& in) { leaf(in)->set_key_bits(2048); },
       "leaf CN=server.example.test has a 1024-bit RSA key (minimum 2048)"},
      {"cert-ec-key-small",
       [](auto& in) {
         leaf(in)->set_key_type("EC");
         leaf(in)->set_key_bits(192);
         leaf(in)->set_curve("prime192v1");
       },
       [](auto& in) {
         leaf(in)->set_key_type("EC");
         leaf(in)->set_key_bits(256);
       },
       "192-bit EC key (prime192v1)"},
      {"cert-expired",
       [](auto& in) { *leaf(in)->mutable_not_after() = at("2026-05-01T00:00:00Z"); },
       [](auto& in) {
         // An expired anchor from the trust store is not what the server presents.
         auto* root = in.mutable_tls()->mutable_chains(0)->mutable_certificates(2);
         *root->mutable_not_after() = at("2026-05-01T00:00:00Z");
       },
       "expired on 2026-05-01 (31 days ago)"},
      {"cert-not-yet-valid",
       [](auto& in) { *leaf(in)->mutable_not_before() = at("2026-07-01T00:00:00Z"); },
       [](auto& in) { *leaf(in)->mutable_not_before() = at("2026-05-31T00:00:00Z"); },
       "valid only from 2026-07-01"},
      {"cert-expiring",
       [](auto& in) { *leaf(in)->mutable_not_after() = at("2026-06-15T00:00:00Z"); },
       [](auto& in) { *leaf(in)->mutable_not_after() = at("2026-07-15T00:00:00Z"); },
       "expires on 2026-06-15 (in 14 days)"},
      {"cert-lifespan-long",
       [](auto& in) { *leaf(in)->mutable_not_after() = at("2027-06-01T00:00:00Z"); },
       [](auto& in) { *leaf(in)->mutable_not_after() = at("2027-03-01T00:00:00Z"); },
       "valid for 457 days"},
      {"chain-self-signed",
       [](auto& in) {
         auto* chain = in.mutable_tls()->mutable_chains(0);
         chain->set_trusted(false);
         chain->mutable_certificates()->DeleteSubrange(1, 2);
         chain->mutable_certificates(0)->set_issuer("CN=server.example.test");
         chain->mutable_certificates(0)->set_self_signed(true);
       },
       [](auto& in) { in.mutable_tls()->mutable_chains(0)->set_trusted(false); },
       "self-signed leaf CN=server.example.test (RSA)"},
      {"chain-untrusted",
       [](auto& in) {
         auto* chain = in.mutable_tls()->mutable_chains(0);
         chain->set_trusted(false);
         chain->set_validation_error("unable to get local issuer certificate");
       },
       [](auto&) {}, "CN=server.example.test (RSA chain): unable to get local issuer certificate"},
      {"cert-name-mismatch",
       [](auto& in) { in.mutable_tls()->mutable_chains(0)->set_name_matches(v1::SUPPORT_NO); },
       [](auto& in) {
         in.mutable_tls()->mutable_chains(0)->set_name_matches(v1::SUPPORT_UNSPECIFIED);
       },
       "is not valid for server.example.test"},
      {"kx-rsa-only",
       [](auto& in) {
         version(in, v1::TLS1_3)->set_supported(false);
         version(in, v1::TLS1_3)->clear_cipher_suites();
         auto* v = version(in, v1::TLS1_2);
         v->clear_cipher_suites();
         addSuite(v, 0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256", "RSA", "RSA", "AES_128_GCM", "AEAD",
                  128, false);
       },
       [](auto& in) {
         addToTls12(in, 0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256", "RSA", "RSA", "AES_128_GCM",
                    "AEAD", 128, false);
       },
       "1 suites accepted, none with forward secrecy"},
      {"suite-null",
       [](auto& in) {
         addToTls12(in, 0x003B, "TLS_RSA_WITH_NULL_SHA256", "RSA", "RSA", "NULL", "SHA256", 0,
                    false);
       },
       [](auto& in) {
         addSuite(version(in, v1::TLS1_0), 0x003B, "TLS_RSA_WITH_NULL_SHA256", "RSA", "RSA", "NULL",
                  "SHA256", 0, false);  // listed under an unsupported version
       },
       "TLS1_2 TLS_RSA_WITH_NULL_SHA256"},
      {"suite-anon",
       [](auto& in) {
         addToTls12(in, 0xC018, "TLS_ECDH_anon_WITH_AES_128_CBC_SHA", "ECDHE", "anon",
                    "AES_128_CBC", "SHA", 128, true);
       },
       [](auto&) {}, "TLS1_2 TLS_ECDH_anon_WITH_AES_128_CBC_SHA"},
      {"suite-export",
       [](auto& in) {
         addToTls12(in, 0x0003, "TLS_RSA_EXPORT_WITH_RC4_40_MD5", "RSA", "RSA", "RC4_40", "MD5", 40,
                    false)
             ->set_export_(true);
       },
       [](auto& in) {
         addToTls12(in, 0x0009, "TLS_RSA_WITH_DES_CBC_SHA", "RSA", "RSA", "DES_CBC", "SHA", 56,
                    false);
       },
       "TLS1_2 TLS_RSA_EXPORT_WITH_RC4_40_MD5 (40-bit)"},
      {"suite-rc4",
       [](auto& in) {
         addToTls12(in, 0x0005, "TLS_RSA_WITH_RC4_128_SHA", "RSA", "RSA", "RC4_128", "SHA", 128,
                    false);
       },
       [](auto&) {}, "TLS1_2 TLS_RSA_WITH_RC4_128_SHA"},
      {"suite-des",
       [](auto& in) {
         addToTls12(in, 0x0009, "TLS_RSA_WITH_DES_CBC_SHA", "RSA", "RSA", "DES_CBC", "SHA", 56,
                    false);
       },
       [](auto& in) {
         addToTls12(in, 0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "RSA", "RSA", "3DES_EDE_CBC",
                    "SHA", 112, false);
       },
       "TLS1_2 TLS_RSA_WITH_DES_CBC_SHA"},
      {"suite-3des",
       [](auto& in) {
         addToTls12(in, 0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "RSA", "RSA", "3DES_EDE_CBC",
                    "SHA", 112, false);
       },
       [](auto& in) {
         addToTls12(in, 0x0009, "TLS_RSA_WITH_DES_CBC_SHA", "RSA", "RSA", "DES_CBC", "SHA", 56,
                    false);
       },
       "TLS1_2 TLS_RSA_WITH_3DES_EDE_CBC_SHA"},
      {"suite-not-forward-secret",
       [](auto& in) {
         addToTls12(in, 0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256", "RSA", "RSA", "AES_128_GCM",
                    "AEAD", 128, false);
       },
       [](auto&) {}, "TLS1_2 TLS_RSA_WITH_AES_128_GCM_SHA256"},
      {"suite-not-allowed",
       [](auto& in) {
         addToTls12(in, 0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE", "RSA",
                    "AES_128_CBC", "SHA256", 128, true);
       },
       [](auto&) {}, "TLS1_2 TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"},
      {"tls12-cbc-only",
       [](auto& in) {
         auto* v = version(in, v1::TLS1_2);
         v->clear_cipher_suites();
         addSuite(v, 0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE", "RSA", "AES_128_CBC",
                  "SHA256", 128, true);
       },
       [](auto& in) {
         addToTls12(in, 0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE", "RSA",
                    "AES_128_CBC", "SHA256", 128, true);
       },
       "TLS 1.2 accepts 1 suites, none AEAD"},
      {"dh-weak",
       [](auto& in) {
         auto* s = addToTls12(in, 0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "DHE", "RSA",
                              "AES_128_GCM", "AEAD", 128, true);
         s->set_kx_group("DH");
         s->set_kx_bits(1024);
       },
       [](auto& in) {
         auto* s = addToTls12(in, 0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "DHE", "RSA",
                              "AES_128_GCM", "AEAD", 128, true);
         s->set_kx_group("DH");
         s->set_kx_bits(2048);
       },
       "uses a 1024-bit DH group (minimum 2048)"},
      {"reneg-insecure",
       [](auto& in) { in.mutable_tls()->mutable_extensions()->set_secure_renegotiation(false); },
       [](auto& in) {
         // TLS 1.3 has no renegotiation: a TLS 1.3-only server is not flagged.
         in.mutable_tls()->mutable_extensions()->set_secure_renegotiation(false);
         version(in, v1::TLS1_2)->set_supported(false);
       },
       "no renegotiation_info"},
      {"compression",
       [](auto& in) { in.mutable_tls()->mutable_extensions()->set_compression(true); },
       [](auto&) {}, "DEFLATE"},
      {"ske-sigalg-weak",
       [](auto& in) { in.mutable_tls()->add_signature_algorithms("rsa_pkcs1_sha1"); },
       [](auto& in) { in.mutable_tls()->add_signature_algorithms("rsa_pkcs1_sha256"); },
       "rsa_pss_rsae_sha256, rsa_pkcs1_sha1"},
      {"client-auth-accepts-weak-hash",
       [](auto& in) {
         auto* ca = version(in, v1::TLS1_2)->mutable_client_auth();
         ca->set_requested(true);
         ca->add_signature_algorithms("rsa_pkcs1_sha256");
         ca->add_signature_algorithms("rsa_pkcs1_md5");
       },
       [](auto& in) {
         auto* ca = version(in, v1::TLS1_2)->mutable_client_auth();
         ca->set_requested(true);
         ca->add_signature_algorithms("rsa_pkcs1_sha256");
       },
       "lists rsa_pkcs1_sha256, rsa_pkcs1_md5"},
      {"client-auth-rejects-legacy",
       [](auto& in) {
         auto* ca = version(in, v1::TLS1_2)->mutable_client_auth();
         ca->set_requested(true);
         ca->add_signature_algorithms("rsa_pkcs1_sha256");
         ca->add_signature_algorithms("ecdsa_secp256r1_sha256");
       },
       [](auto& in) {
         auto* ca = version(in, v1::TLS1_2)->mutable_client_auth();
         ca->set_requested(true);
         ca->add_signature_algorithms("rsa_pkcs1_sha256");
         ca->add_signature_algorithms("rsa_pkcs1_sha1");
       },
       "accepts only rsa_pkcs1_sha256, ecdsa_secp256r1_sha256; devices whose certificates are "
       "signed with MD5 or SHA-1 will fail"},
  };
}

TEST(ShippedPolicy, LoadsAndEveryRuleAndProfileCompiles) {
  ASSERT_TRUE(shipped().checkAll().ok()) << shipped().checkAll();
  std::set<std::string> profiles;
  for (const auto* p : shipped().profiles()) profiles.insert(p->id);
  EXPECT_EQ(profiles,
            (std::set<std::string>{"baseline", "nist-sp800-52r2", "pci-dss-4.0", "mozilla-modern",
                                   "mozilla-intermediate", "mozilla-old", "bsi-tr-02102-2",
                                   "rfc7568", "rfc8996", "rfc9155"}));
  for (const auto* r : shipped().rules()) {
    EXPECT_FALSE(r->rationale.empty()) << r->id;
    EXPECT_FALSE(r->remediation.empty()) << r->id;
    EXPECT_FALSE(r->evidence.empty()) << r->id;
  }
}

TEST(ShippedPolicy, CleanReportHasNoBaselineFindings) {
  auto findings = evaluateProfile("baseline", cleanInput());
  EXPECT_TRUE(findings.empty()) << findings.size() << " findings, first: "
                                << (findings.empty() ? "" : findings[0].ShortDebugString());
}

TEST(ShippedPolicy, EveryRuleHasAPositiveAndANegativeFixture) {
  auto cases = ruleCases();
  std::set<std::string> covered;
  for (const auto& c : cases) covered.insert(c.rule);
  for (const auto* r : shipped().rules()) {
    EXPECT_TRUE(covered.count(r->id)) << "rule " << r->id << " has no fixture case";
  }
  for (const auto& c : cases) {
    SCOPED_TRACE(c.rule);
    ASSERT_NE(shipped().rule(c.rule), nullptr);
    v1::RuleInput pos = cleanInput();
    c.positive(pos);
    auto found = evaluateRule(c.rule, pos);
    ASSERT_EQ(found.size(), 1u) << "positive fixture did not fire";
    EXPECT_EQ(found[0].rule_id(), c.rule);
    EXPECT_EQ(found[0].state(), v1::OPEN);
    EXPECT_EQ(found[0].service(), "192.0.2.10:443");
    EXPECT_EQ(found[0].severity(), shipped().rule(c.rule)->severity);
    EXPECT_THAT(found[0].evidence(), HasSubstr(c.evidence));
    v1::RuleInput neg = cleanInput();
    c.negative(neg);
    auto quiet = evaluateRule(c.rule, neg);
    EXPECT_TRUE(quiet.empty()) << "negative fixture fired: " << quiet[0].evidence();
  }
}

TEST(ShippedPolicy, PhoneWithMd5ChainGetsTheExpectedEvidence) {
  v1::RuleInput in = cleanInput();
  auto* chain = in.mutable_tls()->mutable_chains(0);
  chain->clear_certificates();
  auto* leaf_cert = addCert(chain, "phone-lobby", "Legacy Vendor Root CA", "MD5", "RSA", 1024,
                            "2012-01-01T00:00:00Z", "2035-01-01T00:00:00Z");
  (void)leaf_cert;
  addCert(chain, "Legacy Vendor Root CA", "Legacy Vendor Root CA", "MD5", "RSA", 2048,
          "2005-01-01T00:00:00Z", "2035-12-31T00:00:00Z");
  enableVersion(in, v1::TLS1_0);
  auto findings = evaluateProfile("baseline", in);
  std::map<std::string, std::string> by_rule;
  for (const auto& f : findings) by_rule[f.rule_id()] = f.evidence();
  EXPECT_EQ(by_rule["cert-sig-md5"],
            "leaf CN=phone-lobby signed md5WithRSAEncryption by CN=Legacy Vendor Root CA");
  EXPECT_THAT(by_rule["cert-root-weak-hash-long-lived"],
              HasSubstr("root CN=Legacy Vendor Root CA (md5WithRSAEncryption) is valid until "
                        "2035-12-31"));
  EXPECT_TRUE(by_rule.count("proto-tls10"));
  EXPECT_TRUE(by_rule.count("cert-rsa-key-small"));
  // Findings name the profiles that demand the rule.
  for (const auto& f : findings) {
    if (f.rule_id() == "proto-tls10") {
      EXPECT_THAT(std::vector<std::string>(f.profiles().begin(), f.profiles().end()),
                  IsSupersetOf({"baseline", "pci-dss-4.0", "rfc8996", "nist-sp800-52r2"}));
    }
  }
}

TEST(ShippedPolicy, EachWitnessIsNamedOnceAndCapped) {
  v1::RuleInput in = cleanInput();
  for (int i = 0; i < 12; ++i) {
    addToTls12(in, 0x0005 + i, "TLS_RC4_FAKE_" + std::to_string(i), "RSA", "RSA", "RC4_128", "SHA",
               128, false);
  }
  auto f = evaluateRule("suite-rc4", in);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_THAT(f[0].evidence(), HasSubstr("TLS1_2 TLS_RC4_FAKE_0; TLS1_2 TLS_RC4_FAKE_1"));
  EXPECT_THAT(f[0].evidence(), HasSubstr("(and 4 more)"));
  // The same chain presented in two versions is one witness.
  v1::RuleInput twice = cleanInput();
  leaf(twice)->set_signature_hash("MD5");
  *twice.mutable_tls()->add_chains() = twice.tls().chains(0);
  auto md5 = evaluateRule("cert-sig-md5", twice);
  ASSERT_EQ(md5.size(), 1u);
  EXPECT_EQ(md5[0].evidence().find(';'), std::string::npos) << md5[0].evidence();
}

// ---- profiles --------------------------------------------------------------------------------

v1::RuleInput modernCompliant() {
  v1::RuleInput in = cleanInput();
  version(in, v1::TLS1_2)->set_supported(false);
  version(in, v1::TLS1_2)->clear_cipher_suites();
  auto* chain = in.mutable_tls()->mutable_chains(0);
  chain->clear_certificates();
  chain->set_key_type("EC");
  addCert(chain, "server.example.test", "Example Issuing CA", "SHA256", "EC", 256,
          "2026-05-01T00:00:00Z", "2026-07-25T00:00:00Z");
  addCert(chain, "Example Issuing CA", "Example Root CA", "SHA256", "EC", 384,
          "2020-01-01T00:00:00Z", "2030-01-01T00:00:00Z");
  return in;
}

struct ProfileCase {
  std::string profile;
  Mutation compliant;              // from cleanInput()
  Mutation noncompliant;           // from the compliant one
  std::set<std::string> expected;  // rules the non-compliant report must violate
};

TEST(ShippedProfiles, CompliantAndNonCompliantFixtures) {
  std::vector<ProfileCase> cases = {
      {"baseline",
       [](auto&) {},
       [](auto& in) {
         enableVersion(in, v1::TLS1_0);
         leaf(in)->set_signature_hash("SHA1");
       },
       {"proto-tls10", "cert-sig-sha1"}},
      {"nist-sp800-52r2",
       [](auto&) {},
       [](auto& in) {
         enableVersion(in, v1::TLS1_1);
         version(in, v1::TLS1_3)->set_supported(false);
         addToTls12(in, 0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256", "RSA", "RSA", "AES_128_GCM",
                    "AEAD", 128, false);
       },
       {"proto-tls11", "proto-tls13-missing", "suite-not-allowed"}},
      {"pci-dss-4.0",
       [](auto&) {},
       [](auto& in) {
         enableVersion(in, v1::TLS1_0);
         *leaf(in)->mutable_not_after() = at("2026-01-01T00:00:00Z");
       },
       {"proto-tls10", "cert-expired"}},
      {"mozilla-modern",
       [](auto& in) { in = modernCompliant(); },
       [](auto& in) {
         version(in, v1::TLS1_2)->set_supported(true);
         addToTls12(in, 0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE", "ECDSA",
                    "AES_128_GCM", "AEAD", 128, true);
         *leaf(in)->mutable_not_after() = at("2027-01-01T00:00:00Z");
       },
       {"proto-tls12", "suite-not-allowed", "cert-lifespan-long"}},
      {"mozilla-intermediate",
       [](auto&) {},
       [](auto& in) {
         addToTls12(in, 0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE", "RSA",
                    "AES_128_CBC", "SHA256", 128, true);
         auto* s = addToTls12(in, 0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "DHE", "RSA",
                              "AES_128_GCM", "AEAD", 128, true);
         s->set_kx_bits(1024);
       },
       {"suite-not-allowed", "dh-weak"}},
      {"mozilla-old",
       [](auto& in) {
         enableVersion(in, v1::TLS1_0, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA");
         auto* s = addToTls12(in, 0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "DHE", "RSA",
                              "AES_128_GCM", "AEAD", 128, true);
         s->set_kx_bits(1024);
       },
       [](auto& in) {
         enableVersion(in, v1::SSL3);
         addToTls12(in, 0x0005, "TLS_RSA_WITH_RC4_128_SHA", "RSA", "RSA", "RC4_128", "SHA", 128,
                    false);
       },
       {"proto-sslv3", "suite-not-allowed"}},
      {"bsi-tr-02102-2",
       [](auto&) {},
       [](auto& in) {
         leaf(in)->set_key_bits(2048);
         addToTls12(in, 0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE", "RSA",
                    "CHACHA20_POLY1305", "AEAD", 256, true);
         addToTls12(in, 0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256", "RSA", "RSA", "AES_128_GCM",
                    "AEAD", 128, false);
       },
       {"cert-rsa-key-small", "suite-not-allowed", "suite-not-forward-secret"}},
      {"rfc7568",
       [](auto& in) { enableVersion(in, v1::TLS1_0); },
       [](auto& in) { enableVersion(in, v1::SSL3); },
       {"proto-sslv3"}},
      {"rfc8996",
       [](auto& in) { enableVersion(in, v1::SSL3); },  // not this profile's concern
       [](auto& in) {
         enableVersion(in, v1::TLS1_0);
         enableVersion(in, v1::TLS1_1);
       },
       {"proto-tls10", "proto-tls11"}},
      {"rfc9155",
       [](auto& in) { leaf(in)->set_signature_hash("SHA1"); },
       [](auto& in) { in.mutable_tls()->add_signature_algorithms("rsa_pkcs1_sha1"); },
       {"ske-sigalg-weak"}},
  };
  std::set<std::string> tested;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.profile);
    tested.insert(c.profile);
    v1::RuleInput in = cleanInput();
    c.compliant(in);
    auto clean = evaluateProfile(c.profile, in);
    EXPECT_TRUE(clean.empty()) << "compliant fixture flagged: "
                               << (clean.empty() ? ""
                                                 : clean[0].rule_id() + " " + clean[0].evidence());
    c.noncompliant(in);
    auto ids = ruleIds(evaluateProfile(c.profile, in));
    for (const auto& want : c.expected) EXPECT_TRUE(ids.count(want)) << "missing " << want;
  }
  for (const auto* p : shipped().profiles()) {
    EXPECT_TRUE(tested.count(p->id)) << "profile " << p->id << " has no fixture case";
  }
}

TEST(ShippedProfiles, ProfilesParameteriseAndOverrideSeverity) {
  v1::RuleInput in = cleanInput();
  leaf(in)->set_key_bits(2048);  // fine for baseline, below BSI's 3000
  EXPECT_FALSE(ruleIds(evaluateProfile("baseline", in)).count("cert-rsa-key-small"));
  auto bsi = evaluateProfile("bsi-tr-02102-2", in);
  ASSERT_TRUE(ruleIds(bsi).count("cert-rsa-key-small"));
  for (const auto& f : bsi) {
    if (f.rule_id() == "cert-rsa-key-small") {
      EXPECT_THAT(f.evidence(), HasSubstr("minimum 3000"));
    }
  }
  v1::RuleInput no13 = cleanInput();
  version(no13, v1::TLS1_3)->set_supported(false);
  for (const auto& f : evaluateProfile("nist-sp800-52r2", no13)) {
    if (f.rule_id() == "proto-tls13-missing") {
      EXPECT_EQ(f.severity(), v1::MEDIUM);  // the rule's default is low
      EXPECT_THAT(std::vector<std::string>(f.references().begin(), f.references().end()),
                  Contains("NIST SP 800-52r2 §3.1"));
    }
  }
}

TEST(PolicyLibrary, SharedRuleInstancesAreEvaluatedOnce) {
  std::vector<std::string> all;
  for (const auto* p : shipped().profiles()) all.push_back(p->id);
  auto policy = shipped().compile(all);
  ASSERT_TRUE(policy.ok()) << policy.status();
  size_t selections = 0;
  for (size_t i = 0; i < all.size(); ++i) selections += policy->rules(i).size();
  EXPECT_LT(policy->ruleInstances(), selections / 2);
  v1::RuleInput in = cleanInput();
  enableVersion(in, v1::TLS1_0);
  CompiledPolicy::Scratch scratch;
  std::vector<v1::Finding> all_out;
  policy->evaluateAll(in, testNow(), scratch, all_out);
  std::set<std::string> union_ids;
  for (size_t i = 0; i < all.size(); ++i) {
    std::vector<v1::Finding> alone;
    policy->evaluate(in, testNow(), scratch, alone, i);
    for (const auto& id : ruleIds(alone)) union_ids.insert(id);
  }
  EXPECT_EQ(ruleIds(all_out), union_ids);
  for (const auto& f : all_out) {
    // proto-tls10 is high in PCI and the baseline, medium nowhere: the merged severity is high.
    if (f.rule_id() == "proto-tls10") {
      EXPECT_EQ(f.severity(), v1::HIGH);
    }
  }
}

// ---- users' files ----------------------------------------------------------------------------

TEST(PolicyFiles, UserRuleJoinsTheProfileAndOverridesById) {
  PolicyLibrary lib = shipped();
  auto st = lib.addText(R"(rules:
  - id: proto-tls10
    title: TLS 1.0 on our network
    severity: critical
    condition: 'any(v in tls.versions: v.version == "TLS1_0" and v.supported)'
    evidence: "TLS 1.0 is banned here"
  - id: site-no-alpn
    title: No ALPN
    severity: info
    condition: len(tls.extensions.alpn) == 0
)",
                        "site.yaml", true);
  ASSERT_TRUE(st.ok()) << st;
  auto policy = lib.compile({"baseline"});
  ASSERT_TRUE(policy.ok()) << policy.status();
  v1::RuleInput in = cleanInput();
  enableVersion(in, v1::TLS1_0);
  CompiledPolicy::Scratch scratch;
  std::vector<v1::Finding> out;
  policy->evaluate(in, testNow(), scratch, out);
  std::map<std::string, v1::Finding> by;
  for (const auto& f : out) by[f.rule_id()] = f;
  ASSERT_TRUE(by.count("proto-tls10"));
  EXPECT_EQ(by["proto-tls10"].severity(), v1::CRITICAL);
  EXPECT_EQ(by["proto-tls10"].evidence(), "TLS 1.0 is banned here");
  ASSERT_TRUE(by.count("site-no-alpn"));
  EXPECT_EQ(by["site-no-alpn"].evidence(), "No ALPN");  // no template: the title
}

struct BadFile {
  std::string text;
  std::string error;  // expected substring (starting with file:line:column)
};

TEST(PolicyFiles, ErrorsNameFileLineColumnAndWhatWasExpected) {
  std::vector<BadFile> cases = {
      {"rules:\n  - id: x\n    title: [unclosed\n", "bad.yaml:4:1: YAML syntax error"},
      {"rules:\n  - id: x\n    title: t\n    sevrity: high\n    condition: tls.tls\n",
       "bad.yaml:4:5: rules[0]: unknown key 'sevrity'"},
      {"rules:\n  - id: x\n    title: t\n    severity: severe\n    condition: tls.tls\n",
       "bad.yaml:4:15: rules[0].severity: 'severe' is not one of: info, low, medium, high, "
       "critical"},
      {"rules:\n  - id: x\n    title: t\n    severity: high\n",
       "bad.yaml:2:5: rules[0]: missing required key 'condition'"},
      {"rules:\n  - id: Bad Id\n    title: t\n    severity: high\n    condition: tls.tls\n",
       "bad.yaml:2:9: rules[0].id: 'Bad Id' is not an id of lower-case letters"},
      {"rules:\n  - id: x\n    title: t\n    severity: high\n    condition: tls.tsl\n",
       "bad.yaml:5:20: rule 'x' condition: unknown field 'tsl' in TlsReport; fields: target,"},
      {"rules:\n  - id: x\n    title: t\n    severity: high\n    condition: >-\n"
       "      tls.tls and\n      tls.versions.version == \"TLS1_0\"\n",
       "bad.yaml:7:7: rule 'x' condition: this path has many values"},
      {"rules:\n  - id: x\n    title: t\n    severity: high\n"
       "    condition: 'any(v in tls.versions: v.version == \"TLS1_9\")'\n",
       "bad.yaml:5:53: rule 'x' condition: 'TLS1_9' is not a value of TlsVersion"},
      {"rules:\n  - id: x\n    title: t\n    severity: high\n    condition: tls.tls and\n",
       "bad.yaml:5:27: rule 'x' condition: expected a value"},
      {"rules:\n  - id: x\n    title: t\n    severity: high\n    condition: tls.connections\n",
       "rule 'x' condition: the condition must be true or false"},
      {"rules:\n  - id: x\n    title: t\n    severity: high\n    each: v in tls.version\n"
       "    condition: v.supported\n",
       "bad.yaml:5:20: rule 'x' each: unknown field 'version' in TlsReport"},
      {"rules:\n  - id: x\n    title: t\n    severity: high\n    condition: tls.tls\n"
       "    evidence: \"{tls.target.hots}\"\n",
       "bad.yaml:6:28: rule 'x' evidence: unknown field 'hots' in Target"},
      {"rules:\n  - id: x\n    title: t\n    severity: high\n    condition: params.limit > 3\n",
       "bad.yaml:5:23: rule 'x' condition: unknown parameter 'limit' (the rule declares none)"},
      {"rules:\n  - id: x\n    title: t\n    severity: high\n    condition: tls.tls\n"
       "  - id: x\n    title: t\n    severity: high\n    condition: tls.tls\n",
       "bad.yaml:6:9: rules[1].id: duplicate rule id 'x' (first at bad.yaml:2:5)"},
      {"profile:\n  id: p\n  title: t\n  rules: [{id: proto-tls10, params: {x: 1}}]\n", ""},
      {"something: else\n", "bad.yaml:1:1: expected a rule file"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    PolicyLibrary lib = shipped();
    auto st = lib.addText(c.text, "bad.yaml", true);
    if (c.error.empty()) {
      // Profiles are checked when resolved: the unknown parameter is named there.
      ASSERT_TRUE(st.ok()) << st;
      auto compiled = lib.compile({"p"});
      ASSERT_FALSE(compiled.ok());
      EXPECT_THAT(std::string(compiled.status().message()),
                  HasSubstr("bad.yaml:4:11: profile 'p' sets parameter 'x' that rule "
                            "'proto-tls10' does not declare (it has none)"));
      continue;
    }
    ASSERT_FALSE(st.ok());
    EXPECT_THAT(std::string(st.message()), HasSubstr(c.error));
    // Nothing of a broken file is added.
    EXPECT_EQ(lib.rule("x"), nullptr);
  }
}

TEST(PolicyFiles, ProfileErrors) {
  PolicyLibrary lib = shipped();
  ASSERT_TRUE(lib.addText("profile:\n  id: loop-a\n  title: a\n  include: [loop-b]\n  rules: []\n",
                          "a.yaml", true)
                  .ok());
  ASSERT_TRUE(lib.addText("profile:\n  id: loop-b\n  title: b\n  include: [loop-a]\n  rules: []\n",
                          "b.yaml", true)
                  .ok());
  auto loop = lib.compile({"loop-a"});
  ASSERT_FALSE(loop.ok());
  EXPECT_THAT(std::string(loop.status().message()), HasSubstr("includes itself"));
  ASSERT_TRUE(lib.addText("profile:\n  id: p\n  title: t\n  rules: [nope]\n", "p.yaml", true).ok());
  auto unknown = lib.compile({"p"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(std::string(unknown.status().message()),
              HasSubstr("p.yaml:4:11: profile 'p' selects unknown rule 'nope'"));
  auto missing = lib.compile({"nist"});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("unknown profile 'nist' (known: "));
}

// ---- shared reads: the cached evaluation against the reflection one ----------------------------

std::vector<std::string> texts(const std::vector<v1::Finding>& findings) {
  std::vector<std::string> out;
  for (const auto& f : findings) out.push_back(f.ShortDebugString());
  return out;
}

// The benchmark's reports, every rule's positive and negative fixture, and a chain presented
// twice (duplicate evidence).
std::vector<v1::RuleInput> differentialInputs() {
  std::vector<v1::RuleInput> out;
  std::mt19937 rng(kRealisticSeed);
  for (int i = 0; i < 1500; ++i) out.push_back(realisticReport(rng, i));
  for (const auto& c : ruleCases()) {
    v1::RuleInput pos = cleanInput();
    c.positive(pos);
    out.push_back(pos);
    v1::RuleInput neg = cleanInput();
    c.negative(neg);
    out.push_back(neg);
  }
  v1::RuleInput twice = cleanInput();
  leaf(twice)->set_signature_hash("MD5");
  *twice.mutable_tls()->add_chains() = twice.tls().chains(0);
  out.push_back(twice);
  return out;
}

TEST(SharedReads, SameFindingsAsReflectionForEveryProfileAndOutput) {
  std::vector<std::string> all;
  for (const auto* p : shipped().profiles()) all.push_back(p->id);
  auto shared = shipped().compile(all);
  auto reference = shipped().compile(all, /*share_reads=*/false);
  ASSERT_TRUE(shared.ok()) << shared.status();
  ASSERT_TRUE(reference.ok()) << reference.status();
  CompiledPolicy::Scratch shared_scratch, reference_scratch;
  google::protobuf::RepeatedPtrField<v1::Finding> reused;
  auto arena = std::make_unique<google::protobuf::Arena>();
  std::set<std::string> fired;
  size_t findings = 0;
  auto inputs = differentialInputs();
  for (size_t i = 0; i < inputs.size(); ++i) {
    SCOPED_TRACE("input " + std::to_string(i));
    // Clocks around the fixtures' validity periods, so expiry rules fire too.
    int64_t now = testNow() + static_cast<int64_t>(i % 7) * 400 * 86400 - 1200 * 86400;
    std::vector<v1::Finding> want, got;
    reference->evaluateAll(inputs[i], now, reference_scratch, want);
    shared->evaluateAll(inputs[i], now, shared_scratch, got);
    ASSERT_EQ(texts(got), texts(want));
    findings += want.size();
    for (const auto& f : want) fired.insert(f.rule_id());
    // Findings overwriting the previous input's are built in full.
    shared->evaluateAll(inputs[i], now, shared_scratch, &reused);
    ASSERT_EQ(texts({reused.begin(), reused.end()}), texts(want));
    std::vector<v1::Finding*> on_arena;
    shared->evaluateAll(inputs[i], now, shared_scratch, arena.get(), on_arena);
    std::vector<v1::Finding> copied;
    for (const auto* f : on_arena) copied.push_back(*f);
    ASSERT_EQ(texts(copied), texts(want));
    if (i % 10 == 0) {
      for (size_t p = 0; p < all.size(); ++p) {
        std::vector<v1::Finding> want_p, got_p;
        reference->evaluate(inputs[i], now, reference_scratch, want_p, p);
        shared->evaluate(inputs[i], now, shared_scratch, got_p, p);
        ASSERT_EQ(texts(got_p), texts(want_p)) << all[p];
      }
    }
  }
  EXPECT_GT(findings, inputs.size() * 5);
  EXPECT_GE(fired.size(), 30u);  // nearly every shipped rule fired somewhere
}

TEST(SharedReads, OverwrittenFindingsKeepNothingOfTheirPast) {
  auto policy = shipped().compile({"baseline", "pci-dss-4.0"});
  ASSERT_TRUE(policy.ok());
  v1::RuleInput phone = cleanInput();
  enableVersion(phone, v1::TLS1_0);
  leaf(phone)->set_signature_hash("MD5");
  CompiledPolicy::Scratch scratch;
  google::protobuf::RepeatedPtrField<v1::Finding> reused;
  policy->evaluateAll(phone, testNow(), scratch, &reused);
  ASSERT_GT(reused.size(), 1);
  // What a consumer may have done to them: a waiver, an id.
  for (auto& f : reused) {
    f.set_state(v1::WAIVED);
    f.set_waiver_id("w1");
    *f.mutable_waiver_expires() = at("2030-01-01T00:00:00Z");
    f.set_id("42");
    f.clear_first_seen();
  }
  v1::RuleInput clean_tls10 = cleanInput();
  enableVersion(clean_tls10, v1::TLS1_0);
  std::vector<v1::Finding> want;
  CompiledPolicy::Scratch fresh;
  policy->evaluateAll(clean_tls10, testNow(), fresh, want);
  ASSERT_LT(want.size(), static_cast<size_t>(reused.size()));  // so some are removed, too
  policy->evaluateAll(clean_tls10, testNow(), scratch, &reused);
  EXPECT_EQ(texts({reused.begin(), reused.end()}), texts(want));
}

TEST(SharedReads, AScratchFollowsThePolicyItIsUsedWith) {
  auto baseline = shipped().compile({"baseline"});
  auto modern = shipped().compile({"mozilla-modern", "rfc9155"});
  ASSERT_TRUE(baseline.ok() && modern.ok());
  std::mt19937 rng(kRealisticSeed);
  CompiledPolicy::Scratch shared;
  for (int i = 0; i < 200; ++i) {
    v1::RuleInput in = realisticReport(rng, i);
    const CompiledPolicy& policy = (i % 3 == 0) ? *modern : *baseline;
    CompiledPolicy::Scratch fresh;
    std::vector<v1::Finding> want, got;
    policy.evaluateAll(in, testNow(), fresh, want);
    policy.evaluateAll(in, testNow(), shared, got);
    ASSERT_EQ(texts(got), texts(want)) << i;
  }
}

TEST(SharedReads, RulesOfOneWalkRenderSharedEvidenceOnlyWhenItIsTheSame) {
  PolicyLibrary lib = shipped();
  // a and c print the same thing; b prints the same text with its variables the other way
  // round (s is a version there), so its evidence differs.
  auto st = lib.addText(R"(rules:
  - id: site-a
    title: a
    severity: info
    each: [v in tls.versions, s in v.cipherSuites]
    condition: v.supported
    evidence: "{index(s)}"
  - id: site-b
    title: b
    severity: info
    each: [s in tls.versions, v in s.cipherSuites]
    condition: s.supported
    evidence: "{index(s)}"
  - id: site-c
    title: c
    severity: info
    each: [v in tls.versions, s in v.cipherSuites]
    condition: v.supported and s.bits >= 128
    evidence: "{index(s)}"
)",
                        "site.yaml", true);
  ASSERT_TRUE(st.ok()) << st;
  for (bool share : {true, false}) {
    auto policy = lib.compile({"baseline"}, share);
    ASSERT_TRUE(policy.ok()) << policy.status();
    CompiledPolicy::Scratch scratch;
    std::vector<v1::Finding> out;
    policy->evaluate(cleanInput(), testNow(), scratch, out);
    std::map<std::string, std::string> evidence;
    for (const auto& f : out) evidence[f.rule_id()] = f.evidence();
    // TLS 1.2 (position 4) has two suites, TLS 1.3 (position 5) one.
    EXPECT_EQ(evidence["site-a"], "0; 1") << share;
    EXPECT_EQ(evidence["site-b"], "4; 5") << share;
    EXPECT_EQ(evidence["site-c"], "0; 1") << share;
  }
}

}  // namespace
}  // namespace tlsaudit::rules
