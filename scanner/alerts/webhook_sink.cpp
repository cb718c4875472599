#include "scanner/alerts/webhook_sink.h"

#include <utility>

namespace tlsaudit::scanner::alerts {

absl::StatusOr<std::unique_ptr<AlertSink>> WebhookSink::create(const SinkConfig& config,
                                                               const MessageContext& context) {
  auto url = parseHttpUrl(config.url);
  if (!url.ok()) return url.status();
  auto client = HttpClient::create({.ca_file = config.ca_file, .verify_tls = config.verify_tls});
  if (!client.ok()) return client.status();
  return std::unique_ptr<AlertSink>(
      new WebhookSink(config, context, *std::move(url), *std::move(client)));
}

WebhookSink::WebhookSink(SinkConfig config, MessageContext context, HttpUrl url,
                         std::unique_ptr<HttpClient> client)
    : config_(std::move(config)),
      context_(std::move(context)),
      url_(std::move(url)),
      client_(std::move(client)) {}

HttpHeaders WebhookSink::requestHeaders(const SinkConfig& config, const AlertEvent& event,
                                        const std::string& body) {
  HttpHeaders headers = {{"Content-Type", "application/json"},
                         {"Idempotency-Key", event.idempotency_key},
                         {"X-Tlsaudit-Event", event.kind}};
  if (!config.secret.empty()) {
    headers.emplace_back("X-Tlsaudit-Signature", webhookSignature(config.secret, body));
  }
  headers.insert(headers.end(), config.headers.begin(), config.headers.end());
  return headers;
}

absl::Status WebhookSink::deliver(const AlertEvent& event) {
  std::string body = webhookBody(event, context_);
  HttpHeaders headers = requestHeaders(config_, event, body);
  return acceptedOrError(url_, client_->post(url_, headers, std::move(body), config_.timeout));
}

}  // namespace tlsaudit::scanner::alerts
