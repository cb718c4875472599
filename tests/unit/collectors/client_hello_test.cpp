// The ClientHello builder: golden bytes for a minimal hello, and hellos answered by a real
// OpenSSL server (through memory BIOs, no sockets) whose answers our flight parser reads.
#include "collectors/tls/client_hello.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>

#include "collectors/tls/server_flight.h"

namespace tlsaudit::collectors::tls {
namespace {

TEST(ClientHelloTest, Ssl3HelloGoldenBytes) {
  HelloSpec spec;
  spec.record_version = kSsl3Wire;
  spec.client_version = kSsl3Wire;
  spec.cipher_suites = {0x000A, 0x002F};
  spec.renegotiation_scsv = true;
  spec.extensions = false;
  auto bytes = buildClientHello(spec);
  std::vector<uint8_t> expected = {0x16, 0x03, 0x00, 0x00, 0x31,  // record: handshake, SSL 3.0, 49
                                   0x01, 0x00, 0x00, 0x2D,        // client_hello, 45 bytes
                                   0x03, 0x00};                   // client_version
  expected.insert(expected.end(), 32, 0x00);                      // random
  const uint8_t tail[] = {0x00,                                   // session id
                          0x00, 0x06, 0x00, 0x0A, 0x00, 0x2F, 0x00, 0xFF,  // suites + SCSV
                          0x01, 0x00};                                     // null compression
  expected.insert(expected.end(), std::begin(tail), std::end(tail));
  EXPECT_EQ(bytes, expected);
}

TEST(ClientHelloTest, FragileSizesArePaddedTo512) {
  HelloSpec spec;
  for (uint16_t c = 1; c <= 100; ++c) spec.cipher_suites.push_back(c);
  spec.server_name = "example.test";
  auto bytes = buildClientHello(spec);
  // Handshake message = record payload; RFC 7685: 256..511 becomes exactly 512.
  size_t handshake_len = bytes.size() - 5;
  EXPECT_EQ(handshake_len, 512u);
  spec.pad_fragile_sizes = false;
  auto unpadded = buildClientHello(spec);
  EXPECT_GT(unpadded.size() - 5, 255u);
  EXPECT_LT(unpadded.size() - 5, 512u);
}

TEST(ClientHelloTest, AddressLiteralsNeverGoIntoSni) {
  HelloSpec spec;
  spec.cipher_suites = {0x002F};
  spec.pad_fragile_sizes = false;
  spec.server_name = "192.0.2.1";
  auto with_ip = buildClientHello(spec);
  spec.server_name = "";
  auto without = buildClientHello(spec);
  EXPECT_EQ(with_ip.size(), without.size());
  EXPECT_TRUE(isAddressLiteral("::1"));
  EXPECT_FALSE(isAddressLiteral("phone.example"));
}

TEST(ClientHelloTest, LargeHelloIsFragmentedIntoRecords) {
  HelloSpec spec;
  for (int i = 0; i < 9000; ++i) spec.cipher_suites.push_back(static_cast<uint16_t>(i));
  auto bytes = buildClientHello(spec);
  ASSERT_GT(bytes.size(), 16384u + 5);
  EXPECT_EQ(bytes[0], 22);
  size_t first_len = (size_t{bytes[3]} << 8) | bytes[4];
  EXPECT_EQ(first_len, 16384u);
  EXPECT_EQ(bytes[5 + first_len], 22);  // second record header
}

TEST(ClientHelloTest, Ssl2ClientHelloLayout) {
  std::vector<uint32_t> kinds = {0x010080, 0x0700C0};
  std::vector<uint8_t> challenge(16, 0xAB);
  auto bytes = buildSsl2ClientHello(kSsl2Wire, kinds, challenge);
  // 2-byte header with the high bit, then CLIENT-HELLO (draft-hickman §2.5).
  ASSERT_EQ(bytes.size(), 2u + 9 + 6 + 16);
  EXPECT_EQ(bytes[0], 0x80);
  EXPECT_EQ(bytes[1], 9 + 6 + 16);
  EXPECT_EQ(bytes[2], 1);                         // MSG-CLIENT-HELLO
  EXPECT_EQ((bytes[3] << 8) | bytes[4], 0x0002);  // version
  EXPECT_EQ((bytes[5] << 8) | bytes[6], 6);       // cipher specs length
  EXPECT_EQ((bytes[9] << 8) | bytes[10], 16);     // challenge length
  EXPECT_EQ(bytes[11], 0x01);
  EXPECT_EQ(bytes[14], 0x07);
}

// A real OpenSSL server fed our hello through memory BIOs.
class OpensslOracle {
 public:
  explicit OpensslOracle(int min_version, int max_version,
                         const char* ciphers = "ALL:@SECLEVEL=0") {
    EVP_PKEY* key = EVP_RSA_gen(2048);
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("oracle"), -1, -1, 0);
    X509_set_issuer_name(cert, X509_get_subject_name(cert));
    X509_set_pubkey(cert, key);
    X509_sign(cert, key, EVP_sha256());
    ctx_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_security_level(ctx_, 0);
    SSL_CTX_set_min_proto_version(ctx_, min_version);
    SSL_CTX_set_max_proto_version(ctx_, max_version);
    SSL_CTX_set_cipher_list(ctx_, ciphers);
    SSL_CTX_use_certificate(ctx_, cert);
    SSL_CTX_use_PrivateKey(ctx_, key);
    X509_free(cert);
    EVP_PKEY_free(key);
  }
  ~OpensslOracle() { SSL_CTX_free(ctx_); }

