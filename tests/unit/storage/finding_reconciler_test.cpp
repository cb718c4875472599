// The finding lifecycle as a pure function: every transition of the table in
// finding_reconciler.h, duplicates, and partial results.
#include "storage/finding_reconciler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tlsaudit::storage {
namespace {

namespace v1 = tlsaudit::v1;

google::protobuf::RepeatedPtrField<v1::Finding> incoming(
    std::initializer_list<std::pair<const char*, v1::FindingState>> findings) {
  google::protobuf::RepeatedPtrField<v1::Finding> out;
  for (const auto& [rule, state] : findings) {
    auto* f = out.Add();
    f->set_rule_id(rule);
    f->set_state(state);
  }
  return out;
}

struct Case {
  const char* name;
  std::optional<v1::FindingState> stored;  // nullopt: no stored finding
  std::optional<v1::FindingState> found;   // nullopt: absent from the result
  bool complete;
  // Expected: the state written and the event ("" none); nullopt state: nothing written.
  std::optional<v1::FindingState> to_state;
  std::string event;
};

class TransitionTest : public ::testing::TestWithParam<Case> {};

TEST_P(TransitionTest, Transition) {
  const Case& c = GetParam();
  std::vector<StoredFinding> stored;
  if (c.stored) stored.push_back({7, "rule", *c.stored, v1::HIGH, "t"});
  google::protobuf::RepeatedPtrField<v1::Finding> in;
  if (c.found) in = incoming({{"rule", *c.found}});
  Reconciliation r = reconcileFindings(stored, in, c.complete);
  if (c.found) {
    ASSERT_EQ(r.upserts.size(), 1u);
    EXPECT_TRUE(r.resolved.empty());
    EXPECT_EQ(r.upserts[0].to_state, *c.to_state);
    EXPECT_EQ(r.upserts[0].event, c.event);
    EXPECT_EQ(r.upserts[0].from_state, c.stored ? *c.stored : v1::FINDING_STATE_UNSPECIFIED);
    EXPECT_EQ(r.upserts[0].stored_id, c.stored ? 7 : 0);
  } else if (c.to_state) {
    EXPECT_TRUE(r.upserts.empty());
    ASSERT_EQ(r.resolved.size(), 1u);
    EXPECT_EQ(r.resolved[0].stored->id, 7);
    EXPECT_EQ(c.event, "resolved");
  } else {
    EXPECT_TRUE(r.upserts.empty());
    EXPECT_TRUE(r.resolved.empty());
  }
}

using S = v1::FindingState;
INSTANTIATE_TEST_SUITE_P(
    Lifecycle, TransitionTest,
    ::testing::Values(
        Case{"NewOpens", std::nullopt, S::OPEN, true, S::OPEN, "opened"},
        Case{"NewUnspecifiedOpens", std::nullopt, S::FINDING_STATE_UNSPECIFIED, true, S::OPEN,
             "opened"},
        Case{"NewWaived", std::nullopt, S::WAIVED, true, S::WAIVED, "waived"},
        Case{"OpenStaysOpen", S::OPEN, S::OPEN, true, S::OPEN, ""},
        Case{"OpenGetsWaived", S::OPEN, S::WAIVED, true, S::WAIVED, "waived"},
        Case{"ResolvedReopens", S::RESOLVED, S::OPEN, true, S::OPEN, "reopened"},
        Case{"ResolvedComesBackWaived", S::RESOLVED, S::WAIVED, true, S::WAIVED, "waived"},
        Case{"WaivedStaysWaived", S::WAIVED, S::WAIVED, true, S::WAIVED, ""},
        Case{"WaiverEnds", S::WAIVED, S::OPEN, true, S::OPEN, "unwaived"},
        Case{"OpenAbsentFromCompleteResolves", S::OPEN, std::nullopt, true, S::RESOLVED,
             "resolved"},
        Case{"WaivedAbsentFromCompleteResolves", S::WAIVED, std::nullopt, true, S::RESOLVED,
             "resolved"},
        Case{"ResolvedAbsentStays", S::RESOLVED, std::nullopt, true, std::nullopt, ""},
        Case{"OpenAbsentFromPartialStays", S::OPEN, std::nullopt, false, std::nullopt, ""}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ReconcileFindings, DuplicateRulesCountOnceAndOthersAreUntouched) {
  std::vector<StoredFinding> stored = {{1, "a", v1::OPEN, v1::HIGH, ""},
                                       {2, "b", v1::OPEN, v1::HIGH, ""},
                                       {3, "c", v1::RESOLVED, v1::HIGH, ""}};
  auto in = incoming({{"a", v1::OPEN}, {"a", v1::WAIVED}, {"d", v1::OPEN}});
  Reconciliation r = reconcileFindings(stored, in, true);
  ASSERT_EQ(r.upserts.size(), 2u);
  EXPECT_EQ(r.upserts[0].finding->rule_id(), "a");
  EXPECT_EQ(r.upserts[0].to_state, v1::OPEN);  // the first occurrence wins
  EXPECT_EQ(r.upserts[1].finding->rule_id(), "d");
  ASSERT_EQ(r.resolved.size(), 1u);
  EXPECT_EQ(r.resolved[0].stored->rule_id, "b");
}

}  // namespace
}  // namespace tlsaudit::storage
