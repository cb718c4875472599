#include "collectors/tls/cipher_registry.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace tlsaudit::collectors::tls {
namespace {

template <typename Row>
bool strictlyAscending(std::span<const Row> rows) {
  for (size_t i = 1; i < rows.size(); ++i) {
    if (rows[i - 1].code >= rows[i].code) return false;
  }
  return true;
}

TEST(CipherRegistryTest, TablesAreSortedAndUnique) {
  EXPECT_TRUE(strictlyAscending(allCipherSuites()));
  EXPECT_TRUE(strictlyAscending(allSsl2CipherKinds()));
  EXPECT_TRUE(strictlyAscending(allNamedGroups()));
  EXPECT_TRUE(strictlyAscending(allSignatureSchemes()));
}

TEST(CipherRegistryTest, CipherSuiteNamesAreUnique) {
  std::set<std::string_view> names;
  for (const CipherSuiteInfo& suite : allCipherSuites()) {
    EXPECT_TRUE(names.insert(suite.name).second) << suite.name;
  }
}

TEST(CipherRegistryTest, HoldsTheWholeRegistry) {
  EXPECT_GT(allCipherSuites().size(), 330u);
  EXPECT_EQ(allSsl2CipherKinds().size(), 7u);
}

TEST(CipherRegistryTest, EveryRowFindsItself) {
  for (const CipherSuiteInfo& suite : allCipherSuites()) {
    EXPECT_EQ(findCipherSuite(suite.code), &suite) << suite.name;
  }
  for (const Ssl2CipherKind& kind : allSsl2CipherKinds()) {
    EXPECT_EQ(findSsl2CipherKind(kind.code), &kind) << kind.name;
  }
  for (const NamedGroupInfo& group : allNamedGroups()) {
    EXPECT_EQ(findNamedGroup(group.code), &group) << group.name;
  }
  for (const SignatureSchemeInfo& scheme : allSignatureSchemes()) {
    EXPECT_EQ(findSignatureScheme(scheme.code), &scheme) << scheme.name;
  }
}

TEST(CipherRegistryTest, WellKnownSuites) {
  const CipherSuiteInfo* suite = findCipherSuite(0x002F);
  ASSERT_NE(suite, nullptr);
  EXPECT_EQ(suite->name, "TLS_RSA_WITH_AES_128_CBC_SHA");
  EXPECT_EQ(suite->kx, "RSA");
  EXPECT_EQ(suite->auth, "RSA");
  EXPECT_EQ(suite->cipher, "AES_128_CBC");
  EXPECT_EQ(suite->mac, "SHA");
  EXPECT_EQ(suite->bits, 128);
  EXPECT_FALSE(suite->export_grade);
  EXPECT_FALSE(suite->tls13);
  EXPECT_FALSE(suite->tls12_only);
  EXPECT_FALSE(isForwardSecret(*suite));

  suite = findCipherSuite(0xC02F);
  ASSERT_NE(suite, nullptr);
  EXPECT_EQ(suite->name, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
  EXPECT_EQ(suite->kx, "ECDHE");
  EXPECT_EQ(suite->auth, "RSA");
  EXPECT_EQ(suite->cipher, "AES_128_GCM");
  EXPECT_EQ(suite->mac, "AEAD");
  EXPECT_TRUE(suite->tls12_only);
  EXPECT_FALSE(suite->tls13);
  EXPECT_TRUE(isForwardSecret(*suite));

  suite = findCipherSuite(0x1301);
  ASSERT_NE(suite, nullptr);
  EXPECT_EQ(suite->name, "TLS_AES_128_GCM_SHA256");
  EXPECT_EQ(suite->kx, "ANY");
  EXPECT_EQ(suite->auth, "ANY");
  EXPECT_TRUE(suite->tls13);
  EXPECT_FALSE(suite->tls12_only);
  EXPECT_TRUE(isForwardSecret(*suite));

  suite = findCipherSuite(0x0003);
  ASSERT_NE(suite, nullptr);
  EXPECT_EQ(suite->name, "TLS_RSA_EXPORT_WITH_RC4_40_MD5");
  EXPECT_TRUE(suite->export_grade);
  EXPECT_EQ(suite->bits, 40);
  EXPECT_EQ(suite->mac, "MD5");

  suite = findCipherSuite(0x000A);
  ASSERT_NE(suite, nullptr);
  EXPECT_EQ(suite->name, "TLS_RSA_WITH_3DES_EDE_CBC_SHA");
  EXPECT_EQ(suite->cipher, "3DES_EDE_CBC");
  EXPECT_EQ(suite->bits, 112);

  suite = findCipherSuite(0x0004);
  ASSERT_NE(suite, nullptr);
  EXPECT_EQ(suite->name, "TLS_RSA_WITH_RC4_128_MD5");
  EXPECT_EQ(suite->cipher, "RC4_128");
  EXPECT_EQ(suite->mac, "MD5");
  EXPECT_EQ(suite->bits, 128);

  suite = findCipherSuite(0x0000);
  ASSERT_NE(suite, nullptr);
  EXPECT_EQ(suite->name, "TLS_NULL_WITH_NULL_NULL");
  EXPECT_EQ(suite->bits, 0);

  suite = findCipherSuite(0x0009);
  ASSERT_NE(suite, nullptr);
  EXPECT_EQ(suite->name, "TLS_RSA_WITH_DES_CBC_SHA");
  EXPECT_EQ(suite->bits, 56);

  suite = findCipherSuite(0x0007);
  ASSERT_NE(suite, nullptr);
  EXPECT_EQ(suite->name, "TLS_RSA_WITH_IDEA_CBC_SHA");
  EXPECT_EQ(suite->bits, 128);

  suite = findCipherSuite(0x0018);
  ASSERT_NE(suite, nullptr);
  EXPECT_EQ(suite->name, "TLS_DH_anon_WITH_RC4_128_MD5");
  EXPECT_EQ(suite->kx, "DHE");
  EXPECT_EQ(suite->auth, "anon");

  suite = findCipherSuite(0xC018);
  ASSERT_NE(suite, nullptr);
  EXPECT_EQ(suite->name, "TLS_ECDH_anon_WITH_AES_128_CBC_SHA");
  EXPECT_EQ(suite->kx, "ECDHE");
  EXPECT_EQ(suite->auth, "anon");

  suite = findCipherSuite(0x0031);
  ASSERT_NE(suite, nullptr);
  EXPECT_EQ(suite->name, "TLS_DH_RSA_WITH_AES_128_CBC_SHA");
  EXPECT_EQ(suite->kx, "DH");
  EXPECT_EQ(suite->auth, "RSA");
  EXPECT_FALSE(isForwardSecret(*suite));

  suite = findCipherSuite(0x0032);
  ASSERT_NE(suite, nullptr);
  EXPECT_EQ(suite->kx, "DHE");
  EXPECT_EQ(suite->auth, "DSS");

  suite = findCipherSuite(0x0020);
  ASSERT_NE(suite, nullptr);
  EXPECT_EQ(suite->name, "TLS_KRB5_WITH_RC4_128_SHA");
  EXPECT_EQ(suite->kx, "KRB5");
  EXPECT_EQ(suite->auth, "KRB5");

  suite = findCipherSuite(0xC01E);
  ASSERT_NE(suite, nullptr);
  EXPECT_EQ(suite->name, "TLS_SRP_SHA_RSA_WITH_AES_128_CBC_SHA");
  EXPECT_EQ(suite->kx, "SRP");
  EXPECT_EQ(suite->auth, "SRP_RSA");

  suite = findCipherSuite(0xCCA8);
  ASSERT_NE(suite, nullptr);
  EXPECT_EQ(suite->name, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256");
  EXPECT_EQ(suite->bits, 256);
  EXPECT_TRUE(suite->tls12_only);

  // RFC 9150 integrity-only suites.
  suite = findCipherSuite(0xC0B4);
  ASSERT_NE(suite, nullptr);
  EXPECT_EQ(suite->name, "TLS_SHA256_SHA256");
  EXPECT_EQ(suite->cipher, "NULL");
  EXPECT_EQ(suite->bits, 0);
  EXPECT_TRUE(suite->tls13);
  suite = findCipherSuite(0xC0B5);
  ASSERT_NE(suite, nullptr);
  EXPECT_EQ(suite->name, "TLS_SHA384_SHA384");

  // RFC 9189 (TLS 1.2) and RFC 9367 (TLS 1.3) GOST suites.
  suite = findCipherSuite(0xC100);
  ASSERT_NE(suite, nullptr);
  EXPECT_EQ(suite->name, "TLS_GOSTR341112_256_WITH_KUZNYECHIK_CTR_OMAC");
  EXPECT_TRUE(suite->tls12_only);
  EXPECT_FALSE(suite->tls13);
  suite = findCipherSuite(0xC106);
  ASSERT_NE(suite, nullptr);
  EXPECT_EQ(suite->name, "TLS_GOSTR341112_256_WITH_MAGMA_MGM_S");
  EXPECT_TRUE(suite->tls13);

  suite = findCipherSuite(0xC0B0);
  ASSERT_NE(suite, nullptr);
  EXPECT_EQ(suite->name, "TLS_ECCPWD_WITH_AES_128_GCM_SHA256");
  EXPECT_TRUE(isForwardSecret(*suite));

  suite = findCipherSuite(0xD005);
  ASSERT_NE(suite, nullptr);
  EXPECT_EQ(suite->name, "TLS_ECDHE_PSK_WITH_AES_128_CCM_SHA256");
  EXPECT_TRUE(isForwardSecret(*suite));
}

TEST(CipherRegistryTest, PskSha256SuitesAreNotTls12Only) {
  // RFC 5487: the PSK CBC/NULL suites with SHA-256/384 also run over TLS 1.0/1.1.
  for (uint16_t code : {0x00AE, 0x00B0, 0x00B2, 0x00B6, 0xC037, 0xC03A, 0xC064, 0xC094}) {
    const CipherSuiteInfo* suite = findCipherSuite(code);
    ASSERT_NE(suite, nullptr) << code;
    EXPECT_FALSE(suite->tls12_only) << suite->name;
  }
  // The non-PSK SHA-256 CBC suites need TLS 1.2 (RFC 5246).
  for (uint16_t code : {0x003B, 0x003C, 0x0067, 0xC023, 0xC03C, 0x00BA}) {
    const CipherSuiteInfo* suite = findCipherSuite(code);
    ASSERT_NE(suite, nullptr) << code;
    EXPECT_TRUE(suite->tls12_only) << suite->name;
  }
}

TEST(CipherRegistryTest, ForwardSecrecyByKeyExchange) {
  const std::map<std::string_view, bool> expected = {
      {"RSA", false},
      {"DH", false},
      {"DHE", true},
      {"ECDH", false},
      {"ECDHE", true},
      {"PSK", false},
      {"DHE_PSK", true},
      {"RSA_PSK", false},
      {"ECDHE_PSK", true},
      {"SRP", false},
      {"KRB5", false},
      {"ECCPWD", true},
      {"GOSTR341112_256", false},
      {"NULL", false},
      {"ANY", true},
  };
  for (const CipherSuiteInfo& suite : allCipherSuites()) {
    auto it = expected.find(suite.kx);
    ASSERT_NE(it, expected.end()) << "unexpected kx " << suite.kx << " in " << suite.name;
    EXPECT_EQ(isForwardSecret(suite), it->second) << suite.name;
  }
}

TEST(CipherRegistryTest, RowsAreConsistent) {
  for (const CipherSuiteInfo& suite : allCipherSuites()) {
    EXPECT_EQ(suite.name.substr(0, 4), "TLS_") << suite.name;
    EXPECT_EQ(suite.export_grade, suite.name.find("_EXPORT_") != std::string_view::npos)
        << suite.name;
    if (suite.export_grade) {
      EXPECT_EQ(suite.bits, 40) << suite.name;
    }
    EXPECT_EQ(suite.bits == 0, suite.cipher == "NULL") << suite.name;
    EXPECT_FALSE(suite.tls13 && suite.tls12_only) << suite.name;
    EXPECT_EQ(suite.tls13, suite.kx == "ANY") << suite.name;
    EXPECT_EQ(suite.kx == "ANY", suite.auth == "ANY") << suite.name;
    if (suite.mac == "AEAD") {
      EXPECT_TRUE(suite.tls12_only || suite.tls13) << suite.name;
    }
  }
}

TEST(CipherRegistryTest, NoSignallingOrGreaseValues) {
  EXPECT_EQ(findCipherSuite(0x00FF), nullptr);  // TLS_EMPTY_RENEGOTIATION_INFO_SCSV
  EXPECT_EQ(findCipherSuite(0x5600), nullptr);  // TLS_FALLBACK_SCSV
  for (const CipherSuiteInfo& suite : allCipherSuites()) {
    EXPECT_EQ(suite.name.find("SCSV"), std::string_view::npos) << suite.name;
  }
  // RFC 8701 §2: 0x0A0A, 0x1A1A, ..., 0xFAFA.
  for (int i = 0; i < 16; ++i) {
    const auto grease = static_cast<uint16_t>(0x0A0A + i * 0x1010);
    EXPECT_EQ(findCipherSuite(grease), nullptr) << grease;
    EXPECT_EQ(findNamedGroup(grease), nullptr) << grease;
    EXPECT_EQ(findSignatureScheme(grease), nullptr) << grease;
  }
}

TEST(CipherRegistryTest, UnassignedCodesAreNotFound) {
  for (uint16_t code :
       {0x001C, 0x001D, 0x0047, 0x005D, 0x0060, 0x0066, 0x0072, 0x0080, 0x0083, 0x00C8,
        0x00FE, 0x0100, 0x1300, 0x1308, 0x16B7, 0xC000, 0xC0B6, 0xC0FF, 0xC107, 0xCC13,
        0xCC15, 0xCCAF, 0xD000, 0xD004, 0xD006, 0xFEFE, 0xFEFF, 0xFF00, 0xFFE0, 0xFFFF}) {
    EXPECT_EQ(findCipherSuite(code), nullptr) << std::hex << code;
  }
  EXPECT_EQ(findSsl2CipherKind(0x000000), nullptr);
  EXPECT_EQ(findSsl2CipherKind(0x080080), nullptr);
  EXPECT_EQ(findSsl2CipherKind(0xFFFFFF), nullptr);
  EXPECT_EQ(findNamedGroup(0), nullptr);
  EXPECT_EQ(findNamedGroup(42), nullptr);
  EXPECT_EQ(findNamedGroup(0x0105), nullptr);
  EXPECT_EQ(findNamedGroup(0xFFFF), nullptr);
  EXPECT_EQ(findSignatureScheme(0x0000), nullptr);
  EXPECT_EQ(findSignatureScheme(0x0001), nullptr);
  EXPECT_EQ(findSignatureScheme(0x0807 + 0x0100), nullptr);
  EXPECT_EQ(findSignatureScheme(0xFFFF), nullptr);
}

TEST(CipherRegistryTest, Ssl2CipherKinds) {
  const Ssl2CipherKind* kind = findSsl2CipherKind(0x010080);
  ASSERT_NE(kind, nullptr);
  EXPECT_EQ(kind->name, "SSL_CK_RC4_128_WITH_MD5");
  EXPECT_EQ(kind->bits, 128);
  EXPECT_FALSE(kind->export_grade);

  kind = findSsl2CipherKind(0x020080);
  ASSERT_NE(kind, nullptr);
  EXPECT_EQ(kind->name, "SSL_CK_RC4_128_EXPORT40_WITH_MD5");
  EXPECT_EQ(kind->cipher, "RC4_40");
  EXPECT_EQ(kind->bits, 40);
  EXPECT_TRUE(kind->export_grade);

  kind = findSsl2CipherKind(0x040080);
  ASSERT_NE(kind, nullptr);
  EXPECT_EQ(kind->name, "SSL_CK_RC2_128_CBC_EXPORT40_WITH_MD5");
  EXPECT_TRUE(kind->export_grade);

  kind = findSsl2CipherKind(0x060040);
  ASSERT_NE(kind, nullptr);
  EXPECT_EQ(kind->name, "SSL_CK_DES_64_CBC_WITH_MD5");
  EXPECT_EQ(kind->bits, 56);

  kind = findSsl2CipherKind(0x0700C0);
  ASSERT_NE(kind, nullptr);
  EXPECT_EQ(kind->name, "SSL_CK_DES_192_EDE3_CBC_WITH_MD5");
  EXPECT_EQ(kind->bits, 112);
}

TEST(CipherRegistryTest, NamedGroups) {
  const NamedGroupInfo* group = findNamedGroup(29);
  ASSERT_NE(group, nullptr);
  EXPECT_EQ(group->name, "x25519");
  EXPECT_EQ(group->kind, "ECDHE");
  EXPECT_FALSE(group->deprecated);

  group = findNamedGroup(23);
  ASSERT_NE(group, nullptr);
  EXPECT_EQ(group->name, "secp256r1");
  EXPECT_EQ(group->bits, 256);

  group = findNamedGroup(1);
  ASSERT_NE(group, nullptr);
  EXPECT_EQ(group->name, "sect163k1");
  EXPECT_TRUE(group->deprecated);

  group = findNamedGroup(41);
  ASSERT_NE(group, nullptr);
  EXPECT_EQ(group->name, "curveSM2");

  group = findNamedGroup(256);
  ASSERT_NE(group, nullptr);
  EXPECT_EQ(group->name, "ffdhe2048");
  EXPECT_EQ(group->kind, "FFDHE");
  EXPECT_EQ(group->bits, 2048);

  group = findNamedGroup(0x0201);
  ASSERT_NE(group, nullptr);
  EXPECT_EQ(group->name, "MLKEM768");
  EXPECT_EQ(group->kind, "PQ");

  group = findNamedGroup(0x11EC);
  ASSERT_NE(group, nullptr);
  EXPECT_EQ(group->name, "X25519MLKEM768");
  EXPECT_EQ(group->kind, "HYBRID");
  EXPECT_EQ(group->bits, 255);

  group = findNamedGroup(0x11ED);
  ASSERT_NE(group, nullptr);
  EXPECT_EQ(group->name, "SecP384r1MLKEM1024");
  EXPECT_EQ(group->bits, 384);

  group = findNamedGroup(0xFF01);
  ASSERT_NE(group, nullptr);
  EXPECT_EQ(group->name, "arbitrary_explicit_prime_curves");
  EXPECT_TRUE(group->deprecated);

  for (const NamedGroupInfo& row : allNamedGroups()) {
    EXPECT_TRUE(row.kind == "ECDHE" || row.kind == "FFDHE" || row.kind == "HYBRID" ||
                row.kind == "PQ")
        << row.name;
  }
}

TEST(CipherRegistryTest, SignatureSchemes) {
  struct Expected {
    uint16_t code;
    std::string_view name;
    std::string_view hash;
    std::string_view signature;
  };
  for (const Expected& want : {
           Expected{0x0101, "rsa_pkcs1_md5", "MD5", "RSA"},
           Expected{0x0102, "dsa_md5", "MD5", "DSA"},
           Expected{0x0103, "ecdsa_md5", "MD5", "ECDSA"},
           Expected{0x0201, "rsa_pkcs1_sha1", "SHA1", "RSA"},
           Expected{0x0202, "dsa_sha1", "SHA1", "DSA"},
           Expected{0x0203, "ecdsa_sha1", "SHA1", "ECDSA"},
           Expected{0x0301, "rsa_pkcs1_sha224", "SHA224", "RSA"},
           Expected{0x0302, "dsa_sha224", "SHA224", "DSA"},
           Expected{0x0303, "ecdsa_sha224", "SHA224", "ECDSA"},
           Expected{0x0401, "rsa_pkcs1_sha256", "SHA256", "RSA"},
           Expected{0x0402, "dsa_sha256", "SHA256", "DSA"},
           Expected{0x0403, "ecdsa_secp256r1_sha256", "SHA256", "ECDSA"},
           Expected{0x0502, "dsa_sha384", "SHA384", "DSA"},
           Expected{0x0602, "dsa_sha512", "SHA512", "DSA"},
           Expected{0x0603, "ecdsa_secp521r1_sha512", "SHA512", "ECDSA"},
           Expected{0x0804, "rsa_pss_rsae_sha256", "SHA256", "RSA-PSS"},
           Expected{0x0807, "ed25519", "INTRINSIC", "EdDSA"},
           Expected{0x0808, "ed448", "INTRINSIC", "EdDSA"},
           Expected{0x080B, "rsa_pss_pss_sha512", "SHA512", "RSA-PSS"},
           Expected{0x081A, "ecdsa_brainpoolP256r1tls13_sha256", "SHA256", "ECDSA"},
       }) {
    const SignatureSchemeInfo* scheme = findSignatureScheme(want.code);
    ASSERT_NE(scheme, nullptr) << want.name;
    EXPECT_EQ(scheme->name, want.name);
    EXPECT_EQ(scheme->hash, want.hash) << want.name;
    EXPECT_EQ(scheme->signature, want.signature) << want.name;
  }
}

// Cross-check against the mapping table of the Debian testssl.sh package: an independent list
// of IANA names, kept by another project.
constexpr const char* kTestsslMapping = "/etc/testssl/cipher-mapping.txt";

struct TestsslRow {
  uint32_t code;
  int bytes;  // 2 for TLS/SSLv3 suites, 3 for SSLv2 cipher kinds
  std::string iana_name;
  std::string protocol;  // lowest protocol testssl lists: SSLv2, SSLv3, TLSv1, TLSv1.2, TLSv1.3
};

// Lines look like (columns separated by runs of spaces):
//   0xC0,0x2F - ECDHE-RSA-AES128-GCM-SHA256  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256  TLSv1.2 ...
std::vector<TestsslRow> readTestsslMapping(std::ifstream& in) {
  std::vector<TestsslRow> rows;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string hex, dash, openssl_name;
    TestsslRow row;
    if (!(fields >> hex >> dash >> openssl_name >> row.iana_name >> row.protocol)) continue;
    row.code = 0;
    row.bytes = 0;
    std::istringstream bytes(hex);
    std::string byte;
    while (std::getline(bytes, byte, ',')) {
      row.code = row.code << 8 | std::stoul(byte, nullptr, 16);
      ++row.bytes;
    }
    rows.push_back(row);
  }
  return rows;
}

// Codes testssl names that IANA never assigned, so the registry rightly lacks them.
const std::map<uint16_t, std::string_view>& knownAbsentFromIana() {
  static const std::map<uint16_t, std::string_view> kAbsent = {
      // IANA 0x0060-0x0066: "Reserved to avoid conflicts with widely deployed implementations";
      // the 56-bit EXPORT1024 suites of draft-ietf-tls-56-bit-ciphersuites.
      {0x0060, "EXPORT1024 draft"},
      {0x0061, "EXPORT1024 draft"},
      {0x0062, "EXPORT1024 draft"},
      {0x0063, "EXPORT1024 draft"},
      {0x0064, "EXPORT1024 draft"},
      {0x0065, "EXPORT1024 draft"},
      // TLS_DHE_DSS_WITH_RC4_128_SHA, from the same draft and range.
      {0x0066, "EXPORT1024 draft"},
      // Unassigned at IANA; the CryptoPro GOST 28147-89 suites of draft-chudov-cryptopro-cptls.
      {0x0080, "CryptoPro GOST draft"},
      {0x0081, "CryptoPro GOST draft"},
      {0x0082, "CryptoPro GOST draft"},
      {0x0083, "CryptoPro GOST draft"},
      // Google's 2016 CECPQ1 experiment; never registered.
      {0x16B7, "CECPQ1 experiment"},
      {0x16B8, "CECPQ1 experiment"},
      {0x16B9, "CECPQ1 experiment"},
      {0x16BA, "CECPQ1 experiment"},
      // ChaCha20-Poly1305 code points used before RFC 7905 assigned 0xCCA8-0xCCAE.
      {0xCC13, "pre-RFC 7905 ChaCha20-Poly1305"},
      {0xCC14, "pre-RFC 7905 ChaCha20-Poly1305"},
      {0xCC15, "pre-RFC 7905 ChaCha20-Poly1305"},
      // IANA 0xFEFE-0xFEFF: reserved for Netscape's SSL_RSA_FIPS_* suites.
      {0xFEFE, "reserved (Netscape FIPS)"},
      {0xFEFF, "reserved (Netscape FIPS)"},
      // IANA 0xFF00-0xFFFF: private use (CryptoPro GOST, Netscape FIPS).
      {0xFF00, "private use"},
      {0xFF01, "private use"},
      {0xFFE0, "private use"},
      {0xFFE1, "private use"},
  };
  return kAbsent;
}

TEST(CipherRegistryTest, AgreesWithTestsslMapping) {
  std::ifstream in(kTestsslMapping);
  if (!in) GTEST_SKIP() << kTestsslMapping << " not installed (Debian package testssl.sh)";
  const std::vector<TestsslRow> rows = readTestsslMapping(in);
  ASSERT_GT(rows.size(), 300u) << "could not parse " << kTestsslMapping;

  std::set<uint16_t> testssl_codes;
  std::set<uint16_t> exceptions_used;
  for (const TestsslRow& row : rows) {
    if (row.bytes != 2 || row.iana_name == "-") continue;
    const auto code = static_cast<uint16_t>(row.code);
    testssl_codes.insert(code);
    const CipherSuiteInfo* suite = findCipherSuite(code);
    if (auto it = knownAbsentFromIana().find(code); it != knownAbsentFromIana().end()) {
      exceptions_used.insert(code);
      EXPECT_EQ(suite, nullptr) << "listed as absent (" << it->second
                                << ") but present: " << row.iana_name;
      continue;
    }
    ASSERT_NE(suite, nullptr) << "testssl has 0x" << std::hex << code << " " << row.iana_name;
    EXPECT_EQ(suite->name, row.iana_name) << "0x" << std::hex << code;

    // testssl's protocol column is the oldest version a suite runs on.
    if (row.protocol == "TLSv1.3") {
      EXPECT_TRUE(suite->tls13) << suite->name;
    } else if (row.protocol == "TLSv1.2") {
      EXPECT_TRUE(suite->tls12_only) << suite->name;
    } else {
      EXPECT_FALSE(suite->tls12_only || suite->tls13) << suite->name << " " << row.protocol;
    }
  }
  for (const auto& [code, reason] : knownAbsentFromIana()) {
    EXPECT_TRUE(exceptions_used.contains(code))
        << "stale exception 0x" << std::hex << code << " (" << reason << ")";
  }

  // Informational: suites IANA assigned after testssl's table was written.
  std::ostringstream newer;
  for (const CipherSuiteInfo& suite : allCipherSuites()) {
    if (!testssl_codes.contains(suite.code)) newer << " " << suite.name;
  }
  std::cout << "[   INFO   ] in the registry but not in " << kTestsslMapping << ":" << newer.str()
            << "\n";

  // SSLv2: testssl also lists vendor kinds (SSL_CK_DES_64_CBC_WITH_SHA ...); ours must be there.
  for (const Ssl2CipherKind& kind : allSsl2CipherKinds()) {
    bool found = false;
    for (const TestsslRow& row : rows) {
      if (row.bytes == 3 && row.code == kind.code) {
        found = true;
        EXPECT_EQ(row.iana_name, kind.name);
      }
    }
    EXPECT_TRUE(found) << kind.name;
  }
}

}  // namespace
}  // namespace tlsaudit::collectors::tls
