#include "scanner/alerts/alert_sink.h"

#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "scanner/alerts/alertmanager_sink.h"
#include "scanner/alerts/syslog_sink.h"
#include "scanner/alerts/webhook_sink.h"

namespace tlsaudit::scanner::alerts {

absl::StatusOr<std::unique_ptr<AlertSink>> makeAlertSink(const SinkConfig& config,
                                                         const MessageContext& context) {
  if (config.type == "webhook") return WebhookSink::create(config, context);
  if (config.type == "alertmanager") return AlertmanagerSink::create(config, context);
  if (config.type == "syslog") return SyslogSink::create(config, context);
  return absl::InvalidArgumentError("alerts[" + config.name + "].type: unknown sink type");
}

std::string redactSecrets(std::string text, const SinkConfig& config) {
  // Very short values would match ordinary text; no real secret or token is that short.
  constexpr size_t kMinSecret = 4;
  auto redact = [&](const std::string& secret) {
    if (secret.size() >= kMinSecret) absl::StrReplaceAll({{secret, "[redacted]"}}, &text);
  };
  redact(config.secret);
  for (const auto& header : config.headers) redact(header.second);
  // Webhook URLs often carry their token in the path or query, and receivers echo the path
  // back in their errors ("Cannot POST /hooks/T0KEN"): its parts of 10 or more characters are
  // redacted too.
  if (auto url = parseHttpUrl(config.url); url.ok()) {
    for (absl::string_view part : absl::StrSplit(url->path, absl::ByAnyChar("/?&=;"))) {
      if (part.size() >= 10) absl::StrReplaceAll({{part, "[redacted]"}}, &text);
    }
  }
  return text;
}

}  // namespace tlsaudit::scanner::alerts
