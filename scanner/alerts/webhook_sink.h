// A generic webhook: each event is POSTed as JSON (alert_message.h webhookBody) with
// Idempotency-Key, X-Tlsaudit-Event and, with a secret, X-Tlsaudit-Signature
// ("sha256=<hex HMAC-SHA256 of the exact body>"); a 2xx answer delivers it.
#pragma once

#include <memory>

#include "scanner/alerts/alert_sink.h"
#include "scanner/alerts/http_client.h"

namespace tlsaudit::scanner::alerts {

class WebhookSink : public AlertSink {
 public:
  static absl::StatusOr<std::unique_ptr<AlertSink>> create(const SinkConfig& config,
                                                           const MessageContext& context);
  absl::Status deliver(const AlertEvent& event) override;

  // The request headers for `body` (exposed for tests): Content-Type, Idempotency-Key,
  // X-Tlsaudit-Event, X-Tlsaudit-Signature when a secret is set, then the configured headers.
  static HttpHeaders requestHeaders(const SinkConfig& config, const AlertEvent& event,
                                    const std::string& body);

 private:
  WebhookSink(SinkConfig config, MessageContext context, HttpUrl url,
              std::unique_ptr<HttpClient> client);

  SinkConfig config_;
  MessageContext context_;
  HttpUrl url_;
  std::unique_ptr<HttpClient> client_;
};

}  // namespace tlsaudit::scanner::alerts
