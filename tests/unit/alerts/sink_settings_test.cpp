// A sink's settings: which events it takes (filters), how long it waits after failures
// (backoff), what validateSink refuses and how, URL and address parsing, the webhook's headers,
// and that secrets never reach messages.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "scanner/alerts/alert_message.h"
#include "scanner/alerts/alert_sink.h"
#include "scanner/alerts/alertmanager_sink.h"
#include "scanner/alerts/http_client.h"
#include "scanner/alerts/retry_backoff.h"
#include "scanner/alerts/sink_filter.h"
#include "scanner/alerts/syslog_sink.h"
#include "scanner/alerts/webhook_sink.h"

namespace tlsaudit::scanner::alerts {
namespace {

namespace v1 = tlsaudit::v1;
using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using ::testing::StartsWith;

AlertEvent event(const std::string& rule, v1::Severity severity, const std::string& name) {
  AlertEvent e;
  e.rule_id = rule;
  e.severity = severity;
  e.event = name;
  e.kind = "finding." + name;
  e.idempotency_key = "0b7e3c1a-1111-4222-8333-944455556666";
  return e;
}

SinkConfig webhook() {
  SinkConfig s;
  s.name = "soc";
  s.type = "webhook";
  s.url = "https://soc.example.com/hooks/tlsaudit";
  return s;
}

// ---- filters --------------------------------------------------------------------------------

TEST(SinkFilterTest, EmptySettingsTakeEverything) {
  SinkConfig s = webhook();
  EXPECT_TRUE(sinkAccepts(s, event("any", v1::SEVERITY_UNSPECIFIED, "waived")));
  EXPECT_TRUE(sinkAccepts(s, event("any", v1::INFO, "opened")));
}

TEST(SinkFilterTest, MinimumSeverity) {
  SinkConfig s = webhook();
  s.min_severity = v1::HIGH;
  EXPECT_FALSE(sinkAccepts(s, event("r", v1::MEDIUM, "opened")));
  EXPECT_FALSE(sinkAccepts(s, event("r", v1::SEVERITY_UNSPECIFIED, "opened")));
  EXPECT_TRUE(sinkAccepts(s, event("r", v1::HIGH, "opened")));
  EXPECT_TRUE(sinkAccepts(s, event("r", v1::CRITICAL, "resolved")));
}

TEST(SinkFilterTest, RulesAndEventsMustAllMatch) {
  SinkConfig s = webhook();
  s.rules = {"cert-sig-md5", "tls10-enabled"};
  s.events = {"opened", "reopened", "resolved"};
  EXPECT_TRUE(sinkAccepts(s, event("tls10-enabled", v1::LOW, "reopened")));
  EXPECT_FALSE(sinkAccepts(s, event("tls11-enabled", v1::LOW, "opened")));
  EXPECT_FALSE(sinkAccepts(s, event("cert-sig-md5", v1::CRITICAL, "waived")));
  s.min_severity = v1::MEDIUM;
  EXPECT_FALSE(sinkAccepts(s, event("tls10-enabled", v1::LOW, "opened")));
}

// ---- backoff --------------------------------------------------------------------------------

TEST(RetryBackoffTest, DoublesUpToTheMaximumWithEqualJitter) {
  const milliseconds initial(500), max(60000);
  EXPECT_EQ(retryDelay(1, initial, max, 0.0), milliseconds(250));
  EXPECT_EQ(retryDelay(1, initial, max, 0.999999), milliseconds(499));
  EXPECT_EQ(retryDelay(2, initial, max, 0.0), milliseconds(500));
  EXPECT_EQ(retryDelay(3, initial, max, 0.0), milliseconds(1000));
  EXPECT_EQ(retryDelay(8, initial, max, 0.0), milliseconds(30000));
  EXPECT_EQ(retryDelay(9, initial, max, 0.0), milliseconds(30000));  // capped at 60 s
  EXPECT_EQ(retryDelay(9, initial, max, 1.0), milliseconds(60000));
  // However long a sink stays down: no overflow, never beyond the maximum.
  EXPECT_EQ(retryDelay(1000000, initial, max, 1.0), milliseconds(60000));
  for (int f = 1; f < 40; ++f) {
    for (double u : {0.0, 0.3, 0.7, 1.0}) {
      auto d = retryDelay(f, initial, max, u);
      EXPECT_GE(d, milliseconds(250));
      EXPECT_LE(d, max);
    }
  }
}

TEST(RetryBackoffTest, DegenerateSettingsStillWait) {
  EXPECT_EQ(retryDelay(1, milliseconds(0), milliseconds(0), 0.0), milliseconds(1));
  EXPECT_EQ(retryDelay(5, milliseconds(100), milliseconds(50), 1.0), milliseconds(50));
}

// ---- validation -----------------------------------------------------------------------------

std::string problem(const SinkConfig& s) { return std::string(validateSink(s).message()); }

TEST(SinkValidationTest, AcceptsTheDocumentedExamples) {
  SinkConfig soc = webhook();
  soc.secret = "s3cret";
  soc.headers = {{"X-Team", "voice"}};
  soc.min_severity = v1::HIGH;
  soc.rules = {"cert-sig-md5", "tls10-enabled"};
  soc.events = {"opened", "reopened", "resolved"};
  EXPECT_TRUE(validateSink(soc).ok()) << validateSink(soc);
  SinkConfig am;
  am.name = "am";
  am.type = "alertmanager";
  am.url = "http://127.0.0.1:9093";
  EXPECT_TRUE(validateSink(am).ok()) << validateSink(am);
  SinkConfig siem;
  siem.name = "siem";
  siem.type = "syslog";
  siem.address = "127.0.0.1:514";
  siem.transport = "tcp";
  EXPECT_TRUE(validateSink(siem).ok()) << validateSink(siem);
  siem.address = "[::1]:6514";
  EXPECT_TRUE(validateSink(siem).ok()) << validateSink(siem);
  EXPECT_TRUE(validateSinks({soc, am, siem}).ok());
}

TEST(SinkValidationTest, EachMistakeNamesTheSinkAndField) {
  SinkConfig s = webhook();
  s.type = "pagerduty";
  EXPECT_THAT(problem(s), StartsWith("alerts[soc].type: unknown sink type \"pagerduty\""));
  s = webhook();
  s.url = "";
  EXPECT_THAT(problem(s), StartsWith("alerts[soc].url: required"));
  s.url = "ftp://soc.example.com/x";
  EXPECT_EQ(problem(s), "alerts[soc].url: must start with http:// or https://");
  s.url = "https://user:hunter22@soc.example.com/x";
  EXPECT_THAT(problem(s), StartsWith("alerts[soc].url: user info"));
  EXPECT_THAT(problem(s), Not(HasSubstr("hunter22")));
  s.url = "https://soc.example.com:99999/x";
  EXPECT_EQ(problem(s), "alerts[soc].url: port must be 1..65535");
  s.url = "http:///x";
  EXPECT_EQ(problem(s), "alerts[soc].url: has no host");
  s = webhook();
  s.min_severity = static_cast<v1::Severity>(9);
  EXPECT_THAT(problem(s), StartsWith("alerts[soc].min_severity: "));
  s = webhook();
  s.events = {"opened", "closed"};
  EXPECT_THAT(problem(s), StartsWith("alerts[soc].events: unknown event \"closed\""));
  s = webhook();
  s.timeout = milliseconds(0);
  EXPECT_THAT(problem(s), StartsWith("alerts[soc].timeout: "));
  s = webhook();
  s.headers = {{"Idempotency-Key", "x"}};
  EXPECT_THAT(problem(s), StartsWith("alerts[soc].headers: Idempotency-Key is set by tlsaudit"));
  s.headers = {{"Bad Name", "x"}};
  EXPECT_THAT(problem(s), StartsWith("alerts[soc].headers: "));
  s.headers = {{"Authorization", "Bearer abc\r\nX-Evil: 1"}};
  EXPECT_THAT(problem(s), StartsWith("alerts[soc].headers: the value of Authorization"));
  EXPECT_THAT(problem(s), Not(HasSubstr("Bearer")));
  s = webhook();
  s.ca_file = "/nonexistent/roots.pem";
  EXPECT_THAT(problem(s), StartsWith("alerts[soc].ca_file: cannot read"));

  SinkConfig am;
  am.name = "am";
  am.type = "alertmanager";
  am.url = "http://127.0.0.1:9093";
  am.secret = "x";
  EXPECT_EQ(problem(am), "alerts[am].secret: only webhook sinks sign their bodies");

  SinkConfig syslog;
  syslog.name = "siem";
  syslog.type = "syslog";
  EXPECT_THAT(problem(syslog), StartsWith("alerts[siem].address: required"));
  syslog.address = "127.0.0.1";
  EXPECT_EQ(problem(syslog), "alerts[siem].address: expected host:port");
  syslog.address = "::1:514";
  EXPECT_THAT(problem(syslog), StartsWith("alerts[siem].address: an IPv6 address needs"));
  syslog.address = "127.0.0.1:514";
  syslog.transport = "tls";
  EXPECT_EQ(problem(syslog), "alerts[siem].transport: \"tls\" is not udp or tcp");
  syslog.transport = "udp";
  syslog.facility = 24;
  EXPECT_EQ(problem(syslog), "alerts[siem].facility: must be 0..23");
  syslog.facility = 10;
  syslog.app_name = "has space";
  EXPECT_THAT(problem(syslog), StartsWith("alerts[siem].app_name: "));

  SinkConfig unnamed = webhook();
  unnamed.name = "";
  EXPECT_THAT(problem(unnamed), StartsWith("alerts[].name: "));
  EXPECT_EQ(validateSinks({webhook(), webhook()}).message(),
            "alerts[soc].name: another sink has the same name");
}

// ---- URLs and addresses ---------------------------------------------------------------------

TEST(HttpUrlTest, Parses) {
  auto u = parseHttpUrl("https://soc.example.com/hooks/tlsaudit?token=abc");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "soc.example.com");
  EXPECT_EQ(u->port, "443");
  EXPECT_EQ(u->path, "/hooks/tlsaudit?token=abc");
  EXPECT_EQ(u->authority, "soc.example.com");
  // The path and query can hold a token: never in messages.
  EXPECT_EQ(u->redacted(), "https://soc.example.com:443");

