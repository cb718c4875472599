// An alert sink: where the dispatcher delivers outbox events (webhook_sink.h,
// alertmanager_sink.h, syslog_sink.h).
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "scanner/alerts/alert_dispatcher.h"
#include "scanner/alerts/alert_message.h"

namespace tlsaudit::scanner::alerts {

class AlertSink {
 public:
  virtual ~AlertSink() = default;

  // Delivers one event. OK means the receiver took it: webhook and Alertmanager answered 2xx;
  // syslog over UDP sent the datagram; syslog over TCP wrote the frame on a connection the
  // collector had not closed. Any error means "not taken": the dispatcher tries the same event
  // again later. Blocks the calling thread for at most the sink's timeout. Called from the
  // dispatcher's delivery thread only (one call at a time); the sink owns its connections.
  // Messages never contain the secret, a header value or a URL path.
  virtual absl::Status deliver(const AlertEvent& event) = 0;
};

// The sink for a configuration that validateSink() accepted. kInvalidArgument when its files
// (ca_file) cannot be read.
absl::StatusOr<std::unique_ptr<AlertSink>> makeAlertSink(const SinkConfig& config,
                                                         const MessageContext& context);

// `text` with the sink's secret and every configured header value replaced by "[redacted]", for
// anything that is logged or stored (a receiver could echo a header back in its answer).
std::string redactSecrets(std::string text, const SinkConfig& config);

}  // namespace tlsaudit::scanner::alerts
