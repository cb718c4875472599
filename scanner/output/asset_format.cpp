#include "scanner/output/asset_format.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>

namespace tlsaudit::scanner {
namespace v1 = tlsaudit::v1;

std::string deviceClassName(v1::DeviceClass c) {
  if (c == v1::DEVICE_CLASS_UNSPECIFIED) return "";
  std::string name = v1::DeviceClass_Name(c);
  for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return name;
}

namespace {

std::string services(const v1::Asset& a) {
  std::string out;
  for (const auto& s : a.services()) {
    if (!out.empty()) out += ", ";
    out += std::to_string(s.port()) + "/" + s.transport();
    std::string proto = s.protocol();
    if (proto.empty() && s.tls()) proto = "tls";
    if (!proto.empty()) out += " " + proto;
  }
  return out;
}

std::string attachment(const v1::Asset& a) {
  if (!a.has_attachment()) return "";
  const auto& at = a.attachment();
  std::string sw = !at.switch_name().empty() ? at.switch_name() : at.switch_address();
  return sw + " " + at.switch_port() + " (" + at.protocol() + ")";
}

std::string join(const google::protobuf::RepeatedPtrField<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

}  // namespace

std::string assetSummary(const v1::Asset& a) {
  std::string out = a.vendor();
  if (!a.model().empty()) out += (out.empty() ? "" : " ") + a.model();
  if (!a.firmware().empty()) out += " (" + a.firmware() + ")";
  if (auto c = deviceClassName(a.device_class()); !c.empty()) out += (out.empty() ? "" : ", ") + c;
  if (auto at = attachment(a); !at.empty()) out += (out.empty() ? "" : ", on ") + at;
  return out;
}

void writeAssetTable(std::ostream& out, const std::vector<v1::Asset>& assets) {
  const std::vector<std::string> header = {"ADDRESS", "MAC",  "VENDOR",   "MODEL",    "FIRMWARE",
                                           "CLASS",   "NAME", "ATTACHED", "SERVICES", "FOUND BY"};
  std::vector<std::vector<std::string>> rows;
  for (const auto& a : assets) {
    rows.push_back({a.addresses_size() ? join(a.addresses()) : "-", a.mac(), a.vendor(), a.model(),
                    a.firmware(), deviceClassName(a.device_class()),
                    !a.hostname().empty() ? a.hostname() : a.sys_name(), attachment(a), services(a),
                    join(a.discovered_by())});
  }
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i)
      width[i] = std::max(width[i], std::min<size_t>(r[i].size(), 48));
  }
  auto line = [&](const std::vector<std::string>& r) {
    std::string text;
    for (size_t i = 0; i < r.size(); ++i) {
      std::string cell = r[i].size() > 48 ? r[i].substr(0, 45) + "..." : r[i];
      if (i + 1 < r.size()) cell.resize(width[i], ' ');
      text += cell + (i + 1 < r.size() ? "  " : "");
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out << text << "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
  out << assets.size() << (assets.size() == 1 ? " asset\n" : " assets\n");
}

std::string assetToJson(const v1::Asset& asset, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  options.always_print_primitive_fields = true;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(asset, &out, options);
  if (!status.ok()) return "{\"error\":\"cannot encode asset\"}";
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace tlsaudit::scanner
