#include "scanner/alerts/alert_message.h"

#include <google/protobuf/util/time_util.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace tlsaudit::scanner::alerts {
namespace {

namespace v1 = tlsaudit::v1;
using google::protobuf::util::TimeUtil;
using Json = nlohmann::ordered_json;

// A text field of the payload; numbers are accepted too (ids may travel either way).
std::string textField(const nlohmann::json& payload, const char* key) {
  auto it = payload.find(key);
  if (it == payload.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
  return "";
}

int64_t intField(const nlohmann::json& payload, const char* key) {
  auto it = payload.find(key);
  if (it == payload.end()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    if (!s.empty() && s.size() < 19 && std::all_of(s.begin(), s.end(), absl::ascii_isdigit)) {
      return std::stoll(s);
    }
  }
  return 0;
}

// The longest prefix of `s` of at most `max` bytes that does not split a UTF-8 sequence.
std::string_view utf8Prefix(std::string_view s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  // Back off over continuation bytes (10xxxxxx) to the start of the cut character.
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

// Control characters (C0 and DEL) become spaces: a message is one line for every receiver,
// whatever a peer put into a certificate subject.
std::string withoutControls(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) c = ' ';
  }
  return out;
}

// An RFC 5424 header field (§6: PRINTUSASCII, 33..126), at most `max` octets; "-" (NILVALUE)
// when nothing is left.
std::string headerField(std::string_view s, size_t max) {
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 33 && u <= 126) out += c;
    if (out.size() == max) break;
  }
  return out.empty() ? "-" : out;
}

// The asset's address without the prefix length of a single host: ingest writes the address as
// `inet::text`, which keeps it ("10.1.2.3/32"); receivers want the address alone.
std::string hostAddress(std::string address) {
  bool v6 = address.find(':') != std::string::npos;
  std::string_view full = v6 ? "/128" : "/32";
  if (address.size() > full.size() && address.ends_with(full)) {
    address.resize(address.size() - full.size());
  }
  return address;
}

std::string timeOrNil(int64_t micros) { return micros == 0 ? "-" : rfc3339(micros); }

}  // namespace

absl::StatusOr<AlertEvent> parseOutboxEvent(const storage::OutboxEvent& row) {
  auto payload = nlohmann::json::parse(row.payload, nullptr, /*allow_exceptions=*/false);
  if (payload.is_discarded() || !payload.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("outbox event ", row.id, ": payload is not a JSON object"));
  }
  AlertEvent e;
  e.outbox_id = row.id;
  e.kind = row.kind;
  e.idempotency_key = row.idempotency_key;
  e.created_micros = row.created_micros;
  e.finding_id = textField(payload, "findingId");
  e.event = textField(payload, "event");
  e.rule_id = textField(payload, "ruleId");
  int64_t severity = intField(payload, "severity");
  e.severity = v1::Severity_IsValid(static_cast<int>(severity))
                   ? static_cast<v1::Severity>(severity)
                   : v1::SEVERITY_UNSPECIFIED;
  e.title = textField(payload, "title");
  e.evidence = textField(payload, "evidence");
  int64_t from = intField(payload, "fromState");
  int64_t to = intField(payload, "toState");
  e.from_state = v1::FindingState_IsValid(static_cast<int>(from))
                     ? static_cast<v1::FindingState>(from)
                     : v1::FINDING_STATE_UNSPECIFIED;
  e.to_state = v1::FindingState_IsValid(static_cast<int>(to)) ? static_cast<v1::FindingState>(to)
                                                              : v1::FINDING_STATE_UNSPECIFIED;
  e.asset = hostAddress(textField(payload, "asset"));
  e.service = textField(payload, "service");
  e.scan_id = textField(payload, "scanId");
  google::protobuf::Timestamp at;
  std::string at_text = textField(payload, "at");
  e.at_micros = !at_text.empty() && TimeUtil::FromString(at_text, &at)
                    ? TimeUtil::TimestampToMicroseconds(at)
                    : row.created_micros;
  if (e.event.empty() || e.rule_id.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("outbox event ", row.id, ": payload lacks event or ruleId"));
  }
  return e;
}

