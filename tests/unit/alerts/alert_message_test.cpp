// Golden tests of what the sinks send: the webhook body and its HMAC (RFC 4231 known answer),
// the Alertmanager v2 alert list, RFC 5424 syslog lines (SD escaping, PRI, caps) and RFC 6587
// octet counting; and reading outbox payloads as storage writes them.
#include "scanner/alerts/alert_message.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace tlsaudit::scanner::alerts {
namespace {

namespace v1 = tlsaudit::v1;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr const char* kKey = "3f1c5c1e-8d7a-4b8e-9c43-0d2f4a6b7c81";

AlertEvent goldenEvent() {
  AlertEvent e;
  e.outbox_id = 42;
  e.kind = "finding.opened";
  e.idempotency_key = kKey;
  e.created_micros = 1700000000123456;
  e.finding_id = "17";
  e.event = "opened";
  e.rule_id = "cert-sig-md5";
  e.severity = v1::HIGH;
  e.title = "Certificate signed with MD5";
  e.evidence = "leaf CN=phone-lobby signed md5WithRSAEncryption";
  e.from_state = v1::FINDING_STATE_UNSPECIFIED;
  e.to_state = v1::OPEN;
  e.asset = "10.1.2.3";
  e.service = "10.1.2.3:5061";
  e.scan_id = "3";
  e.at_micros = 1700000000000000;  // 2023-11-14T22:13:20Z
  return e;
}

MessageContext goldenContext() {
  return {.instance = "daemon-a",
          .tool_version = "0.1.0",
          .hostname = "scan1.example.net",
          .pid = 4242};
}

constexpr const char* kGoldenWebhookBody =
    R"({"idempotencyKey":"3f1c5c1e-8d7a-4b8e-9c43-0d2f4a6b7c81","kind":"finding.opened",)"
    R"("event":"opened","outboxId":"42","createdAt":"2023-11-14T22:13:20.123456Z",)"
    R"("finding":{"id":"17","ruleId":"cert-sig-md5","severity":"HIGH",)"
    R"("title":"Certificate signed with MD5",)"
    R"("evidence":"leaf CN=phone-lobby signed md5WithRSAEncryption","fromState":"NONE",)"
    R"("toState":"OPEN","asset":"10.1.2.3","service":"10.1.2.3:5061","scanId":"3",)"
    R"("at":"2023-11-14T22:13:20Z"},"instance":"daemon-a",)"
    R"("tool":{"name":"tlsaudit","version":"0.1.0"}})";

TEST(AlertMessageTest, ParsesThePayloadStorageWrites) {
  // The shape of storage/pg_finding_store.cpp's jsonb_build_object, as PostgreSQL prints it.
  storage::OutboxEvent row{
      7, "finding.resolved",
      R"({"at": "2023-11-14T23:13:20Z", "event": "resolved", "asset": "10.9.8.7/32", )"
      R"("title": "TLS 1.0 enabled", "ruleId": "tls10-enabled", "scanId": "4", "service": )"
      R"("10.9.8.7:443", "toState": 2, "evidence": "", "severity": 3, "findingId": "99", )"
      R"("fromState": 1})",
      kKey, 1700003600500000};
  auto e = parseOutboxEvent(row);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->outbox_id, 7);
  EXPECT_EQ(e->kind, "finding.resolved");
  EXPECT_EQ(e->idempotency_key, kKey);
  EXPECT_EQ(e->event, "resolved");
  EXPECT_EQ(e->rule_id, "tls10-enabled");
  EXPECT_EQ(e->severity, v1::MEDIUM);
  EXPECT_EQ(e->from_state, v1::OPEN);
  EXPECT_EQ(e->to_state, v1::RESOLVED);
  EXPECT_EQ(e->finding_id, "99");
  EXPECT_EQ(e->asset, "10.9.8.7");
  EXPECT_EQ(e->service, "10.9.8.7:443");
  EXPECT_EQ(e->scan_id, "4");
  EXPECT_EQ(e->at_micros, 1700003600000000);
  EXPECT_EQ(e->created_micros, 1700003600500000);
  // Only a single host's prefix length goes; a network stays one.
  storage::OutboxEvent v6 = row;
  v6.payload = R"({"event":"opened","ruleId":"r","asset":"2001:db8::1/128"})";
  EXPECT_EQ(parseOutboxEvent(v6)->asset, "2001:db8::1");
  v6.payload = R"({"event":"opened","ruleId":"r","asset":"10.0.0.0/24"})";
  EXPECT_EQ(parseOutboxEvent(v6)->asset, "10.0.0.0/24");
}

