// The scanner library against `openssl s_server`: every expected fact comes from the server's
// configuration and is cross-checked with `openssl s_client`, never taken from our own output.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace tlsaudit::itest {
namespace {

using ::testing::Contains;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAreArray;

int64_t utcSeconds(int year, int month, int day, int hour, int minute, int second) {
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<int64_t>(timegm(&tm));
}

// OpenSSL names of `candidates` that this OpenSSL build has, with their IANA names.
std::vector<OpensslSuite> availableSuites(const std::vector<std::string>& candidates) {
  std::vector<OpensslSuite> out;
  for (const auto& name : candidates) {
    if (const auto* s = opensslSuiteByName(name)) out.push_back(*s);
  }
  return out;
}

std::string joinOpenssl(const std::vector<OpensslSuite>& suites, const std::string& suffix = "") {
  std::string out;
  for (const auto& s : suites) out += (out.empty() ? "" : ":") + s.openssl;
  return out + suffix;
}

std::vector<std::string> ianaNames(const std::vector<OpensslSuite>& suites) {
  std::vector<std::string> out;
  for (const auto& s : suites) out.push_back(s.iana);
  return out;
}

// s_client -tlsX option for a version.
std::string sClientVersionFlag(v1::TlsVersion v) {
  switch (v) {
    case v1::TLS1_0:
      return "-tls1";
    case v1::TLS1_1:
      return "-tls1_1";
    case v1::TLS1_2:
      return "-tls1_2";
    case v1::TLS1_3:
      return "-tls1_3";
    default:
      return "";
  }
}

// Every suite the report lists for `version` completes a handshake with s_client offering only
// that suite at that version.
void expectEverySuiteConnects(uint16_t port, const v1::VersionResult& version) {
  for (const auto& suite : version.cipher_suites()) {
    const auto* s = opensslSuiteByIana(suite.name());
    ASSERT_NE(s, nullptr) << suite.name() << " is not an IANA name this OpenSSL knows";
    std::vector<std::string> args = {sClientVersionFlag(version.version())};
    if (version.version() == v1::TLS1_3) {
      args.insert(args.end(), {"-ciphersuites", s->iana});
    } else {
      args.insert(args.end(), {"-cipher", s->openssl + ":@SECLEVEL=0"});
    }
    EXPECT_TRUE(sClientConnects(port, args))
        << "tlsaudit reports " << suite.name() << " for " << v1::TlsVersion_Name(version.version())
        << " but s_client cannot negotiate it";
  }
}

// ---- a. TLS 1.0 only, RSA key exchange ----------------------------------------------------

TEST(OpensslServer, Tls10OnlyRsaKeyExchangeSuites) {
  // DES-CBC3-SHA is left out of Debian's OpenSSL 3 build; take what this build has.
  auto configured =
      availableSuites({"AES128-SHA", "AES256-SHA", "DES-CBC3-SHA", "CAMELLIA128-SHA"});
  ASSERT_GE(configured.size(), 2u);
  auto server = startOpensslServer({"-tls1", "-cert", "rsa-leaf.crt", "-key", "rsa-leaf.key",
                                    "-cipher", joinOpenssl(configured, ":@SECLEVEL=0")});
  ASSERT_TRUE(server->ok());

  // The configuration as s_client sees it.
  for (const auto& s : configured) {
    ASSERT_TRUE(sClientConnects(server->port(), {"-tls1", "-cipher", s.openssl + ":@SECLEVEL=0"}))
        << s.openssl;
  }
  auto off = availableSuites({"CAMELLIA256-SHA", "ECDHE-RSA-AES128-SHA", "DHE-RSA-AES256-SHA"});
  ASSERT_FALSE(off.empty());
  for (const auto& s : off) {
    ASSERT_FALSE(sClientConnects(server->port(), {"-tls1", "-cipher", s.openssl + ":@SECLEVEL=0"}))
        << s.openssl << " is configured off";
  }
  ASSERT_FALSE(sClientConnects(server->port(), {"-tls1_1", "-cipher", "ALL:@SECLEVEL=0"}));
  ASSERT_FALSE(sClientConnects(server->port(), {"-tls1_2", "-cipher", "ALL:@SECLEVEL=0"}));

  auto r = probe({.port = server->port(), .ca_files = {"rsa-root.crt"}});
  ASSERT_TRUE(r.finished);
  const auto& report = r.report;
  EXPECT_TRUE(report.reachable());
  EXPECT_TRUE(report.tls());
  EXPECT_EQ(supportedVersions(report), std::set<v1::TlsVersion>{v1::TLS1_0});
  for (auto v : {v1::SSL2, v1::SSL3, v1::TLS1_1, v1::TLS1_2, v1::TLS1_3}) {
    const auto* vr = findVersion(report, v);
    ASSERT_NE(vr, nullptr) << "no result for " << v1::TlsVersion_Name(v);
    EXPECT_FALSE(vr->supported()) << v1::TlsVersion_Name(v);
  }
  const auto* tls10 = findVersion(report, v1::TLS1_0);
  ASSERT_NE(tls10, nullptr);
  EXPECT_THAT(suiteNames(*tls10), UnorderedElementsAreArray(ianaNames(configured)));
  for (const auto& s : tls10->cipher_suites()) {
    EXPECT_FALSE(s.forward_secret()) << s.name();
    EXPECT_EQ(s.kx(), "RSA") << s.name();
    EXPECT_FALSE(s.export_()) << s.name();
  }
  for (const auto& s : off) {
    EXPECT_THAT(suiteNames(*tls10), ::testing::Not(Contains(s.iana)));
  }
  expectEverySuiteConnects(server->port(), *tls10);
  // With OpenSSL's default (client) preference the order follows the client.
  EXPECT_EQ(tls10->cipher_order(), v1::CIPHER_ORDER_CLIENT);
  ASSERT_EQ(report.chains_size(), 1);
  EXPECT_TRUE(report.chains(0).trusted()) << report.chains(0).validation_error();
  EXPECT_TRUE(report.errors().empty()) << errorsText(report);
}

// ---- b. TLS 1.0-1.2 with the MD5 vendor chain ---------------------------------------------

class Md5ChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = startOpensslServer({"-cert", "md5-leaf.crt", "-key", "md5-leaf.key", "-cert_chain",
                                  "md5-root.crt", "-cipher", "ALL:@SECLEVEL=0", "-no_tls1_3"});
    ASSERT_TRUE(server_->ok());
  }
  std::unique_ptr<Server> server_;
};

