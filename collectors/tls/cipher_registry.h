// The IANA registries the ClientHello engine speaks from: TLS Cipher Suites, TLS Supported
// Groups and TLS SignatureScheme (plus the TLS 1.2 hash/signature pairs that predate it), and
// the SSLv2 cipher kinds. Pure data; safe to call from any thread.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace tlsaudit::collectors::tls {

// One assigned TLS cipher suite code point. Source: IANA "TLS Cipher Suites" registry
// (RFC 8447 process) and the RFCs each entry cites.
struct CipherSuiteInfo {
  uint16_t code;
  std::string_view name;    // IANA name, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
  std::string_view kx;      // RSA, DH, DHE, ECDH, ECDHE, PSK, DHE_PSK, RSA_PSK, ECDHE_PSK, SRP,
                            // KRB5, ECCPWD, GOSTR341112_256, NULL, ANY (TLS 1.3)
  std::string_view auth;    // RSA, DSS, ECDSA, anon, PSK, KRB5, SRP, SRP_RSA, SRP_DSS, NULL,
                            // ECCPWD, GOSTR341012, ANY (TLS 1.3)
  std::string_view cipher;  // AES_128_GCM, 3DES_EDE_CBC, RC4_128, DES40_CBC, NULL, ...
  std::string_view mac;     // MD5, SHA, SHA256, SHA384, AEAD, ...
  uint16_t bits;            // effective symmetric key bits (0 for NULL, 40 for EXPORT 40-bit)
  bool export_grade;        // an EXPORT suite
  bool tls13;               // usable only with TLS 1.3 (and offered only there)
  bool tls12_only;          // needs TLS 1.2 (AEAD or SHA-256/384 PRF suites)
};

// Every assigned suite, ascending by code. Excludes signalling values (0x00FF, 0x5600) and
// GREASE, which are not suites a server can choose.
std::span<const CipherSuiteInfo> allCipherSuites();
// nullptr when the code is not an assigned suite.
const CipherSuiteInfo* findCipherSuite(uint16_t code);
// True when the suite's key exchange gives forward secrecy (DHE, ECDHE, TLS 1.3 ...).
bool isForwardSecret(const CipherSuiteInfo& suite);

// SSLv2 cipher kinds (draft-hickman-netscape-ssl-00, "CIPHER-KIND" 3-byte codes).
struct Ssl2CipherKind {
  uint32_t code;            // 24-bit value, e.g. 0x010080
  std::string_view name;    // SSL_CK_RC4_128_WITH_MD5
  std::string_view cipher;  // RC4_128, RC4_40, RC2_128_CBC, RC2_40_CBC, IDEA_128_CBC, DES_64_CBC,
                            // DES_192_EDE3_CBC
  uint16_t bits;
  bool export_grade;
};
std::span<const Ssl2CipherKind> allSsl2CipherKinds();
const Ssl2CipherKind* findSsl2CipherKind(uint32_t code);

// IANA "TLS Supported Groups" (formerly EC named curves) registry.
struct NamedGroupInfo {
  uint16_t code;
  std::string_view name;  // x25519, secp256r1, ffdhe2048, X25519MLKEM768, ...
  std::string_view kind;  // ECDHE, FFDHE, HYBRID, PQ
  uint16_t bits;          // EC key bits or FFDHE modulus bits (hybrids: of the classical part)
  bool deprecated;        // marked not recommended / deprecated by IANA (e.g. sect163k1)
};
std::span<const NamedGroupInfo> allNamedGroups();
const NamedGroupInfo* findNamedGroup(uint16_t code);

// IANA "TLS SignatureScheme" registry plus the TLS 1.2 (hash, signature) pairs of RFC 5246
// §7.4.1.4.1 that it does not list (md5, sha224, dsa pairs), named in the same style:
// rsa_pkcs1_md5, dsa_sha1, ecdsa_sha224.
struct SignatureSchemeInfo {
  uint16_t code;
  std::string_view name;  // rsa_pkcs1_sha256, ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, ed25519
  std::string_view hash;  // MD5, SHA1, SHA224, SHA256, SHA384, SHA512, INTRINSIC, GOST...
  std::string_view signature;  // RSA, RSA-PSS, DSA, ECDSA, EdDSA, GOST, ...
};
std::span<const SignatureSchemeInfo> allSignatureSchemes();
const SignatureSchemeInfo* findSignatureScheme(uint16_t code);

}  // namespace tlsaudit::collectors::tls