  u = parseHttpUrl("HTTP://[::1]:8080");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "8080");
  EXPECT_EQ(u->path, "/");
  EXPECT_EQ(u->authority, "[::1]:8080");
  EXPECT_EQ(u->redacted(), "http://[::1]:8080");

  u = parseHttpUrl("http://127.0.0.1:80?x=1");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->path, "/?x=1");
  EXPECT_EQ(u->authority, "127.0.0.1");

  for (const char* bad : {"", "soc.example.com/x", "https://", "https://h/x#frag", "https://h x/",
                          "https://h:0/", "https://h:/", "http://a:b:c/", "http://[::1/"}) {
    EXPECT_FALSE(parseHttpUrl(bad).ok()) << bad;
  }
}

TEST(HttpUrlTest, AlertmanagerEndpointUnderTheBaseUrl) {
  for (auto [base, path] :
       {std::pair{"http://am:9093", "/api/v2/alerts"},
        {"http://am:9093/", "/api/v2/alerts"},
        {"https://gw.example.com/alertmanager/", "/alertmanager/api/v2/alerts"}}) {
    auto u = parseHttpUrl(base);
    ASSERT_TRUE(u.ok()) << base;
    EXPECT_EQ(AlertmanagerSink::alertsUrl(*u).path, path) << base;
  }
}

