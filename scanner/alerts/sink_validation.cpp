// validateSink / validateSinks (alert_dispatcher.h): one sentence per mistake, naming the sink
// and the field, and what would be accepted. Values of secrets and headers are never repeated.
#include <unistd.h>

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "scanner/alerts/alert_dispatcher.h"
#include "scanner/alerts/http_client.h"
#include "scanner/alerts/syslog_sink.h"

namespace tlsaudit::scanner::alerts {
namespace {

constexpr const char* kEvents[] = {"opened", "reopened", "resolved", "waived", "unwaived"};

// RFC 9110 §5.1: a field name is a token (§5.6.2 tchar).
bool isToken(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isalnum(c) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

// Headers the sink writes itself; a configured one would contradict them.
bool reservedHeader(const std::string& name) {
  static const std::set<std::string> kReserved = {
      "host",       "content-length",  "content-type",     "transfer-encoding",
      "connection", "idempotency-key", "x-tlsaudit-event", "x-tlsaudit-signature",
      "te",         "upgrade",         "trailer",          "keep-alive"};
  return kReserved.count(absl::AsciiStrToLower(name)) > 0;
}

}  // namespace

absl::Status validateSink(const SinkConfig& sink) {
  const std::string where = absl::StrCat("alerts[", sink.name, "].");
  auto bad = [&](const char* field, absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(where, field, ": ", why));
  };
  if (sink.name.empty())
    return absl::InvalidArgumentError("alerts[].name: every sink needs a name");
  if (sink.name.size() > 100 || !std::all_of(sink.name.begin(), sink.name.end(), [](char c) {
        return absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.';
      })) {
    return bad("name", "use up to 100 letters, digits, '-', '_' or '.'");
  }
  bool http = sink.type == "webhook" || sink.type == "alertmanager";
  if (!http && sink.type != "syslog") {
    return bad("type", absl::StrCat("unknown sink type \"", sink.type,
                                    "\"; expected webhook, alertmanager or syslog"));
  }
  if (http) {
    if (sink.url.empty()) return bad("url", "required for a " + sink.type + " sink");
    auto url = parseHttpUrl(sink.url);
    if (!url.ok()) return bad("url", url.status().message());
    if (sink.type == "alertmanager" && url->path.find('?') != std::string::npos) {
      return bad("url", "an Alertmanager base URL has no query (alerts go to {url}/api/v2/alerts)");
    }
    if (!sink.address.empty()) return bad("address", "only syslog sinks have an address");
    if (!url->tls && !sink.ca_file.empty()) return bad("ca_file", "only used with https:// URLs");
    if (!sink.ca_file.empty() && ::access(sink.ca_file.c_str(), R_OK) != 0) {
      return bad("ca_file", absl::StrCat("cannot read ", sink.ca_file));
    }
  } else {
    if (sink.address.empty()) return bad("address", "required for a syslog sink (host:port)");
    if (auto a = parseSyslogAddress(sink.address); !a.ok()) {
      return bad("address", a.status().message());
    }
    if (sink.transport != "udp" && sink.transport != "tcp") {
      return bad("transport", absl::StrCat("\"", sink.transport, "\" is not udp or tcp"));
    }
    if (!sink.url.empty()) return bad("url", "syslog sinks use address, not url");
    // RFC 5424 §6.2.1: facilities are 0..23.
    if (sink.facility < 0 || sink.facility > 23) return bad("facility", "must be 0..23");
    // RFC 5424 §6.2.5: APP-NAME is 1..48 printable US-ASCII characters.
    if (sink.app_name.empty() || sink.app_name.size() > 48 ||
        !std::all_of(sink.app_name.begin(), sink.app_name.end(),
                     [](char c) { return c > 32 && c < 127; })) {
      return bad("app_name", "1 to 48 printable ASCII characters without spaces");
    }
    if (!sink.headers.empty()) return bad("headers", "only webhook and alertmanager sinks");
    if (!sink.ca_file.empty()) return bad("ca_file", "only webhook and alertmanager sinks");
  }
  if (!sink.secret.empty() && sink.type != "webhook") {
    return bad("secret", "only webhook sinks sign their bodies");
  }
  std::set<std::string> seen;
  for (const auto& [name, value] : sink.headers) {
    if (!isToken(name)) return bad("headers", absl::StrCat("\"", name, "\" is not a header name"));
    if (reservedHeader(name)) {
      return bad("headers", absl::StrCat(name, " is set by tlsaudit itself"));
    }
    if (!seen.insert(absl::AsciiStrToLower(name)).second) {
      return bad("headers", absl::StrCat(name, " is given twice"));
    }
    // RFC 9110 §5.5: CR, LF and NUL are never allowed in a field value (they would start a
    // header of the receiver's choosing). The value itself may be a secret: not repeated.
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return bad("headers", absl::StrCat("the value of ", name, " contains a line break or NUL"));
    }
  }
  if (!tlsaudit::v1::Severity_IsValid(sink.min_severity)) {
    return bad("min_severity", "expected info, low, medium, high or critical");
  }
  for (const auto& rule : sink.rules) {
    if (rule.empty()) return bad("rules", "a rule id is empty");
  }
  for (const auto& event : sink.events) {
    if (std::find(std::begin(kEvents), std::end(kEvents), event) == std::end(kEvents)) {
      return bad("events", absl::StrCat("unknown event \"", event, "\"; expected ",
                                        absl::StrJoin(kEvents, ", ")));
    }
  }
  if (sink.timeout.count() < 1 || sink.timeout > std::chrono::minutes(5)) {
    return bad("timeout", "must be between 1 ms and 5 minutes");
  }
  if (sink.expires_after.count() < 0) return bad("expires_after", "must not be negative");
  return absl::OkStatus();
}

absl::Status validateSinks(const std::vector<SinkConfig>& sinks) {
  std::set<std::string> names;
  for (const auto& sink : sinks) {
    if (auto st = validateSink(sink); !st.ok()) return st;
    // The name keys the sink's delivery state in the database: two sinks may not share it.
    if (!names.insert(sink.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("alerts[", sink.name, "].name: another sink has the same name"));
    }
  }
  return absl::OkStatus();
}

}  // namespace tlsaudit::scanner::alerts
