// Realistic reports for the rules benchmark and the tests that compare evaluation paths over the
// same reports: modern servers (TLS 1.2/1.3, ECDHE-GCM, SHA-256 chains), legacy phones (TLS
// 1.0/1.1, RSA key exchange, CBC/3DES/RC4, MD5/SHA-1 chains from long-lived vendor roots), and
// mixed gateways (many suites in several versions, DHE with small groups, client-auth).
#pragma once

#include <random>
#include <string>
#include <string_view>

#include "tests/unit/rules/rule_fixtures.h"

namespace tlsaudit::rules::fixtures {

// The seed of the benchmark's report sequence.
constexpr uint32_t kRealisticSeed = 20261126;

struct SuiteSpec {
  uint32_t code;
  const char* name;
  const char* kx;
  const char* auth;
  const char* cipher;
  const char* mac;
  uint32_t bits;
  bool fs;
};

constexpr SuiteSpec kModern12[] = {
    {0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE", "RSA", "AES_128_GCM", "AEAD", 128,
     true},
    {0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE", "RSA", "AES_256_GCM", "AEAD", 256,
     true},
    {0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE", "RSA", "CHACHA20_POLY1305",
     "AEAD", 256, true},
    {0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE", "RSA", "AES_128_CBC", "SHA256", 128,
     true},
    {0xC013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE", "RSA", "AES_128_CBC", "SHA", 128, true},
    {0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256", "RSA", "RSA", "AES_128_GCM", "AEAD", 128, false},
    {0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "DHE", "RSA", "AES_128_GCM", "AEAD", 128, true},
};
constexpr SuiteSpec kLegacy[] = {
    {0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA", "RSA", "RSA", "AES_128_CBC", "SHA", 128, false},
    {0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA", "RSA", "RSA", "AES_256_CBC", "SHA", 256, false},
    {0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "RSA", "RSA", "3DES_EDE_CBC", "SHA", 112, false},
    {0x0005, "TLS_RSA_WITH_RC4_128_SHA", "RSA", "RSA", "RC4_128", "SHA", 128, false},
    {0x0004, "TLS_RSA_WITH_RC4_128_MD5", "RSA", "RSA", "RC4_128", "MD5", 128, false},
    {0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", "DHE", "RSA", "AES_128_CBC", "SHA", 128, true},
    {0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA", "DHE", "RSA", "3DES_EDE_CBC", "SHA", 112, true},
    {0x0009, "TLS_RSA_WITH_DES_CBC_SHA", "RSA", "RSA", "DES_CBC", "SHA", 56, false},
};

inline void addSpec(v1::VersionResult* v, const SuiteSpec& s, uint32_t dh_bits) {
  auto* c = addSuite(v, s.code, s.name, s.kx, s.auth, s.cipher, s.mac, s.bits, s.fs);
  if (std::string_view(s.kx) == "DHE") {
    c->set_kx_group("DH");
    c->set_kx_bits(dh_bits);
  }
}

// Report `i` of a fixed-seed sequence (the caller owns the generator, seeded once): 50% modern
// servers, 30% legacy phones, 20% gateways.
inline v1::RuleInput realisticReport(std::mt19937& rng, int i) {
  v1::RuleInput in = cleanInput();
  auto* t = in.mutable_tls()->mutable_target();
  t->set_ip("10." + std::to_string((i >> 16) & 255) + "." + std::to_string((i >> 8) & 255) + "." +
            std::to_string(i & 255));
  t->set_host(t->ip());
  int kind = static_cast<int>(rng() % 10);
  if (kind < 5) {  // modern server: a few more suites, sometimes TLS 1.3 only
    auto* v12 = version(in, v1::TLS1_2);
    for (int k = 2; k < 2 + static_cast<int>(rng() % 5); ++k) addSpec(v12, kModern12[k], 2048);
    return in;
  }
  uint32_t dh = (rng() % 2) ? 1024 : 2048;
  if (kind < 8) {  // legacy phone: TLS 1.0 (+1.1), RSA/CBC/3DES/RC4, MD5 or SHA-1 chain
    for (auto ver : {v1::TLS1_2, v1::TLS1_3}) {
      version(in, ver)->set_supported(false);
      version(in, ver)->clear_cipher_suites();
    }
    for (auto ver : {v1::TLS1_0, v1::TLS1_1}) {
      if (ver == v1::TLS1_1 && rng() % 2) continue;
      auto* v = version(in, ver);
      v->set_supported(true);
      for (const auto& s : kLegacy) {
        if (rng() % 3) addSpec(v, s, dh);
      }
    }
    auto* chain = in.mutable_tls()->mutable_chains(0);
    chain->clear_certificates();
    std::string hash = (rng() % 2) ? "MD5" : "SHA1";
    addCert(chain, "phone-" + std::to_string(i), "Legacy Vendor Root CA", hash, "RSA", 1024,
            "2014-01-01T00:00:00Z", "2034-01-01T00:00:00Z");
    addCert(chain, "Legacy Vendor Root CA", "Legacy Vendor Root CA", hash, "RSA", 2048,
            "2005-01-01T00:00:00Z", "2035-12-31T00:00:00Z");
    chain->set_trusted(rng() % 2);
    chain->set_validation_error(chain->trusted() ? "" : "unable to get local issuer certificate");
    in.mutable_tls()->mutable_extensions()->set_secure_renegotiation(rng() % 2);
    in.mutable_tls()->clear_signature_algorithms();
    in.mutable_tls()->add_signature_algorithms("rsa_pkcs1_sha1");
    return in;
  }
  // gateway / PBX: everything from TLS 1.0 to 1.3, many suites, client-auth, two chains
  for (auto ver : {v1::TLS1_0, v1::TLS1_1, v1::TLS1_2}) {
    auto* v = version(in, ver);
    v->set_supported(true);
    for (const auto& s : kLegacy) addSpec(v, s, dh);
    if (ver == v1::TLS1_2) {
      for (const auto& s : kModern12) addSpec(v, s, dh);
      auto* ca = v->mutable_client_auth();
      ca->set_requested(true);
      for (const char* a : {"rsa_pss_rsae_sha256", "rsa_pkcs1_sha256", "ecdsa_secp256r1_sha256",
                            "rsa_pkcs1_sha384"}) {
        ca->add_signature_algorithms(a);
      }
      if (rng() % 2) ca->add_signature_algorithms("rsa_pkcs1_sha1");
    }
  }
  auto* ec = in.mutable_tls()->add_chains();
  ec->set_key_type("EC");
  ec->set_trusted(true);
  addCert(ec, "server.example.test", "Example EC CA", "SHA256", "EC", 256, "2026-01-01T00:00:00Z",
          "2027-01-01T00:00:00Z");
  addCert(ec, "Example EC CA", "Example EC CA", "SHA256", "EC", 384, "2020-01-01T00:00:00Z",
          "2040-01-01T00:00:00Z");
  return in;
}

}  // namespace tlsaudit::rules::fixtures
