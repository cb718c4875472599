#include "scanner/output/report_format.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <iomanip>
#include <sstream>

#include "rules/policy.h"

namespace tlsaudit::scanner {
namespace {

namespace v1 = tlsaudit::v1;

const char* versionLabel(v1::TlsVersion v) {
  switch (v) {
    case v1::SSL2:
      return "SSLv2";
    case v1::SSL3:
      return "SSLv3";
    case v1::TLS1_0:
      return "TLS 1.0";
    case v1::TLS1_1:
      return "TLS 1.1";
    case v1::TLS1_2:
      return "TLS 1.2";
    case v1::TLS1_3:
      return "TLS 1.3";
    default:
      return "?";
  }
}

std::string date(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "?";
  std::string s = google::protobuf::util::TimeUtil::ToString(t);
  return s.substr(0, 10);
}

class Painter {
 public:
  explicit Painter(bool on) : on_(on) {}
  std::string bad(const std::string& s) const { return on_ ? "\033[1;31m" + s + "\033[0m" : s; }
  std::string warn(const std::string& s) const { return on_ ? "\033[33m" + s + "\033[0m" : s; }
  std::string good(const std::string& s) const { return on_ ? "\033[32m" + s + "\033[0m" : s; }
  std::string bold(const std::string& s) const { return on_ ? "\033[1m" + s + "\033[0m" : s; }