  // What the server answers to `hello`.
  std::vector<uint8_t> answer(const std::vector<uint8_t>& hello) {
    SSL* ssl = SSL_new(ctx_);
    BIO* rbio = BIO_new(BIO_s_mem());
    BIO* wbio = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl, rbio, wbio);
    BIO_write(rbio, hello.data(), static_cast<int>(hello.size()));
    SSL_accept(ssl);
    std::vector<uint8_t> out(BIO_ctrl_pending(wbio));
    BIO_read(wbio, out.data(), static_cast<int>(out.size()));
    SSL_free(ssl);
    return out;
  }

 private:
  SSL_CTX* ctx_;
};

HelloSpec tls12Spec(std::vector<uint16_t> suites) {
  HelloSpec spec;
  spec.client_version = kTls12Wire;
  spec.cipher_suites = std::move(suites);
  spec.supported_groups = {29, 23, 24};
  spec.ec_point_formats = true;
  spec.signature_algorithms = {0x0804, 0x0401, 0x0403, 0x0201};
  spec.renegotiation_info = true;
  spec.extended_master_secret = true;
  spec.session_ticket = true;
  spec.alpn = {"h2", "http/1.1"};
  return spec;
}

TEST(ClientHelloTest, OpensslAnswersTls12HelloAndFlightParses) {
  OpensslOracle server(TLS1_2_VERSION, TLS1_2_VERSION);
  auto answer = server.answer(buildClientHello(tls12Spec({0xC02F, 0x009C})));
  auto flight = parseServerFlight(answer);
  ASSERT_EQ(flight.state, ParsedFlight::State::kComplete) << flight.error;
  ASSERT_TRUE(flight.server_hello);
  EXPECT_EQ(flight.server_hello->version, kTls12Wire);
  EXPECT_EQ(flight.server_hello->cipher_suite, 0xC02F);
  EXPECT_TRUE(flight.server_hello->renegotiation_info);
  EXPECT_TRUE(flight.server_hello->extended_master_secret);
  ASSERT_EQ(flight.certificates.size(), 1u);
  ASSERT_TRUE(flight.server_key_exchange);
  EXPECT_EQ(flight.server_key_exchange->kind, "ECDH");
  EXPECT_EQ(flight.server_key_exchange->named_group, 29);
  EXPECT_TRUE(flight.server_hello_done);
}

