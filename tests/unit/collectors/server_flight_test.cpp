// The server-flight parser on hand-built flights: complete, fragmented, byte by byte, and every
// way a hostile peer can lie about lengths.
#include "collectors/tls/server_flight.h"

#include <gtest/gtest.h>

#include "collectors/tls/byte_io.h"
#include "collectors/tls/client_hello.h"

namespace tlsaudit::collectors::tls {
namespace {

using State = ParsedFlight::State;

std::vector<uint8_t> handshake(uint8_t type, const std::vector<uint8_t>& body) {
  ByteWriter w;
  w.u8(type);
  w.u24(static_cast<uint32_t>(body.size()));
  w.bytes(body);
  return w.take();
}

std::vector<uint8_t> record(uint8_t type, const std::vector<uint8_t>& payload,
                            uint16_t version = kTls12Wire) {
  ByteWriter w;
  w.u8(type);
  w.u16(version);
  w.u16(static_cast<uint16_t>(payload.size()));
  w.bytes(payload);
  return w.take();
}

std::vector<uint8_t> serverHello(
    uint16_t version, uint16_t suite,
    const std::vector<std::pair<uint16_t, std::vector<uint8_t>>>& exts = {},
    std::array<uint8_t, 32> random = {}) {
  ByteWriter w;
  w.u16(version);
  w.bytes(random);
  w.u8(0);  // empty session id
  w.u16(suite);
  w.u8(0);
  if (!exts.empty()) {
    w.begin(2);
    for (const auto& [type, data] : exts) {
      w.u16(type);
      w.begin(2);
      w.bytes(data);
      w.end();
    }
    w.end();
  }
  return handshake(2, w.take());
}

std::vector<uint8_t> certificateMsg(const std::vector<std::vector<uint8_t>>& certs) {
  ByteWriter w;
  w.begin(3);
  for (const auto& c : certs) {
    w.begin(3);
    w.bytes(c);
    w.end();
  }
  w.end();
  return handshake(11, w.take());
}

std::vector<uint8_t> concat(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::vector<uint8_t> ecdheKeyExchange(uint16_t group) {
  ByteWriter w;
  w.u8(3);  // named_curve
  w.u16(group);
  w.begin(1);
  w.bytes(std::vector<uint8_t>(32, 9));
  w.end();
  w.u16(0x0401);  // rsa_pkcs1_sha256
  w.begin(2);
  w.bytes(std::vector<uint8_t>(64, 1));
  w.end();
  return handshake(12, w.take());
}

std::vector<uint8_t> certificateRequest12() {
  ByteWriter w;
  w.begin(1);
  w.u8(1);   // rsa_sign
  w.u8(64);  // ecdsa_sign
  w.end();
  w.begin(2);
  w.u16(0x0101);  // rsa_pkcs1_md5
  w.u16(0x0201);  // rsa_pkcs1_sha1
  w.u16(0x0401);
  w.end();
  w.begin(2);
  w.begin(2);
  w.bytes(std::vector<uint8_t>{0x30, 0x00});
  w.end();
  w.end();
  return handshake(13, w.take());
}

std::vector<uint8_t> fullTls12Flight() {
  std::vector<uint8_t> reneg = {0};
  auto messages =
      concat({serverHello(kTls12Wire, 0xC02F, {{0xFF01, reneg}, {16, {0, 3, 2, 'h', '2'}}}),
              certificateMsg({{0x30, 0x03, 1, 2, 3}, {0x30, 0x01, 7}}), ecdheKeyExchange(23),
              certificateRequest12(), handshake(14, {})});
  return record(22, messages);
}

TEST(ServerFlightTest, ParsesACompleteTls12Flight) {
  auto flight = parseServerFlight(fullTls12Flight());
  ASSERT_EQ(flight.state, State::kComplete) << flight.error;
  ASSERT_TRUE(flight.server_hello);
  EXPECT_EQ(flight.server_hello->version, kTls12Wire);
  EXPECT_EQ(flight.server_hello->cipher_suite, 0xC02F);
  EXPECT_TRUE(flight.server_hello->renegotiation_info);
  EXPECT_EQ(flight.server_hello->alpn, "h2");
  ASSERT_EQ(flight.certificates.size(), 2u);
  EXPECT_EQ(flight.certificates[1], (std::vector<uint8_t>{0x30, 0x01, 7}));
  ASSERT_TRUE(flight.server_key_exchange);
  EXPECT_EQ(flight.server_key_exchange->kind, "ECDH");
  EXPECT_EQ(flight.server_key_exchange->named_group, 23);
  EXPECT_EQ(flight.server_key_exchange->signature_scheme, 0x0401);
  ASSERT_TRUE(flight.certificate_request);
  EXPECT_EQ(flight.certificate_request->certificate_types, (std::vector<uint8_t>{1, 64}));
  EXPECT_EQ(flight.certificate_request->signature_algorithms,
            (std::vector<uint16_t>{0x0101, 0x0201, 0x0401}));
  EXPECT_EQ(flight.certificate_request->ca_names.size(), 1u);
  EXPECT_TRUE(flight.server_hello_done);
}

TEST(ServerFlightTest, IncompleteUntilTheLastByteArrives) {
  auto bytes = fullTls12Flight();
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto flight = parseServerFlight(std::span(bytes).first(n));
    ASSERT_EQ(flight.state, State::kIncomplete) << "at " << n << ": " << flight.error;
  }
  EXPECT_EQ(parseServerFlight(bytes).state, State::kComplete);
}

TEST(ServerFlightTest, HandshakeMessagesSpanningRecords) {
  auto messages =
      concat({serverHello(kTls10Wire, 0x002F), certificateMsg({{1, 2, 3}}), handshake(14, {})});
  std::vector<uint8_t> bytes;
  for (size_t i = 0; i < messages.size(); i += 7) {
    std::vector<uint8_t> part(
        messages.begin() + static_cast<long>(i),
        messages.begin() + static_cast<long>(std::min(messages.size(), i + 7)));
    auto r = record(22, part, kTls10Wire);
    bytes.insert(bytes.end(), r.begin(), r.end());
  }
  auto flight = parseServerFlight(bytes);
  ASSERT_EQ(flight.state, State::kComplete) << flight.error;
  EXPECT_EQ(flight.server_hello->cipher_suite, 0x002F);
  EXPECT_EQ(flight.certificates.size(), 1u);
  EXPECT_GT(flight.records, 5u);
}

TEST(ServerFlightTest, AlertIsAFinalAnswer) {
  auto flight = parseServerFlight(record(21, {2, 70}, kTls10Wire));
  ASSERT_EQ(flight.state, State::kComplete);
  ASSERT_TRUE(flight.alert);
  EXPECT_EQ(flight.alert->description, 70);
  EXPECT_EQ(alertName(70), "protocol_version");
  EXPECT_EQ(alertName(86), "inappropriate_fallback");
}

TEST(ServerFlightTest, Tls13ServerHelloEndsTheReadableFlight) {
  auto sh = serverHello(
      kTls12Wire, 0x1301,
      {{43, {0x03, 0x04}}, {51, concat({{0, 29, 0, 32}, std::vector<uint8_t>(32, 5)})}});
  auto bytes =
      concat({record(22, sh), record(20, {1}), record(23, std::vector<uint8_t>(40, 0xEE))});
  auto flight = parseServerFlight(bytes);
  ASSERT_EQ(flight.state, State::kComplete) << flight.error;
  EXPECT_EQ(flight.server_hello->version, kTls13Wire);
  EXPECT_EQ(flight.server_hello->key_share_group, 29);
  EXPECT_FALSE(flight.server_hello->hello_retry_request);
}

TEST(ServerFlightTest, RecognisesHelloRetryRequest) {
  std::array<uint8_t, 32> hrr = {0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C,
                                 0x02, 0x1E, 0x65, 0xB8, 0x91, 0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB,
                                 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C};
  auto sh = serverHello(kTls12Wire, 0x1302, {{43, {0x03, 0x04}}, {51, {0x01, 0x00}}}, hrr);
  auto flight = parseServerFlight(record(22, sh));
  ASSERT_EQ(flight.state, State::kComplete);
  EXPECT_TRUE(flight.server_hello->hello_retry_request);
  EXPECT_EQ(flight.server_hello->key_share_group, 0x0100);  // ffdhe2048
}

TEST(ServerFlightTest, DowngradeSentinel) {
  std::array<uint8_t, 32> random{};
  const uint8_t tail[] = {0x44, 0x4F, 0x57, 0x4E, 0x47, 0x52, 0x44, 0x01};
  std::copy(std::begin(tail), std::end(tail), random.begin() + 24);
  auto flight = parseServerFlight(
      record(22, concat({serverHello(kTls12Wire, 0x002F, {}, random), handshake(14, {})})));
  ASSERT_TRUE(flight.server_hello);
  EXPECT_EQ(flight.server_hello->downgrade_sentinel, kTls12Wire);
}

TEST(ServerFlightTest, DhKeyExchangeSize) {
  ByteWriter w;
  w.begin(2);
  w.u8(0x80);  // a 1024-bit prime: top bit set in 128 bytes
  w.bytes(std::vector<uint8_t>(127, 0xFF));
  w.end();
  w.begin(2);
  w.u8(2);
  w.end();
  w.begin(2);
  w.bytes(std::vector<uint8_t>(128, 3));
  w.end();
  auto ske = handshake(12, w.take());
  auto flight = parseServerFlight(
      record(22, concat({serverHello(kTls10Wire, 0x0033), ske, handshake(14, {})}), kTls10Wire));
  ASSERT_EQ(flight.state, State::kComplete) << flight.error;
  ASSERT_TRUE(flight.server_key_exchange);
  EXPECT_EQ(flight.server_key_exchange->kind, "DH");
  EXPECT_EQ(flight.server_key_exchange->bits, 1024u);
}

TEST(ServerFlightTest, Ssl2ServerHello) {
  ByteWriter body;
  body.u8(4);  // SERVER-HELLO
  body.u8(0);
  body.u8(1);  // X.509
  body.u16(0x0002);
  body.u16(3);
  body.u16(6);
  body.u16(16);
  body.bytes(std::vector<uint8_t>{0x30, 0x01, 0x00});
  body.bytes(std::vector<uint8_t>{0x01, 0x00, 0x80, 0x07, 0x00, 0xC0});
  body.bytes(std::vector<uint8_t>(16, 0x42));
  std::vector<uint8_t> bytes = {static_cast<uint8_t>(0x80 | (body.size() >> 8)),
                                static_cast<uint8_t>(body.size())};
  bytes.insert(bytes.end(), body.data().begin(), body.data().end());
  auto flight = parseServerFlight(bytes, true);
  ASSERT_EQ(flight.state, State::kComplete) << flight.error;
  ASSERT_TRUE(flight.ssl2_hello);
  EXPECT_EQ(flight.ssl2_hello->version, 0x0002);
  EXPECT_EQ(flight.ssl2_hello->cipher_specs, (std::vector<uint32_t>{0x010080, 0x0700C0}));
  EXPECT_EQ(flight.certificates.size(), 1u);
  // Lying lengths: the certificate claims more than the record holds.
  bytes[2 + 6] = 0x7F;
  EXPECT_EQ(parseServerFlight(bytes, true).state, State::kError);
}

TEST(ServerFlightTest, Ssl2ErrorMessage) {
  std::vector<uint8_t> bytes = {0x80, 0x03, 0x00, 0x00, 0x01};
  auto flight = parseServerFlight(bytes, true);
  ASSERT_EQ(flight.state, State::kComplete);
  EXPECT_EQ(flight.ssl2_error, 1);
}

TEST(ServerFlightTest, HostileInputsAreErrorsNotCrashes) {
  // Record length above the TLS maximum.
  EXPECT_EQ(parseServerFlight(std::vector<uint8_t>{22, 3, 3, 0xFF, 0xFF}).state, State::kError);
  // Handshake message claiming 16 MB.
  EXPECT_EQ(parseServerFlight(record(22, {2, 0xFF, 0xFF, 0xFF, 0})).state, State::kError);
  // Plain HTTP.
  std::string http = "HTTP/1.1 400 Bad Request\r\n\r\n";
  auto f = parseServerFlight(std::vector<uint8_t>(http.begin(), http.end()));
  EXPECT_EQ(f.state, State::kError);
  EXPECT_NE(f.error.find("HTTP"), std::string::npos);
  // Truncated ServerHello inside a complete message.
  EXPECT_EQ(parseServerFlight(record(22, handshake(2, {3, 3, 0}))).state, State::kError);
  // Certificate entry longer than its list.
  EXPECT_EQ(parseServerFlight(record(22, concat({serverHello(kTls12Wire, 0x002F),
                                                 handshake(11, {0, 0, 4, 0, 0, 9, 1})})))
                .state,
            State::kError);
  // Duplicate extension.
  EXPECT_EQ(
      parseServerFlight(record(22, serverHello(kTls12Wire, 0x002F, {{0xFF01, {0}}, {0xFF01, {0}}})))
          .state,
      State::kError);
  // Certificate before ServerHello.
  EXPECT_EQ(parseServerFlight(record(22, certificateMsg({{1}}))).state, State::kError);
  // Too many certificates.
  std::vector<std::vector<uint8_t>> many(kMaxCertificates + 1, std::vector<uint8_t>{1});
  EXPECT_EQ(
      parseServerFlight(record(22, concat({serverHello(kTls12Wire, 0x002F), certificateMsg(many)})))
          .state,
      State::kError);
  // Bad record version.
  EXPECT_EQ(parseServerFlight(std::vector<uint8_t>{22, 9, 9, 0, 1, 0}).state, State::kError);
  // Unknown EC curve type.
  ByteWriter w;
  w.u8(9);
  EXPECT_EQ(parseServerFlight(
                record(22, concat({serverHello(kTls12Wire, 0xC02F), handshake(12, w.take())})))
                .state,
            State::kError);
}

TEST(ServerFlightTest, EndlessIncompleteDataHitsTheCap) {
  // Records of harmless ChangeCipherSpec never finish a flight; the cap ends it.
  std::vector<uint8_t> bytes;
  while (bytes.size() <= kMaxFlightBytes) {
    auto r = record(20, std::vector<uint8_t>(16000, 1));
    bytes.insert(bytes.end(), r.begin(), r.end());
  }
  auto flight = parseServerFlight(bytes);
  EXPECT_EQ(flight.state, State::kError);
}

}  // namespace
}  // namespace tlsaudit::collectors::tls
