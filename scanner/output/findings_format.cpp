#include "scanner/output/findings_format.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

namespace tlsaudit::scanner {
namespace {

std::string paint(bool on, const char* code, const std::string& s) {
  return on ? std::string("\033[") + code + "m" + s + "\033[0m" : s;
}

const char* severityColor(v1::Severity s) {
  switch (s) {
    case v1::CRITICAL:
    case v1::HIGH:
      return "1;31";
    case v1::MEDIUM:
      return "33";
    default:
      return "36";
  }
}

std::vector<const v1::Finding*> worstFirst(const std::vector<v1::Finding>& findings) {
  std::vector<const v1::Finding*> sorted;
  for (const auto& f : findings) sorted.push_back(&f);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto* a, const auto* b) { return a->severity() > b->severity(); });
  return sorted;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// SARIF levels: error for high and critical, warning for medium, note below.
const char* sarifLevel(v1::Severity s) {
  switch (s) {
    case v1::CRITICAL:
    case v1::HIGH:
      return "error";
    case v1::MEDIUM:
      return "warning";
    default:
      return "note";
  }
}

// The numeric "security-severity" property code-scanning dashboards sort by (0.0-10.0).
const char* securitySeverity(v1::Severity s) {
  switch (s) {
    case v1::CRITICAL:
      return "9.5";
    case v1::HIGH:
      return "8.0";
    case v1::MEDIUM:
      return "5.5";
    case v1::LOW:
      return "3.0";
    default:
      return "0.0";
  }
}

// FNV-1a, hex: a stable fingerprint of rule and service across runs.
std::string fingerprint(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace

void writeFindingsTable(std::ostream& out, const std::vector<v1::Finding>& findings,
                        const std::string& profile, bool color) {
  if (findings.empty()) return;
  out << "  findings (" << profile << "):\n";
  for (const auto* f : worstFirst(findings)) {
    std::string sev = upper(rules::severityText(f->severity()));
    sev.resize(8, ' ');
    out << "    " << paint(color, severityColor(f->severity()), sev) << " " << f->rule_id() << "  "
        << f->title() << "\n"
        << "             " << f->evidence() << "\n";
    if (f->state() == v1::WAIVED) {
      out << "             "
          << paint(
                 color, "2",
                 "waived until " +
                     google::protobuf::util::TimeUtil::ToString(f->waiver_expires()).substr(0, 10) +
                     ": " + f->waiver_reason())
          << "\n";
    }
  }
}

void FindingCounts::add(const v1::Finding& f) {
  if (f.state() == v1::WAIVED) {
    ++waived;
  } else if (f.severity() >= 0 && f.severity() < 6) {
    ++open[f.severity()];
  }
}

void writeFindingsSummary(std::ostream& out, const FindingCounts& counts,
                          const std::string& profile, bool color) {
  int total = 0;
  std::string parts;
  for (int sev = 5; sev >= 0; --sev) {
    int n = counts.open[sev];
    if (n == 0) continue;
    total += n;
    parts += (parts.empty() ? "" : ", ") + std::to_string(n) + " " +
             rules::severityText(static_cast<v1::Severity>(sev));
  }
  out << paint(color, "1",
               "profile " + profile + ": " + std::to_string(total) + " open finding" +
                   (total == 1 ? "" : "s"))
      << (parts.empty() ? "" : " (" + parts + ")");
  if (counts.waived) out << ", " << counts.waived << " waived";
  out << "\n";
}

FindingSpool::FindingSpool() : file_(std::tmpfile()) {}

FindingSpool::~FindingSpool() {
  if (file_ != nullptr) std::fclose(file_);
}

void FindingSpool::add(const std::string& fragment) {
  if (file_ != nullptr) {
    uint64_t n = fragment.size();
    if (std::fwrite(&n, sizeof(n), 1, file_) == 1 &&
        std::fwrite(fragment.data(), 1, fragment.size(), file_) == fragment.size()) {
      ++on_disk_;
      return;
    }
    // The temporary folder is full or gone: move what is on disk to memory and continue
    // there. A finding is never dropped.
    std::fflush(file_);
    readBack([this](std::string&& f) { memory_.push_back(std::move(f)); });
    std::fclose(file_);
    file_ = nullptr;
    on_disk_ = 0;
  }
  memory_.push_back(fragment);
}

template <typename Fn>
void FindingSpool::readBack(Fn&& fn) {
  std::rewind(file_);
  for (size_t i = 0; i < on_disk_; ++i) {
    uint64_t n = 0;
    if (std::fread(&n, sizeof(n), 1, file_) != 1) return;
    std::string buf(n, '\0');
    if (n > 0 && std::fread(buf.data(), 1, n, file_) != n) return;
    fn(std::move(buf));
  }
}

void FindingSpool::copyTo(std::ostream& out, const char* separator) {
  size_t written = 0;
  if (file_ != nullptr) {
    std::fflush(file_);
    readBack([&](std::string&& f) { out << (written++ ? separator : "") << f; });
  }
  for (const auto& f : memory_) out << (written++ ? separator : "") << f;
}

std::string findingToJson(const v1::Finding& finding, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  options.always_print_primitive_fields = true;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(finding, &out, options);
  if (!status.ok()) return "{\"error\":\"cannot encode finding\"}";
  return out;
}

SarifWriter::SarifWriter(const rules::CompiledPolicy& policy) {
  using nlohmann::json;
  json rules = json::array();
  for (const auto& e : policy.rules()) {
    const rules::RuleDefinition& r = *e.rule;
    if (index_.count(r.id)) continue;
    index_[r.id] = rules.size();
    std::string help = r.remediation;
    std::string markdown = "**Remediation.** " + r.remediation;
    if (!e.references.empty()) {
      std::string refs;
      for (const auto& ref : e.references) refs += (refs.empty() ? "" : "; ") + ref;
      help += "\nReferences: " + refs;
      markdown += "\n\n**References.** " + refs;
    }
    json tags = json::array({"security"});
    for (const auto& t : r.tags) tags.push_back(t);
    rules.push_back({
        {"id", r.id},
        {"name", r.id},
        {"shortDescription", {{"text", r.title}}},
        {"fullDescription", {{"text", r.rationale.empty() ? r.title : r.rationale}}},
        {"help", {{"text", help.empty() ? r.title : help}, {"markdown", markdown}}},
        {"defaultConfiguration", {{"level", sarifLevel(e.severity)}}},
        {"properties",
         {{"tags", tags},
          {"security-severity", securitySeverity(e.severity)},
          {"severity", rules::severityText(e.severity)}}},
    });
  }
  rules_json_ = rules.dump();
}

std::string SarifWriter::result(const v1::Finding& f) const {
  using nlohmann::json;
  auto it = index_.find(f.rule_id());
  json result = {
      {"ruleId", f.rule_id()},
      {"level", sarifLevel(f.severity())},
      {"message", {{"text", f.title() + ": " + f.evidence()}}},
      {"locations",
       json::array(
           {{{"physicalLocation", {{"artifactLocation", {{"uri", "tls://" + f.service() + "/"}}}}},
             {"logicalLocations",
              json::array({{{"fullyQualifiedName", f.service()}, {"kind", "resource"}}})}}})},
      {"partialFingerprints",
       {{"tlsauditFinding/v1", fingerprint(f.rule_id() + "|" + f.service())}}},
      {"properties",
       {{"severity", rules::severityText(f.severity())},
        {"asset", f.asset()},
        {"service", f.service()},
        {"profiles", std::vector<std::string>(f.profiles().begin(), f.profiles().end())},
        {"references", std::vector<std::string>(f.references().begin(), f.references().end())}}},
  };
  if (it != index_.end()) result["ruleIndex"] = it->second;
  if (!f.host().empty()) result["properties"]["host"] = f.host();
  if (f.state() == v1::WAIVED) {
    result["suppressions"] = json::array(
        {{{"kind", "external"},
          {"status", "accepted"},
          {"justification", f.waiver_reason()},
          {"properties",
           {{"waiverId", f.waiver_id()},
            {"expires", google::protobuf::util::TimeUtil::ToString(f.waiver_expires())}}}}});
  }
  return result.dump();
}

void SarifWriter::write(std::ostream& out, const SarifRun& run, FindingSpool& results) const {
  using nlohmann::json;
  json notifications = json::array();
  for (const auto& w : run.warnings) {
    notifications.push_back({{"level", "warning"}, {"message", {{"text", w}}}});
  }
  json invocation = {{"executionSuccessful", true},
                     {"startTimeUtc", run.started_at},
                     {"endTimeUtc", run.finished_at}};
  if (!notifications.empty()) invocation["toolExecutionNotifications"] = notifications;
  json driver = {
      {"name", "tlsaudit"}, {"version", run.tool_version}, {"semanticVersion", run.tool_version}};
  std::string driver_text = driver.dump();
  driver_text.pop_back();  // reopen the object to append the rules array
  out << "{\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\"version\":\"2.1.0\","
      << "\"runs\":[{\"tool\":{\"driver\":" << driver_text << ",\"rules\":" << rules_json_
      << "}},\"invocations\":[" << invocation.dump()
      << "],\"properties\":" << json({{"profile", run.profile}}).dump() << ",\"results\":[\n";
  results.copyTo(out, ",\n");
  out << "\n]}]}\n";
}

}  // namespace tlsaudit::scanner