TEST(ClientHelloTest, OpensslAnswersTls10HelloWithOnlyRsaSuites) {
  OpensslOracle server(TLS1_VERSION, TLS1_VERSION);
  auto spec = tls12Spec({0x0035, 0x002F});
  spec.client_version = kTls10Wire;
  spec.signature_algorithms.clear();
  auto flight = parseServerFlight(server.answer(buildClientHello(spec)));
  ASSERT_TRUE(flight.server_hello) << flight.error;
  EXPECT_EQ(flight.server_hello->version, kTls10Wire);
  EXPECT_EQ(flight.server_hello->cipher_suite, 0x0035);
  EXPECT_FALSE(flight.server_key_exchange);  // RSA key exchange: none sent
}

TEST(ClientHelloTest, OpensslRefusesNoCommonSuiteWithAlert) {
  OpensslOracle server(TLS1_2_VERSION, TLS1_2_VERSION, "AES128-SHA:@SECLEVEL=0");
  auto flight = parseServerFlight(server.answer(buildClientHello(tls12Spec({0xC030}))));
  ASSERT_EQ(flight.state, ParsedFlight::State::kComplete);
  ASSERT_TRUE(flight.alert);
  EXPECT_EQ(flight.alert->description, 40);  // handshake_failure
}

TEST(ClientHelloTest, OpensslSendsHelloRetryRequestForEmptyKeyShare) {
  OpensslOracle server(TLS1_3_VERSION, TLS1_3_VERSION);
  HelloSpec spec = tls12Spec({0x1302, 0x1301});
  spec.session_id.assign(32, 7);
  spec.supported_versions = {kTls13Wire};
  spec.supported_groups = {24, 23};  // secp384r1, secp256r1; no key share offered
  spec.key_share = true;
  spec.psk_key_exchange_modes = true;
  auto flight = parseServerFlight(server.answer(buildClientHello(spec)));
  ASSERT_TRUE(flight.server_hello) << flight.error;
  EXPECT_TRUE(flight.server_hello->hello_retry_request);
  EXPECT_EQ(flight.server_hello->version, kTls13Wire);
  ASSERT_TRUE(flight.server_hello->key_share_group);
  EXPECT_TRUE(*flight.server_hello->key_share_group == 24 ||
              *flight.server_hello->key_share_group == 23);
}

TEST(ClientHelloTest, OpensslAcceptsX25519KeyShareFromTls13Hello) {
  OpensslOracle server(TLS1_3_VERSION, TLS1_3_VERSION);
  HelloSpec spec = tls12Spec({0x1303});
  spec.session_id.assign(32, 7);
  spec.supported_versions = {kTls13Wire};
  spec.supported_groups = {29};
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519");
  std::vector<uint8_t> pub(32);
  size_t len = 32;
  EVP_PKEY_get_raw_public_key(key, pub.data(), &len);
  EVP_PKEY_free(key);
  spec.key_shares = {{29, pub}};
  auto flight = parseServerFlight(server.answer(buildClientHello(spec)));
  ASSERT_TRUE(flight.server_hello) << flight.error;
  EXPECT_FALSE(flight.server_hello->hello_retry_request);
  EXPECT_EQ(flight.server_hello->cipher_suite, 0x1303);
  EXPECT_EQ(flight.server_hello->key_share_group, 29);
  EXPECT_EQ(flight.state, ParsedFlight::State::kComplete);  // the rest is encrypted
}

TEST(ClientHelloTest, OpensslAnswersSsl2CompatibleHelloForTls) {
  OpensslOracle server(TLS1_VERSION, TLS1_2_VERSION);
  std::vector<uint32_t> specs = {0x00002F, 0x000035};
  std::vector<uint8_t> challenge(16, 1);
  auto flight =
      parseServerFlight(server.answer(buildSsl2ClientHello(kTls10Wire, specs, challenge)), true);
  ASSERT_TRUE(flight.server_hello) << flight.error;
  EXPECT_EQ(flight.server_hello->version, kTls10Wire);
  EXPECT_TRUE(flight.server_hello->cipher_suite == 0x002F ||
              flight.server_hello->cipher_suite == 0x0035);
}

}  // namespace
}  // namespace tlsaudit::collectors::tls
