#include "collectors/tls/server_flight.h"

#include <algorithm>
#include <cstring>

#include "collectors/tls/byte_io.h"
#include "collectors/tls/cipher_registry.h"
#include "collectors/tls/client_hello.h"

namespace tlsaudit::collectors::tls {
namespace {

// RFC 5246 §6.2.1 ContentType.
constexpr uint8_t kChangeCipherSpec = 20;
constexpr uint8_t kAlert = 21;
constexpr uint8_t kHandshake = 22;
constexpr uint8_t kApplicationData = 23;
constexpr uint8_t kHeartbeatRecord = 24;  // RFC 6520 §2

// RFC 5246 §7.4 / RFC 6066 §8 HandshakeType.
constexpr uint8_t kHelloRequest = 0;
constexpr uint8_t kServerHello = 2;
constexpr uint8_t kCertificate = 11;
constexpr uint8_t kServerKeyExchange = 12;
constexpr uint8_t kCertificateRequest = 13;
constexpr uint8_t kServerHelloDone = 14;
constexpr uint8_t kCertificateStatus = 22;

// RFC 8446 §4.1.3: SHA-256("HelloRetryRequest").
constexpr std::array<uint8_t, 32> kHelloRetryRandom = {
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C};
// RFC 8446 §4.1.3: "DOWNGRD" followed by 0x01 (TLS 1.2) or 0x00 (TLS 1.1 and below).
constexpr uint8_t kDowngradePrefix[7] = {0x44, 0x4F, 0x57, 0x4E, 0x47, 0x52, 0x44};

uint32_t bitLength(std::span<const uint8_t> n) {
  size_t i = 0;
  while (i < n.size() && n[i] == 0) ++i;
  if (i == n.size()) return 0;
  uint32_t bits = static_cast<uint32_t>((n.size() - i - 1) * 8);
  for (uint8_t top = n[i]; top; top >>= 1) ++bits;
  return bits;
}

class FlightParser {
 public:
  explicit FlightParser(ParsedFlight& out) : out_(out) {}

  void parseRecords(std::span<const uint8_t> data) {
    ByteReader r(data);
    while (!final()) {
      if (r.remaining() < 5) return;  // need a whole record header
      uint8_t type = r.u8();
      uint16_t version = r.u16();
      uint16_t length = r.u16();
      if (type < kChangeCipherSpec || type > kHeartbeatRecord) {
        return fail(describeNonTls(data));
      }
      if ((version >> 8) != 3) {
        return fail("record version 0x" + hex16(version) + " is not SSL 3.0 or TLS");
      }
      if (length > kMaxRecordLength) {
        return fail("record length " + std::to_string(length) + " exceeds the TLS maximum");
      }
      if (r.remaining() < length) return;  // need the whole record
      auto fragment = r.bytes(length);
      if (out_.records++ == 0) out_.first_record_version = version;
      switch (type) {
        case kAlert:
          if (length < 2) return fail("alert record shorter than 2 bytes");
          out_.alert = AlertInfo{fragment[0], fragment[1]};
          out_.alert_record_version = version;
          return complete();
        case kHandshake:
          if (tls13_) break;  // encrypted handshake records would be type 23; ignore the rest
          handshake_.insert(handshake_.end(), fragment.begin(), fragment.end());
          parseHandshakeMessages();
          break;
        case kChangeCipherSpec:  // RFC 8446 §D.4 middlebox compatibility
        case kHeartbeatRecord:
          break;
        case kApplicationData:
          if (!tls13_) return fail("application data before the handshake finished");
          break;
      }
    }
  }

