// The STARTTLS dialogues other than SMTP (python_server_test.cpp): IMAP, POP3, FTP, XMPP and
// LDAP against servers/starttls_server.py, and PostgreSQL against a real `postgres` started by
// the test. Expected facts come from each server's configuration and are cross-checked with
// `openssl s_client -starttls`.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tests/integration/harness.h"

namespace tlsaudit::itest {
namespace {

namespace fs = std::filesystem;
using collectors::tls::StarttlsProtocol;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

// Two TLS 1.2 suites and nothing else keep every scan down to a few dozen connections. The
// names are OpenSSL's; the IANA names a report uses are looked up in `openssl ciphers`.
constexpr const char* kEcdheSuite = "ECDHE-RSA-AES128-GCM-SHA256";
constexpr const char* kRsaSuite = "AES256-SHA";
const milliseconds kTimeout(2000);

std::string ianaName(const std::string& openssl_name) {
  const OpensslSuite* suite = opensslSuiteByName(openssl_name);
  return suite ? suite->iana : "(unknown to openssl: " + openssl_name + ")";
}

std::vector<const v1::ProbeError*> starttlsErrors(const v1::TlsReport& report) {
  std::vector<const v1::ProbeError*> out;
  for (const auto& e : report.errors()) {
    if (e.stage() == "starttls") out.push_back(&e);
  }
  return out;
}

// ---- the Python dialogues ----------------------------------------------------------------------

struct Dialogue {
  std::string name;  // starttls_server.py --protocol, openssl s_client -starttls
  StarttlsProtocol protocol;
  // Options naming the server (--banner TEXT, or --domain NAME for XMPP) ...
  std::vector<std::string> naming;
  // ... and what the report's banner must then look like (LDAP has none: it speaks BER).
  ::testing::Matcher<const std::string&> banner;
};

void PrintTo(const Dialogue& d, std::ostream* os) { *os << d.name; }

std::vector<std::string> sClientStarttls(const Dialogue& d) {
  std::vector<std::string> args = {"-starttls", d.name};
  // s_client sends to='<-connect host>' unless told the XMPP domain.
  if (d.protocol == StarttlsProtocol::kXmpp) args.insert(args.end(), {"-xmpphost", d.naming[1]});
  return args;
}

const std::vector<Dialogue>& dialogues() {
  static const std::vector<Dialogue> all = {
      {"imap",
       StarttlsProtocol::kImap,
       {"--banner", "mail.example.test Dovecot (Debian) ready."},
       // RFC 3501 §7.1.1: an untagged OK with the capabilities as response code.
       ::testing::AllOf(StartsWith("* OK [CAPABILITY IMAP4rev1 "), HasSubstr(" STARTTLS "),
                        ::testing::EndsWith("] mail.example.test Dovecot (Debian) ready."))},
      {"pop3",
       StarttlsProtocol::kPop3,
       {"--banner", "Dovecot (Debian) ready."},
       ::testing::Eq("+OK Dovecot (Debian) ready.")},
      {"ftp",
       StarttlsProtocol::kFtp,
       {"--banner", "(vsFTPd 3.0.3)"},
       ::testing::Eq("220 (vsFTPd 3.0.3)")},
      {"xmpp",
       StarttlsProtocol::kXmpp,
       {"--domain", "chat.example.test"},
       // The server's stream header (RFC 6120 §4.7.1) is the XMPP greeting.
       ::testing::AllOf(StartsWith("<stream:stream "), HasSubstr("from='chat.example.test'"))},
      {"ldap", StarttlsProtocol::kLdap, {}, IsEmpty()},
  };
  return all;
}

std::unique_ptr<Server> startDialogueServer(const Dialogue& d,
                                            const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"--protocol", d.name};
  args.insert(args.end(), d.naming.begin(), d.naming.end());
  args.insert(args.end(), extra.begin(), extra.end());
  return startPythonServer("starttls_server.py", args);
}

class StarttlsUpgrade : public ::testing::TestWithParam<Dialogue> {};

TEST_P(StarttlsUpgrade, VersionsSuitesLeafAndBanner) {
  const Dialogue& d = GetParam();
  auto server = startDialogueServer(
      d, {"--cert", pki("rsa-chain.pem"), "--key", pki("rsa-leaf.key"), "--min-version", "TLSv1_2",
          "--max-version", "TLSv1_2", "--ciphers", std::string(kEcdheSuite) + ":" + kRsaSuite});
  ASSERT_TRUE(server->ok());

  // What openssl's own client sees through the same dialogue.
  auto with = [&](std::vector<std::string> more) {
    auto args = sClientStarttls(d);
    args.insert(args.end(), more.begin(), more.end());
    return args;
  };
  auto tls12 = sClient(server->port(), with({"-tls1_2"}));
  EXPECT_EQ(tls12.exit_code, 0) << tls12.out << tls12.err;
  EXPECT_EQ(sClientCipher(tls12), kEcdheSuite) << tls12.out;
  EXPECT_EQ(sClientCipher(sClient(server->port(), with({"-tls1_2", "-cipher", kRsaSuite}))),
            kRsaSuite);
  EXPECT_FALSE(sClientConnects(server->port(), with({"-tls1_3"})));
  EXPECT_FALSE(sClientConnects(server->port(), with({"-tls1_1", "-cipher", "ALL:@SECLEVEL=0"})));

  auto r = probe({.port = server->port(),
                  .starttls = d.protocol,
                  .timeout = kTimeout,
                  .ca_files = {"rsa-root.crt"},
                  .limit = milliseconds(30000)});
  ASSERT_TRUE(r.finished);
  const auto& report = r.report;
  EXPECT_EQ(report.target().starttls(), d.name);
  EXPECT_TRUE(report.tls()) << errorsText(report);
  EXPECT_THAT(starttlsErrors(report), IsEmpty()) << errorsText(report);
  EXPECT_EQ(supportedVersions(report), (std::set<v1::TlsVersion>{v1::TLS1_2}));
  const auto* tls12_result = findVersion(report, v1::TLS1_2);
  ASSERT_NE(tls12_result, nullptr);
  EXPECT_EQ(suiteNameSet(*tls12_result),
            (std::set<std::string>{ianaName(kEcdheSuite), ianaName(kRsaSuite)}));
  ASSERT_EQ(report.chains_size(), 1);
  const auto& chain = report.chains(0);
  ASSERT_GE(chain.certificates_size(), 1);
  EXPECT_EQ(chain.certificates(0).subject(), certificateSubject(pki("rsa-leaf.crt")));
  EXPECT_TRUE(chain.trusted()) << chain.validation_error();
  EXPECT_THAT(report.application().banner(), d.banner);
}

INSTANTIATE_TEST_SUITE_P(Starttls, StarttlsUpgrade, ::testing::ValuesIn(dialogues()),
                         [](const auto& info) { return info.param.name; });

// ---- refusals: one plaintext dialogue, one error, no timeout
// -------------------------------------

struct Refusal {
  std::string name;  // test name
  Dialogue dialogue;
  std::string mode;  // --refuse or --no-starttls
  // What the server said, as the report's error must quote it.
  std::vector<std::string> message_parts;
};

void PrintTo(const Refusal& r, std::ostream* os) { *os << r.name; }

const Dialogue& dialogueNamed(const std::string& name) {
  for (const auto& d : dialogues()) {
    if (d.name == name) return d;
  }
  static const Dialogue smtp = {"smtp",
                                StarttlsProtocol::kSmtp,
                                {"--banner", "mx.example.test ESMTP Postfix"},
                                ::testing::Eq("220 mx.example.test ESMTP Postfix")};
  return smtp;
}

class StarttlsRefusal : public ::testing::TestWithParam<Refusal> {};

TEST_P(StarttlsRefusal, OneConnectionStarttlsError) {
  const Refusal& p = GetParam();
  auto server = startDialogueServer(p.dialogue, {p.mode});
  ASSERT_TRUE(server->ok());
  auto r = probe({.port = server->port(),
                  .starttls = p.dialogue.protocol,
                  .timeout = kTimeout,
                  .limit = milliseconds(15000)});
  ASSERT_TRUE(r.finished);
  const auto& report = r.report;
  EXPECT_TRUE(report.reachable());
  EXPECT_FALSE(report.tls());
  auto errors = starttlsErrors(report);
  ASSERT_EQ(errors.size(), 1u) << errorsText(report);
  EXPECT_EQ(errors[0]->kind(), "protocol");
  EXPECT_THAT(errors[0]->message(), StartsWith(p.dialogue.name + ": "));
  for (const auto& part : p.message_parts) EXPECT_THAT(errors[0]->message(), HasSubstr(part));
  // A refusal is final: no second connection, no waiting for a timeout.
  EXPECT_EQ(report.connections(), 1u);
  EXPECT_LT(r.elapsed, kTimeout);
  EXPECT_THAT(supportedVersions(report), IsEmpty());
  EXPECT_EQ(report.chains_size(), 0);
  // The greeting is kept even though the upgrade failed.
  EXPECT_THAT(report.application().banner(), p.dialogue.banner);
}

INSTANTIATE_TEST_SUITE_P(
    Starttls, StarttlsRefusal,
    ::testing::Values(
        // RFC 3207 §4: 454 TLS not available.
        Refusal{"smtp", dialogueNamed("smtp"), "--refuse", {"STARTTLS refused", "454 4.7.0"}},
        Refusal{"imap", dialogueNamed("imap"), "--refuse", {"STARTTLS refused", "a001 NO"}},
        Refusal{"pop3", dialogueNamed("pop3"), "--refuse", {"STLS refused", "-ERR"}},
        // RFC 4217 §4: 534 request denied for policy reasons.
        Refusal{"ftp", dialogueNamed("ftp"), "--refuse", {"AUTH TLS refused", "534"}},
        // RFC 6120 §5.4.2.2.
        Refusal{"xmpp", dialogueNamed("xmpp"), "--refuse", {"STARTTLS refused", "failure"}},
        // RFC 6120 §5.3.1: no <starttls/> among the stream features.
        Refusal{"xmpp_not_offered",
                dialogueNamed("xmpp"),
                "--no-starttls",
                {"does not offer STARTTLS"}},
        // RFC 4511 §4.1.9: resultCode 2 is protocolError; the diagnosticMessage is quoted.
        Refusal{"ldap",
                dialogueNamed("ldap"),
                "--refuse",
                {"StartTLS refused", "resultCode 2 (protocolError)", "StartTLS refused\""}}),
    [](const auto& info) { return info.param.name; });

// s_client checks the LDAP resultCode itself (unlike the line protocols, where it starts TLS
// whatever the server answered), so it cross-checks the server's BER encoding.
TEST(StarttlsLdap, OpensslClientReadsTheRefusal) {
  auto server = startDialogueServer(dialogueNamed("ldap"), {"--refuse"});
  ASSERT_TRUE(server->ok());
  auto r = sClient(server->port(), {"-starttls", "ldap"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out + r.err, HasSubstr("STARTTLS failed, LDAP Result Code: 2"));
}

// ---- PostgreSQL (PostgresCluster: harness.h) ---------------------------------------------

TEST(StarttlsPostgres, Tls12And13WithTheRsaLeaf) {
  SKIP_WITHOUT_POSTGRES();
  // ssl_min_protocol_version is PostgreSQL's default since 14, spelled out so the expectation
  // follows from this configuration; TLS 1.3 suites are not configurable in PostgreSQL 15.
  PostgresCluster pg(
      PostgresCluster::Settings{{"ssl", "on"},
                                {"ssl_min_protocol_version", "'TLSv1.2'"},
                                {"ssl_ciphers", std::string("'") + kEcdheSuite + "'"}});
  ASSERT_TRUE(pg.ok());

  EXPECT_TRUE(sClientConnects(pg.port(), {"-starttls", "postgres", "-tls1_2"}));
  EXPECT_TRUE(sClientConnects(pg.port(), {"-starttls", "postgres", "-tls1_3"}));
  EXPECT_FALSE(sClientConnects(pg.port(),
                               {"-starttls", "postgres", "-tls1_1", "-cipher", "ALL:@SECLEVEL=0"}));

  auto r = probe({.port = pg.port(),
                  .starttls = StarttlsProtocol::kPostgres,
                  .timeout = kTimeout,
                  .ca_files = {"rsa-root.crt"},
                  .limit = milliseconds(30000)});
  ASSERT_TRUE(r.finished);
  const auto& report = r.report;
  EXPECT_EQ(report.target().starttls(), "postgres");
  EXPECT_TRUE(report.tls()) << errorsText(report);
  EXPECT_THAT(starttlsErrors(report), IsEmpty()) << errorsText(report);
  EXPECT_EQ(supportedVersions(report), (std::set<v1::TlsVersion>{v1::TLS1_2, v1::TLS1_3}));
  const auto* tls12 = findVersion(report, v1::TLS1_2);
  ASSERT_NE(tls12, nullptr);
  EXPECT_EQ(suiteNameSet(*tls12), (std::set<std::string>{ianaName(kEcdheSuite)}));
  ASSERT_GE(report.chains_size(), 1);
  const auto& chain = report.chains(0);
  ASSERT_GE(chain.certificates_size(), 1);
  EXPECT_EQ(chain.certificates(0).subject(), certificateSubject(pki("rsa-leaf.crt")));
  EXPECT_TRUE(chain.trusted()) << chain.validation_error();
}

TEST(StarttlsPostgres, SslOffIsAStarttlsErrorOnTheReport) {
  SKIP_WITHOUT_POSTGRES();
  PostgresCluster pg(PostgresCluster::Settings{{"ssl", "off"}});
  ASSERT_TRUE(pg.ok());
  // s_client gets 'N' to its SSLRequest and gives up before any handshake.
  EXPECT_FALSE(sClientConnects(pg.port(), {"-starttls", "postgres"}));

  auto run = runTlsaudit({"scan", "postgres://127.0.0.1:" + std::to_string(pg.port()), "--timeout",
                          "2", "--format", "json", "--no-progress"},
                         milliseconds(15000));
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_LT(run.elapsed, kTimeout);
  auto doc = nlohmann::json::parse(run.out, nullptr, false);
  ASSERT_TRUE(!doc.is_discarded() && doc.contains("reports") && doc["reports"].size() == 1)
      << run.out;
  const auto& report = doc["reports"][0];
  EXPECT_EQ(report["target"].value("starttls", ""), "postgres");
  EXPECT_TRUE(report.value("reachable", false));
  EXPECT_FALSE(report.value("tls", true));
  EXPECT_EQ(report.value("connections", 0), 1);
  std::vector<std::string> messages;
  for (const auto& e : report.value("errors", nlohmann::json::array())) {
    if (e.value("stage", "") == "starttls") messages.push_back(e.value("message", ""));
  }
  ASSERT_EQ(messages.size(), 1u) << report.dump(2);
  EXPECT_THAT(messages[0], HasSubstr("server refuses SSL"));
}

}  // namespace
}  // namespace tlsaudit::itest