TEST_F(Md5ChainTest, VersionsAndWeakChainTrustedByVendorRoot) {
  for (auto flag : {"-tls1", "-tls1_1", "-tls1_2"}) {
    ASSERT_TRUE(sClientConnects(server_->port(), {flag, "-cipher", "ALL:@SECLEVEL=0"})) << flag;
  }
  ASSERT_FALSE(sClientConnects(server_->port(), {"-tls1_3"}));

  auto r = probe({.port = server_->port(), .ca_files = {"md5-root.crt"}});
  ASSERT_TRUE(r.finished);
  const auto& report = r.report;
  EXPECT_EQ(supportedVersions(report),
            (std::set<v1::TlsVersion>{v1::TLS1_0, v1::TLS1_1, v1::TLS1_2}));
  ASSERT_EQ(report.chains_size(), 1);
  const auto& chain = report.chains(0);
  EXPECT_EQ(chain.key_type(), "RSA");
  EXPECT_TRUE(chain.trusted()) << chain.validation_error();
  EXPECT_EQ(chain.validation_error(), "");
  EXPECT_THAT(versionList(chain.versions()),
              ::testing::IsSupersetOf({v1::TLS1_0, v1::TLS1_1, v1::TLS1_2}));
  ASSERT_GE(chain.certificates_size(), 2);

  const auto& leaf = chain.certificates(0);
  EXPECT_EQ(leaf.subject(), certificateSubject(pki("md5-leaf.crt")));
  EXPECT_EQ(leaf.signature_algorithm(), "md5WithRSAEncryption");
  EXPECT_EQ(leaf.signature_hash(), "MD5");
  EXPECT_EQ(leaf.key_type(), "RSA");
  EXPECT_EQ(leaf.key_bits(), 1024u);
  EXPECT_FALSE(leaf.is_ca());
  EXPECT_EQ(leaf.source(), v1::CERTIFICATE_SOURCE_PRESENTED);

  // The vendor root, presented by the server, signed with MD5 and valid until 2035.
  const auto& root = chain.certificates(1);
  EXPECT_EQ(root.subject(), certificateSubject(pki("md5-root.crt")));
  EXPECT_EQ(root.signature_hash(), "MD5");
  EXPECT_TRUE(root.is_ca());
  EXPECT_TRUE(root.self_signed());
  EXPECT_EQ(root.not_after().seconds(), utcSeconds(2035, 12, 31, 23, 59, 59));
  EXPECT_EQ(root.not_before().seconds(), utcSeconds(2015, 1, 1, 0, 0, 0));
  EXPECT_EQ(root.key_bits(), 1024u);
}

