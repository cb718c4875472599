// X.509 analysis through OpenSSL (never by hand): certificate facts for the model, and chain
// validation against the system trust store plus user-supplied roots.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "tlsaudit/v1/report.pb.h"

namespace tlsaudit::collectors::tls {

// Facts of one DER certificate: fingerprints, names, validity, signature algorithm and hash,
// key, SANs, CA flag, self-signed. `der` is copied into the message. Fails (never crashes) on
// input OpenSSL cannot parse. Thread-safe.
absl::StatusOr<tlsaudit::v1::Certificate> analyzeCertificate(std::span<const uint8_t> der);

// A DER-encoded X.509 Name (as in a CertificateRequest's certificate_authorities) in RFC 2253
// form; an error when it does not parse.
absl::StatusOr<std::string> formatDistinguishedName(std::span<const uint8_t> der_name);

// Roots used for validation. Immutable once loaded; share it between threads freely.
class TrustStore {
 public:
  // Loads the system default trust store (when use_system) plus every certificate in each PEM
  // file of extra_ca_files. A missing or unreadable file is an error naming it.
  static absl::StatusOr<std::shared_ptr<const TrustStore>> load(
      const std::vector<std::string>& extra_ca_files, bool use_system = true);
  ~TrustStore();
  TrustStore(const TrustStore&) = delete;
  TrustStore& operator=(const TrustStore&) = delete;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit TrustStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Analyses a presented chain (leaf first, DER each) and validates it at the given time against
// `store`, with security level 0 so that weak hashes are reported by the rules rather than
// hiding the trust path. Fills: certificates (source PRESENTED, plus the trust anchor with
// source TRUST_STORE when the path ends in one not presented), key_type, trusted,
// validation_error(_depth), name_matches (when host_name is a DNS name or IP; otherwise
// NOT_APPLICABLE) and presented_in_order. Certificates that do not parse are skipped and the
// reason is returned in `errors`.
struct ChainAnalysis {
  tlsaudit::v1::CertificateChain chain;
  std::vector<std::string> errors;
};
ChainAnalysis analyzeChain(std::span<const std::vector<uint8_t>> ders, const TrustStore& store,
                           std::string_view host_name, std::chrono::system_clock::time_point now);

}  // namespace tlsaudit::collectors::tls