  void parseSsl2(std::span<const uint8_t> data) {
    // draft-hickman-netscape-ssl-00 §1.2: 2-byte header when the high bit is set (15-bit
    // length), else a 3-byte header (14-bit length, then a padding count).
    out_.ssl2 = true;
    if (data.size() < 3) return;
    size_t header = (data[0] & 0x80) ? 2 : 3;
    size_t length =
        (data[0] & 0x80) ? ((data[0] & 0x7Fu) << 8) | data[1] : ((data[0] & 0x3Fu) << 8) | data[1];
    if (data.size() < header + length) return;
    ByteReader r(data.subspan(header, length));
    uint8_t msg_type = r.u8();
    if (!r.ok()) return fail("empty SSLv2 record");
    if (msg_type == 0) {  // §2.7 ERROR: 2-byte code
      uint16_t code = r.u16();
      if (!r.ok()) return fail("truncated SSLv2 ERROR message");
      out_.ssl2_error = code;
      return complete();
    }
    if (msg_type != 4) {  // §2.6 SERVER-HELLO
      return fail("unexpected SSLv2 message type " + std::to_string(msg_type));
    }
    Ssl2ServerHelloInfo hello;
    hello.session_id_hit = r.u8() != 0;
    hello.certificate_type = r.u8();
    hello.version = r.u16();
    uint16_t cert_len = r.u16();
    uint16_t specs_len = r.u16();
    uint16_t conn_id_len = r.u16();
    auto cert = r.bytes(cert_len);
    auto specs = r.bytes(specs_len);
    r.bytes(conn_id_len);
    if (!r.ok()) return fail("SSLv2 SERVER-HELLO lengths exceed the record");
    if (specs_len % 3 != 0) return fail("SSLv2 cipher specs length is not a multiple of 3");
    hello.certificate.assign(cert.begin(), cert.end());
    for (size_t i = 0; i < specs.size(); i += 3) {
      hello.cipher_specs.push_back((uint32_t{specs[i]} << 16) | (uint32_t{specs[i + 1]} << 8) |
                                   specs[i + 2]);
    }
    // Certificate type 1 is X.509 (§2.6).
    if (hello.certificate_type == 1 && !hello.certificate.empty()) {
      out_.certificates.push_back(hello.certificate);
    }
    out_.ssl2_hello = std::move(hello);
    complete();
  }

 private:
  bool final() const { return out_.state != ParsedFlight::State::kIncomplete; }
  void complete() { out_.state = ParsedFlight::State::kComplete; }
  void fail(std::string why) {
    out_.state = ParsedFlight::State::kError;
    out_.error = std::move(why);
  }

  static std::string hex16(uint16_t v) {
    static const char* digits = "0123456789abcdef";
    std::string s(4, '0');
    for (int i = 3; i >= 0; --i, v >>= 4) s[static_cast<size_t>(i)] = digits[v & 0xF];
    return s;
  }

  static std::string describeNonTls(std::span<const uint8_t> data) {
    auto starts = [&](const char* p) {
      size_t n = std::strlen(p);
      return data.size() >= n && std::memcmp(data.data(), p, n) == 0;
    };
    if (starts("HTTP/")) return "peer answered in plain HTTP, not TLS";
    if (starts("SSH-")) return "peer is an SSH server, not TLS";
    if (starts("220") || starts("+OK") || starts("* OK")) {
      return "peer sent a plaintext greeting (a STARTTLS protocol?), not TLS";
    }
    return "peer sent bytes that are not a TLS record (first byte 0x" +
           hex16(data.empty() ? 0 : data[0]).substr(2) + ")";
  }

  void parseHandshakeMessages() {
    while (!final() && !tls13_) {
      if (handshake_.size() < 4) return;
      uint8_t type = handshake_[0];
      size_t length = (size_t{handshake_[1]} << 16) | (size_t{handshake_[2]} << 8) | handshake_[3];
      if (length > kMaxHandshakeMessage) {
        return fail("handshake message type " + std::to_string(type) + " claims " +
                    std::to_string(length) + " bytes, above the " +
                    std::to_string(kMaxHandshakeMessage) + " byte cap");
      }
      if (handshake_.size() < 4 + length) return;
      std::vector<uint8_t> body(handshake_.begin() + 4,
                                handshake_.begin() + 4 + static_cast<std::ptrdiff_t>(length));
      handshake_.erase(handshake_.begin(),
                       handshake_.begin() + 4 + static_cast<std::ptrdiff_t>(length));
      onMessage(type, body);
    }
  }