std::string severityName(v1::Severity severity) {
  if (severity == v1::SEVERITY_UNSPECIFIED || !v1::Severity_IsValid(severity)) {
    return "UNSPECIFIED";
  }
  return v1::Severity_Name(severity);
}

std::string stateName(v1::FindingState state) {
  if (state == v1::FINDING_STATE_UNSPECIFIED || !v1::FindingState_IsValid(state)) return "NONE";
  return v1::FindingState_Name(state);
}

std::string rfc3339(int64_t micros) {
  return TimeUtil::ToString(TimeUtil::MicrosecondsToTimestamp(micros));
}

// ---- webhook --------------------------------------------------------------------------------

std::string webhookBody(const AlertEvent& e, const MessageContext& context) {
  Json finding = {{"id", e.finding_id},
                  {"ruleId", e.rule_id},
                  {"severity", severityName(e.severity)},
                  {"title", e.title},
                  {"evidence", e.evidence},
                  {"fromState", stateName(e.from_state)},
                  {"toState", stateName(e.to_state)},
                  {"asset", e.asset},
                  {"service", e.service},
                  {"scanId", e.scan_id},
                  {"at", rfc3339(e.at_micros)}};
  // Ids travel as strings, as proto3 JSON writes int64 (JavaScript numbers stop at 2^53).
  Json body = {{"idempotencyKey", e.idempotency_key},
               {"kind", e.kind},
               {"event", e.event},
               {"outboxId", std::to_string(e.outbox_id)},
               {"createdAt", rfc3339(e.created_micros)},
               {"finding", std::move(finding)},
               {"instance", context.instance},
               {"tool", {{"name", "tlsaudit"}, {"version", context.tool_version}}}};
  // Stored text is valid UTF-8 (PostgreSQL checks it); `replace` only guards against a bug.
  return body.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string hmacSha256Hex(std::string_view key, std::string_view body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  static const unsigned char kEmpty = 0;
  const void* key_data =
      key.empty() ? static_cast<const void*>(&kEmpty) : static_cast<const void*>(key.data());
  if (HMAC(EVP_sha256(), key_data, static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac,
           &len) == nullptr) {
    return "";
  }
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[mac[i] >> 4];
    out += kHex[mac[i] & 0x0F];
  }
  return out;
}

std::string webhookSignature(std::string_view secret, std::string_view body) {
  return "sha256=" + hmacSha256Hex(secret, body);
}

// ---- Alertmanager ---------------------------------------------------------------------------

std::string alertmanagerBody(const AlertEvent& e, const MessageContext& context,
                             int64_t expires_after_seconds) {
  Json labels = Json::object();
  // Alertmanager drops labels with empty values (api/v2 removeEmptyLabels), so leave them out
  // here too: what we send is what it keys the alert on.
  auto label = [&](const char* name, const std::string& value) {
    if (!value.empty()) labels[name] = value;
  };
  label("alertname", "TlsauditFinding");
  label("rule_id", e.rule_id);
  label("severity", absl::AsciiStrToLower(severityName(e.severity)));
  label("asset", e.asset);
  label("service", e.service);
  label("instance", e.service);

  Json annotations = Json::object();
  auto annotation = [&](const char* name, const std::string& value) {
    if (!value.empty()) annotations[name] = value;
  };
  annotation("summary", e.title);
  annotation("title", e.title);
  annotation("evidence", e.evidence);
  annotation("event", e.event);
  annotation("idempotency_key", e.idempotency_key);
  annotation("finding_id", e.finding_id);
  annotation("scan_id", e.scan_id);
  annotation("state", stateName(e.to_state));
  annotation("tlsaudit_instance", context.instance);

  Json alert = {{"labels", std::move(labels)}, {"annotations", std::move(annotations)}};
  alert["startsAt"] = rfc3339(e.at_micros);
  // A resolved or waived finding no longer fires: an endsAt that has passed resolves the alert
  // (Alertmanager "Sending alerts": endsAt is set when the end time is known). A firing alert
  // is sent once, not re-sent every few minutes as Alertmanager expects from Prometheus, so it
  // carries its own expiry instead of Alertmanager's resolve_timeout.
  bool firing = e.to_state == v1::OPEN;
  if (!firing) {
    alert["endsAt"] = rfc3339(e.at_micros);
  } else if (expires_after_seconds > 0) {
    alert["endsAt"] = rfc3339(e.at_micros + expires_after_seconds * 1000000);
  }
  Json list = Json::array({std::move(alert)});
  return list.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// ---- syslog ---------------------------------------------------------------------------------

int syslogSeverity(v1::Severity severity) {
  switch (severity) {
    case v1::CRITICAL:
      return 2;  // crit
    case v1::HIGH:
      return 3;  // err
    case v1::MEDIUM:
      return 4;  // warning
    case v1::LOW:
      return 5;  // notice
    default:
      return 6;  // informational
  }
}

std::string escapeSdValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    // RFC 5424 §6.3.3: '"', '\' and ']' MUST be escaped in PARAM-VALUE.
    if (c == '"' || c == '\\' || c == ']') out += '\\';
    out += c;
  }
  return out;
}

