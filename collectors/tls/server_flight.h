// Parser for what a server sends in answer to a ClientHello: TLS records carrying ServerHello,
// HelloRetryRequest, Certificate, CertificateStatus, ServerKeyExchange, CertificateRequest,
// ServerHelloDone and alerts, or an SSLv2 SERVER-HELLO / ERROR. Pure byte code: the probe
// appends what it reads and calls parseServerFlight on the whole buffer until the result is
// final. Every length is checked before use; a peer that lies gets kError, never a crash.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace tlsaudit::collectors::tls {

// Caps on what one server flight may contain.
inline constexpr size_t kMaxFlightBytes = 512 * 1024;
inline constexpr size_t kMaxHandshakeMessage = 256 * 1024;
inline constexpr size_t kMaxRecordLength = 16384 + 2048;  // RFC 5246 §6.2.3 ciphertext bound
inline constexpr size_t kMaxCertificates = 32;

struct ServerHelloInfo {
  uint16_t legacy_version = 0;
  uint16_t version = 0;  // negotiated: supported_versions when present, else legacy_version
  bool hello_retry_request = false;  // RFC 8446 §4.1.3 special random
  std::array<uint8_t, 32> random{};
  std::vector<uint8_t> session_id;
  uint16_t cipher_suite = 0;
  uint8_t compression_method = 0;
  std::vector<uint16_t> extension_types;  // in the order received
  bool renegotiation_info = false;
  bool status_request = false;
  bool session_ticket = false;
  bool heartbeat = false;
  bool extended_master_secret = false;
  bool encrypt_then_mac = false;
  std::string alpn;                         // selected protocol, empty when none
  std::optional<uint16_t> key_share_group;  // ServerHello key_share, or HRR selected_group
  // RFC 8446 §4.1.3 downgrade sentinel in the last 8 bytes of random: 0x0303 for "DOWNGRD\x01"
  // (TLS 1.2 negotiated by a 1.3 server), 0x0302 for "DOWNGRD\x00", else 0.
  uint16_t downgrade_sentinel = 0;
};

struct ServerKeyExchangeInfo {
  std::string kind;          // DH, ECDH, RSA (export temporary key), OTHER
  uint16_t named_group = 0;  // for ECDH with a named curve
  uint32_t bits = 0;         // DH prime bits, RSA modulus bits, or 0 for named curves
  std::optional<uint16_t> signature_scheme;  // TLS 1.2 only
};

struct CertificateRequestInfo {
  std::vector<uint8_t> certificate_types;
  std::vector<uint16_t> signature_algorithms;  // TLS 1.2 only
  std::vector<std::vector<uint8_t>> ca_names;  // DER DistinguishedName each
};

struct AlertInfo {
  uint8_t level = 0;
  uint8_t description = 0;
};

struct Ssl2ServerHelloInfo {
  bool session_id_hit = false;
  uint8_t certificate_type = 0;
  uint16_t version = 0;
  std::vector<uint8_t> certificate;
  std::vector<uint32_t> cipher_specs;
};

struct ParsedFlight {
  enum class State {
    kIncomplete,  // more bytes are needed
    kComplete,    // a final answer: ServerHelloDone, TLS 1.3 ServerHello/HRR, alert, SSLv2 hello
    kError        // the peer sent something malformed, oversized or unexpected
  };
  State state = State::kIncomplete;
  std::string error;

  std::optional<ServerHelloInfo> server_hello;
  std::vector<std::vector<uint8_t>> certificates;  // DER, in the order sent
  bool certificate_status = false;                 // a stapled OCSP response arrived
  std::optional<ServerKeyExchangeInfo> server_key_exchange;
  std::optional<CertificateRequestInfo> certificate_request;
  bool server_hello_done = false;
  std::optional<AlertInfo> alert;
  uint16_t alert_record_version = 0;

  bool ssl2 = false;  // the answer was in SSLv2 record format
  std::optional<Ssl2ServerHelloInfo> ssl2_hello;
  std::optional<uint16_t> ssl2_error;  // SSLv2 ERROR message code

  size_t records = 0;
  uint16_t first_record_version = 0;
};

// Parses the bytes received so far. `expect_ssl2` says an SSLv2 CLIENT-HELLO was sent, so a
// non-TLS first byte is read as an SSLv2 record header.
ParsedFlight parseServerFlight(std::span<const uint8_t> data, bool expect_ssl2 = false);

// Readable names for alert descriptions (RFC 8446 §6, RFC 5246 §7.2), e.g. "handshake_failure".
std::string alertName(uint8_t description);

}  // namespace tlsaudit::collectors::tls
