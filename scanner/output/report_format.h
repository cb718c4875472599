// How `tlsaudit scan` prints reports: a human table grouped by endpoint, proto3 JSON of the
// model, and CSV rows for spreadsheets.
#pragma once

#include <ostream>
#include <string>

#include "tlsaudit/v1/finding.pb.h"
#include "tlsaudit/v1/report.pb.h"

namespace tlsaudit::scanner {

struct TableStyle {
  bool color = false;  // ANSI colours (only on a terminal)
};

void writeTable(std::ostream& out, const tlsaudit::v1::TlsReport& report, const TableStyle& style);

// Canonical proto3 JSON (lowerCamelCase names, defaults included), one object.
std::string reportToJson(const tlsaudit::v1::TlsReport& report, bool pretty);

void writeCsvHeader(std::ostream& out);
void writeCsvRows(std::ostream& out, const tlsaudit::v1::TlsReport& report);
// One CSV row of type "finding" for a finding on `report`'s endpoint.
void writeFindingCsvRow(std::ostream& out, const tlsaudit::v1::TlsReport& report,
                        const tlsaudit::v1::Finding& finding);

// Why a suite, version or signature hash is weak, or empty when it is not.
std::string weakSuiteReason(const tlsaudit::v1::CipherSuite& suite);
std::string weakVersionReason(tlsaudit::v1::TlsVersion version);
bool weakSignatureHash(const std::string& hash);

}  // namespace tlsaudit::scanner
