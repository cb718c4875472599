#include "collectors/tls/starttls.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace tlsaudit::collectors::tls {
namespace {

using Kind = StarttlsDialogue::Step::Kind;

std::span<const uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string text(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }

struct Outcome {
  Kind kind = Kind::kNeedMore;
  std::string error;
  std::vector<std::string> sent;
  std::string banner;
};

// Plays `server` against a dialogue in chunks of `chunk` bytes (0: all at once). After kSend it
// polls with no new data, as a caller that has sent the bytes would find the rest buffered.
Outcome play(StarttlsProtocol protocol, std::string_view server, size_t chunk,
             std::string server_name = "example.org", std::string client_name = "") {
  StarttlsDialogue dialogue(protocol, std::move(server_name),
                            client_name.empty() ? "tlsaudit.invalid" : client_name);
  Outcome out;
  StarttlsDialogue::Step step = dialogue.start();
  size_t offset = 0;
  while (true) {
    if (step.kind == Kind::kSend) {
      out.sent.push_back(text(step.to_send));
      step = dialogue.onData({});
      continue;
    }
    if (step.kind != Kind::kNeedMore || offset >= server.size()) break;
    size_t n = chunk == 0 ? server.size() : std::min(chunk, server.size() - offset);
    step = dialogue.onData(bytes(server.substr(offset, n)));
    offset += n;
  }
  out.kind = step.kind;
  out.error = step.error;
  out.banner = dialogue.banner();
  return out;
}

// Runs the transcript whole, byte by byte and in 7-byte chunks; all three must agree.
Outcome playAllWays(StarttlsProtocol protocol, std::string_view server,
                    std::string server_name = "example.org") {
  Outcome whole = play(protocol, server, 0, server_name);
  for (size_t chunk : {size_t{1}, size_t{7}}) {
    Outcome split = play(protocol, server, chunk, server_name);
    EXPECT_EQ(split.kind, whole.kind) << "chunk " << chunk;
    EXPECT_EQ(split.error, whole.error) << "chunk " << chunk;
    EXPECT_EQ(split.sent, whole.sent) << "chunk " << chunk;
    EXPECT_EQ(split.banner, whole.banner) << "chunk " << chunk;
  }
  return whole;
}

// ---------------------------------------------------------------------------------------------
// Names and ports

TEST(StarttlsNames, ParseAndName) {
  EXPECT_EQ(parseStarttlsProtocol(""), StarttlsProtocol::kNone);
  EXPECT_EQ(parseStarttlsProtocol("none"), StarttlsProtocol::kNone);
  EXPECT_EQ(parseStarttlsProtocol("smtp"), StarttlsProtocol::kSmtp);
  EXPECT_EQ(parseStarttlsProtocol("IMAP"), StarttlsProtocol::kImap);
  EXPECT_EQ(parseStarttlsProtocol("pop3"), StarttlsProtocol::kPop3);
  EXPECT_EQ(parseStarttlsProtocol("ftp"), StarttlsProtocol::kFtp);
  EXPECT_EQ(parseStarttlsProtocol("ldap"), StarttlsProtocol::kLdap);
  EXPECT_EQ(parseStarttlsProtocol("xmpp"), StarttlsProtocol::kXmpp);
  EXPECT_EQ(parseStarttlsProtocol("postgres"), StarttlsProtocol::kPostgres);
  EXPECT_EQ(parseStarttlsProtocol("gopher"), std::nullopt);
  EXPECT_EQ(parseStarttlsProtocol("smtp "), std::nullopt);
  for (auto p : {StarttlsProtocol::kNone, StarttlsProtocol::kSmtp, StarttlsProtocol::kImap,
                 StarttlsProtocol::kPop3, StarttlsProtocol::kFtp, StarttlsProtocol::kLdap,
                 StarttlsProtocol::kXmpp, StarttlsProtocol::kPostgres}) {
    EXPECT_EQ(parseStarttlsProtocol(starttlsName(p)), p) << starttlsName(p);
  }
}

TEST(StarttlsNames, Ports) {
  EXPECT_EQ(starttlsForPort(25), StarttlsProtocol::kSmtp);
  EXPECT_EQ(starttlsForPort(587), StarttlsProtocol::kSmtp);
  EXPECT_EQ(starttlsForPort(143), StarttlsProtocol::kImap);
  EXPECT_EQ(starttlsForPort(110), StarttlsProtocol::kPop3);
  EXPECT_EQ(starttlsForPort(21), StarttlsProtocol::kFtp);
  EXPECT_EQ(starttlsForPort(389), StarttlsProtocol::kLdap);
  EXPECT_EQ(starttlsForPort(5222), StarttlsProtocol::kXmpp);
  EXPECT_EQ(starttlsForPort(5269), StarttlsProtocol::kXmpp);
  EXPECT_EQ(starttlsForPort(5432), StarttlsProtocol::kPostgres);
  EXPECT_EQ(starttlsForPort(443), StarttlsProtocol::kNone);
  EXPECT_EQ(starttlsForPort(465), StarttlsProtocol::kNone);
  EXPECT_EQ(starttlsForPort(993), StarttlsProtocol::kNone);
  EXPECT_EQ(starttlsForPort(995), StarttlsProtocol::kNone);
}

// ---------------------------------------------------------------------------------------------
// Common behaviour

TEST(Starttls, NoneIsReadyAtOnce) {
  StarttlsDialogue dialogue(StarttlsProtocol::kNone, "example.org");
  EXPECT_EQ(dialogue.start().kind, Kind::kReady);
  auto step = dialogue.onData(bytes("anything"));
  EXPECT_EQ(step.kind, Kind::kFailed);
  EXPECT_EQ(step.error, "dialogue finished");
}

TEST(Starttls, DataBeforeStartFails) {
  StarttlsDialogue dialogue(StarttlsProtocol::kSmtp, "example.org");
  EXPECT_EQ(dialogue.onData(bytes("220 hi\r\n")).kind, Kind::kFailed);
}

TEST(Starttls, FinishedDialogueStaysFinished) {
  StarttlsDialogue dialogue(StarttlsProtocol::kPostgres, "example.org");
  ASSERT_EQ(dialogue.start().kind, Kind::kSend);
  ASSERT_EQ(dialogue.onData(bytes("N")).kind, Kind::kFailed);
  auto step = dialogue.onData(bytes("S"));
  EXPECT_EQ(step.kind, Kind::kFailed);
  EXPECT_EQ(step.error, "dialogue finished");
  EXPECT_EQ(dialogue.onData({}).error, "dialogue finished");
}

TEST(Starttls, OversizeInOneChunkFailsForEveryProtocol) {
  std::string flood(StarttlsDialogue::kMaxServerBytes + 1, ' ');
  for (auto p : {StarttlsProtocol::kSmtp, StarttlsProtocol::kImap, StarttlsProtocol::kPop3,
                 StarttlsProtocol::kFtp, StarttlsProtocol::kLdap, StarttlsProtocol::kXmpp,
                 StarttlsProtocol::kPostgres}) {
    StarttlsDialogue dialogue(p, "example.org");
    dialogue.start();
    auto step = dialogue.onData(bytes(flood));
    EXPECT_EQ(step.kind, Kind::kFailed) << starttlsName(p);
    EXPECT_EQ(step.error, "server sent more than 65536 bytes during STARTTLS") << starttlsName(p);
  }
}

TEST(Starttls, OversizeAcrossChunksFails) {
  // Well-formed continuation lines that never end: only the total cap stops them.
  std::string greeting;
  while (greeting.size() <= StarttlsDialogue::kMaxServerBytes) greeting += "220-still talking\r\n";
  for (size_t chunk : {size_t{0}, size_t{1}, size_t{1000}}) {
    Outcome out = play(StarttlsProtocol::kSmtp, greeting, chunk);
    EXPECT_EQ(out.kind, Kind::kFailed);
    EXPECT_EQ(out.error, "server sent more than 65536 bytes during STARTTLS");
  }
  std::string whitespace(StarttlsDialogue::kMaxServerBytes + 1, ' ');
  Outcome xmpp = play(StarttlsProtocol::kXmpp, whitespace, 1);
  EXPECT_EQ(xmpp.error, "server sent more than 65536 bytes during STARTTLS");
}

TEST(Starttls, OverlongLineFails) {
  std::string line = "220 " + std::string(5000, 'a') + "\r\n";
  for (auto p : {StarttlsProtocol::kSmtp, StarttlsProtocol::kImap, StarttlsProtocol::kPop3,
                 StarttlsProtocol::kFtp}) {
    Outcome out = playAllWays(p, line);
    EXPECT_EQ(out.kind, Kind::kFailed) << starttlsName(p);
    EXPECT_EQ(out.error, "server sent a line longer than 4096 bytes") << starttlsName(p);
  }
  // Unterminated: caught without waiting for the line feed.
  Outcome out = play(StarttlsProtocol::kSmtp, std::string(4098, 'a'), 1);
  EXPECT_EQ(out.kind, Kind::kFailed);
}

TEST(Starttls, LineOfExactlyTheLimitIsAccepted) {
  std::string greeting = "220 " + std::string(4092, 'a') + "\r\n";
  Outcome out = playAllWays(StarttlsProtocol::kSmtp, greeting);
  EXPECT_EQ(out.kind, Kind::kNeedMore);
  EXPECT_EQ(out.sent.size(), 1u);
}

TEST(Starttls, BannerIsSanitisedAndCapped) {
  Outcome out = play(StarttlsProtocol::kSmtp, "220 \x1b[31mevil\x07\tok\r\n", 0);
  EXPECT_EQ(out.banner, "220 ?[31mevil? ok");
  Outcome longer = play(StarttlsProtocol::kSmtp, "220 " + std::string(1000, 'x') + "\r\n", 0);
  EXPECT_EQ(longer.banner.size(), 200u);
}

// ---------------------------------------------------------------------------------------------
// SMTP (RFC 3207)

constexpr std::string_view kSmtpOk =
    "220-mail.example.org ESMTP Postfix (Debian/GNU)\r\n"
    "220 no UCE\r\n"
    "250-mail.example.org\r\n"
    "250-PIPELINING\r\n"
    "250-SIZE 10240000\r\n"
    "250-VRFY\r\n"
    "250-ETRN\r\n"
    "250-starttls\r\n"
    "250-ENHANCEDSTATUSCODES\r\n"
    "250-8BITMIME\r\n"
    "250 DSN\r\n"
    "220 2.0.0 Ready to start TLS\r\n";

TEST(StarttlsSmtp, FullTranscript) {
  Outcome out = playAllWays(StarttlsProtocol::kSmtp, kSmtpOk);
  EXPECT_EQ(out.kind, Kind::kReady) << out.error;
  EXPECT_EQ(out.sent, (std::vector<std::string>{"EHLO tlsaudit.invalid\r\n", "STARTTLS\r\n"}));
  EXPECT_EQ(out.banner, "220-mail.example.org ESMTP Postfix (Debian/GNU)");
}

TEST(StarttlsSmtp, StepByStep) {
  StarttlsDialogue dialogue(StarttlsProtocol::kSmtp, "mx.example.org", "scanner.example.net");
  EXPECT_EQ(dialogue.start().kind, Kind::kNeedMore);
  EXPECT_EQ(dialogue.onData(bytes("220 mx ESMTP")).kind, Kind::kNeedMore);
  auto step = dialogue.onData(bytes("\r\n"));
  ASSERT_EQ(step.kind, Kind::kSend);
  EXPECT_EQ(text(step.to_send), "EHLO scanner.example.net\r\n");
  EXPECT_EQ(dialogue.onData({}).kind, Kind::kNeedMore);
  step = dialogue.onData(bytes("250-mx\r\n250 STARTTLS\r\n"));
  ASSERT_EQ(step.kind, Kind::kSend);
  EXPECT_EQ(text(step.to_send), "STARTTLS\r\n");
  EXPECT_EQ(dialogue.onData(bytes("220 go ahead\r\n")).kind, Kind::kReady);
  EXPECT_EQ(dialogue.banner(), "220 mx ESMTP");
}

TEST(StarttlsSmtp, LineFeedOnlyAndBareCodes) {
  Outcome out = playAllWays(StarttlsProtocol::kSmtp, "220\n250-mx\n250 STARTTLS\n220\n");
  EXPECT_EQ(out.kind, Kind::kReady) << out.error;
}

TEST(StarttlsSmtp, ClientNameCannotInjectCommands) {
  Outcome out = play(StarttlsProtocol::kSmtp, "220 hi\r\n", 0, "example.org", "a b\r\nQUIT");
  ASSERT_EQ(out.sent.size(), 1u);
  EXPECT_EQ(out.sent[0], "EHLO abQUIT\r\n");
}

TEST(StarttlsSmtp, GreetingRefused) {
  Outcome out = playAllWays(StarttlsProtocol::kSmtp, "554-mx.example.org\r\n554 go away\r\n");
  EXPECT_EQ(out.kind, Kind::kFailed);
  EXPECT_EQ(out.error, "SMTP greeting refuses service: 554 mx.example.org go away");
  EXPECT_TRUE(out.sent.empty());
}

TEST(StarttlsSmtp, NoStarttlsCapability) {
  Outcome out = playAllWays(StarttlsProtocol::kSmtp,
                            "220 mx\r\n250-mx\r\n250-SIZE 1000\r\n250-XSTARTTLS\r\n250 DSN\r\n");
  EXPECT_EQ(out.kind, Kind::kFailed);
  EXPECT_EQ(out.error, "server does not offer STARTTLS");
  EXPECT_EQ(out.sent.size(), 1u);
}

TEST(StarttlsSmtp, EhloRefused) {
  Outcome out = playAllWays(StarttlsProtocol::kSmtp,
                            "220 mx\r\n502 5.5.2 Error: command not "
                            "recognized\r\n");
  EXPECT_EQ(out.kind, Kind::kFailed);
  EXPECT_EQ(out.error, "EHLO refused: 502 5.5.2 Error: command not recognized");
}

TEST(StarttlsSmtp, StarttlsRefused) {
  Outcome out = playAllWays(StarttlsProtocol::kSmtp,
                            "220 mx\r\n250-mx\r\n250 STARTTLS\r\n454 4.7.0 TLS not available due "
                            "to local problem\r\n");
  EXPECT_EQ(out.kind, Kind::kFailed);
  EXPECT_EQ(out.error, "STARTTLS refused: 454 4.7.0 TLS not available due to local problem");
}

TEST(StarttlsSmtp, Garbage) {
  Outcome http = playAllWays(StarttlsProtocol::kSmtp, "HTTP/1.1 400 Bad Request\r\n\r\n");
  EXPECT_EQ(http.kind, Kind::kFailed);
  EXPECT_EQ(http.error, "not an SMTP reply: HTTP/1.1 400 Bad Request");
  Outcome tls =
      playAllWays(StarttlsProtocol::kSmtp, std::string("\x15\x03\x01\x00\x02\x02\x28\n", 8));
  EXPECT_EQ(tls.kind, Kind::kFailed);
  // A continuation line must repeat the code (RFC 5321 §4.2.1).
  Outcome mixed = playAllWays(StarttlsProtocol::kSmtp, "220-mx\r\n250 mixed\r\n");
  EXPECT_EQ(mixed.kind, Kind::kFailed);
  EXPECT_EQ(mixed.error, "not an SMTP reply: 250 mixed");
  Outcome unexpected = playAllWays(StarttlsProtocol::kSmtp, "250 hello\r\n");
  EXPECT_EQ(unexpected.error, "unexpected SMTP greeting: 250 hello");
}

TEST(StarttlsSmtp, DataAfterReadyIsDiscarded) {
  std::string transcript = std::string(kSmtpOk) + "250 injected\r\n";
  Outcome out = playAllWays(StarttlsProtocol::kSmtp, transcript);
  EXPECT_EQ(out.kind, Kind::kReady);
}

// ---------------------------------------------------------------------------------------------
// IMAP (RFC 3501 §6.2.1)

TEST(StarttlsImap, FullTranscript) {
  Outcome out = playAllWays(StarttlsProtocol::kImap,
                            "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
                            "LITERAL+ STARTTLS LOGINDISABLED] Dovecot (Debian) ready.\r\n"
                            "* CAPABILITY IMAP4rev1 STARTTLS\r\n"
                            "a001 OK Begin TLS negotiation now.\r\n");
  EXPECT_EQ(out.kind, Kind::kReady) << out.error;
  EXPECT_EQ(out.sent, std::vector<std::string>{"a001 STARTTLS\r\n"});
  EXPECT_EQ(out.banner.substr(0, 17), "* OK [CAPABILITY ");
}

TEST(StarttlsImap, PreauthGreeting) {
  Outcome out = playAllWays(StarttlsProtocol::kImap, "* PREAUTH ready\r\na001 ok done\r\n");
  EXPECT_EQ(out.kind, Kind::kReady) << out.error;
}

TEST(StarttlsImap, Refusals) {
  Outcome no = playAllWays(StarttlsProtocol::kImap, "* OK hi\r\na001 NO not now\r\n");
  EXPECT_EQ(no.error, "STARTTLS refused: a001 NO not now");
  Outcome bad = playAllWays(StarttlsProtocol::kImap, "* OK hi\r\na001 BAD unknown command\r\n");
  EXPECT_EQ(bad.error, "STARTTLS refused: a001 BAD unknown command");
  Outcome bye = playAllWays(StarttlsProtocol::kImap, "* BYE too many connections\r\n");
  EXPECT_EQ(bye.error, "IMAP server closes: * BYE too many connections");
  EXPECT_TRUE(bye.sent.empty());
  Outcome bye_later = playAllWays(StarttlsProtocol::kImap, "* OK hi\r\n* BYE shutting down\r\n");
  EXPECT_EQ(bye_later.error, "IMAP server closes: * BYE shutting down");
}

TEST(StarttlsImap, Garbage) {
  Outcome out = playAllWays(StarttlsProtocol::kImap, "+OK POP3 ready\r\n");
  EXPECT_EQ(out.error, "not an IMAP greeting: +OK POP3 ready");
  Outcome wrong_tag = playAllWays(StarttlsProtocol::kImap, "* OK hi\r\na002 OK sure\r\n");
  EXPECT_EQ(wrong_tag.error, "unexpected reply to STARTTLS: a002 OK sure");
  Outcome untagged_no = playAllWays(StarttlsProtocol::kImap, "* NO hi\r\n");
  EXPECT_EQ(untagged_no.kind, Kind::kFailed);
}

// ---------------------------------------------------------------------------------------------
// POP3 (RFC 2595)

TEST(StarttlsPop3, FullTranscript) {
  Outcome out = playAllWays(StarttlsProtocol::kPop3,
                            "+OK Dovecot (Debian) ready.\r\n+OK Begin TLS negotiation now.\r\n");
  EXPECT_EQ(out.kind, Kind::kReady) << out.error;
  EXPECT_EQ(out.sent, std::vector<std::string>{"STLS\r\n"});
  EXPECT_EQ(out.banner, "+OK Dovecot (Debian) ready.");
}

TEST(StarttlsPop3, Refusals) {
  Outcome greeting = playAllWays(StarttlsProtocol::kPop3, "-ERR [SYS/TEMP] busy\r\n");
  EXPECT_EQ(greeting.error, "POP3 greeting refuses service: -ERR [SYS/TEMP] busy");
  Outcome stls = playAllWays(StarttlsProtocol::kPop3, "+OK\r\n-ERR Unknown command\r\n");
  EXPECT_EQ(stls.error, "STLS refused: -ERR Unknown command");
}

TEST(StarttlsPop3, Garbage) {
  Outcome out = playAllWays(StarttlsProtocol::kPop3, "220 smtp.example.org ESMTP\r\n");
  EXPECT_EQ(out.error, "not a POP3 greeting: 220 smtp.example.org ESMTP");
  Outcome okay = playAllWays(StarttlsProtocol::kPop3, "+OKAY\r\n");
  EXPECT_EQ(okay.kind, Kind::kFailed);
}

// ---------------------------------------------------------------------------------------------
// FTP (RFC 4217)

TEST(StarttlsFtp, FullTranscript) {
  Outcome out = playAllWays(StarttlsProtocol::kFtp,
                            "220-Welcome to Pure-FTPd.\r\n"
                            "   You are user number 1 of 50 allowed.\r\n"
                            "220-Local time is now 12:00.\r\n"
                            "220 This is a private system.\r\n"
                            "234 AUTH TLS OK.\r\n");
  EXPECT_EQ(out.kind, Kind::kReady) << out.error;
  EXPECT_EQ(out.sent, std::vector<std::string>{"AUTH TLS\r\n"});
  EXPECT_EQ(out.banner, "220-Welcome to Pure-FTPd.");
}

TEST(StarttlsFtp, DelayedGreetingAndMultiLine234) {
  Outcome out = playAllWays(StarttlsProtocol::kFtp,
                            "120 ready in 1 minute\r\n220 (vsFTPd 3.0.3)\r\n"
                            "234-Proceed\r\n with\r\n234 negotiation.\r\n");
  EXPECT_EQ(out.kind, Kind::kReady) << out.error;
  EXPECT_EQ(out.sent.size(), 1u);
}

TEST(StarttlsFtp, Refusals) {
  Outcome greeting = playAllWays(StarttlsProtocol::kFtp, "421 Too many connections\r\n");
  EXPECT_EQ(greeting.error, "FTP greeting refuses service: 421 Too many connections");
  Outcome auth = playAllWays(StarttlsProtocol::kFtp, "220 hi\r\n530 Please login with USER\r\n");
  EXPECT_EQ(auth.error, "AUTH TLS refused: 530 Please login with USER");
  Outcome odd = playAllWays(StarttlsProtocol::kFtp, "220 hi\r\n334 ADAT=\r\n");
  EXPECT_EQ(odd.error, "unexpected reply to AUTH TLS: 334 ADAT=");
}

TEST(StarttlsFtp, Garbage) {
  Outcome out = playAllWays(StarttlsProtocol::kFtp, "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
  EXPECT_EQ(out.error, "not an FTP reply: SSH-2.0-OpenSSH_9.2p1 Debian-2");
}

// ---------------------------------------------------------------------------------------------
// LDAP (RFC 4511 §4.14)

std::string ldapResponse(std::string_view body) {
  // SEQUENCE { INTEGER 1, body } for short bodies.
  std::string op = std::string("\x02\x01\x01", 3) + std::string(body);
  return std::string(1, '\x30') + static_cast<char>(op.size()) + op;
}

std::string extendedResponse(uint8_t result_code, std::string_view diagnostic) {
  std::string inner = std::string("\x0a\x01", 2) + static_cast<char>(result_code) +
                      std::string("\x04\x00", 2) + "\x04" + static_cast<char>(diagnostic.size()) +
                      std::string(diagnostic);
  return std::string(1, '\x78') + static_cast<char>(inner.size()) + inner;
}

TEST(StarttlsLdap, RequestBytes) {
  StarttlsDialogue dialogue(StarttlsProtocol::kLdap, "ldap.example.org");
  auto step = dialogue.start();
  ASSERT_EQ(step.kind, Kind::kSend);
  std::string expected =
      std::string("\x30\x1d\x02\x01\x01\x77\x18\x80\x16", 9) + "1.3.6.1.4.1.1466.20037";
  EXPECT_EQ(text(step.to_send), expected);
}

TEST(StarttlsLdap, Success) {
  Outcome out = playAllWays(StarttlsProtocol::kLdap, ldapResponse(extendedResponse(0, "")));
  EXPECT_EQ(out.kind, Kind::kReady) << out.error;
  EXPECT_EQ(out.sent.size(), 1u);
}

TEST(StarttlsLdap, SuccessWithResponseNameAndLongFormLengths) {
  // OpenLDAP echoes the OID as responseName [10]; lengths here use the long form.
  std::string oid = "1.3.6.1.4.1.1466.20037";
  std::string inner =
      std::string("\x0a\x01\x00\x04\x00\x04\x00\x8a", 8) + static_cast<char>(oid.size()) + oid;
  std::string op = std::string("\x78\x81", 2) + static_cast<char>(inner.size()) + inner;
  std::string body = std::string("\x02\x01\x01", 3) + op;
  std::string message =
      std::string("\x30\x84\x00\x00\x00", 5) + static_cast<char>(body.size()) + body;
  Outcome out = playAllWays(StarttlsProtocol::kLdap, message);
  EXPECT_EQ(out.kind, Kind::kReady) << out.error;
}

TEST(StarttlsLdap, ErrorResultCode) {
  Outcome out = playAllWays(StarttlsProtocol::kLdap,
                            ldapResponse(extendedResponse(2, "unsupported extended operation")));
  EXPECT_EQ(out.kind, Kind::kFailed);
  EXPECT_EQ(out.error,
            "StartTLS refused: resultCode 2 (protocolError), diagnosticMessage \"unsupported "
            "extended operation\"");
  Outcome unavailable =
      playAllWays(StarttlsProtocol::kLdap, ldapResponse(extendedResponse(52, "")));
  EXPECT_EQ(unavailable.error, "StartTLS refused: resultCode 52 (unavailable)");
}

TEST(StarttlsLdap, NoticeOfDisconnectionAndWrongMessageId) {
  std::string notice = extendedResponse(52, "shutting down");
  std::string op = std::string("\x02\x01\x00", 3) + notice;
  Outcome out = playAllWays(StarttlsProtocol::kLdap,
                            std::string(1, '\x30') + static_cast<char>(op.size()) + op);
  EXPECT_EQ(out.error,
            "LDAP server sent an unsolicited notification: resultCode 52 (unavailable), "
            "diagnosticMessage \"shutting down\"");
  std::string other = std::string("\x02\x01\x07", 3) + extendedResponse(0, "");
  Outcome wrong = playAllWays(StarttlsProtocol::kLdap,
                              std::string(1, '\x30') + static_cast<char>(other.size()) + other);
  EXPECT_EQ(wrong.error, "LDAP response has messageID 7, expected 1");
}

TEST(StarttlsLdap, TruncatedWaits) {
  std::string full = ldapResponse(extendedResponse(0, ""));
  for (size_t cut = 0; cut < full.size(); ++cut) {
    Outcome out = play(StarttlsProtocol::kLdap, full.substr(0, cut), 1);
    EXPECT_EQ(out.kind, Kind::kNeedMore) << "cut " << cut;
  }
}

TEST(StarttlsLdap, LyingLengths) {
  // Inner protocolOp claims more than the outer SEQUENCE holds.
  std::string lying_op =
      std::string("\x30\x0c\x02\x01\x01\x78\x7f\x0a\x01\x00\x04\x00\x04\x00", 14);
  EXPECT_EQ(playAllWays(StarttlsProtocol::kLdap, lying_op).error,
            "malformed LDAP response (protocolOp)");
  // messageID claims five octets.
  std::string long_id = std::string("\x30\x08\x02\x05\x01\x02\x03\x04\x05\x00", 10);
  EXPECT_EQ(playAllWays(StarttlsProtocol::kLdap, long_id).error,
            "malformed LDAP response (messageID)");
  // resultCode element overruns the ExtendedResponse.
  std::string lying_code = std::string("\x30\x09\x02\x01\x01\x78\x04\x0a\x09\x00\x04", 11);
  EXPECT_EQ(playAllWays(StarttlsProtocol::kLdap, lying_code).error,
            "malformed LDAP response (resultCode)");
  // Negative resultCode.
  std::string negative = std::string("\x30\x08\x02\x01\x01\x78\x03\x0a\x01\xff", 10);
  EXPECT_EQ(playAllWays(StarttlsProtocol::kLdap, negative).error,
            "malformed LDAP response (resultCode)");
  // Diagnostic message length lying: result still reported, diagnostic dropped.
  std::string lying_diag =
      std::string("\x30\x0e\x02\x01\x01\x78\x09\x0a\x01\x02\x04\x00\x04\x30xy", 16);
  EXPECT_EQ(playAllWays(StarttlsProtocol::kLdap, lying_diag).error,
            "StartTLS refused: resultCode 2 (protocolError)");
}

TEST(StarttlsLdap, HostileLengthForms) {
  const std::string kLargerThanMax =
      "malformed LDAP response (length not definite or larger than 65536 bytes)";
  EXPECT_EQ(playAllWays(StarttlsProtocol::kLdap, std::string("\x30\x80", 2)).error, kLargerThanMax);
  EXPECT_EQ(
      playAllWays(StarttlsProtocol::kLdap, std::string("\x30\x85\x00\x00\x00\x00\x10", 7)).error,
      kLargerThanMax);
  EXPECT_EQ(playAllWays(StarttlsProtocol::kLdap, std::string("\x30\x84\x7f\xff\xff\xff", 6)).error,
            kLargerThanMax);
  // Exactly kMaxServerBytes of content cannot fit with its header.
  EXPECT_EQ(playAllWays(StarttlsProtocol::kLdap, std::string("\x30\x83\x01\x00\x00", 5)).error,
            "LDAP response larger than 65536 bytes");
}

TEST(StarttlsLdap, Garbage) {
  Outcome out = playAllWays(StarttlsProtocol::kLdap, "220 not ldap\r\n");
  EXPECT_EQ(out.error, "not an LDAP message (first byte 0x32)");
  std::string bind = std::string("\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x00\x04\x00\x04\x00", 14);
  EXPECT_EQ(playAllWays(StarttlsProtocol::kLdap, bind).error,
            "unexpected LDAP operation in reply to StartTLS (tag 0x61)");
}

// ---------------------------------------------------------------------------------------------
// XMPP (RFC 6120 §5)

constexpr std::string_view kXmppHeader =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' id='4d1e3b2f' from='example.org' "
    "version='1.0' xml:lang='en'>";

TEST(StarttlsXmpp, FullTranscript) {
  std::string server = std::string(kXmppHeader) +
                       "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"
                       "<required/></starttls><mechanisms "
                       "xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>"
                       "</mechanisms></stream:features>"
                       "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
  Outcome out = playAllWays(StarttlsProtocol::kXmpp, server);
  EXPECT_EQ(out.kind, Kind::kReady) << out.error;
  ASSERT_EQ(out.sent.size(), 2u);
  EXPECT_EQ(out.sent[0],
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
            "xmlns:stream='http://etherx.jabber.org/streams' to='example.org' version='1.0'>");
  EXPECT_EQ(out.sent[1], "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
  EXPECT_EQ(out.banner.substr(0, 15), "<stream:stream ");
}

TEST(StarttlsXmpp, ServerNameIsEscaped) {
  StarttlsDialogue dialogue(StarttlsProtocol::kXmpp, "a'b<c>&\"d\r\n");
  auto step = dialogue.start();
  ASSERT_EQ(step.kind, Kind::kSend);
  EXPECT_NE(text(step.to_send).find("to='a&apos;b&lt;c&gt;&amp;&quot;d'"), std::string::npos);
}

TEST(StarttlsXmpp, WithoutStarttls) {
  std::string self_closed = std::string(kXmppHeader) + "<stream:features/>";
  EXPECT_EQ(playAllWays(StarttlsProtocol::kXmpp, self_closed).error,
            "server does not offer STARTTLS");
  std::string sasl_only = std::string(kXmppHeader) +
                          "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                          "<mechanism>PLAIN</mechanism></mechanisms></stream:features>";
  EXPECT_EQ(playAllWays(StarttlsProtocol::kXmpp, sasl_only).error,
            "server does not offer STARTTLS");
  std::string wrong_ns = std::string(kXmppHeader) +
                         "<stream:features><starttls xmlns='urn:example'/></stream:features>";
  EXPECT_EQ(playAllWays(StarttlsProtocol::kXmpp, wrong_ns).error, "server does not offer STARTTLS");
}

TEST(StarttlsXmpp, Refusals) {
  std::string failure = std::string(kXmppHeader) +
                        "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
                        "</stream:features><failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
                        "</stream:stream>";
  EXPECT_EQ(playAllWays(StarttlsProtocol::kXmpp, failure).error, "STARTTLS refused: <failure/>");
  std::string error = std::string(kXmppHeader) +
                      "<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                      "</stream:error></stream:stream>";
  EXPECT_EQ(playAllWays(StarttlsProtocol::kXmpp, error).error, "XMPP stream error: host-unknown");
  std::string closed = std::string(kXmppHeader) + "</stream:stream>";
  EXPECT_EQ(playAllWays(StarttlsProtocol::kXmpp, closed).error, "XMPP server closed the stream");
}

TEST(StarttlsXmpp, GarbageAndOverlongTag) {
  // Plain text never completes a features element: the dialogue waits for the deadline.
  EXPECT_EQ(playAllWays(StarttlsProtocol::kXmpp, "HTTP/1.1 400 Bad Request\r\n\r\n").kind,
            Kind::kNeedMore);
  std::string overlong = "<stream:stream " + std::string(5000, 'a');
  EXPECT_EQ(playAllWays(StarttlsProtocol::kXmpp, overlong).error,
            "server sent an XML tag longer than 4096 bytes");
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL (SSLRequest)

TEST(StarttlsPostgres, RequestAndAnswers) {
  StarttlsDialogue dialogue(StarttlsProtocol::kPostgres, "db.example.org");
  auto step = dialogue.start();
  ASSERT_EQ(step.kind, Kind::kSend);
  EXPECT_EQ(step.to_send, (std::vector<uint8_t>{0x00, 0x00, 0x00, 0x08, 0x04, 0xd2, 0x16, 0x2f}));
  EXPECT_EQ(dialogue.onData({}).kind, Kind::kNeedMore);
  EXPECT_EQ(dialogue.onData(bytes("S")).kind, Kind::kReady);

  EXPECT_EQ(playAllWays(StarttlsProtocol::kPostgres, "S").kind, Kind::kReady);
  EXPECT_EQ(playAllWays(StarttlsProtocol::kPostgres, "N").error, "server refuses SSL");
  EXPECT_EQ(playAllWays(StarttlsProtocol::kPostgres, "EFATAL: unsupported frontend protocol").error,
            "server answered SSLRequest with an error message");
  EXPECT_EQ(playAllWays(StarttlsProtocol::kPostgres, "HTTP/1.1").error,
            "unexpected answer to SSLRequest (byte 0x48)");
}

}  // namespace
}  // namespace tlsaudit::collectors::tls