TEST_F(Md5ChainTest, UntrustedWithReasonWithoutVendorRoot) {
  auto r = probe({.port = server_->port(), .ca_files = {"rsa-root.crt"}});
  ASSERT_TRUE(r.finished);
  ASSERT_EQ(r.report.chains_size(), 1);
  const auto& chain = r.report.chains(0);
  EXPECT_FALSE(chain.trusted());
  // The root is presented but not trusted: OpenSSL's "self-signed certificate in certificate
  // chain" (spelt "self signed" before 3.0).
  EXPECT_THAT(chain.validation_error(), ::testing::ContainsRegex("self.signed"));
  for (const auto& c : chain.certificates()) EXPECT_FALSE(c.trusted()) << c.subject();
}

// ---- c. TLS 1.3 only, ECDSA -----------------------------------------------------------------

TEST(OpensslServer, Tls13OnlyEcdsa) {
  auto server =
      startOpensslServer({"-tls1_3", "-cert", "ecdsa-leaf.crt", "-key", "ecdsa-leaf.key"});
  ASSERT_TRUE(server->ok());
  // OpenSSL's default TLS 1.3 suites (SSL_CTX_set_ciphersuites default list).
  const std::vector<std::string> defaults = {
      "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256"};
  for (const auto& s : defaults) {
    ASSERT_TRUE(sClientConnects(server->port(), {"-tls1_3", "-ciphersuites", s})) << s;
  }
  ASSERT_FALSE(
      sClientConnects(server->port(), {"-tls1_3", "-ciphersuites", "TLS_AES_128_CCM_SHA256"}));
  ASSERT_FALSE(sClientConnects(server->port(), {"-tls1_2"}));

  auto r = probe({.port = server->port(), .ca_files = {"ecdsa-root.crt"}});
  ASSERT_TRUE(r.finished);
  const auto& report = r.report;
  EXPECT_EQ(supportedVersions(report), std::set<v1::TlsVersion>{v1::TLS1_3});
  const auto* tls13 = findVersion(report, v1::TLS1_3);
  ASSERT_NE(tls13, nullptr);
  EXPECT_THAT(suiteNames(*tls13), UnorderedElementsAreArray(defaults));
  expectEverySuiteConnects(server->port(), *tls13);

  // Chain through a real OpenSSL handshake (TLS 1.3 certificates are encrypted).
  ASSERT_EQ(report.chains_size(), 1);
  const auto& chain = report.chains(0);
  EXPECT_EQ(chain.key_type(), "EC");
  EXPECT_TRUE(chain.trusted()) << chain.validation_error();
  EXPECT_THAT(versionList(chain.versions()), Contains(v1::TLS1_3));
  ASSERT_GE(chain.certificates_size(), 1);
  const auto& leaf = chain.certificates(0);
  EXPECT_EQ(leaf.key_type(), "EC");
  EXPECT_EQ(leaf.key_bits(), 256u);
  EXPECT_EQ(leaf.curve(), "prime256v1");
  EXPECT_EQ(leaf.signature_algorithm(), "ecdsa-with-SHA256");
  EXPECT_EQ(leaf.signature_hash(), "SHA256");
  EXPECT_EQ(leaf.subject(), certificateSubject(pki("ecdsa-leaf.crt")));

  // Groups: every group reported is one s_client can negotiate in TLS 1.3.
  auto groups = groupNames(report);
  EXPECT_THAT(groups, ::testing::IsSupersetOf({"x25519", "secp256r1"}));
  for (const auto& g : report.groups()) {
    EXPECT_THAT(versionList(g.versions()), Contains(v1::TLS1_3)) << g.name();
    EXPECT_TRUE(sClientConnects(server->port(), {"-tls1_3", "-groups", g.name()}))
        << "tlsaudit reports group " << g.name() << " but s_client cannot negotiate it";
  }
  // And every default group s_client can negotiate is reported.
  for (const char* g : {"x25519", "secp256r1", "secp384r1", "secp521r1", "x448", "ffdhe2048"}) {
    if (sClientConnects(server->port(), {"-tls1_3", "-groups", g})) {
      EXPECT_THAT(groups, Contains(g)) << "s_client negotiates " << g;
    }
  }
}

