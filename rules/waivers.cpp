#include "rules/waivers.h"

#include <arpa/inet.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "rules/embedded.h"
#include "rules/yaml_document.h"

namespace tlsaudit::rules {
namespace {

using google::protobuf::util::TimeUtil;

constexpr int64_t kDay = 86400;

struct Address {
  int family = 0;  // AF_INET, AF_INET6
  std::array<uint8_t, 16> bytes{};
};

bool parseAddress(const std::string& text, Address& out) {
  if (inet_pton(AF_INET, text.c_str(), out.bytes.data()) == 1) {
    out.family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), out.bytes.data()) == 1) {
    out.family = AF_INET6;
    // An IPv4-mapped IPv6 address is the IPv4 address.
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(out.bytes.data(), kMapped, 12) == 0) {
      std::memmove(out.bytes.data(), out.bytes.data() + 12, 4);
      out.family = AF_INET;
    }
    return true;
  }
  return false;
}

bool parseCidr(const std::string& text, Address& net, int& prefix) {
  size_t slash = text.find('/');
  if (slash == std::string::npos) return false;
  if (!parseAddress(text.substr(0, slash), net)) return false;
  std::string bits = text.substr(slash + 1);
  if (bits.empty() || bits.size() > 3 || !std::all_of(bits.begin(), bits.end(), ::isdigit)) {
    return false;
  }
  prefix = std::stoi(bits);
  return prefix <= (net.family == AF_INET ? 32 : 128);
}

bool inCidr(const Address& a, const Address& net, int prefix) {
  if (a.family != net.family) return false;
  int full = prefix / 8, rest = prefix % 8;
  if (std::memcmp(a.bytes.data(), net.bytes.data(), static_cast<size_t>(full)) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a.bytes[static_cast<size_t>(full)] & mask) ==
         (net.bytes[static_cast<size_t>(full)] & mask);
}

bool equalsIgnoreCase(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string selectorText(const v1::AssetSelector& s) {
  std::string out;
  auto add = [&](const char* k, const std::string& v) {
    if (!v.empty()) out += (out.empty() ? "" : ", ") + std::string(k) + " " + v;
  };
  add("address", s.address());
  add("cidr", s.cidr());
  add("vendor", s.vendor());
  add("model", s.model());
  if (s.port()) add("port", std::to_string(s.port()));
  return out;
}

}  // namespace

absl::StatusOr<WaiverSet> loadWaivers(const std::string& path) {
  auto data = readUserFile(path, "waivers file");
  if (!data.ok()) return data.status();
  return parseWaivers(*data, path);
}

