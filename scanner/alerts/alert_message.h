// What a sink sends, as pure functions of one outbox event: the webhook JSON body and its
// signature, the Alertmanager v2 alert list, and the RFC 5424 syslog message with its RFC 6587
// octet-counting frame. No I/O and no clock: the same event always gives the same bytes, so
// receivers can compare redeliveries and the formats have golden tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "storage/alert_outbox.h"
#include "tlsaudit/v1/finding.pb.h"

namespace tlsaudit::scanner::alerts {

// One outbox event with its JSON payload read (storage/pg_finding_store.cpp writes it).
struct AlertEvent {
  int64_t outbox_id = 0;
  std::string kind;             // finding.opened, finding.resolved...
  std::string idempotency_key;  // UUID, the same on every delivery attempt
  int64_t created_micros = 0;   // when the outbox row was written

  std::string finding_id;
  std::string event;  // opened, reopened, resolved, waived, unwaived
  std::string rule_id;
  tlsaudit::v1::Severity severity = tlsaudit::v1::SEVERITY_UNSPECIFIED;
  std::string title;
  std::string evidence;
  tlsaudit::v1::FindingState from_state = tlsaudit::v1::FINDING_STATE_UNSPECIFIED;
  tlsaudit::v1::FindingState to_state = tlsaudit::v1::FINDING_STATE_UNSPECIFIED;
  std::string asset;    // the asset's primary address
  std::string service;  // "ip:port" ("[v6]:port")
  std::string scan_id;
  int64_t at_micros = 0;  // when the scan observed the change
};

// Who sends: the same for every message of one daemon.
struct MessageContext {
  std::string instance;      // the daemon's name (DispatcherOptions::instance)
  std::string tool_version;  // TLSAUDIT_VERSION
  std::string hostname;      // syslog HOSTNAME; "" gives the nil value "-"
  int64_t pid = 0;           // syslog PROCID; 0 gives "-"
};

// Reads an outbox row. kInvalidArgument when the payload is not a JSON object or lacks the
// event or rule id (such a row can never be delivered meaningfully).
absl::StatusOr<AlertEvent> parseOutboxEvent(const storage::OutboxEvent& row);

// "HIGH", "CRITICAL"...; "UNSPECIFIED" for 0 and unknown numbers.
std::string severityName(tlsaudit::v1::Severity severity);
// "OPEN", "RESOLVED", "WAIVED"; "NONE" for 0 (a finding seen for the first time).
std::string stateName(tlsaudit::v1::FindingState state);
// RFC 3339 in UTC with as many fractional digits as needed (at most 6).
std::string rfc3339(int64_t micros);

// ---- webhook --------------------------------------------------------------------------------

// The JSON body (compact, keys in a fixed order): idempotencyKey, kind, event, outboxId,
// createdAt, finding {id, ruleId, severity, title, evidence, fromState, toState, asset, service,
// scanId, at}, instance, tool {name, version}.
std::string webhookBody(const AlertEvent& event, const MessageContext& context);
// Lower-case hex HMAC-SHA256 of `body` under `key` (RFC 2104, FIPS 180-4).
std::string hmacSha256Hex(std::string_view key, std::string_view body);
// The X-Tlsaudit-Signature value: "sha256=<hex>".
std::string webhookSignature(std::string_view secret, std::string_view body);

// ---- Alertmanager ---------------------------------------------------------------------------

// Labels identify an alert in Alertmanager, so they hold only what stays the same between a
// finding's firing and resolving events: alertname, rule_id, severity, asset, service, instance
// (= the service, Prometheus' meaning of "instance"). Everything else is an annotation.
// `expires_after_seconds`: endsAt of a firing event = its time + this; 0 leaves endsAt out.
std::string alertmanagerBody(const AlertEvent& event, const MessageContext& context,
                             int64_t expires_after_seconds);

// ---- syslog ---------------------------------------------------------------------------------

// RFC 5426 §3.2: a sender should not exceed 2048 octets unless it knows the receiver takes more.
inline constexpr size_t kSyslogUdpMaxBytes = 2048;
// RFC 5425 §4.3.1 (and common TCP receivers): 8192 octets are accepted everywhere.
inline constexpr size_t kSyslogTcpMaxBytes = 8192;

// The RFC 5424 PRI severity for a finding severity (§6.2.1 table 2): CRITICAL 2 crit, HIGH 3 err,
// MEDIUM 4 warning, LOW 5 notice, INFO and unknown 6 info.
int syslogSeverity(tlsaudit::v1::Severity severity);

// One RFC 5424 message (§6): <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID
// [tlsaudit@32473 key= event= rule= severity= asset= service= finding=] BOM MSG, at most
// `max_bytes` (MSG is cut at a UTF-8 character boundary). TIMESTAMP is the event's time.
std::string syslogMessage(const AlertEvent& event, const MessageContext& context, int facility,
                          std::string_view app_name, size_t max_bytes);
// An SD-PARAM value with '"', '\' and ']' escaped (RFC 5424 §6.3.3).
std::string escapeSdValue(std::string_view value);
// RFC 6587 §3.4.1 octet counting: "MSG-LEN SP SYSLOG-MSG".
std::string octetCountingFrame(std::string_view message);

}  // namespace tlsaudit::scanner::alerts
