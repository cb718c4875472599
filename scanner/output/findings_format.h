// How findings are printed: under each endpoint in the table, as proto3 JSON objects, as CSV
// rows (type "finding"), and as a SARIF 2.1.0 log.
#pragma once

#include <cstdio>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "rules/policy.h"
#include "tlsaudit/v1/finding.pb.h"

namespace tlsaudit::scanner {

// "  findings (baseline):" and one line per finding, worst first; nothing when empty.
void writeFindingsTable(std::ostream& out, const std::vector<v1::Finding>& findings,
                        const std::string& profile, bool color);
// Counts for the summary line at the end of a table.
struct FindingCounts {
  int open[6] = {0, 0, 0, 0, 0, 0};  // by Severity value
  int waived = 0;
  void add(const v1::Finding& f);
};
// One summary line for the end of a table: counts per severity, waived.
void writeFindingsSummary(std::ostream& out, const FindingCounts& counts,
                          const std::string& profile, bool color);

// Findings of a long scan wait in a temporary file, not in memory (in memory only when the
// temporary folder fails), until the document that
// holds them is closed (memory stays bounded by what is in flight, as for reports).
class FindingSpool {
 public:
  FindingSpool();
  ~FindingSpool();
  FindingSpool(const FindingSpool&) = delete;
  FindingSpool& operator=(const FindingSpool&) = delete;
  // Appends one JSON fragment.
  void add(const std::string& fragment);
  size_t size() const { return on_disk_ + memory_.size(); }
  // Writes the fragments to `out`, separated by `separator`.
  void copyTo(std::ostream& out, const char* separator);

 private:
  template <typename Fn>
  void readBack(Fn&& fn);
  std::FILE* file_ = nullptr;  // null when no temporary file could be used
  size_t on_disk_ = 0;
  std::vector<std::string> memory_;  // fragments after a write to the file failed
};
std::string findingToJson(const v1::Finding& finding, bool pretty);

struct SarifRun {
  std::string tool_version;
  std::string profile;
  std::string started_at;  // RFC 3339
  std::string finished_at;
  std::vector<std::string> warnings;  // e.g. expired waivers
};
// A SARIF 2.1.0 log with one run: the profile's rules (with rationale and help) and one result
// per finding; waived findings carry an accepted external suppression.
class SarifWriter {
 public:
  explicit SarifWriter(const rules::CompiledPolicy& policy);
  // The result object for one finding (compact JSON).
  std::string result(const v1::Finding& finding) const;
  // The whole log, with the spooled results.
  void write(std::ostream& out, const SarifRun& run, FindingSpool& results) const;

 private:
  std::string rules_json_;  // the driver's rules array
  std::map<std::string, size_t> index_;
};

}  // namespace tlsaudit::scanner
