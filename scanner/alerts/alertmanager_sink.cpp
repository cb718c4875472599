#include "scanner/alerts/alertmanager_sink.h"

#include <utility>

namespace tlsaudit::scanner::alerts {

HttpUrl AlertmanagerSink::alertsUrl(HttpUrl base) {
  while (!base.path.empty() && base.path.back() == '/') base.path.pop_back();
  // The Alertmanager API v2 (api/v2/openapi.yaml, basePath /api/v2/, POST /alerts).
  base.path += "/api/v2/alerts";
  return base;
}

absl::StatusOr<std::unique_ptr<AlertSink>> AlertmanagerSink::create(const SinkConfig& config,
                                                                    const MessageContext& context) {
  auto url = parseHttpUrl(config.url);
  if (!url.ok()) return url.status();
  auto client = HttpClient::create({.ca_file = config.ca_file, .verify_tls = config.verify_tls});
  if (!client.ok()) return client.status();
  return std::unique_ptr<AlertSink>(
      new AlertmanagerSink(config, context, alertsUrl(*std::move(url)), *std::move(client)));
}

AlertmanagerSink::AlertmanagerSink(SinkConfig config, MessageContext context, HttpUrl url,
                                   std::unique_ptr<HttpClient> client)
    : config_(std::move(config)),
      context_(std::move(context)),
      url_(std::move(url)),
      client_(std::move(client)) {}

absl::Status AlertmanagerSink::deliver(const AlertEvent& event) {
  HttpHeaders headers = {{"Content-Type", "application/json"},
                         {"Idempotency-Key", event.idempotency_key}};
  headers.insert(headers.end(), config_.headers.begin(), config_.headers.end());
  std::string body = alertmanagerBody(event, context_, config_.expires_after.count());
  return acceptedOrError(url_, client_->post(url_, headers, std::move(body), config_.timeout));
}

}  // namespace tlsaudit::scanner::alerts