  void onMessage(uint8_t type, std::span<const uint8_t> body) {
    if (type == kHelloRequest) return;  // RFC 5246 §7.4.1.1: may be ignored
    if (type == kServerHello) return onServerHello(body);
    if (!out_.server_hello) {
      return fail("handshake message type " + std::to_string(type) + " before ServerHello");
    }
    switch (type) {
      case kCertificate:
        return onCertificate(body);
      case kCertificateStatus:
        out_.certificate_status = true;
        return;
      case kServerKeyExchange:
        return onServerKeyExchange(body);
      case kCertificateRequest:
        return onCertificateRequest(body);
      case kServerHelloDone:
        if (!body.empty()) return fail("ServerHelloDone with a non-empty body");
        out_.server_hello_done = true;
        return complete();
      default:
        return fail("unexpected handshake message type " + std::to_string(type) +
                    " in the server's first flight");
    }
  }

  void onServerHello(std::span<const uint8_t> body) {
    if (out_.server_hello) return fail("second ServerHello in one flight");
    // RFC 5246 §7.4.1.3 / RFC 8446 §4.1.3.
    ByteReader r(body);
    ServerHelloInfo sh;
    sh.legacy_version = r.u16();
    auto random = r.bytes(32);
    auto session = r.vector(1);
    sh.cipher_suite = r.u16();
    sh.compression_method = r.u8();
    if (!r.ok()) return fail("truncated ServerHello");
    if (session.remaining() > 32) return fail("ServerHello session id longer than 32 bytes");
    std::copy(random.begin(), random.end(), sh.random.begin());
    auto sid = session.bytes(session.remaining());
    sh.session_id.assign(sid.begin(), sid.end());
    sh.version = sh.legacy_version;
    sh.hello_retry_request = sh.random == kHelloRetryRandom;
    if (std::equal(std::begin(kDowngradePrefix), std::end(kDowngradePrefix),
                   sh.random.begin() + 24)) {
      if (sh.random[31] == 1) sh.downgrade_sentinel = kTls12Wire;
      if (sh.random[31] == 0) sh.downgrade_sentinel = kTls11Wire;
    }
    if (!r.empty()) {
      auto exts = r.vector(2);
      if (!r.ok() || !r.empty()) return fail("malformed ServerHello extensions block");
      while (!exts.empty()) {
        uint16_t ext_type = exts.u16();
        auto data = exts.vector(2);
        if (!exts.ok()) return fail("malformed ServerHello extension");
        if (std::find(sh.extension_types.begin(), sh.extension_types.end(), ext_type) !=
            sh.extension_types.end()) {
          return fail("duplicate ServerHello extension " + std::to_string(ext_type));
        }
        sh.extension_types.push_back(ext_type);
        if (!onServerHelloExtension(sh, ext_type, data)) {
          return fail("malformed ServerHello extension " + std::to_string(ext_type));
        }
      }
    }
    if (sh.version == kTls13Wire || sh.hello_retry_request) tls13_ = true;
    out_.server_hello = std::move(sh);
    // Everything after a TLS 1.3 ServerHello is encrypted; a HelloRetryRequest ends the flight.
    if (tls13_) complete();
  }

