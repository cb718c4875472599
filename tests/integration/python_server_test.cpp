// The scanner against the Python test servers in servers/: STARTTLS (SMTP), SIP over TLS, a
// tarpit, broken peers, and the scripted legacy responder (SSLv2/SSLv3/EXPORT/RC4/DES), which
// Debian's OpenSSL 3 can no longer serve. Expected facts come from each server's options.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace tlsaudit::itest {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAreArray;
using Json = nlohmann::json;

// Runs `tlsaudit scan ARGS --format json` and returns the single report.
Json scanJson(const std::vector<std::string>& args, milliseconds timeout = milliseconds(60000)) {
  std::vector<std::string> argv = {"scan"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--format", "json", "--no-progress"});
  auto r = runTlsaudit(argv, timeout);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  Json doc = Json::parse(r.out, nullptr, false);
  if (doc.is_discarded() || !doc.contains("reports") || doc["reports"].size() != 1) {
    ADD_FAILURE() << "not one JSON report:\n" << r.out;
    return Json::object();
  }
  return doc["reports"][0];
}

std::set<std::string> jsonSupportedVersions(const Json& report) {
  std::set<std::string> out;
  for (const auto& v : report.value("versions", Json::array())) {
    if (v.value("supported", false)) out.insert(v.value("version", ""));
  }
  return out;
}

// ---- e. SMTP with STARTTLS ----------------------------------------------------------------

TEST(SmtpStarttls, VersionsAndBanner) {
  const std::string banner = "mx1.example.test ESMTP Postfix (Debian/GNU)";
  auto server = startPythonServer(
      "smtp_starttls_server.py",
      {"--cert", pki("rsa-chain.pem"), "--key", pki("rsa-leaf.key"), "--banner", banner});
  ASSERT_TRUE(server->ok());
  // The server's defaults: TLS 1.0 .. 1.2 (Python ssl, 'ALL:@SECLEVEL=0').
  for (auto flag : {"-tls1", "-tls1_1", "-tls1_2"}) {
    ASSERT_TRUE(
        sClientConnects(server->port(), {"-starttls", "smtp", flag, "-cipher", "ALL:@SECLEVEL=0"}))
        << flag;
  }
  ASSERT_FALSE(sClientConnects(server->port(), {"-starttls", "smtp", "-tls1_3"}));

  auto report = scanJson({"smtp://127.0.0.1:" + std::to_string(server->port()), "--timeout", "2",
                          "--no-system-trust", "--ca-file", pki("rsa-root.crt")});
  EXPECT_EQ(report["target"].value("starttls", ""), "smtp");
  EXPECT_EQ(report["target"].value("port", 0), server->port());
  EXPECT_TRUE(report.value("tls", false));
  EXPECT_EQ(jsonSupportedVersions(report), (std::set<std::string>{"TLS1_0", "TLS1_1", "TLS1_2"}));
  ASSERT_TRUE(report.contains("application"));
  EXPECT_THAT(report["application"].value("banner", ""), HasSubstr(banner));
  ASSERT_TRUE(report.contains("chains"));
  ASSERT_EQ(report["chains"].size(), 1u);
  EXPECT_TRUE(report["chains"][0].value("trusted", false));
}

TEST(SmtpStarttls, ServerWithoutStarttlsGivesStarttlsError) {
  auto server = startPythonServer("smtp_starttls_server.py", {"--no-starttls"});
  ASSERT_TRUE(server->ok());
  auto report = scanJson({"smtp://127.0.0.1:" + std::to_string(server->port()), "--timeout", "2"},
                         milliseconds(20000));
  EXPECT_TRUE(report.value("reachable", false));
  EXPECT_FALSE(report.value("tls", true));
  bool found = false;
  for (const auto& e : report.value("errors", Json::array())) {
    if (e.value("stage", "") == "starttls") {
      found = true;
      EXPECT_THAT(e.value("message", ""), HasSubstr("STARTTLS"));
    }
  }
  EXPECT_TRUE(found) << "no error of stage starttls";
  // One plaintext dialogue shows STARTTLS is missing; there is nothing more to try.
  EXPECT_LE(report.value("connections", 0), 2);
}

// ---- f. SIP over TLS -------------------------------------------------------------------------

TEST(SipTls, OptionsAnswerRecorded) {
  const std::string agent = "Yealink SIP-T46S 66.85.0.5";
  const std::string server_header = "Asterisk PBX 18.10.0";
  auto server = startPythonServer("sip_tls_server.py",
                                  {"--cert", pki("rsa-chain.pem"), "--key", pki("rsa-leaf.key"),
                                   "--user-agent", agent, "--server-header", server_header});
  ASSERT_TRUE(server->ok());
  auto report = scanJson({"sips://127.0.0.1:" + std::to_string(server->port()), "--timeout", "2",
                          "--no-system-trust", "--ca-file", pki("rsa-root.crt")});
  EXPECT_EQ(report["target"].value("starttls", ""), "sip");
  EXPECT_TRUE(report.value("tls", false));
  EXPECT_EQ(jsonSupportedVersions(report), (std::set<std::string>{"TLS1_0", "TLS1_1", "TLS1_2"}));
  ASSERT_TRUE(report.contains("application"));
  const auto& app = report["application"];
  EXPECT_EQ(app.value("sipUserAgent", ""), agent);
  EXPECT_THAT(app.value("sipStatus", ""), StartsWith("SIP/2.0 200"));
  EXPECT_EQ(app.value("sipServer", ""), server_header);
  for (const auto& e : report.value("errors", Json::array())) {
    EXPECT_NE(e.value("stage", ""), "sip") << e.dump();
  }
}

// ---- g. tarpit ---------------------------------------------------------------------------------

TEST(Tarpit, OneConnectionOneTimeout) {
  auto server = startPythonServer("tarpit_server.py", {});
  ASSERT_TRUE(server->ok());
  const milliseconds timeout(2000);
  auto r = probe({.port = server->port(), .timeout = timeout, .limit = milliseconds(15000)});
  ASSERT_TRUE(r.finished);
  const auto& report = r.report;
  EXPECT_TRUE(report.reachable());
  EXPECT_FALSE(report.tls());
  EXPECT_TRUE(hasErrorKind(report, "timeout")) << errorsText(report);
  EXPECT_EQ(report.connections(), 1u);
  EXPECT_LE(report.duration_ms(), static_cast<uint64_t>(timeout.count() + 1000));
  EXPECT_LE(r.elapsed, timeout + milliseconds(1000));
}

TEST(Tarpit, BinaryExitsZeroWithinOneTimeout) {
  auto server = startPythonServer("tarpit_server.py", {});
  ASSERT_TRUE(server->ok());
  auto r = runTlsaudit({"scan", "127.0.0.1:" + std::to_string(server->port()), "--timeout", "2",
                        "--format", "json", "--no-progress"},
                       milliseconds(15000));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_LE(r.elapsed, milliseconds(3500));
  Json doc = Json::parse(r.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << r.out;
  ASSERT_EQ(doc["reports"].size(), 1u);
  const auto& report = doc["reports"][0];
  EXPECT_EQ(report.value("connections", 0), 1);
  bool timeout = false;
  for (const auto& e : report.value("errors", Json::array()))
    timeout |= e.value("kind", "") == "timeout";
  EXPECT_TRUE(timeout) << report.dump(1);
}

// ---- h. garbage responders ---------------------------------------------------------------------

class GarbageResponder : public ::testing::TestWithParam<std::string> {};

TEST_P(GarbageResponder, ErrorRecordedInBoundedTime) {
  const std::string mode = GetParam();
  auto server = startPythonServer("garbage_server.py", {"--mode", mode, "--seed", "7"});
  ASSERT_TRUE(server->ok());
  const milliseconds timeout(2000);
  // A broken peer may cost a few deadlines, never one per hello.
  const milliseconds bound = 3 * timeout;
  // In `reset` mode the RST races the completion of our connect: the connect either fails with
  // ECONNRESET or succeeds and every hello is reset. Both must leave an error on the report, so
  // the race is run a few times.
  const int rounds = mode == "reset" ? 3 : 1;
  for (int round = 0; round < rounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    auto r =
        probe({.port = server->port(), .timeout = timeout, .limit = bound + milliseconds(4000)});
    ASSERT_TRUE(r.finished) << "probe of a '" << mode << "' peer still running after "
                            << r.elapsed.count() << " ms (" << r.trace.size() << " connections)";
    EXPECT_LE(r.elapsed, bound);
    const auto& report = r.report;
    if (mode != "reset") {
      EXPECT_TRUE(report.reachable());
    }
    EXPECT_FALSE(report.tls());
    EXPECT_GT(report.errors_size(), 0) << "nothing recorded about a peer that answers '" << mode
                                       << "' (" << report.connections() << " connections)";
    EXPECT_TRUE(supportedVersions(report).empty());
    EXPECT_EQ(report.chains_size(), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, GarbageResponder,
                         ::testing::Values("random", "oversize-record", "huge-handshake", "reset",
                                           "http", "truncated", "slow-drip"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

// ---- i. the legacy responder ---------------------------------------------------------------

struct ExpectedSuite {
  uint32_t code;
  const char* name;  // IANA (TLS) or draft-hickman SSL 2.0 (SSLv2 kinds)
  bool export_grade;
};

// In the configured (server preference) order. IANA TLS Cipher Suites registry / RFC 2246.
const std::vector<ExpectedSuite> kLegacySuites = {
    {0x0003, "TLS_RSA_EXPORT_WITH_RC4_40_MD5", true},
    {0x0006, "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5", true},
    {0x0008, "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA", true},
    {0x0004, "TLS_RSA_WITH_RC4_128_MD5", false},
    {0x0005, "TLS_RSA_WITH_RC4_128_SHA", false},
    {0x0009, "TLS_RSA_WITH_DES_CBC_SHA", false},
    {0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA", false},
};
const char* kLegacySuiteList = "0x0003,0x0006,0x0008,0x0004,0x0005,0x0009,0x000A";

// draft-hickman-netscape-ssl-00, "Cipher Kind" values.
const std::vector<ExpectedSuite> kSsl2Kinds = {
    {0x020080, "SSL_CK_RC4_128_EXPORT40_WITH_MD5", true},
    {0x040080, "SSL_CK_RC2_128_CBC_EXPORT40_WITH_MD5", true},
    {0x060040, "SSL_CK_DES_64_CBC_WITH_MD5", false},
};
const char* kSsl2KindList = "0x020080,0x040080,0x060040";

std::vector<uint32_t> codes(const v1::VersionResult& v) {
  std::vector<uint32_t> out;
  for (const auto& s : v.cipher_suites()) out.push_back(s.code());
  return out;
}

template <typename F>
std::vector<uint32_t> expectedCodes(const std::vector<ExpectedSuite>& suites, F keep) {
  std::vector<uint32_t> out;
  for (const auto& s : suites) {
    if (keep(s)) out.push_back(s.code);
  }
  return out;
}

void expectSuitesAsConfigured(const v1::VersionResult& v,
                              const std::vector<ExpectedSuite>& expected, bool in_order) {
  auto all = [](const ExpectedSuite&) { return true; };
  if (in_order) {
    EXPECT_THAT(codes(v), ElementsAreArray(expectedCodes(expected, all)))
        << v1::TlsVersion_Name(v.version());
  } else {
    EXPECT_THAT(codes(v), UnorderedElementsAreArray(expectedCodes(expected, all)))
        << v1::TlsVersion_Name(v.version());
  }
  for (const auto& s : v.cipher_suites()) {
    for (const auto& e : expected) {
      if (e.code != s.code()) continue;
      EXPECT_EQ(s.name(), e.name);
      EXPECT_EQ(s.export_(), e.export_grade) << s.name();
      EXPECT_FALSE(s.forward_secret()) << s.name();
      if (e.export_grade) {
        EXPECT_EQ(s.bits(), 40u) << s.name();
      }
    }
  }
}

TEST(LegacyResponder, Ssl2Ssl3Tls10ExportSuitesInServerOrder) {
  auto server = startPythonServer(
      "legacy_tls_server.py", {"--chain", pki("md5-chain.pem"), "--versions", "ssl2,ssl3,tls1.0",
                               "--ciphers", kLegacySuiteList, "--ssl2-ciphers", kSsl2KindList});
  ASSERT_TRUE(server->ok());
  auto r = probe({.port = server->port(), .ca_files = {"md5-root.crt"}});
  ASSERT_TRUE(r.finished);
  const auto& report = r.report;
  EXPECT_EQ(supportedVersions(report), (std::set<v1::TlsVersion>{v1::SSL2, v1::SSL3, v1::TLS1_0}));

  const auto* ssl2 = findVersion(report, v1::SSL2);
  ASSERT_NE(ssl2, nullptr);
  expectSuitesAsConfigured(*ssl2, kSsl2Kinds, false);

  for (auto version : {v1::SSL3, v1::TLS1_0}) {
    const auto* v = findVersion(report, version);
    ASSERT_NE(v, nullptr) << v1::TlsVersion_Name(version);
    expectSuitesAsConfigured(*v, kLegacySuites, true);
    EXPECT_EQ(v->cipher_order(), v1::CIPHER_ORDER_SERVER) << v1::TlsVersion_Name(version);
    EXPECT_TRUE(v->server_preference());
    EXPECT_FALSE(v->client_auth().requested());
  }
  ASSERT_EQ(report.chains_size(), 1);
  const auto& chain = report.chains(0);
  EXPECT_TRUE(chain.trusted()) << chain.validation_error();
  EXPECT_THAT(versionList(chain.versions()), ::testing::IsSupersetOf({v1::SSL3, v1::TLS1_0}));
  ASSERT_GE(chain.certificates_size(), 1);
  EXPECT_EQ(chain.certificates(0).signature_hash(), "MD5");
  // The responder answers neither renegotiation_info nor TLS_FALLBACK_SCSV.
  EXPECT_FALSE(report.extensions().secure_renegotiation());
  EXPECT_EQ(report.extensions().fallback_scsv(), v1::SUPPORT_NO);
}

// A device whose stack drops any ClientHello above 200 bytes (no alert): the scanner must shrink
// its hellos until the device answers, still find every suite, and say what it could not test.
TEST(LegacyResponder, FragileStackGetsSmallerHellosAndFullResults) {
  auto server = startPythonServer("legacy_tls_server.py",
                                  {"--chain", pki("md5-chain.pem"), "--versions", "ssl3,tls1.0",
                                   "--ciphers", kLegacySuiteList, "--max-hello-bytes", "200"});
  ASSERT_TRUE(server->ok());
  auto r = probe({.port = server->port(), .ca_files = {"md5-root.crt"}});
  ASSERT_TRUE(r.finished);
  EXPECT_EQ(supportedVersions(r.report), (std::set<v1::TlsVersion>{v1::SSL3, v1::TLS1_0}));
  for (auto version : {v1::SSL3, v1::TLS1_0}) {
    const auto* v = findVersion(r.report, version);
    ASSERT_NE(v, nullptr) << v1::TlsVersion_Name(version);
    expectSuitesAsConfigured(*v, kLegacySuites, true);
    EXPECT_EQ(v->cipher_order(), v1::CIPHER_ORDER_SERVER);
  }
  EXPECT_TRUE(hasErrorKind(r.report, "fragile")) << errorsText(r.report);
  EXPECT_LT(r.report.connections(), 150u);
}

TEST(LegacyResponder, ClientOrder) {
  auto server = startPythonServer("legacy_tls_server.py",
                                  {"--chain", pki("md5-chain.pem"), "--versions", "ssl3,tls1.0",
                                   "--ciphers", kLegacySuiteList, "--client-order"});
  ASSERT_TRUE(server->ok());
  auto r = probe({.port = server->port(), .ca_files = {"md5-root.crt"}});
  ASSERT_TRUE(r.finished);
  EXPECT_EQ(supportedVersions(r.report), (std::set<v1::TlsVersion>{v1::SSL3, v1::TLS1_0}));
  for (auto version : {v1::SSL3, v1::TLS1_0}) {
    const auto* v = findVersion(r.report, version);
    ASSERT_NE(v, nullptr);
    expectSuitesAsConfigured(*v, kLegacySuites, false);
    EXPECT_EQ(v->cipher_order(), v1::CIPHER_ORDER_CLIENT) << v1::TlsVersion_Name(version);
    EXPECT_FALSE(v->server_preference());
  }
}

TEST(LegacyResponder, Tls12ClientAuthWithMd5AndSha1SignatureAlgorithms) {
  auto server = startPythonServer(
      "legacy_tls_server.py", {"--chain", pki("md5-chain.pem"), "--versions", "tls1.2", "--ciphers",
                               "0x002F,0x0035,0x000A", "--client-auth", "--client-sigalgs",
                               "0x0101,0x0201", "--client-ca", pki("clientca-root.crt")});
  ASSERT_TRUE(server->ok());
  auto r = probe({.port = server->port(), .ca_files = {"md5-root.crt"}});
  ASSERT_TRUE(r.finished);
  EXPECT_EQ(supportedVersions(r.report), std::set<v1::TlsVersion>{v1::TLS1_2});
  const auto* tls12 = findVersion(r.report, v1::TLS1_2);
  ASSERT_NE(tls12, nullptr);
  const auto& ca = tls12->client_auth();
  EXPECT_TRUE(ca.requested());
  // RFC 5246 §7.4.1.4.1: hash md5(1)/sha1(2), signature rsa(1).
  EXPECT_THAT(
      std::vector<std::string>(ca.signature_algorithms().begin(), ca.signature_algorithms().end()),
      ElementsAreArray({"rsa_pkcs1_md5", "rsa_pkcs1_sha1"}));
  EXPECT_THAT(std::vector<std::string>(ca.ca_names().begin(), ca.ca_names().end()),
              ElementsAreArray({certificateSubject(pki("clientca-root.crt"))}));
  // --client-cert-types default 1,2,64 (RFC 5246 §7.4.4, RFC 8422 §5.5).
  EXPECT_THAT(
      std::vector<std::string>(ca.certificate_types().begin(), ca.certificate_types().end()),
      ElementsAreArray({"rsa_sign", "dss_sign", "ecdsa_sign"}));
  EXPECT_TRUE(r.report.client_auth().requested());
  EXPECT_EQ(r.report.client_auth().version(), v1::TLS1_2);
}

TEST(LegacyResponder, SecureRenegotiationAndFallbackScsv) {
  auto server =
      startPythonServer("legacy_tls_server.py", {"--chain", pki("md5-chain.pem"), "--versions",
                                                 "ssl3,tls1.0,tls1.1", "--ciphers", "0x002F,0x000A",
                                                 "--secure-renegotiation", "--fallback-scsv"});
  ASSERT_TRUE(server->ok());
  auto r = probe({.port = server->port(), .ca_files = {"md5-root.crt"}});
  ASSERT_TRUE(r.finished);
  EXPECT_EQ(supportedVersions(r.report),
            (std::set<v1::TlsVersion>{v1::SSL3, v1::TLS1_0, v1::TLS1_1}));
  EXPECT_TRUE(r.report.extensions().secure_renegotiation());
  EXPECT_EQ(r.report.extensions().fallback_scsv(), v1::SUPPORT_YES);
}

// The same responder on ::1, named by the binary's [v6]:port form.
TEST(LegacyResponder, Ipv6Loopback) {
  auto server = startPythonServer(
      "legacy_tls_server.py",
      {"--chain", pki("md5-chain.pem"), "--versions", "tls1.0", "--ciphers", "0x002F,0x000A"},
      "::1");
  ASSERT_TRUE(server->ok());
  auto report = scanJson({"[::1]:" + std::to_string(server->port()), "--timeout", "2"});
  EXPECT_EQ(report["target"].value("ip", ""), "::1");
  EXPECT_EQ(report["target"].value("port", 0), server->port());
  EXPECT_EQ(jsonSupportedVersions(report), std::set<std::string>{"TLS1_0"});
  std::set<std::string> names;
  for (const auto& v : report.value("versions", Json::array())) {
    if (v.value("version", "") != "TLS1_0") continue;
    for (const auto& s : v.value("cipherSuites", Json::array())) names.insert(s.value("name", ""));
  }
  EXPECT_EQ(names, (std::set<std::string>{"TLS_RSA_WITH_AES_128_CBC_SHA",
                                          "TLS_RSA_WITH_3DES_EDE_CBC_SHA"}));
}

}  // namespace
}  // namespace tlsaudit::itest
