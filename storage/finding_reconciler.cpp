#include "storage/finding_reconciler.h"

#include <map>
#include <set>

namespace tlsaudit::storage {

namespace v1 = tlsaudit::v1;

Reconciliation reconcileFindings(const std::vector<StoredFinding>& stored,
                                 const google::protobuf::RepeatedPtrField<v1::Finding>& incoming,
                                 bool complete) {
  std::map<std::string, const StoredFinding*> by_rule;
  for (const auto& s : stored) by_rule[s.rule_id] = &s;
  Reconciliation out;
  std::set<std::string> seen;
  for (const auto& f : incoming) {
    if (!seen.insert(f.rule_id()).second) continue;
    FindingUpsert u;
    u.finding = &f;
    u.to_state = f.state() == v1::WAIVED ? v1::WAIVED : v1::OPEN;
    auto it = by_rule.find(f.rule_id());
    if (it == by_rule.end()) {
      u.event = u.to_state == v1::WAIVED ? "waived" : "opened";
    } else {
      u.from_state = it->second->state;
      u.stored_id = it->second->id;
      if (u.from_state != u.to_state) {
        if (u.to_state == v1::WAIVED) {
          u.event = "waived";
        } else if (u.from_state == v1::WAIVED) {
          u.event = "unwaived";
        } else {
          u.event = "reopened";
        }
      }
    }
    out.upserts.push_back(std::move(u));
  }
  if (complete) {
    for (const auto& s : stored) {
      if (s.state != v1::RESOLVED && !seen.contains(s.rule_id)) out.resolved.push_back({&s});
    }
  }
  return out;
}

}  // namespace tlsaudit::storage
