// Syslog: each event is one RFC 5424 message (alert_message.h syslogMessage), over UDP as one
// datagram (RFC 5426, at most 2048 octets) or over TCP with octet-counting framing (RFC 6587
// §3.4.1, at most 8192 octets) on a connection kept open between events.
//
// Neither transport acknowledges anything. Over UDP a message counts as delivered when the
// datagram has left; over TCP when the frame was written on a connection the collector had not
// closed (the connection is checked before each write, so a collector restarted between events
// loses nothing, but one that dies right after a write can lose that write).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "scanner/alerts/alert_sink.h"

namespace tlsaudit::scanner::alerts {

struct SyslogAddress {
  std::string host;  // name or address, without brackets
  uint16_t port = 0;
};
// "host:port" or "[v6]:port"; the port is required.
absl::StatusOr<SyslogAddress> parseSyslogAddress(const std::string& address);

class SyslogSink : public AlertSink {
 public:
  static absl::StatusOr<std::unique_ptr<AlertSink>> create(const SinkConfig& config,
                                                           const MessageContext& context);
  ~SyslogSink() override;
  absl::Status deliver(const AlertEvent& event) override;

 private:
  struct Connection;
  SyslogSink(SinkConfig config, MessageContext context, SyslogAddress address);

  SinkConfig config_;
  MessageContext context_;
  SyslogAddress address_;
  bool tcp_ = false;
  std::unique_ptr<Connection> connection_;
};

}  // namespace tlsaudit::scanner::alerts