TEST(AlertMessageTest, RefusesPayloadsThatCannotBeDelivered) {
  EXPECT_FALSE(parseOutboxEvent({1, "finding.opened", "not json", kKey, 0}).ok());
  EXPECT_FALSE(parseOutboxEvent({1, "finding.opened", "[1,2]", kKey, 0}).ok());
  EXPECT_FALSE(parseOutboxEvent({1, "finding.opened", R"({"event":"opened"})", kKey, 0}).ok());
  // Out-of-range numbers and a bad time degrade to "unknown" and the row's own time.
  auto e = parseOutboxEvent({1, "finding.opened",
                             R"({"event":"opened","ruleId":"r","severity":99,"toState":-1,)"
                             R"("at":"yesterday"})",
                             kKey, 1700000000000000});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->severity, v1::SEVERITY_UNSPECIFIED);
  EXPECT_EQ(e->to_state, v1::FINDING_STATE_UNSPECIFIED);
  EXPECT_EQ(e->at_micros, 1700000000000000);
}

TEST(AlertMessageTest, NamesOfSeveritiesAndStates) {
  EXPECT_EQ(severityName(v1::CRITICAL), "CRITICAL");
  EXPECT_EQ(severityName(v1::INFO), "INFO");
  EXPECT_EQ(severityName(v1::SEVERITY_UNSPECIFIED), "UNSPECIFIED");
  EXPECT_EQ(severityName(static_cast<v1::Severity>(42)), "UNSPECIFIED");
  EXPECT_EQ(stateName(v1::OPEN), "OPEN");
  EXPECT_EQ(stateName(v1::WAIVED), "WAIVED");
  EXPECT_EQ(stateName(v1::FINDING_STATE_UNSPECIFIED), "NONE");
  EXPECT_EQ(rfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(rfc3339(1700000000123000), "2023-11-14T22:13:20.123Z");
}

TEST(AlertMessageTest, WebhookBodyGolden) {
  EXPECT_EQ(webhookBody(goldenEvent(), goldenContext()), kGoldenWebhookBody);
  // The same event gives the same bytes: a redelivery carries the same body and signature.
  EXPECT_EQ(webhookBody(goldenEvent(), goldenContext()),
            webhookBody(goldenEvent(), goldenContext()));
}

TEST(AlertMessageTest, WebhookBodyEscapesHostileText) {
  AlertEvent e = goldenEvent();
  e.title = "quote \" backslash \\ newline \n nul-free \x01 unicode \xC3\xA9";
  auto parsed = nlohmann::json::parse(webhookBody(e, goldenContext()));
  EXPECT_EQ(parsed["finding"]["title"], e.title);
}

TEST(AlertMessageTest, HmacSha256KnownAnswers) {
  // RFC 4231 §4.3, test case 2.
  EXPECT_EQ(hmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // The golden body under a test secret (computed with Python's hmac module).
  EXPECT_EQ(webhookSignature("whsec-test", kGoldenWebhookBody),
            "sha256=ff3b7e74c3a8a9870742391fce02ebfffafa59b74544eb1a5eb282c5e608004c");
}

TEST(AlertMessageTest, AlertmanagerFiringAlertGolden) {
  EXPECT_EQ(
      alertmanagerBody(goldenEvent(), goldenContext(), 7 * 24 * 3600),
      R"([{"labels":{"alertname":"TlsauditFinding","rule_id":"cert-sig-md5","severity":"high",)"
      R"("asset":"10.1.2.3","service":"10.1.2.3:5061","instance":"10.1.2.3:5061"},)"
      R"("annotations":{"summary":"Certificate signed with MD5",)"
      R"("title":"Certificate signed with MD5",)"
      R"("evidence":"leaf CN=phone-lobby signed md5WithRSAEncryption","event":"opened",)"
      R"("idempotency_key":"3f1c5c1e-8d7a-4b8e-9c43-0d2f4a6b7c81","finding_id":"17",)"
      R"("scan_id":"3","state":"OPEN","tlsaudit_instance":"daemon-a"},)"
      R"("startsAt":"2023-11-14T22:13:20Z","endsAt":"2023-11-21T22:13:20Z"}])");
  // Without an expiry, Alertmanager's resolve_timeout applies: no endsAt.
  auto none = nlohmann::json::parse(alertmanagerBody(goldenEvent(), goldenContext(), 0));
  EXPECT_FALSE(none[0].contains("endsAt"));
}

TEST(AlertMessageTest, AlertmanagerResolvedAndWaivedEndNowWithTheSameLabels) {
  AlertEvent opened = goldenEvent();
  for (auto [event, state] : {std::pair{"resolved", v1::RESOLVED}, {"waived", v1::WAIVED}}) {
    AlertEvent e = goldenEvent();
    e.event = event;
    e.kind = std::string("finding.") + event;
    e.from_state = v1::OPEN;
    e.to_state = state;
    e.at_micros += 3600 * 1000000LL;
    auto body = nlohmann::json::parse(alertmanagerBody(e, goldenContext(), 3600));
    ASSERT_TRUE(body.is_array());
    ASSERT_EQ(body.size(), 1u);
    EXPECT_EQ(body[0]["startsAt"], "2023-11-14T23:13:20Z");
    EXPECT_EQ(body[0]["endsAt"], "2023-11-14T23:13:20Z");
    EXPECT_EQ(body[0]["annotations"]["event"], event);
    // Alertmanager finds the firing alert by its labels: they must not change.
    auto firing = nlohmann::json::parse(alertmanagerBody(opened, goldenContext(), 3600));
    EXPECT_EQ(body[0]["labels"], firing[0]["labels"]);
  }
}

TEST(AlertMessageTest, AlertmanagerLeavesOutEmptyLabels) {
  AlertEvent e = goldenEvent();
  e.asset.clear();
  e.service.clear();
  auto body = nlohmann::json::parse(alertmanagerBody(e, goldenContext(), 0));
  EXPECT_FALSE(body[0]["labels"].contains("asset"));
  EXPECT_FALSE(body[0]["labels"].contains("instance"));
  EXPECT_EQ(body[0]["labels"]["alertname"], "TlsauditFinding");
}

TEST(AlertMessageTest, SyslogLineGolden) {
  EXPECT_EQ(syslogMessage(goldenEvent(), goldenContext(), 10, "tlsaudit", kSyslogUdpMaxBytes),
            "<83>1 2023-11-14T22:13:20Z scan1.example.net tlsaudit 4242 finding.opened "
            "[tlsaudit@32473 key=\"3f1c5c1e-8d7a-4b8e-9c43-0d2f4a6b7c81\" event=\"opened\" "
            "rule=\"cert-sig-md5\" severity=\"HIGH\" asset=\"10.1.2.3\" "
            "service=\"10.1.2.3:5061\" finding=\"17\"] \xEF\xBB\xBF"
            "opened HIGH cert-sig-md5 on 10.1.2.3:5061: Certificate signed with MD5 "
            "(leaf CN=phone-lobby signed md5WithRSAEncryption)");
}

TEST(AlertMessageTest, SyslogPriFromFacilityAndSeverity) {
  AlertEvent e = goldenEvent();
  // RFC 5424 §6.2.1: PRI = facility * 8 + severity.
  for (auto [severity, syslog] : {std::pair{v1::CRITICAL, 2},
                                  {v1::HIGH, 3},
                                  {v1::MEDIUM, 4},
                                  {v1::LOW, 5},
                                  {v1::INFO, 6},
                                  {v1::SEVERITY_UNSPECIFIED, 6}}) {
    e.severity = severity;
    EXPECT_EQ(syslogSeverity(severity), syslog);
    EXPECT_THAT(syslogMessage(e, goldenContext(), 4, "x", 2048),
                StartsWith("<" + std::to_string(4 * 8 + syslog) + ">1 "));
  }
  EXPECT_THAT(syslogMessage(e, goldenContext(), 23, "x", 2048), StartsWith("<190>1 "));
}

TEST(AlertMessageTest, SyslogEscapesSdValuesAndCleansHeaderFields) {
  EXPECT_EQ(escapeSdValue(R"(a"b\c]d)"), R"(a\"b\\c\]d)");
  EXPECT_EQ(escapeSdValue("plain [x] = 'y'"), "plain [x\\] = 'y'");
  AlertEvent e = goldenEvent();
  e.rule_id = R"(odd"rule]\id)";
  e.asset = "line\nbreak";
  MessageContext context = goldenContext();
  context.hostname = "";  // NILVALUE
  context.pid = 0;
  std::string line = syslogMessage(e, context, 10, "tls audit", 2048);
  EXPECT_THAT(line, StartsWith("<83>1 2023-11-14T22:13:20Z - tlsaudit - finding.opened [tlsaudit"));
  EXPECT_THAT(line, HasSubstr(R"(rule="odd\"rule\]\\id")"));
  EXPECT_THAT(line, HasSubstr(R"(asset="line break")"));
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(AlertMessageTest, SyslogIsCutAtACharacterBoundary) {
  AlertEvent e = goldenEvent();
  e.evidence.clear();
  for (int i = 0; i < 3000; ++i) e.evidence += "\xE2\x82\xAC";  // €, three octets each
  for (size_t cap : {size_t{2048}, size_t{2047}, size_t{2046}, size_t{8192}}) {
    std::string line = syslogMessage(e, goldenContext(), 10, "tlsaudit", cap);
    EXPECT_LE(line.size(), cap);
    EXPECT_GE(line.size(), cap - 2);
    // The line ends with a whole €.
    EXPECT_EQ(line.substr(line.size() - 3), "\xE2\x82\xAC");
    EXPECT_THAT(line, HasSubstr("\xEF\xBB\xBF"));
  }
}

TEST(AlertMessageTest, OctetCountingFrame) {
  // RFC 6587 §3.4.1: MSG-LEN counts octets, not characters.
  EXPECT_EQ(octetCountingFrame("<14>1 - - - - - -"), "17 <14>1 - - - - - -");
  EXPECT_EQ(octetCountingFrame("\xE2\x82\xAC"), "3 \xE2\x82\xAC");
}

}  // namespace
}  // namespace tlsaudit::scanner::alerts