TEST(OpensslServer, Tls13ConfiguredGroupsExactly) {
  auto server = startOpensslServer({"-tls1_3", "-cert", "ecdsa-leaf.crt", "-key", "ecdsa-leaf.key",
                                    "-groups", "P-256:ffdhe3072"});
  ASSERT_TRUE(server->ok());
  ASSERT_TRUE(sClientConnects(server->port(), {"-tls1_3", "-groups", "secp256r1"}));
  ASSERT_TRUE(sClientConnects(server->port(), {"-tls1_3", "-groups", "ffdhe3072"}));
  ASSERT_FALSE(sClientConnects(server->port(), {"-tls1_3", "-groups", "x25519"}));
  ASSERT_FALSE(sClientConnects(server->port(), {"-tls1_3", "-groups", "secp384r1"}));

  auto r = probe({.port = server->port(), .ca_files = {"ecdsa-root.crt"}});
  ASSERT_TRUE(r.finished);
  EXPECT_EQ(supportedVersions(r.report), std::set<v1::TlsVersion>{v1::TLS1_3});
  EXPECT_EQ(groupNames(r.report), (std::set<std::string>{"secp256r1", "ffdhe3072"}));
  for (const auto& g : r.report.groups()) {
    if (g.name() == "secp256r1") {
      EXPECT_EQ(g.kind(), "ECDHE");
      EXPECT_EQ(g.bits(), 256u);
    }
    if (g.name() == "ffdhe3072") {
      EXPECT_EQ(g.kind(), "FFDHE");
      EXPECT_EQ(g.bits(), 3072u);
    }
  }
}

// ---- d. TLS 1.2 client authentication -------------------------------------------------------

// OpenSSL's names for signature schemes (as s_client prints them) -> IANA (RFC 8446 §4.2.3).
std::string ianaSigalg(const std::string& openssl) {
  static const std::map<std::string, std::string> names = {
      {"RSA+SHA256", "rsa_pkcs1_sha256"},
      {"RSA+SHA384", "rsa_pkcs1_sha384"},
      {"RSA+SHA512", "rsa_pkcs1_sha512"},
      {"RSA+SHA1", "rsa_pkcs1_sha1"},
      {"RSA+SHA224", "rsa_pkcs1_sha224"},
      {"ECDSA+SHA256", "ecdsa_secp256r1_sha256"},
      {"ECDSA+SHA384", "ecdsa_secp384r1_sha384"},
      {"ECDSA+SHA512", "ecdsa_secp521r1_sha512"},
      {"ECDSA+SHA1", "ecdsa_sha1"},
      {"ECDSA+SHA224", "ecdsa_sha224"},
      {"RSA-PSS+SHA256", "rsa_pss_rsae_sha256"},
      {"RSA-PSS+SHA384", "rsa_pss_rsae_sha384"},
      {"RSA-PSS+SHA512", "rsa_pss_rsae_sha512"},
      {"Ed25519", "ed25519"},
      {"Ed448", "ed448"}};
  auto it = names.find(openssl);
  return it == names.end() ? "openssl:" + openssl : it->second;
}

struct ClientAuthSeen {
  std::vector<std::string> sigalgs;  // IANA names
  std::vector<std::string> ca_names;
};