TEST(HttpUrlTest, AnswersOtherThan2xxAreRetried) {
  auto url = *parseHttpUrl("http://127.0.0.1:9/secret-path");
  EXPECT_TRUE(acceptedOrError(url, HttpResponse{200, ""}).ok());
  EXPECT_TRUE(acceptedOrError(url, HttpResponse{204, ""}).ok());
  for (int status : {301, 400, 404, 409, 429, 500, 503}) {
    auto st = acceptedOrError(url, HttpResponse{status, "try\nlater"});
    EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << status;
    EXPECT_EQ(st.message(),
              "HTTP " + std::to_string(status) + " from http://127.0.0.1:9: try later");
  }
  EXPECT_EQ(acceptedOrError(url, absl::DeadlineExceededError("slow")).code(),
            absl::StatusCode::kDeadlineExceeded);
  // Bytes beyond ASCII (a UTF-8 character cut at 200 bytes, a binary answer) never reach the
  // log or the database as invalid text.
  auto st = acceptedOrError(url, HttpResponse{500, std::string(199, 'x') + "\xc3\xa9\xff"});
  EXPECT_EQ(st.message(), "HTTP 500 from http://127.0.0.1:9: " + std::string(199, 'x') + "?");
}

TEST(SyslogAddressTest, Parses) {
  auto a = parseSyslogAddress("siem.example.com:514");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "siem.example.com");
  EXPECT_EQ(a->port, 514);
  a = parseSyslogAddress("[fe80::1]:6514");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "fe80::1");
  EXPECT_EQ(a->port, 6514);
  for (const char* bad : {"", ":514", "host", "host:", "host:0", "host:70000", "[::1]", "[::1]x"}) {
    EXPECT_FALSE(parseSyslogAddress(bad).ok()) << bad;
  }
}