  static bool onServerHelloExtension(ServerHelloInfo& sh, uint16_t type, ByteReader data) {
    switch (type) {
      case ext::kRenegotiationInfo:
        sh.renegotiation_info = true;
        return true;
      case ext::kStatusRequest:
        sh.status_request = true;
        return true;
      case ext::kSessionTicket:
        sh.session_ticket = true;
        return true;
      case ext::kHeartbeat:
        sh.heartbeat = true;
        return true;
      case ext::kExtendedMasterSecret:
        sh.extended_master_secret = true;
        return true;
      case ext::kEncryptThenMac:
        sh.encrypt_then_mac = true;
        return true;
      case ext::kAlpn: {
        // RFC 7301 §3.1: exactly one protocol in the server's list.
        auto list = data.vector(2);
        auto name = list.vector(1);
        auto bytes = name.bytes(name.remaining());
        if (!data.ok() || !list.ok() || bytes.empty() || bytes.size() > 255) return false;
        for (uint8_t c : bytes) sh.alpn.push_back((c >= 0x20 && c < 0x7F) ? char(c) : '?');
        return true;
      }
      case ext::kSupportedVersions:
        sh.version = data.u16();
        return data.ok();
      case ext::kKeyShare:
        // RFC 8446 §4.2.8: a KeyShareEntry in ServerHello, only the group in an HRR.
        sh.key_share_group = data.u16();
        return data.ok();
      default:
        return true;
    }
  }

  void onCertificate(std::span<const uint8_t> body) {
    // RFC 5246 §7.4.2: certificate_list<0..2^24-1> of ASN.1Cert<1..2^24-1>.
    ByteReader r(body);
    auto list = r.vector(3);
    if (!r.ok() || !r.empty()) return fail("malformed Certificate message");
    while (!list.empty()) {
      auto cert = list.vector(3);
      if (!list.ok()) return fail("Certificate entry length exceeds the message");
      if (out_.certificates.size() >= kMaxCertificates) {
        return fail("more than " + std::to_string(kMaxCertificates) + " certificates");
      }
      auto der = cert.bytes(cert.remaining());
      if (der.empty()) return fail("empty certificate in the Certificate message");
      out_.certificates.emplace_back(der.begin(), der.end());
    }
  }

  void onServerKeyExchange(std::span<const uint8_t> body) {
    const CipherSuiteInfo* suite = findCipherSuite(out_.server_hello->cipher_suite);
    std::string_view kx = suite ? suite->kx : std::string_view{};
    ByteReader r(body);
    ServerKeyExchangeInfo info;
    bool psk = kx.find("PSK") != std::string_view::npos;
    if (psk) r.vector(2);  // RFC 4279 §2 / RFC 5489 §2: psk_identity_hint first
    bool signed_params = false;
    if (kx == "DHE" || kx == "DH" || kx == "DHE_PSK") {
      // RFC 5246 §7.4.3 ServerDHParams.
      auto p = r.vector(2);
      r.vector(2);  // g
      r.vector(2);  // Ys
      info.kind = "DH";
      info.bits = bitLength(p.bytes(p.remaining()));
      signed_params = !psk && suite->auth != "anon";
    } else if (kx == "ECDHE" || kx == "ECDH" || kx == "ECDHE_PSK") {
      // RFC 8422 §5.4 ServerECDHParams.
      uint8_t curve_type = r.u8();
      info.kind = "ECDH";
      if (curve_type == 3) {
        info.named_group = r.u16();
      } else if (curve_type != 1 && curve_type != 2) {
        return fail("ServerKeyExchange with unknown EC curve type " + std::to_string(curve_type));
      } else {
        // Explicit curve parameters (deprecated, RFC 8422 §5.1.1): not parsed further.
        out_.server_key_exchange = info;
        return;
      }
      r.vector(1);  // public point
      signed_params = !psk && suite->auth != "anon";
    } else if (kx == "RSA") {
      // RFC 2246 §7.4.3 ServerRSAParams: the temporary key of EXPORT suites.
      auto modulus = r.vector(2);
      r.vector(2);
      info.kind = "RSA";
      info.bits = bitLength(modulus.bytes(modulus.remaining()));
      signed_params = true;
    } else {
      info.kind = "OTHER";
      out_.server_key_exchange = info;
      return;
    }
    if (!r.ok()) return fail("malformed ServerKeyExchange");
    if (signed_params && out_.server_hello->version == kTls12Wire && r.remaining() >= 2) {
      info.signature_scheme = r.u16();  // RFC 5246 §7.4.1.4.1 SignatureAndHashAlgorithm
    }
    out_.server_key_exchange = info;
  }