// What s_client saw in the CertificateRequest ("Requested Signature Algorithms" and
// "Acceptable client certificate CA names").
ClientAuthSeen sClientClientAuth(uint16_t port, const std::vector<std::string>& args) {
  auto r = sClient(port, args);
  ClientAuthSeen seen;
  std::smatch m;
  if (std::regex_search(r.out, m, std::regex(R"(Requested Signature Algorithms: (\S+))"))) {
    std::string list = m[1];
    size_t start = 0;
    while (start <= list.size()) {
      size_t end = list.find(':', start);
      if (end == std::string::npos) end = list.size();
      seen.sigalgs.push_back(ianaSigalg(list.substr(start, end - start)));
      start = end + 1;
    }
  }
  auto pos = r.out.find("Acceptable client certificate CA names");
  if (pos != std::string::npos) {
    std::istringstream lines(r.out.substr(pos));
    std::string line;
    std::getline(lines, line);
    while (std::getline(lines, line) && line.find('=') != std::string::npos &&
           line.find(':') == std::string::npos) {
      seen.ca_names.push_back(line);
    }
  }
  return seen;
}

void checkClientAuth(const std::string& client_sigalgs, const std::vector<std::string>& expected) {
  auto server = startOpensslServer({"-tls1_2", "-cert", "rsa-leaf.crt", "-key", "rsa-leaf.key",
                                    "-cipher", "ALL:@SECLEVEL=0", "-Verify", "1", "-CAfile",
                                    "clientca-root.crt", "-client_sigalgs", client_sigalgs});
  ASSERT_TRUE(server->ok());
  auto seen = sClientClientAuth(server->port(), {"-tls1_2", "-cipher", "ALL:@SECLEVEL=0"});
  ASSERT_EQ(seen.sigalgs, expected) << "s_client disagrees with the server configuration";
  ASSERT_EQ(seen.ca_names.size(), 1u);

  auto r = probe({.port = server->port(), .ca_files = {"rsa-root.crt"}});
  ASSERT_TRUE(r.finished);
  const auto& report = r.report;
  EXPECT_EQ(supportedVersions(report), std::set<v1::TlsVersion>{v1::TLS1_2});
  const auto* tls12 = findVersion(report, v1::TLS1_2);
  ASSERT_NE(tls12, nullptr);
  const auto& ca = tls12->client_auth();
  EXPECT_TRUE(ca.requested());
  EXPECT_EQ(ca.version(), v1::TLS1_2);
  EXPECT_THAT(
      std::vector<std::string>(ca.signature_algorithms().begin(), ca.signature_algorithms().end()),
      ElementsAreArray(expected));
  std::string client_ca = certificateSubject(pki("clientca-root.crt"));
  ASSERT_FALSE(client_ca.empty());
  EXPECT_THAT(std::vector<std::string>(ca.ca_names().begin(), ca.ca_names().end()),
              ElementsAreArray({client_ca}));
  // The report-level summary is the highest version that asked for a certificate.
  EXPECT_TRUE(report.client_auth().requested());
  EXPECT_EQ(report.client_auth().version(), v1::TLS1_2);
  EXPECT_THAT(std::vector<std::string>(report.client_auth().signature_algorithms().begin(),
                                       report.client_auth().signature_algorithms().end()),
              ElementsAreArray(expected));
  EXPECT_THAT(std::vector<std::string>(report.client_auth().ca_names().begin(),
                                       report.client_auth().ca_names().end()),
              Contains(client_ca));
}

TEST(OpensslServer, Tls12ClientAuthRestrictedSignatureAlgorithms) {
  checkClientAuth("RSA+SHA256:ECDSA+SHA256", {"rsa_pkcs1_sha256", "ecdsa_secp256r1_sha256"});
}

// OpenSSL 3 accepts SHA-1 schemes at security level 0 but has no RSA+MD5 scheme at all
// (SSL_CONF_cmd fails), so MD5 in a CertificateRequest is covered by the legacy responder.
TEST(OpensslServer, Tls12ClientAuthWithSha1SignatureAlgorithms) {
  checkClientAuth("RSA+SHA256:RSA+SHA1:ECDSA+SHA1",
                  {"rsa_pkcs1_sha256", "rsa_pkcs1_sha1", "ecdsa_sha1"});
}