std::string octetCountingFrame(std::string_view message) {
  return std::to_string(message.size()) + " " + std::string(message);
}

std::string syslogMessage(const AlertEvent& e, const MessageContext& context, int facility,
                          std::string_view app_name, size_t max_bytes) {
  // §6.2.1: PRI = facility * 8 + severity, facilities 0..23.
  int pri = std::clamp(facility, 0, 23) * 8 + syslogSeverity(e.severity);
  std::string procid = context.pid > 0 ? std::to_string(context.pid) : "";
  // §6 HEADER = PRI VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID; field limits
  // from §6 (APP-NAME 48, PROCID 128, MSGID 32); HOSTNAME is kept to 64 of its 255 octets so the
  // header and structured data always fit in the 2048 octets of a UDP datagram.
  std::string out = absl::StrCat(
      "<", pri, ">1 ", timeOrNil(e.at_micros != 0 ? e.at_micros : e.created_micros), " ",
      headerField(context.hostname, 64), " ", headerField(std::string(app_name), 48), " ",
      headerField(procid, 128), " ", headerField(e.kind, 32), " ");
  // §6.3: one SD-ELEMENT. The SD-ID carries an enterprise number (§7.2.2); 32473 is the one
  // reserved for documentation (RFC 5612) until tlsaudit registers its own. Values are capped
  // so that the element stays small whatever the payload holds.
  auto param = [](const char* name, std::string_view value, size_t cap) {
    return absl::StrCat(" ", name, "=\"", escapeSdValue(withoutControls(utf8Prefix(value, cap))),
                        "\"");
  };
  absl::StrAppend(&out, "[tlsaudit@32473", param("key", e.idempotency_key, 64),
                  param("event", e.event, 16), param("rule", e.rule_id, 64),
                  param("severity", severityName(e.severity), 16), param("asset", e.asset, 64),
                  param("service", e.service, 64), param("finding", e.finding_id, 24), "]");

  // §6.4: a UTF-8 MSG starts with the BOM.
  std::string text = absl::StrCat(e.event, " ", severityName(e.severity), " ", e.rule_id);
  if (!e.service.empty()) absl::StrAppend(&text, " on ", e.service);
  absl::StrAppend(&text, ": ", e.title);
  if (!e.evidence.empty()) absl::StrAppend(&text, " (", e.evidence, ")");
  text = withoutControls(text);
  static const std::string kBom = "\xEF\xBB\xBF";
  if (out.size() + 1 + kBom.size() < max_bytes) {
    size_t room = max_bytes - out.size() - 1 - kBom.size();
    out += " " + kBom + std::string(utf8Prefix(text, room));
  }
  return std::string(utf8Prefix(out, max_bytes));
}

}  // namespace tlsaudit::scanner::alerts
