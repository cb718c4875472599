// SIP OPTIONS (RFC 3261 §11) request builder and response parser: pure byte code used after a
// TLS handshake on sips:// endpoints, and by discovery over UDP/TCP.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace tlsaudit::collectors::fingerprint {

struct SipOptionsRequest {
  std::string transport = "TLS";  // Via transport token: UDP, TCP, TLS
  std::string target_host;        // host or address literal of the peer (IPv6 without brackets)
  uint16_t target_port = 5061;
  std::string local_host;         // our address as seen on the socket
  uint16_t local_port = 0;
  std::string call_id;            // unique per request
  std::string branch;             // Via branch suffix (the builder adds the z9hG4bK magic cookie)
  std::string tag;                // From tag
};
std::string buildSipOptions(const SipOptionsRequest& request);

struct SipResponse {
  int status_code = 0;
  std::string status_line;   // e.g. "SIP/2.0 200 OK", sanitised
  std::string user_agent;    // User-Agent header value, sanitised, at most 256 characters
  std::string server;        // Server header value
};
// Largest response header block accepted.
inline constexpr size_t kMaxSipHeaderBytes = 16 * 1024;
// Parses the header block of a SIP response. nullopt while the block is incomplete (no blank
// line yet); a SipResponse with status_code 0 and status_line naming the problem when the data
// is not a SIP response or exceeds kMaxSipHeaderBytes. Compact header forms are understood.
std::optional<SipResponse> parseSipResponse(std::span<const uint8_t> data);

}  // namespace tlsaudit::collectors::fingerprint
