// The finding lifecycle as a pure function: given what is stored for one service and what a
// scan found there, which findings change state and how. No I/O, so every transition is unit
// tested; pg_finding_store.cpp writes the result.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tlsaudit/v1/finding.pb.h"

namespace tlsaudit::storage {

struct StoredFinding {
  int64_t id = 0;
  std::string rule_id;
  tlsaudit::v1::FindingState state = tlsaudit::v1::OPEN;
  tlsaudit::v1::Severity severity = tlsaudit::v1::SEVERITY_UNSPECIFIED;
  std::string title;
};

// An incoming finding to write, with its new state and the event it causes ("" for none).
struct FindingUpsert {
  const tlsaudit::v1::Finding* finding = nullptr;
  tlsaudit::v1::FindingState from_state = tlsaudit::v1::FINDING_STATE_UNSPECIFIED;  // 0: new
  int64_t stored_id = 0;  // the stored finding it updates; 0 when new
  tlsaudit::v1::FindingState to_state = tlsaudit::v1::OPEN;
  std::string event;  // opened, reopened, waived, unwaived, or ""
};

// A stored finding the scan no longer reports.
struct FindingResolution {
  const StoredFinding* stored = nullptr;
};

struct Reconciliation {
  std::vector<FindingUpsert> upserts;       // every incoming finding, once per rule
  std::vector<FindingResolution> resolved;  // state -> RESOLVED, event "resolved"
};

// Transitions (incoming WAIVED means a waiver applies now):
//   none     -> OPEN "opened"   | WAIVED "waived"
//   OPEN     -> OPEN ""         | WAIVED "waived"
//   RESOLVED -> OPEN "reopened" | WAIVED "waived"
//   WAIVED   -> OPEN "unwaived" | WAIVED ""
//   OPEN or WAIVED and absent from a `complete` result -> RESOLVED "resolved"
// An incoming rule listed twice counts once (the first occurrence). References into `stored`
// and `incoming` stay valid while those live.
Reconciliation reconcileFindings(
    const std::vector<StoredFinding>& stored,
    const google::protobuf::RepeatedPtrField<tlsaudit::v1::Finding>& incoming, bool complete);

}  // namespace tlsaudit::storage
