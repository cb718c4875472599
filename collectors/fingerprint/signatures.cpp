#include "collectors/fingerprint/signatures.h"

#include <nlohmann/json.hpp>

#include "collectors/net/peer_text.h"

namespace tlsaudit::collectors::fingerprint {

// Generated at build time from signatures.json (collectors/CMakeLists.txt).
extern const char* const kBuiltinSignaturesJson;

namespace v1 = tlsaudit::v1;

namespace {

constexpr std::pair<std::string_view, EvidenceSource> kSources[] = {
    {"sysObjectID", EvidenceSource::kSysObjectId},
    {"sysDescr", EvidenceSource::kSysDescr},
    {"sip", EvidenceSource::kSip},
    {"httpServer", EvidenceSource::kHttpServer},
    {"httpTitle", EvidenceSource::kHttpTitle},
    {"certSubject", EvidenceSource::kCertSubject},
};

constexpr std::pair<std::string_view, v1::DeviceClass> kClasses[] = {
    {"phone", v1::PHONE},     {"gateway", v1::GATEWAY},
    {"pbx", v1::PBX},         {"switch", v1::SWITCH},
    {"router", v1::ROUTER},   {"server", v1::SERVER},
    {"printer", v1::PRINTER}, {"access_point", v1::ACCESS_POINT},
    {"camera", v1::CAMERA},   {"firewall", v1::FIREWALL},
    {"other", v1::OTHER},
};

// Replaces $1..$9 with the groups of `m` (an absent group is empty).
std::string expand(const std::string& tmpl, const std::smatch* m) {
  std::string out;
  for (size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] == '$' && i + 1 < tmpl.size() && tmpl[i + 1] >= '1' && tmpl[i + 1] <= '9') {
      size_t g = static_cast<size_t>(tmpl[i + 1] - '0');
      if (m && g < m->size() && (*m)[g].matched) out += (*m)[g].str();
      ++i;
    } else {
      out += tmpl[i];
    }
  }
  // Groups may capture trailing separators.
  while (!out.empty() && (out.back() == ' ' || out.back() == '-' || out.back() == '/')) {
    out.pop_back();
  }
  return net::sanitisePeerText(out, 128);
}

bool oidPrefix(std::string_view oid, std::string_view prefix) {
  if (!oid.empty() && oid.front() == '.') oid.remove_prefix(1);
  return oid.size() >= prefix.size() && oid.substr(0, prefix.size()) == prefix &&
         (oid.size() == prefix.size() || oid[prefix.size()] == '.');
}

}  // namespace

std::optional<EvidenceSource> parseEvidenceSource(std::string_view name) {
  for (const auto& [n, s] : kSources) {
    if (n == name) return s;
  }
  return std::nullopt;
}

std::string_view evidenceSourceName(EvidenceSource s) {
  for (const auto& [n, src] : kSources) {
    if (src == s) return n;
  }
  return "";
}

std::optional<v1::DeviceClass> parseDeviceClass(std::string_view name) {
  for (const auto& [n, c] : kClasses) {
    if (n == name) return c;
  }
  return std::nullopt;
}

absl::StatusOr<SignatureDb> SignatureDb::parse(std::string_view text) {
  auto doc = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("signatures") ||
      !doc["signatures"].is_array()) {
    return absl::InvalidArgumentError(
        "signatures: expected a JSON object with a \"signatures\" array");
  }
  SignatureDb db;
  size_t index = 0;
  for (const auto& e : doc["signatures"]) {
    std::string where = "signatures[" + std::to_string(index++) + "]";
    if (!e.is_object()) return absl::InvalidArgumentError(where + ": not an object");
    auto str = [&](const char* key) -> std::string {
      auto it = e.find(key);
      return it != e.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    Signature s;
    s.id = str("id");
    if (s.id.empty()) return absl::InvalidArgumentError(where + ": missing \"id\"");
    where += " (" + s.id + ")";
    auto source = parseEvidenceSource(str("source"));
    if (!source) {
      return absl::InvalidArgumentError(
          where +
          ": \"source\" must be sysObjectID, sysDescr, sip, httpServer, httpTitle or "
          "certSubject");
    }
    s.source = *source;
    s.pattern = str("pattern");
    if (s.pattern.empty()) return absl::InvalidArgumentError(where + ": missing \"pattern\"");
    if (s.source != EvidenceSource::kSysObjectId) {
      try {
        s.regex = std::make_shared<const std::regex>(
            s.pattern, std::regex::ECMAScript | std::regex::icase | std::regex::optimize);
      } catch (const std::regex_error& err) {
        return absl::InvalidArgumentError(where +
                                          ": \"pattern\" is not a valid regex: " + err.what());
      }
    }
    s.vendor = str("vendor");
    s.model = str("model");
    s.firmware = str("firmware");
    if (auto c = str("class"); !c.empty()) {
      auto dc = parseDeviceClass(c);
      if (!dc) {
        return absl::InvalidArgumentError(where + ": unknown \"class\" '" + c +
                                          "' (phone, gateway, pbx, switch, router, server, "
                                          "printer, access_point, camera, firewall, other)");
      }
      s.device_class = *dc;
    }
    db.signatures_.push_back(std::move(s));
  }
  return db;
}

