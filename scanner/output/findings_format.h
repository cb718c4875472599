// How findings are printed: under each endpoint in the table, as proto3 JSON objects, as CSV
// rows (type "finding"), and as a SARIF 2.1.0 log.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "rules/policy.h"
#include "tlsaudit/v1/finding.pb.h"

namespace tlsaudit::scanner {

// "  findings (baseline):" and one line per finding, worst first; nothing when empty.
void writeFindingsTable(std::ostream& out, const std::vector<v1::Finding>& findings,
                        const std::string& profile, bool color);
// One summary line for the end of a table: counts per severity, waived.
void writeFindingsSummary(std::ostream& out, const std::vector<v1::Finding>& findings,
                          const std::string& profile, bool color);
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
void writeSarif(std::ostream& out, const SarifRun& run, const rules::CompiledPolicy& policy,
                const std::vector<v1::Finding>& findings);

}  // namespace tlsaudit::scanner