 private:
  bool on_;
};

std::string csvField(const std::string& s) {
  bool quote = s.find_first_of(",\"\n\r") != std::string::npos;
  // Cells starting with these are formulas in spreadsheets (CSV injection).
  bool formula = !s.empty() && std::string("=+-@").find(s.front()) != std::string::npos;
  std::string v = formula ? "'" + s : s;
  if (!quote) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string endpointLabel(const v1::Target& t) {
  std::string ip = t.ip().find(':') != std::string::npos ? "[" + t.ip() + "]" : t.ip();
  std::string label = ip + ":" + std::to_string(t.port());
  if (!t.host().empty() && t.host() != t.ip()) label = t.host() + " (" + label + ")";
  if (!t.starttls().empty()) label += " starttls=" + t.starttls();
  return label;
}

}  // namespace

std::string weakVersionReason(v1::TlsVersion version) {
  switch (version) {
    case v1::SSL2:
      return "SSLv2 is broken (RFC 6176)";
    case v1::SSL3:
      return "SSLv3 is broken (RFC 7568)";
    case v1::TLS1_0:
      return "TLS 1.0 is deprecated (RFC 8996)";
    case v1::TLS1_1:
      return "TLS 1.1 is deprecated (RFC 8996)";
    default:
      return "";
  }
}

std::string weakSuiteReason(const v1::CipherSuite& s) {
  if (s.export_()) return "EXPORT";
  if (s.cipher() == "NULL") return "NULL cipher";
  if (s.auth() == "anon") return "anonymous";
  if (s.cipher().find("RC4") != std::string::npos) return "RC4";
  if (s.cipher().find("3DES") != std::string::npos ||
      s.cipher().find("DES_192") != std::string::npos) {
    return "3DES (SWEET32)";
  }
  if (s.cipher().find("DES") != std::string::npos) return "DES";
  if (s.cipher().find("RC2") != std::string::npos || s.cipher().find("IDEA") != std::string::npos) {
    return "legacy cipher";
  }
  if (s.kx_group() == "DH" && s.kx_bits() > 0 && s.kx_bits() < 2048) return "DH < 2048 bits";
  if (s.bits() > 0 && s.bits() < 112) return "short key";
  return "";
}

bool weakSignatureHash(const std::string& hash) {
  return hash == "MD5" || hash == "SHA1" || hash == "MD2" || hash == "MD4";
}

void writeTable(std::ostream& out, const v1::TlsReport& r, const TableStyle& style) {
  Painter p(style.color);
  out << p.bold(endpointLabel(r.target())) << "\n";
  if (!r.reachable() || !r.tls()) {
    out << "  " << (r.reachable() ? "no TLS/SSL version negotiated" : "not reachable") << "\n";
  }
  if (r.tls()) {
    std::string line = "  Versions:";
    for (const auto& v : r.versions()) {
      std::string label = versionLabel(v.version());
      if (!v.supported()) {
        line += "  " + label + " no";
      } else if (!weakVersionReason(v.version()).empty()) {
        line += "  " + p.bad(label + " YES");
      } else {
        line += "  " + p.good(label + " yes");
      }
    }
    out << line << "\n";
    for (const auto& v : r.versions()) {
      if (!v.supported()) continue;
      std::string order = v.cipher_order() == v1::CIPHER_ORDER_SERVER   ? "server order"
                          : v.cipher_order() == v1::CIPHER_ORDER_CLIENT ? "client order"
                          : v.cipher_order() == v1::CIPHER_ORDER_SINGLE ? "one suite"
                                                                        : "order unknown";
      std::string head = std::string(versionLabel(v.version())) + " (" + order + ")";
      if (auto why = weakVersionReason(v.version()); !why.empty())
        head += "  " + p.bad("!! " + why);
      out << "  " << head << "\n";
      if (!v.note().empty()) out << "    note: " << v.note() << "\n";
      for (const auto& s : v.cipher_suites()) {
        std::ostringstream row;
        row << "    " << std::left << std::setw(48) << s.name();
        std::string kx = s.kx_group().empty() ? "" : s.kx_group();
        if (s.kx_bits()) kx += " " + std::to_string(s.kx_bits());
        row << std::setw(18) << kx << std::right << std::setw(4) << s.bits() << " bits";
        if (!s.forward_secret() && v.version() != v1::TLS1_3) row << "  no-FS";
        std::string line = row.str();
        if (auto why = weakSuiteReason(s); !why.empty()) line = p.bad(line + "  !! " + why);
        out << line << "\n";
      }
      if (v.client_auth().requested()) {
        const auto& ca = v.client_auth();
        out << "    client certificate requested";
        if (ca.signature_algorithms_size()) {
          out << "; signature algorithms:";
          for (const auto& a : ca.signature_algorithms()) out << " " << a;
        }
        out << "\n";
        for (const auto& n : ca.ca_names()) out << "      acceptable CA: " << n << "\n";
      }
    }
    if (r.groups_size()) {
      out << "  Groups:";
      for (const auto& g : r.groups()) out << " " << g.name();
      out << "\n";
    }
    int n = 0;
    for (const auto& chain : r.chains()) {
      ++n;
      std::string trust =
          chain.trusted() ? p.good("trusted") : p.warn("NOT trusted: " + chain.validation_error());
      out << "  Certificate chain " << n << " (" << chain.key_type() << ", " << trust;
      if (chain.name_matches() == v1::SUPPORT_NO) out << ", " << p.bad("name mismatch");
      out << ")\n";
      int i = 0;
      for (const auto& c : chain.certificates()) {
        std::string hash = weakSignatureHash(c.signature_hash())
                               ? p.bad(c.signature_algorithm() + " !! " + c.signature_hash())
                               : c.signature_algorithm();
        std::string key = c.key_type() + " " + std::to_string(c.key_bits());
        if (!c.curve().empty()) key += " " + c.curve();
        if ((c.key_type() == "RSA" && c.key_bits() < 2048) ||
            (c.key_type() == "EC" && c.key_bits() < 224)) {
          key = p.bad(key);
        }
        out << "    [" << i++ << "] " << c.subject() << "\n"
            << "        issuer " << c.issuer() << "\n"
            << "        " << hash << ", " << key << ", " << date(c.not_before()) << " .. "
            << date(c.not_after())
            << (c.source() == v1::CERTIFICATE_SOURCE_TRUST_STORE ? ", from trust store" : "")
            << (c.self_signed() ? ", self-signed" : "") << "\n";
      }
    }
    if (r.has_extensions()) {
      const auto& e = r.extensions();
      auto yn = [](bool b) { return b ? "yes" : "no"; };
      auto fallback = e.fallback_scsv() == v1::SUPPORT_YES              ? "yes"
                      : e.fallback_scsv() == v1::SUPPORT_NO             ? "NO"
                      : e.fallback_scsv() == v1::SUPPORT_NOT_APPLICABLE ? "n/a"
                                                                        : "unknown";
      out << "  Secure renegotiation: " << (e.secure_renegotiation() ? "yes" : p.bad("NO"))
          << "  Fallback SCSV: " << fallback
          << "  Compression: " << (e.compression() ? p.bad("YES (CRIME)") : "no")
          << "  OCSP stapling: " << yn(e.ocsp_stapling()) << "\n"
          << "  Heartbeat: " << yn(e.heartbeat()) << "  Session tickets: " << yn(e.session_ticket())
          << "  Extended master secret: " << yn(e.extended_master_secret())
          << "  Encrypt-then-MAC: " << yn(e.encrypt_then_mac()) << "  ALPN:";
      if (e.alpn().empty()) out << " none";
      for (const auto& a : e.alpn()) out << " " << a;
      out << "\n";
    }
  }
  const auto& app = r.application();
  if (!app.banner().empty()) out << "  Banner: " << app.banner() << "\n";
  if (!app.sip_status().empty()) {
    out << "  SIP: " << app.sip_status();
    if (!app.sip_user_agent().empty()) out << "; User-Agent: " << app.sip_user_agent();
    if (!app.sip_server().empty()) out << "; Server: " << app.sip_server();
    out << "\n";
  }
  for (const auto& e : r.errors()) {
    out << "  " << p.warn("error") << " [" << e.stage() << "/" << e.kind() << "] " << e.message()
        << "\n";
  }
  out << "  " << r.connections() << " connections, " << r.duration_ms() << " ms\n\n";
}

std::string reportToJson(const v1::TlsReport& report, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  options.always_print_primitive_fields = true;
  options.always_print_enums_as_ints = false;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(report, &out, options);
  if (!status.ok()) return "{\"error\":\"cannot encode report\"}";
  return out;
}

namespace {
constexpr const char* kCsvColumns[] = {
    "host", "ip", "port", "starttls", "type", "version", "name", "code", "kx", "auth", "cipher",
    "bits", "forward_secret", "kx_group", "kx_bits", "subject", "issuer", "signature_algorithm",
    "signature_hash", "key_type", "key_bits", "not_after", "trusted", "message",
    // Findings rows (type "finding"): name is the rule id, message its title.
    "severity", "state", "evidence"};
constexpr size_t kCsvWidth = std::size(kCsvColumns);

// One CSV row keyed by column name, so every row has exactly the header's columns.
class CsvRow {
 public:
  CsvRow& set(std::string_view column, std::string value) {
    for (size_t i = 0; i < kCsvWidth; ++i) {
      if (column == kCsvColumns[i]) cells_[i] = std::move(value);
    }
    return *this;
  }
  void write(std::ostream& out) const {
    for (size_t i = 0; i < kCsvWidth; ++i) out << (i ? "," : "") << csvField(cells_[i]);
    out << "\n";
  }