const SignatureDb& SignatureDb::builtin() {
  static const SignatureDb db = [] {
    auto parsed = parse(kBuiltinSignaturesJson);
    // The shipped file is checked by the unit tests; an error here is a build defect.
    return parsed.ok() ? *std::move(parsed) : SignatureDb();
  }();
  return db;
}

std::optional<Identification> SignatureDb::matchOne(EvidenceSource source,
                                                    std::string_view text) const {
  if (text.empty()) return std::nullopt;
  std::string input(text.substr(0, kMaxEvidenceChars));
  for (const auto& s : signatures_) {
    if (s.source != source) continue;
    std::smatch m;
    bool hit = false;
    if (source == EvidenceSource::kSysObjectId) {
      hit = oidPrefix(input, s.pattern);
    } else {
      try {
        hit = std::regex_search(input, m, *s.regex);
      } catch (const std::regex_error&) {
        hit = false;  // complexity limits: treat as no match
      }
    }
    if (!hit) continue;
    Identification id;
    id.signature_id = s.id;
    id.source = std::string(evidenceSourceName(source));
    const std::smatch* groups = source == EvidenceSource::kSysObjectId ? nullptr : &m;
    id.vendor = expand(s.vendor, groups);
    id.model = expand(s.model, groups);
    id.firmware = expand(s.firmware, groups);
    id.device_class = s.device_class;
    return id;
  }
  return std::nullopt;
}

std::optional<Identification> SignatureDb::identify(const Evidence& ev) const {
  const std::pair<EvidenceSource, const std::string*> order[] = {
      {EvidenceSource::kSysObjectId, &ev.sys_object_id},
      {EvidenceSource::kSysDescr, &ev.sys_descr},
      {EvidenceSource::kSip, &ev.sip_agent},
      {EvidenceSource::kHttpServer, &ev.http_server},
      {EvidenceSource::kHttpTitle, &ev.http_title},
      {EvidenceSource::kCertSubject, &ev.cert_subject},
  };
  std::vector<Identification> hits;
  for (const auto& [source, text] : order) {
    if (auto id = matchOne(source, *text)) hits.push_back(*std::move(id));
  }
  if (hits.empty()) return std::nullopt;
  // The most trusted hit that names a vendor leads and supplies what it knows; hits of the
  // same vendor fill the gaps, then vendor-less hits (e.g. "a Net-SNMP agent on Linux").
  const Identification* leader = nullptr;
  for (const auto& h : hits) {
    if (!h.vendor.empty()) {
      leader = &h;
      break;
    }
  }
  if (!leader) leader = &hits.front();
  Identification out = *leader;
  auto fill = [&](const Identification& h) {
    if (out.model.empty() && !h.model.empty()) {
      out.model = h.model;
      // Name the signature that supplied the model when the leader only gave the vendor.
      if (leader->model.empty()) {
        out.signature_id = h.signature_id;
        out.source = h.source;
      }
    }
    if (out.firmware.empty()) out.firmware = h.firmware;
    if (out.device_class == v1::DEVICE_CLASS_UNSPECIFIED) out.device_class = h.device_class;
  };
  for (const auto& h : hits) {
    if (&h != leader && !h.vendor.empty() && net::equalsIgnoreCase(h.vendor, out.vendor)) fill(h);
  }
  for (const auto& h : hits) {
    if (&h != leader && h.vendor.empty()) fill(h);
  }
  return out;
}

void applyIdentification(const Identification& id, v1::Asset& asset) {
  if (asset.vendor().empty()) asset.set_vendor(id.vendor);
  if (asset.model().empty()) asset.set_model(id.model);
  if (asset.firmware().empty()) asset.set_firmware(id.firmware);
  if (asset.device_class() == v1::DEVICE_CLASS_UNSPECIFIED) asset.set_device_class(id.device_class);
  if (asset.fingerprint().empty()) asset.set_fingerprint(id.signature_id);
}

}  // namespace tlsaudit::collectors::fingerprint