// ---- webhook headers and secrets -------------------------------------------------------------

TEST(WebhookHeadersTest, SignedWhenASecretIsSet) {
  SinkConfig s = webhook();
  s.headers = {{"X-Team", "voice"}, {"Authorization", "Bearer tok-123456"}};
  AlertEvent e = event("r", v1::HIGH, "opened");
  std::string body = R"({"a":1})";
  EXPECT_THAT(WebhookSink::requestHeaders(s, e, body),
              ElementsAre(Pair("Content-Type", "application/json"),
                          Pair("Idempotency-Key", e.idempotency_key),
                          Pair("X-Tlsaudit-Event", "finding.opened"), Pair("X-Team", "voice"),
                          Pair("Authorization", "Bearer tok-123456")));
  s.secret = "whsec-test";
  auto headers = WebhookSink::requestHeaders(s, e, body);
  ASSERT_EQ(headers.size(), 6u);
  EXPECT_EQ(headers[3], std::make_pair(std::string("X-Tlsaudit-Signature"),
                                       webhookSignature("whsec-test", body)));
}

TEST(WebhookHeadersTest, SecretsAreRedacted) {
  SinkConfig s = webhook();
  s.secret = "whsec-test";
  s.headers = {{"Authorization", "Bearer tok-123456"}, {"X-Short", "ab"}};
  EXPECT_EQ(redactSecrets("echo: Bearer tok-123456 and whsec-test, ab", s),
            "echo: [redacted] and [redacted], ab");
  // A token in the URL, echoed back by the receiver.
  s.url = "https://hooks.example.invalid/services/T0KEN1234567?sig=abcdefgh12&x=1";
  EXPECT_EQ(redactSecrets("HTTP 404: Cannot POST /services/T0KEN1234567?sig=abcdefgh12&x=1", s),
            "HTTP 404: Cannot POST /services/[redacted]?sig=[redacted]&x=1");
}

}  // namespace
}  // namespace tlsaudit::scanner::alerts