  void onCertificateRequest(std::span<const uint8_t> body) {
    // RFC 5246 §7.4.4 (TLS 1.0/1.1: RFC 4346 §7.4.4, without the signature algorithms).
    ByteReader r(body);
    CertificateRequestInfo info;
    auto types = r.vector(1);
    auto t = types.bytes(types.remaining());
    info.certificate_types.assign(t.begin(), t.end());
    if (out_.server_hello->version == kTls12Wire) {
      auto algs = r.vector(2);
      if (algs.remaining() % 2 != 0) return fail("odd-length signature algorithm list");
      while (algs.ok() && !algs.empty()) info.signature_algorithms.push_back(algs.u16());
    }
    auto cas = r.vector(2);
    if (!r.ok()) return fail("malformed CertificateRequest");
    while (!cas.empty()) {
      auto dn = cas.vector(2);
      if (!cas.ok()) return fail("malformed CertificateRequest CA name");
      if (info.ca_names.size() >= 1024) return fail("more than 1024 CA names");
      auto b = dn.bytes(dn.remaining());
      info.ca_names.emplace_back(b.begin(), b.end());
    }
    out_.certificate_request = std::move(info);
  }

  ParsedFlight& out_;
  std::vector<uint8_t> handshake_;
  bool tls13_ = false;
};

bool isTlsRecordType(uint8_t b) { return b >= kChangeCipherSpec && b <= kHeartbeatRecord; }

}  // namespace

ParsedFlight parseServerFlight(std::span<const uint8_t> data, bool expect_ssl2) {
  ParsedFlight out;
  FlightParser parser(out);
  if (data.empty()) return out;
  if (expect_ssl2 && !isTlsRecordType(data[0])) {
    parser.parseSsl2(data);
  } else {
    parser.parseRecords(data);
  }
  if (out.state == ParsedFlight::State::kIncomplete && data.size() > kMaxFlightBytes) {
    out.state = ParsedFlight::State::kError;
    out.error = "server sent more than " + std::to_string(kMaxFlightBytes) +
                " bytes without finishing its first flight";
  }
  return out;
}

std::string alertName(uint8_t description) {
  switch (description) {
    case 0:
      return "close_notify";
    case 10:
      return "unexpected_message";
    case 20:
      return "bad_record_mac";
    case 21:
      return "decryption_failed";
    case 22:
      return "record_overflow";
    case 30:
      return "decompression_failure";
    case 40:
      return "handshake_failure";
    case 41:
      return "no_certificate";
    case 42:
      return "bad_certificate";
    case 43:
      return "unsupported_certificate";
    case 44:
      return "certificate_revoked";
    case 45:
      return "certificate_expired";
    case 46:
      return "certificate_unknown";
    case 47:
      return "illegal_parameter";
    case 48:
      return "unknown_ca";
    case 49:
      return "access_denied";
    case 50:
      return "decode_error";
    case 51:
      return "decrypt_error";
    case 60:
      return "export_restriction";
    case 70:
      return "protocol_version";
    case 71:
      return "insufficient_security";
    case 80:
      return "internal_error";
    case 86:
      return "inappropriate_fallback";
    case 90:
      return "user_canceled";
    case 100:
      return "no_renegotiation";
    case 109:
      return "missing_extension";
    case 110:
      return "unsupported_extension";
    case 112:
      return "unrecognized_name";
    case 113:
      return "bad_certificate_status_response";
    case 115:
      return "unknown_psk_identity";
    case 116:
      return "certificate_required";
    case 120:
      return "no_application_protocol";
    default:
      return "alert_" + std::to_string(description);
  }
}

}  // namespace tlsaudit::collectors::tls