// ---- j. RSA and ECDSA certificates on one server --------------------------------------------

void checkDualChains(const std::vector<std::string>& version_args) {
  std::vector<std::string> args = version_args;
  args.insert(args.end(), {"-cert", "rsa-leaf.crt", "-key", "rsa-leaf.key", "-dcert",
                           "ecdsa-leaf.crt", "-dkey", "ecdsa-leaf.key"});
  auto server = startOpensslServer(args);
  ASSERT_TRUE(server->ok());
  auto r = probe({.port = server->port(), .ca_files = {"rsa-root.crt", "ecdsa-root.crt"}});
  ASSERT_TRUE(r.finished);
  const auto& report = r.report;
  ASSERT_EQ(report.chains_size(), 2) << "expected one RSA and one EC chain";
  std::multiset<std::string> kinds;
  for (const auto& chain : report.chains()) {
    kinds.insert(chain.key_type());
    ASSERT_GE(chain.certificates_size(), 1);
    EXPECT_EQ(chain.certificates(0).key_type(), chain.key_type());
    EXPECT_TRUE(chain.trusted()) << chain.validation_error();
    std::string expected_leaf = chain.key_type() == "EC" ? "ecdsa-leaf.crt" : "rsa-leaf.crt";
    EXPECT_EQ(
        chain.certificates(0).issuer(),
        certificateSubject(pki(chain.key_type() == "EC" ? "ecdsa-root.crt" : "rsa-root.crt")));
    EXPECT_EQ(chain.certificates(0).subject(), certificateSubject(pki(expected_leaf)));
  }
  EXPECT_EQ(kinds, (std::multiset<std::string>{"EC", "RSA"}));
}

TEST(OpensslServer, RsaAndEcdsaCertificatesGiveTwoChains) { checkDualChains({}); }

TEST(OpensslServer, RsaAndEcdsaCertificatesOnTls13OnlyServer) { checkDualChains({"-tls1_3"}); }

// ---- k. server preference -------------------------------------------------------------------

class PreferenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    order_ =
        availableSuites({"ECDHE-RSA-AES128-SHA", "AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305",
                         "AES128-SHA256", "ECDHE-RSA-AES256-GCM-SHA384"});
    ASSERT_EQ(order_.size(), 5u);
  }
  std::unique_ptr<Server> start(bool server_preference) {
    std::vector<std::string> args = {"-tls1_2",      "-cert",   "rsa-leaf.crt",     "-key",
                                     "rsa-leaf.key", "-cipher", joinOpenssl(order_)};
    if (server_preference) args.push_back("-serverpref");
    return startOpensslServer(args);
  }
  std::vector<OpensslSuite> reversed() const { return {order_.rbegin(), order_.rend()}; }
  std::vector<OpensslSuite> order_;
};

TEST_F(PreferenceTest, ServerOrderIsReportedInTheServersOrder) {
  auto server = start(true);
  ASSERT_TRUE(server->ok());
  // s_client offering the configured list backwards still gets the server's first choice.
  auto sc = sClient(server->port(), {"-tls1_2", "-cipher", joinOpenssl(reversed())});
  ASSERT_EQ(sClientCipher(sc), order_.front().openssl);

  auto r = probe({.port = server->port(), .ca_files = {"rsa-root.crt"}});
  ASSERT_TRUE(r.finished);
  const auto* tls12 = findVersion(r.report, v1::TLS1_2);
  ASSERT_NE(tls12, nullptr);
  EXPECT_EQ(tls12->cipher_order(), v1::CIPHER_ORDER_SERVER);
  EXPECT_TRUE(tls12->server_preference());
  EXPECT_THAT(suiteNames(*tls12), ElementsAreArray(ianaNames(order_)));
}

// With 2 suites per hello the accepted suites are found in different hellos and the order must
// be asked for explicitly.
TEST_F(PreferenceTest, ServerOrderAcrossSmallHellos) {
  auto server = start(true);
  ASSERT_TRUE(server->ok());
  auto r = probe({.port = server->port(),
                  .max_suites_per_hello = 2,
                  .min_suites_per_hello = 1,
                  .ca_files = {"rsa-root.crt"}});
  ASSERT_TRUE(r.finished);
  const auto* tls12 = findVersion(r.report, v1::TLS1_2);
  ASSERT_NE(tls12, nullptr);
  EXPECT_EQ(tls12->cipher_order(), v1::CIPHER_ORDER_SERVER);
  EXPECT_THAT(suiteNames(*tls12), ElementsAreArray(ianaNames(order_)));
}

