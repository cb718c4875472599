// Fixture reports for the rule tests: a clean report that every shipped profile except
// mozilla-modern accepts, and builders for the facts rules look at.
#pragma once

#include <google/protobuf/util/time_util.h>

#include <string>

#include "tlsaudit/v1/finding.pb.h"

namespace tlsaudit::rules::fixtures {

namespace v1 = tlsaudit::v1;

// The evaluation clock of the rule tests: 2026-06-01T00:00:00Z.
inline int64_t testNow() { return 1780272000; }

inline google::protobuf::Timestamp at(const std::string& rfc3339) {
  google::protobuf::Timestamp ts;
  google::protobuf::util::TimeUtil::FromString(rfc3339, &ts);
  return ts;
}

inline v1::CipherSuite* addSuite(v1::VersionResult* v, uint32_t code, const std::string& name,
                                 const std::string& kx, const std::string& auth,
                                 const std::string& cipher, const std::string& mac, uint32_t bits,
                                 bool fs) {
  auto* s = v->add_cipher_suites();
  s->set_code(code);
  s->set_name(name);
  s->set_kx(kx);
  s->set_auth(auth);
  s->set_cipher(cipher);
  s->set_mac(mac);
  s->set_bits(bits);
  s->set_forward_secret(fs);
  if (kx == "ECDHE") {
    s->set_kx_group("x25519");
    s->set_kx_bits(253);
  }
  return s;
}

inline v1::Certificate* addCert(v1::CertificateChain* chain, const std::string& cn,
                                const std::string& issuer_cn, const std::string& hash,
                                const std::string& key_type, uint32_t bits,
                                const std::string& not_before, const std::string& not_after) {
  auto* c = chain->add_certificates();
  c->set_subject("CN=" + cn);
  c->set_common_name(cn);
  c->set_issuer("CN=" + issuer_cn);
  c->set_signature_hash(hash);
  std::string alg = hash == "MD5"    ? "md5WithRSAEncryption"
                    : hash == "SHA1" ? "sha1WithRSAEncryption"
                                     : "sha256WithRSAEncryption";
  if (key_type == "EC") alg = hash == "SHA1" ? "ecdsa-with-SHA1" : "ecdsa-with-SHA256";
  c->set_signature_algorithm(alg);
  c->set_key_type(key_type);
  c->set_key_bits(bits);
  if (key_type == "EC") c->set_curve(bits == 256 ? "prime256v1" : "secp384r1");
  *c->mutable_not_before() = at(not_before);
  *c->mutable_not_after() = at(not_after);
  c->set_self_signed(cn == issuer_cn);
  c->set_is_ca(cn != "server.example.test" && cn.rfind("phone", 0) != 0);
  c->set_source(v1::CERTIFICATE_SOURCE_PRESENTED);
  c->set_version(3);
  return c;
}

// TLS 1.2 (ECDHE-RSA AES-GCM) and TLS 1.3 (AES-128-GCM), a trusted SHA-256 chain with RSA 3072
// keys valid 2026-03-01..2026-08-01, secure renegotiation.
inline v1::RuleInput cleanInput() {
  v1::RuleInput in;
  auto* r = in.mutable_tls();
  auto* t = r->mutable_target();
  t->set_host("server.example.test");
  t->set_ip("192.0.2.10");
  t->set_port(443);
  r->set_reachable(true);
  r->set_tls(true);
  *r->mutable_scanned_at() = at("2026-06-01T00:00:00Z");
  for (auto ver : {v1::SSL2, v1::SSL3, v1::TLS1_0, v1::TLS1_1}) {
    auto* v = r->add_versions();
    v->set_version(ver);
  }
  auto* v12 = r->add_versions();
  v12->set_version(v1::TLS1_2);
  v12->set_supported(true);
  addSuite(v12, 0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE", "RSA", "AES_128_GCM",
           "AEAD", 128, true);
  addSuite(v12, 0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE", "RSA", "AES_256_GCM",
           "AEAD", 256, true);
  auto* v13 = r->add_versions();
  v13->set_version(v1::TLS1_3);
  v13->set_supported(true);
  addSuite(v13, 0x1301, "TLS_AES_128_GCM_SHA256", "ANY", "ANY", "AES_128_GCM", "AEAD", 128, true);
  auto* chain = r->add_chains();
  chain->set_key_type("RSA");
  chain->set_trusted(true);
  chain->set_name_matches(v1::SUPPORT_YES);
  chain->set_presented_in_order(true);
  addCert(chain, "server.example.test", "Example Issuing CA", "SHA256", "RSA", 3072,
          "2026-03-01T00:00:00Z", "2026-08-01T00:00:00Z");
  addCert(chain, "Example Issuing CA", "Example Root CA", "SHA256", "RSA", 3072,
          "2020-01-01T00:00:00Z", "2030-01-01T00:00:00Z");
  auto* root = addCert(chain, "Example Root CA", "Example Root CA", "SHA256", "RSA", 4096,
                       "2015-01-01T00:00:00Z", "2040-01-01T00:00:00Z");
  root->set_source(v1::CERTIFICATE_SOURCE_TRUST_STORE);
  r->mutable_extensions()->set_secure_renegotiation(true);
  r->add_signature_algorithms("rsa_pss_rsae_sha256");
  return in;
}

inline v1::VersionResult* version(v1::RuleInput& in, v1::TlsVersion ver) {
  for (auto& v : *in.mutable_tls()->mutable_versions()) {
    if (v.version() == ver) return &v;
  }
  auto* v = in.mutable_tls()->add_versions();
  v->set_version(ver);
  return v;
}

inline v1::Certificate* leaf(v1::RuleInput& in) {
  return in.mutable_tls()->mutable_chains(0)->mutable_certificates(0);
}

}  // namespace tlsaudit::rules::fixtures