 private:
  std::string cells_[kCsvWidth];
};
}  // namespace

void writeCsvHeader(std::ostream& out) {
  for (size_t i = 0; i < kCsvWidth; ++i) out << (i ? "," : "") << kCsvColumns[i];
  out << "\n";
}

void writeCsvRows(std::ostream& out, const v1::TlsReport& r) {
  const auto& t = r.target();
  auto base = [&](const std::string& type, const std::string& version) {
    CsvRow row;
    row.set("host", t.host()).set("ip", t.ip()).set("port", std::to_string(t.port()));
    row.set("starttls", t.starttls()).set("type", type).set("version", version);
    return row;
  };
  for (const auto& v : r.versions()) {
    std::string ver = versionLabel(v.version());
    base("version", ver)
        .set("name", v.supported() ? "supported" : "not supported")
        .set("message", weakVersionReason(v.version()))
        .write(out);
    for (const auto& s : v.cipher_suites()) {
      std::ostringstream code;
      code << "0x" << std::hex << std::uppercase << std::setw(s.code() > 0xFFFF ? 6 : 4)
           << std::setfill('0') << s.code();
      base("cipher", ver)
          .set("name", s.name())
          .set("code", code.str())
          .set("kx", s.kx())
          .set("auth", s.auth())
          .set("cipher", s.cipher())
          .set("bits", std::to_string(s.bits()))
          .set("forward_secret", s.forward_secret() ? "yes" : "no")
          .set("kx_group", s.kx_group())
          .set("kx_bits", s.kx_bits() ? std::to_string(s.kx_bits()) : "")
          .set("message", weakSuiteReason(s))
          .write(out);
    }
  }
  int n = 0;
  for (const auto& chain : r.chains()) {
    ++n;
    int i = 0;
    for (const auto& c : chain.certificates()) {
      base("certificate", "")
          .set("name", "chain" + std::to_string(n) + "/" + std::to_string(i++))
          .set("subject", c.subject())
          .set("issuer", c.issuer())
          .set("signature_algorithm", c.signature_algorithm())
          .set("signature_hash", c.signature_hash())
          .set("key_type", c.key_type())
          .set("key_bits", std::to_string(c.key_bits()))
          .set("not_after", date(c.not_after()))
          .set("trusted", chain.trusted() ? "yes" : "no")
          .set("message", chain.validation_error())
          .write(out);
    }
  }
  for (const auto& e : r.errors()) {
    base("error", "")
        .set("name", e.stage())
        .set("message", e.kind() + ": " + e.message())
        .write(out);
  }
}

void writeFindingCsvRow(std::ostream& out, const v1::TlsReport& r, const v1::Finding& f) {
  const auto& t = r.target();
  CsvRow row;
  row.set("host", t.host()).set("ip", t.ip()).set("port", std::to_string(t.port()));
  row.set("starttls", t.starttls()).set("type", "finding");
  row.set("name", f.rule_id()).set("message", f.title());
  row.set("severity", rules::severityText(f.severity()));
  row.set("state", f.state() == v1::WAIVED ? "waived" : "open");
  row.set("evidence", f.evidence());
  row.write(out);
}

}  // namespace tlsaudit::scanner
