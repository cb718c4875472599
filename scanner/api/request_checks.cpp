#include "scanner/api/request_checks.h"

#include <algorithm>
#include <ctime>
#include <set>

#include "collectors/net/asio.h"

namespace tlsaudit::scanner {
namespace {

namespace v1 = tlsaudit::v1;

absl::Status bad(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(field + ": " + why);
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isHexDigit(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

}  // namespace

absl::Status checkText(const std::string& value, const std::string& field, size_t max) {
  if (value.size() > max) return bad(field, "longer than " + std::to_string(max) + " characters");
  return absl::OkStatus();
}

absl::Status checkRuleIds(const google::protobuf::RepeatedPtrField<std::string>& ids,
                          const std::string& field) {
  if (ids.size() > 100) return bad(field, "more than 100 rule ids");
  for (int i = 0; i < ids.size(); ++i) {
    std::string at = field + "[" + std::to_string(i) + "]";
    if (ids[i].empty()) return bad(at, "empty");
    if (auto st = checkText(ids[i], at); !st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status checkWatchRequest(const v1::WatchFindingsRequest& req) {
  static const std::set<std::string> kKinds = {"opened", "reopened", "resolved", "waived",
                                               "unwaived"};
  if (req.kinds_size() > 16) return bad("kinds", "more than 16 kinds");
  for (int i = 0; i < req.kinds_size(); ++i) {
    if (!kKinds.count(req.kinds(i))) {
      return bad("kinds[" + std::to_string(i) + "]",
                 "'" + req.kinds(i).substr(0, 40) +
                     "' is not one of opened, reopened, resolved, waived, unwaived");
    }
  }
  if (auto st = checkRuleIds(req.rule_ids(), "rule_ids"); !st.ok()) return st;
  if (!v1::Severity_IsValid(req.min_severity())) return bad("min_severity", "not a severity");
  if (!req.after().empty()) return checkId(req.after(), "after");
  return absl::OkStatus();
}

absl::Status checkPageSize(int32_t page_size, int fallback, int& out) {
  if (page_size == 0) {
    out = fallback;
    return absl::OkStatus();
  }
  if (page_size < 1 || page_size > 1000) {
    return bad("page_size", std::to_string(page_size) + " is not 1..1000 (0 for the default " +
                                std::to_string(fallback) + ")");
  }
  out = page_size;
  return absl::OkStatus();
}

absl::Status checkId(const std::string& value, const std::string& field) {
  if (value.empty()) return bad(field, "missing");
  if (value.size() > 18 || !std::all_of(value.begin(), value.end(), isDigit)) {
    return bad(field, "'" + value.substr(0, 40) + "' is not an id (a decimal number)");
  }
  return absl::OkStatus();
}

absl::Status checkAddressOrCidr(const std::string& value, const std::string& field) {
  if (value.empty()) return absl::OkStatus();
  std::string addr = value;
  auto slash = value.find('/');
  if (slash != std::string::npos) {
    addr = value.substr(0, slash);
    std::string bits = value.substr(slash + 1);
    if (bits.empty() || bits.size() > 3 || !std::all_of(bits.begin(), bits.end(), ::isdigit)) {
      return bad(field, "'" + value.substr(0, 60) + "' is not an address or CIDR block");
    }
  }
  boost::system::error_code ec;
  auto a = net::asio::ip::make_address(addr, ec);
  if (ec) return bad(field, "'" + value.substr(0, 60) + "' is not an address or CIDR block");
  if (slash != std::string::npos) {
    int bits = std::stoi(value.substr(slash + 1));
    if (bits > (a.is_v4() ? 32 : 128)) {
      return bad(field, "'" + value + "': the prefix is longer than the address");
    }
  }
  return absl::OkStatus();
}

absl::Status checkFindingFilter(const v1::FindingFilter& f, const std::string& field) {
  for (int i = 0; i < f.severities_size(); ++i) {
    if (!v1::Severity_IsValid(f.severities(i)) || f.severities(i) == v1::SEVERITY_UNSPECIFIED) {
      return bad(field + ".severities[" + std::to_string(i) + "]",
                 std::to_string(f.severities(i)) + " is not a severity (INFO..CRITICAL)");
    }
  }
  if (!v1::Severity_IsValid(f.min_severity())) {
    return bad(field + ".min_severity",
               std::to_string(f.min_severity()) + " is not a severity (INFO..CRITICAL)");
  }
  for (int i = 0; i < f.states_size(); ++i) {
    if (!v1::FindingState_IsValid(f.states(i)) || f.states(i) == v1::FINDING_STATE_UNSPECIFIED) {
      return bad(field + ".states[" + std::to_string(i) + "]",
                 std::to_string(f.states(i)) + " is not a finding state (OPEN, RESOLVED, WAIVED)");
    }
  }
  if (auto st = checkRuleIds(f.rule_ids(), field + ".rule_ids"); !st.ok()) return st;
  if (auto st = checkAddressOrCidr(f.address(), field + ".address"); !st.ok()) return st;
  if (auto st = checkText(f.vendor(), field + ".vendor"); !st.ok()) return st;
  if (auto st = checkText(f.model(), field + ".model"); !st.ok()) return st;
  if (auto st = checkText(f.profile(), field + ".profile"); !st.ok()) return st;
  if (!f.scan_id().empty()) {
    if (auto st = checkId(f.scan_id(), field + ".scan_id"); !st.ok()) return st;
  }
  if (f.has_since() && (f.since().seconds() < 0 || f.since().nanos() < 0)) {
    return bad(field + ".since", "before 1970");
  }
  return absl::OkStatus();
}

absl::Status checkAssetFilter(const v1::AssetFilter& f, const std::string& field) {
  if (auto st = checkAddressOrCidr(f.address(), field + ".address"); !st.ok()) return st;
  if (auto st = checkText(f.vendor(), field + ".vendor"); !st.ok()) return st;
  if (auto st = checkText(f.model(), field + ".model"); !st.ok()) return st;
  if (!v1::DeviceClass_IsValid(f.device_class())) {
    return bad(field + ".device_class", std::to_string(f.device_class()) + " is not a device class");
  }
  return absl::OkStatus();
}

absl::Status checkServiceFilter(const v1::ServiceFilter& f, const std::string& field) {
  if (auto st = checkAddressOrCidr(f.address(), field + ".address"); !st.ok()) return st;
  if (f.port() > 65535) return bad(field + ".port", std::to_string(f.port()) + " is not a port");
  if (!v1::TlsVersion_IsValid(f.supports_version())) {
    return bad(field + ".supports_version",
               std::to_string(f.supports_version()) + " is not a TLS version");
  }
  if (auto st = checkText(f.vendor(), field + ".vendor"); !st.ok()) return st;
  return checkText(f.model(), field + ".model");
}

absl::Status checkCertificateFilter(const v1::CertificateFilter& f, const std::string& field) {
  if (auto st = checkText(f.signature_hash(), field + ".signature_hash", 32); !st.ok()) return st;
  if (auto st = checkText(f.subject_contains(), field + ".subject_contains"); !st.ok()) return st;
  if (!f.sha256().empty()) {
    bool hex = f.sha256().size() == 64 &&
               std::all_of(f.sha256().begin(), f.sha256().end(), isHexDigit);
    if (!hex) return bad(field + ".sha256", "not 64 hexadecimal digits");
  }
  return absl::OkStatus();
}

absl::Status checkWaiver(const v1::Waiver& w, const std::string& field) {
  if (w.rule_id().empty()) return bad(field + ".rule_id", "missing");
  if (w.reason().empty()) return bad(field + ".reason", "missing: say why the risk is accepted");
  if (!w.has_expires()) return bad(field + ".expires", "missing: every waiver expires");
  if (w.expires().seconds() <= std::time(nullptr)) {
    return bad(field + ".expires", "already past: a waiver must end in the future");
  }
  if (auto st = checkText(w.rule_id(), field + ".rule_id"); !st.ok()) return st;
  if (auto st = checkText(w.reason(), field + ".reason", 2000); !st.ok()) return st;
  if (auto st = checkText(w.owner(), field + ".owner"); !st.ok()) return st;
  if (auto st = checkText(w.id(), field + ".id", 100); !st.ok()) return st;
  const auto& s = w.selector();
  if (!s.address().empty()) {
    if (s.address().find('/') != std::string::npos) {
      return bad(field + ".selector.address", "one address; use selector.cidr for a block");
    }
    if (auto st = checkAddressOrCidr(s.address(), field + ".selector.address"); !st.ok()) return st;
  }
  if (!s.cidr().empty() && s.cidr().find('/') == std::string::npos) {
    return bad(field + ".selector.cidr",
               "'" + s.cidr().substr(0, 60) + "' is not a CIDR block (a.b.c.d/n)");
  }
  if (auto st = checkAddressOrCidr(s.cidr(), field + ".selector.cidr"); !st.ok()) return st;
  if (auto st = checkText(s.vendor(), field + ".selector.vendor"); !st.ok()) return st;
  if (auto st = checkText(s.model(), field + ".selector.model"); !st.ok()) return st;
  if (s.port() > 65535) return bad(field + ".selector.port", "not a port");
  if (s.address().empty() && s.cidr().empty() && s.vendor().empty() && s.model().empty()) {
    return bad(field + ".selector",
               "empty: a waiver names the assets it covers (address, cidr, vendor or model)");
  }
  return absl::OkStatus();
}

absl::Status namePageToken(const absl::Status& status) {
  if (status.code() == absl::StatusCode::kInvalidArgument &&
      std::string(status.message()) == "invalid page token") {
    return absl::InvalidArgumentError(
        "page_token: not a next_page_token this list returned (it may belong to another list or "
        "be damaged)");
  }
  return status;
}

}  // namespace tlsaudit::scanner