absl::StatusOr<WaiverSet> parseWaivers(std::string_view text, const std::string& name) {
  if (text.size() > kMaxUserFileBytes) {
    return absl::InvalidArgumentError(name + ": larger than 4 MiB; not a waivers file");
  }
  auto doc = YamlDocument::parse(text, name);
  if (!doc.ok()) return doc.status();
  static const auto* schema = new YamlSchema(
      *YamlSchema::load(embeddedSchema("waivers.schema.json"), "waivers.schema.json"));
  auto st = schema->validate(*doc);
  if (!st.ok()) return st;
  WaiverSet out;
  const YAML::Node& list = doc->root()["waivers"];
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node& n = list[i];
    std::string path = "waivers[" + std::to_string(i) + "]";
    std::string where = doc->at(n).text();
    auto bad = [&](const YAML::Node& at, const std::string& msg) {
      out.malformed.push_back(WaiverProblem{doc->at(at).text(), path + ": " + msg});
    };
    auto valid = schema->validate(*doc, n, "waiver", path);
    if (!valid.ok()) {
      // The message already starts with file:line:column.
      std::string m(valid.message());
      size_t cut = m.find(": ");
      out.malformed.push_back(WaiverProblem{m.substr(0, cut), m.substr(cut + 2)});
      continue;
    }
    v1::Waiver w;
    w.set_id(n["id"] ? n["id"].Scalar() : name + ":" + std::to_string(doc->at(n).line));
    w.set_rule_id(n["rule"].Scalar());
    w.set_reason(n["reason"].Scalar());
    w.set_owner(n["owner"].Scalar());
    w.set_origin(where);
    const YAML::Node& a = n["asset"];
    auto* sel = w.mutable_selector();
    bool ok = true;
    if (a["address"]) {
      Address addr;
      if (!parseAddress(a["address"].Scalar(), addr)) {
        bad(a["address"], "'" + a["address"].Scalar() + "' is not an IPv4 or IPv6 address");
        ok = false;
      }
      sel->set_address(a["address"].Scalar());
    }
    if (a["cidr"]) {
      Address net;
      int prefix = 0;
      if (!parseCidr(a["cidr"].Scalar(), net, prefix)) {
        bad(a["cidr"], "'" + a["cidr"].Scalar() + "' is not a network such as 10.0.0.0/8");
        ok = false;
      }
      sel->set_cidr(a["cidr"].Scalar());
    }
    if (a["vendor"]) sel->set_vendor(a["vendor"].Scalar());
    if (a["model"]) sel->set_model(a["model"].Scalar());
    if (a["port"]) sel->set_port(static_cast<uint32_t>(std::stoul(a["port"].Scalar())));
    if (ok && sel->address().empty() && sel->cidr().empty() && sel->vendor().empty() &&
        sel->model().empty()) {
      bad(a,
          "the asset selector needs an address, cidr, vendor or model (a waiver for every "
          "asset is not accepted)");
      ok = false;
    }
    // A date alone means "through that day": the waiver ends at the next midnight UTC.
    std::string exp = n["expires"].Scalar();
    bool date_only = exp.size() == 10;
    google::protobuf::Timestamp ts;
    if (!TimeUtil::FromString(date_only ? exp + "T00:00:00Z" : exp, &ts)) {
      bad(n["expires"], "'" + exp + "' is not a valid date");
      ok = false;
    } else {
      if (date_only) ts.set_seconds(ts.seconds() + kDay);
      *w.mutable_expires() = ts;
    }
    if (ok) out.waivers.push_back(std::move(w));
  }
  return out;
}

std::vector<WaiverProblem> expiredWaivers(const WaiverSet& set, int64_t now) {
  std::vector<WaiverProblem> out;
  for (const auto& w : set.waivers) {
    if (w.expires().seconds() <= now) {
      google::protobuf::Timestamp last = w.expires();
      last.set_seconds(last.seconds() - 1);
      out.push_back(WaiverProblem{w.origin(), "waiver for rule '" + w.rule_id() + "' on " +
                                                  selectorText(w.selector()) + " (owner " +
                                                  w.owner() + ") expired after " +
                                                  TimeUtil::ToString(last).substr(0, 10) +
                                                  "; its findings are open again"});
    }
  }
  return out;
}

bool waiverMatches(const v1::Waiver& w, const std::string& rule_id, const std::string& address,
                   uint32_t port, const v1::Asset& asset) {
  if (w.rule_id() != rule_id) return false;
  const auto& s = w.selector();
  if (s.port() != 0 && s.port() != port) return false;
  if (!s.address().empty() || !s.cidr().empty()) {
    std::vector<std::string> addrs;
    if (!address.empty()) addrs.push_back(address);
    for (const auto& a : asset.addresses()) addrs.push_back(a);
    bool any = false;
    for (const auto& text : addrs) {
      Address a;
      if (!parseAddress(text, a)) continue;
      bool ok = true;
      if (!s.address().empty()) {
        Address want;
        ok = parseAddress(s.address(), want) && want.family == a.family && want.bytes == a.bytes;
      }
      if (ok && !s.cidr().empty()) {
        Address net;
        int prefix = 0;
        ok = parseCidr(s.cidr(), net, prefix) && inCidr(a, net, prefix);
      }
      if (ok) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  if (!s.vendor().empty() && !equalsIgnoreCase(s.vendor(), asset.vendor())) return false;
  if (!s.model().empty() && !equalsIgnoreCase(s.model(), asset.model())) return false;
  return true;
}

bool applyWaivers(const WaiverSet& set, int64_t now, const v1::Asset& asset, uint32_t port,
                  v1::Finding& f) {
  for (const auto& w : set.waivers) {
    if (w.expires().seconds() <= now) continue;
    if (!waiverMatches(w, f.rule_id(), f.asset(), port, asset)) continue;
    f.set_state(v1::WAIVED);
    f.set_waiver_id(w.id());
    f.set_waiver_reason(w.reason());
    *f.mutable_waiver_expires() = w.expires();
    return true;
  }
  return false;
}

}  // namespace tlsaudit::rules
