// Device fingerprints as data: signatures.json (shipped with the code, embedded at build time)
// maps what devices say about themselves (sysObjectID, sysDescr, SIP User-Agent/Server, HTTP
// Server header and title, certificate subject) to vendor, model, firmware and device class.
// Matching is pure and thread-safe after construction.
#pragma once

#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "tlsaudit/v1/asset.pb.h"

namespace tlsaudit::collectors::fingerprint {

// What a device told us. Empty fields are unknown.
struct Evidence {
  std::string sys_object_id;  // dotted, no leading dot
  std::string sys_descr;
  std::string sip_agent;  // SIP User-Agent or Server
  std::string http_server;
  std::string http_title;
  std::string cert_subject;  // RFC 2253 form
};

struct Identification {
  std::string signature_id;  // of the signature that named the vendor (or class)
  std::string source;        // its evidence field
  std::string vendor, model, firmware;
  tlsaudit::v1::DeviceClass device_class = tlsaudit::v1::DEVICE_CLASS_UNSPECIFIED;
};

// Evidence fields, in the order they are trusted: a device's own SNMP identity first.
enum class EvidenceSource { kSysObjectId, kSysDescr, kSip, kHttpServer, kHttpTitle, kCertSubject };
std::optional<EvidenceSource> parseEvidenceSource(std::string_view name);
std::string_view evidenceSourceName(EvidenceSource s);
std::optional<tlsaudit::v1::DeviceClass> parseDeviceClass(std::string_view name);

// Longest evidence text a signature is matched against (longer input is cut).
inline constexpr size_t kMaxEvidenceChars = 512;

class SignatureDb {
 public:
  // Parses a signature file. Errors name the entry (index and id) and field.
  static absl::StatusOr<SignatureDb> parse(std::string_view json);
  // The signatures shipped in collectors/fingerprint/signatures.json.
  static const SignatureDb& builtin();

  // Combines every source: the first source (in trust order) with a match gives the vendor and
  // signature id; model, firmware and class come from the first match (in the same order) that
  // names them and agrees on the vendor. nullopt when nothing matched.
  std::optional<Identification> identify(const Evidence& evidence) const;
  // The first signature of `source` matching `text`.
  std::optional<Identification> matchOne(EvidenceSource source, std::string_view text) const;

  size_t size() const { return signatures_.size(); }

 private:
  struct Signature {
    std::string id;
    EvidenceSource source;
    std::string pattern;  // the OID prefix for kSysObjectId
    std::shared_ptr<const std::regex> regex;
    std::string vendor, model, firmware;
    tlsaudit::v1::DeviceClass device_class = tlsaudit::v1::DEVICE_CLASS_UNSPECIFIED;
  };
  std::vector<Signature> signatures_;
};

// Fills the fields of `asset` that are still empty (vendor, model, firmware, class, signature
// id) from `id`: what a device says of itself (ENTITY-MIB, LLDP-MED) is never overwritten.
void applyIdentification(const Identification& id, tlsaudit::v1::Asset& asset);

}  // namespace tlsaudit::collectors::fingerprint
