// Prometheus Alertmanager: each event is POSTed to {url}/api/v2/alerts as a list of one alert
// (alert_message.h alertmanagerBody); resolved and waived findings carry an endsAt that has
// passed, which resolves the alert. A 2xx answer delivers it.
#pragma once

#include <memory>

#include "scanner/alerts/alert_sink.h"
#include "scanner/alerts/http_client.h"

namespace tlsaudit::scanner::alerts {

class AlertmanagerSink : public AlertSink {
 public:
  static absl::StatusOr<std::unique_ptr<AlertSink>> create(const SinkConfig& config,
                                                           const MessageContext& context);
  absl::Status deliver(const AlertEvent& event) override;

  // The alerts endpoint under a base URL: http://am:9093 and http://am:9093/ give
  // http://am:9093/api/v2/alerts, http://gw/am gives http://gw/am/api/v2/alerts.
  static HttpUrl alertsUrl(HttpUrl base);

 private:
  AlertmanagerSink(SinkConfig config, MessageContext context, HttpUrl url,
                   std::unique_ptr<HttpClient> client);

  SinkConfig config_;
  MessageContext context_;
  HttpUrl url_;
  std::unique_ptr<HttpClient> client_;
};

}  // namespace tlsaudit::scanner::alerts