TEST_F(PreferenceTest, ClientOrderWithoutServerPreference) {
  auto server = start(false);
  ASSERT_TRUE(server->ok());
  auto sc = sClient(server->port(), {"-tls1_2", "-cipher", joinOpenssl(reversed())});
  ASSERT_EQ(sClientCipher(sc), order_.back().openssl);

  auto r = probe({.port = server->port(), .ca_files = {"rsa-root.crt"}});
  ASSERT_TRUE(r.finished);
  const auto* tls12 = findVersion(r.report, v1::TLS1_2);
  ASSERT_NE(tls12, nullptr);
  EXPECT_EQ(tls12->cipher_order(), v1::CIPHER_ORDER_CLIENT);
  EXPECT_FALSE(tls12->server_preference());
  EXPECT_THAT(suiteNames(*tls12), UnorderedElementsAreArray(ianaNames(order_)));
}

// ---- l. expired, self-signed, wrong name ------------------------------------------------------

TEST(OpensslServer, ExpiredCertificate) {
  auto server =
      startOpensslServer({"-tls1_2", "-cert", "expired-leaf.crt", "-key", "expired-leaf.key"});
  ASSERT_TRUE(server->ok());
  auto r = probe({.port = server->port(), .ca_files = {"rsa-root.crt"}});
  ASSERT_TRUE(r.finished);
  ASSERT_EQ(r.report.chains_size(), 1);
  const auto& chain = r.report.chains(0);
  EXPECT_FALSE(chain.trusted());
  EXPECT_THAT(chain.validation_error(), HasSubstr("expired"));
  EXPECT_EQ(chain.validation_error_depth(), 0u);
  ASSERT_GE(chain.certificates_size(), 1);
  EXPECT_EQ(chain.certificates(0).not_after().seconds(), utcSeconds(2021, 1, 1, 0, 0, 0));
}

class SelfSignedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = startOpensslServer(
        {"-tls1_2", "-cert", "selfsigned-leaf.crt", "-key", "selfsigned-leaf.key"});
    ASSERT_TRUE(server_->ok());
  }
  std::unique_ptr<Server> server_;
};

TEST_F(SelfSignedTest, ReportedAsSelfSigned) {
  auto r = probe({.port = server_->port(), .ca_files = {"rsa-root.crt"}});
  ASSERT_TRUE(r.finished);
  ASSERT_EQ(r.report.chains_size(), 1);
  const auto& chain = r.report.chains(0);
  EXPECT_FALSE(chain.trusted());
  EXPECT_THAT(chain.validation_error(), ::testing::ContainsRegex("self.signed"));
  ASSERT_GE(chain.certificates_size(), 1);
  EXPECT_TRUE(chain.certificates(0).self_signed());
  EXPECT_FALSE(chain.certificates(0).is_ca());
  // No name given (address literal): matched against the IP SAN 127.0.0.1.
  EXPECT_EQ(chain.name_matches(), v1::SUPPORT_YES);
}

TEST_F(SelfSignedTest, NameMismatchForWrongSni) {
  auto wrong =
      probe({.port = server_->port(), .sni = "wrong.example", .ca_files = {"rsa-root.crt"}});
  ASSERT_TRUE(wrong.finished);
  EXPECT_EQ(wrong.report.target().sni(), "wrong.example");
  ASSERT_EQ(wrong.report.chains_size(), 1);
  EXPECT_EQ(wrong.report.chains(0).name_matches(), v1::SUPPORT_NO);

  auto right = probe({.port = server_->port(), .sni = "localhost", .ca_files = {"rsa-root.crt"}});
  ASSERT_TRUE(right.finished);
  ASSERT_EQ(right.report.chains_size(), 1);
  EXPECT_EQ(right.report.chains(0).name_matches(), v1::SUPPORT_YES);
}

}  // namespace
}  // namespace tlsaudit::itest
