// ClientHello builders: TLS record format (SSLv3 .. TLS 1.3) and the SSLv2 CLIENT-HELLO. Pure
// byte code with no I/O, so golden-byte tests and fuzzers drive it directly.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace tlsaudit::collectors::tls {

// Wire values of protocol versions (RFC 8446 §4.2.1, RFC 6101 §5.2.2, SSLv2 draft).
inline constexpr uint16_t kSsl2Wire = 0x0002;
inline constexpr uint16_t kSsl3Wire = 0x0300;
inline constexpr uint16_t kTls10Wire = 0x0301;
inline constexpr uint16_t kTls11Wire = 0x0302;
inline constexpr uint16_t kTls12Wire = 0x0303;
inline constexpr uint16_t kTls13Wire = 0x0304;

// Signalling cipher suite values (not suites).
inline constexpr uint16_t kEmptyRenegotiationInfoScsv = 0x00FF;  // RFC 5746 §3.3
inline constexpr uint16_t kFallbackScsv = 0x5600;                // RFC 7507 §2

// Extension types (IANA "TLS ExtensionType Values").
namespace ext {
inline constexpr uint16_t kServerName = 0;              // RFC 6066 §3
inline constexpr uint16_t kStatusRequest = 5;           // RFC 6066 §8
inline constexpr uint16_t kSupportedGroups = 10;        // RFC 8422 §5.1.1 / RFC 7919
inline constexpr uint16_t kEcPointFormats = 11;         // RFC 8422 §5.1.2
inline constexpr uint16_t kSignatureAlgorithms = 13;    // RFC 5246 §7.4.1.4.1 / RFC 8446 §4.2.3
inline constexpr uint16_t kHeartbeat = 15;              // RFC 6520 §2
inline constexpr uint16_t kAlpn = 16;                   // RFC 7301 §3.1
inline constexpr uint16_t kPadding = 21;                // RFC 7685
inline constexpr uint16_t kEncryptThenMac = 22;         // RFC 7366
inline constexpr uint16_t kExtendedMasterSecret = 23;   // RFC 7627
inline constexpr uint16_t kSessionTicket = 35;          // RFC 5077
inline constexpr uint16_t kSupportedVersions = 43;      // RFC 8446 §4.2.1
inline constexpr uint16_t kPskKeyExchangeModes = 45;    // RFC 8446 §4.2.9
inline constexpr uint16_t kKeyShare = 51;               // RFC 8446 §4.2.8
inline constexpr uint16_t kRenegotiationInfo = 0xFF01;  // RFC 5746 §3.2
}  // namespace ext

struct KeyShareEntry {
  uint16_t group = 0;
  std::vector<uint8_t> key_exchange;  // e.g. the 32-byte X25519 public key
};

// Everything a ClientHello carries. Empty lists and false flags leave an extension out.
struct HelloSpec {
  uint16_t record_version = kTls10Wire;  // record layer version (0x0301 is what servers expect)
  uint16_t client_version = kTls12Wire;  // legacy_version
  std::array<uint8_t, 32> random{};
  std::vector<uint8_t> session_id;  // 0 or 32 bytes (TLS 1.3 middlebox compatibility)
  std::vector<uint16_t> cipher_suites;
  bool renegotiation_scsv = false;  // append TLS_EMPTY_RENEGOTIATION_INFO_SCSV
  bool fallback_scsv = false;       // append TLS_FALLBACK_SCSV
  std::vector<uint8_t> compression_methods = {0};

  bool extensions = true;   // false: no extensions block at all (SSLv3 style)
  std::string server_name;  // DNS name; empty (or an address literal) → no SNI
  std::vector<uint16_t> supported_groups;
  bool ec_point_formats = false;
  std::vector<uint16_t> signature_algorithms;
  bool renegotiation_info = false;
  bool status_request = false;
  bool session_ticket = false;
  bool heartbeat = false;
  bool extended_master_secret = false;
  bool encrypt_then_mac = false;
  std::vector<std::string> alpn;
  std::vector<uint16_t> supported_versions;  // TLS 1.3 style version list
  std::vector<KeyShareEntry> key_shares;
  // Send key_share even with no entries: RFC 8446 §4.2.8 lets a client offer none and have the
  // server name its group in a HelloRetryRequest.
  bool key_share = false;
  bool psk_key_exchange_modes = false;
  // Pads hellos of 256..511 bytes to 512 (RFC 7685 §4): some load balancers and embedded
  // stacks hang on hellos in that size range.
  bool pad_fragile_sizes = true;
};

// The complete TLS record(s) carrying the ClientHello handshake message. Fragments into several
// records when the message exceeds 2^14 bytes (RFC 5246 §6.2.1).
std::vector<uint8_t> buildClientHello(const HelloSpec& spec);

// The SSLv2 CLIENT-HELLO (draft-hickman-netscape-ssl-00 §2.5), also the SSLv2-compatible form
// of a TLS hello (RFC 5246 Appendix E.2) when `version` is 0x0300 or above. `cipher_specs` are
// 24-bit kinds; TLS suites are written as 0x00XXXX. `challenge` must be 16..32 bytes.
std::vector<uint8_t> buildSsl2ClientHello(uint16_t version, std::span<const uint32_t> cipher_specs,
                                          std::span<const uint8_t> challenge);

// True for strings that are IPv4 or IPv6 literals (they never go into SNI, RFC 6066 §3).
bool isAddressLiteral(const std::string& host);

}  // namespace tlsaudit::collectors::tls
