#include "storage/ingest_rows.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "storage/proto_json.h"
#include "storage/timestamps.h"

namespace tlsaudit::storage {

namespace v1 = tlsaudit::v1;

namespace {

std::string toHexLower(std::string_view hex) {
  std::string out(hex);
  for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

bool isHex(const std::string& s, size_t size) {
  return s.size() == size && std::all_of(s.begin(), s.end(), ::isxdigit);
}

// One element of a PostgreSQL array literal, quoted: any text is an element, never syntax.
void appendQuoted(std::string_view value, std::string& out) {
  out += '"';
  size_t run = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '"' && value[i] != '\\') continue;
    out.append(value.data() + run, i - run);
    out += '\\';
    run = i;
  }
  out.append(value.data() + run, value.size() - run);
  out += '"';
}

}  // namespace

bool isDecimalId(const std::string& s) {
  return !s.empty() && s.size() <= 18 && std::all_of(s.begin(), s.end(), ::isdigit);
}

std::string hostAddress(const v1::HostResult& host) {
  if (host.asset().addresses_size() > 0 && !host.asset().addresses(0).empty()) {
    return host.asset().addresses(0);
  }
  for (const auto& s : host.services()) {
    if (!s.report().target().ip().empty()) return s.report().target().ip();
  }
  return "";
}

absl::StatusOr<ServiceIdentity> serviceIdentity(const v1::HostResult& host,
                                                const v1::ServiceResult& service,
                                                const std::string& asset_address) {
  const v1::TlsReport& report = service.report();
  ServiceIdentity id;
  id.ip = report.target().ip().empty() ? asset_address : report.target().ip();
  id.port = service.service().port() != 0 ? service.service().port() : report.target().port();
  if (id.port == 0 || id.port > 65535) {
    return absl::InvalidArgumentError("service result without a port");
  }
  id.transport = service.service().transport().empty() ? "tcp" : service.service().transport();
  id.observed = host.has_observed_at()    ? host.observed_at()
                : report.has_scanned_at() ? report.scanned_at()
                                          : nowTimestamp();
  return id;
}

std::string reportJson(const v1::TlsReport& report) {
  static const auto* der = v1::Certificate::descriptor()->FindFieldByName("der");
  std::string out;
  out.reserve(4096);
  if (appendProtoJson(report, der, out)) return out;
  out.clear();
  v1::TlsReport copy = report;
  for (auto& chain : *copy.mutable_chains()) {
    for (auto& cert : *chain.mutable_certificates()) cert.clear_der();
  }
  google::protobuf::util::JsonPrintOptions options;
  (void)google::protobuf::util::MessageToJsonString(copy, &out, options);
  return out;
}

std::string assetJson(const v1::Asset& asset) {
  static const auto* services = v1::Asset::descriptor()->FindFieldByName("services");
  std::string out;
  if (appendProtoJson(asset, services, out)) return out;
  out.clear();
  v1::Asset copy = asset;
  copy.clear_services();
  (void)google::protobuf::util::MessageToJsonString(copy, &out);
  return out;
}

ObservationRows observationRows(const v1::TlsReport& report) {
  ObservationRows rows;
  for (const auto& v : report.versions()) {
    int version = static_cast<int>(v.version());
    rows.versions.push_back({version, v.supported(), static_cast<int>(v.cipher_order())});
    if (v.cipher_suites_size() > 0) rows.suites.push_back({version, &v.cipher_suites()});
    if (v.client_auth().requested()) rows.client_auth.push_back({version, &v.client_auth()});
  }
  std::set<std::string> seen;
  for (int ci = 0; ci < report.chains_size(); ++ci) {
    const auto& chain = report.chains(ci);
    for (int pos = 0; pos < chain.certificates_size(); ++pos) {
      const auto& cert = chain.certificates(pos);
      std::string sha = toHexLower(cert.sha256());
      if (!isHex(sha, 64) || cert.der().empty()) continue;
      rows.chain.push_back({ci, pos, sha, static_cast<int>(cert.source()), chain.trusted()});
      if (!seen.insert(sha).second) continue;
      std::string sha1 = toHexLower(cert.sha1());
      rows.certificates.push_back({sha, isHex(sha1, 40) ? sha1 : "", &cert});
    }
  }
  return rows;
}

SuiteArrays suiteArrays(const ObservationRows::SuiteList& list) {
  SuiteArrays a;
  std::string* const arrays[] = {&a.codes,   &a.names, &a.kx,   &a.auth,
                                 &a.ciphers, &a.macs,  &a.bits, &a.forward_secret};
  for (std::string* array : arrays) *array += '{';
  for (int i = 0; i < list.suites->size(); ++i) {
    if (i > 0) {
      for (std::string* array : arrays) *array += ',';
    }
    const v1::CipherSuite& cs = list.suites->Get(i);
    absl::StrAppend(&a.codes, cs.code());
    appendQuoted(cs.name(), a.names);
    appendQuoted(cs.kx(), a.kx);
    appendQuoted(cs.auth(), a.auth);
    appendQuoted(cs.cipher(), a.ciphers);
    appendQuoted(cs.mac(), a.macs);
    absl::StrAppend(&a.bits, cs.bits());
    a.forward_secret += cs.forward_secret() ? 't' : 'f';
  }
  for (std::string* array : arrays) *array += '}';
  return a;
}

}  // namespace tlsaudit::storage
