#include "collectors/tls/client_hello.h"

#include <arpa/inet.h>

#include <algorithm>

#include "collectors/tls/byte_io.h"

namespace tlsaudit::collectors::tls {
namespace {

constexpr uint8_t kHandshakeRecord = 22;       // RFC 5246 §6.2.1 ContentType.handshake
constexpr uint8_t kClientHelloType = 1;        // RFC 5246 §7.4 HandshakeType.client_hello
constexpr size_t kMaxRecordPlaintext = 16384;  // 2^14, RFC 5246 §6.2.1

// Writes the extensions' contents (without the outer length prefix).
void writeExtensions(ByteWriter& w, const HelloSpec& spec) {
  if (!spec.server_name.empty() && !isAddressLiteral(spec.server_name)) {
    // RFC 6066 §3: ServerNameList with one host_name entry.
    w.u16(ext::kServerName);
    w.begin(2);
    w.begin(2);
    w.u8(0);  // NameType.host_name
    w.begin(2);
    w.bytes({reinterpret_cast<const uint8_t*>(spec.server_name.data()), spec.server_name.size()});
    w.end();
    w.end();
    w.end();
  }
  if (spec.renegotiation_info) {
    // RFC 5746 §3.2: empty renegotiated_connection on the initial handshake.
    w.u16(ext::kRenegotiationInfo);
    w.begin(2);
    w.u8(0);
    w.end();
  }
  if (!spec.supported_groups.empty()) {
    w.u16(ext::kSupportedGroups);
    w.begin(2);
    w.begin(2);
    for (uint16_t g : spec.supported_groups) w.u16(g);
    w.end();
    w.end();
  }
  if (spec.ec_point_formats) {
    // RFC 8422 §5.1.2: uncompressed, ansiX962_compressed_prime, ansiX962_compressed_char2.
    w.u16(ext::kEcPointFormats);
    w.begin(2);
    w.begin(1);
    w.u8(0);
    w.u8(1);
    w.u8(2);
    w.end();
    w.end();
  }
  if (spec.session_ticket) {
    w.u16(ext::kSessionTicket);
    w.begin(2);
    w.end();
  }
  if (!spec.alpn.empty()) {
    w.u16(ext::kAlpn);
    w.begin(2);
    w.begin(2);
    for (const auto& p : spec.alpn) {
      w.begin(1);
      w.bytes({reinterpret_cast<const uint8_t*>(p.data()), p.size()});
      w.end();
    }
    w.end();
    w.end();
  }
  if (spec.encrypt_then_mac) {
    w.u16(ext::kEncryptThenMac);
    w.begin(2);
    w.end();
  }
  if (spec.extended_master_secret) {
    w.u16(ext::kExtendedMasterSecret);
    w.begin(2);
    w.end();
  }
  if (spec.status_request) {
    // RFC 6066 §8: CertificateStatusRequest{ocsp(1), empty responder_id_list, empty extensions}.
    w.u16(ext::kStatusRequest);
    w.begin(2);
    w.u8(1);
    w.u16(0);
    w.u16(0);
    w.end();
  }
  if (!spec.signature_algorithms.empty()) {
    w.u16(ext::kSignatureAlgorithms);
    w.begin(2);
    w.begin(2);
    for (uint16_t s : spec.signature_algorithms) w.u16(s);
    w.end();
    w.end();
  }
  if (spec.heartbeat) {
    // RFC 6520 §2: HeartbeatMode peer_allowed_to_send(1).
    w.u16(ext::kHeartbeat);
    w.begin(2);
    w.u8(1);
    w.end();
  }
  if (!spec.supported_versions.empty()) {
    w.u16(ext::kSupportedVersions);
    w.begin(2);
    w.begin(1);
    for (uint16_t v : spec.supported_versions) w.u16(v);
    w.end();
    w.end();
  }
  if (spec.psk_key_exchange_modes) {
    w.u16(ext::kPskKeyExchangeModes);
    w.begin(2);
    w.begin(1);
    w.u8(1);  // psk_dhe_ke, RFC 8446 §4.2.9
    w.end();
    w.end();
  }
  if (spec.key_share || !spec.key_shares.empty()) {
    w.u16(ext::kKeyShare);
    w.begin(2);
    w.begin(2);
    for (const auto& ks : spec.key_shares) {
      w.u16(ks.group);
      w.begin(2);
      w.bytes(ks.key_exchange);
      w.end();
    }
    w.end();
    w.end();
  }
}

}  // namespace

bool isAddressLiteral(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::vector<uint8_t> buildClientHello(const HelloSpec& spec) {
  // RFC 5246 §7.4.1.2 / RFC 8446 §4.1.2 ClientHello body.
  ByteWriter body;
  body.u16(spec.client_version);
  body.bytes(spec.random);
  body.begin(1);
  body.bytes(spec.session_id);
  body.end();
  body.begin(2);
  for (uint16_t c : spec.cipher_suites) body.u16(c);
  if (spec.renegotiation_scsv) body.u16(kEmptyRenegotiationInfoScsv);
  if (spec.fallback_scsv) body.u16(kFallbackScsv);
  body.end();
  body.begin(1);
  body.bytes(spec.compression_methods);
  body.end();
  if (spec.extensions) {
    ByteWriter exts;
    writeExtensions(exts, spec);
    if (spec.pad_fragile_sizes) {
      // RFC 7685 §4: counting the 4-byte handshake header and the 2-byte extensions length,
      // hellos of 256..511 bytes are padded to 512.
      size_t len = 4 + body.size() + 2 + exts.size();
      if (len > 0xFF && len < 0x200) {
        size_t pad = 0x200 - len;
        pad = pad >= 4 + 1 ? pad - 4 : 1;
        exts.u16(ext::kPadding);
        exts.u16(static_cast<uint16_t>(pad));
        exts.bytes(std::vector<uint8_t>(pad, 0));
      }
    }
    body.begin(2);
    body.bytes(exts.data());
    body.end();
  }

  ByteWriter handshake;
  handshake.u8(kClientHelloType);
  handshake.begin(3);
  handshake.bytes(body.data());
  handshake.end();
  const auto& msg = handshake.data();

  ByteWriter records;
  for (size_t off = 0; off < msg.size(); off += kMaxRecordPlaintext) {
    size_t n = std::min(kMaxRecordPlaintext, msg.size() - off);
    records.u8(kHandshakeRecord);
    records.u16(spec.record_version);
    records.u16(static_cast<uint16_t>(n));
    records.bytes(std::span<const uint8_t>(msg).subspan(off, n));
  }
  return records.take();
}

std::vector<uint8_t> buildSsl2ClientHello(uint16_t version, std::span<const uint32_t> cipher_specs,
                                          std::span<const uint8_t> challenge) {
  // draft-hickman-netscape-ssl-00 §2.5 CLIENT-HELLO, in a record with the 2-byte header
  // (§1.2: high bit set, 15-bit length). No session id.
  ByteWriter msg;
  msg.u8(1);  // MSG-CLIENT-HELLO
  msg.u16(version);
  msg.u16(static_cast<uint16_t>(cipher_specs.size() * 3));
  msg.u16(0);
  msg.u16(static_cast<uint16_t>(challenge.size()));
  for (uint32_t spec : cipher_specs) {
    msg.u8(static_cast<uint8_t>(spec >> 16));
    msg.u16(static_cast<uint16_t>(spec));
  }
  msg.bytes(challenge);
  std::vector<uint8_t> out;
  out.reserve(msg.size() + 2);
  out.push_back(static_cast<uint8_t>(0x80 | ((msg.size() >> 8) & 0x7F)));
  out.push_back(static_cast<uint8_t>(msg.size()));
  out.insert(out.end(), msg.data().begin(), msg.data().end());
  return out;
}

}  // namespace tlsaudit::collectors::tls
