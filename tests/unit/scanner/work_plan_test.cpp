#include "scanner/daemon/work_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tlsaudit::scanner {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(WorkPlan, BlocksSplitIntoAlignedSlices) {
  auto items = splitIntoWorkItems({"10.1.0.0/22"}, 256);
  ASSERT_TRUE(items.ok()) << items.status();
  EXPECT_THAT(*items, ElementsAre("10.1.0.0/24", "10.1.1.0/24", "10.1.2.0/24", "10.1.3.0/24"));
}

TEST(WorkPlan, SmallTargetsStayWhole) {
  auto items = splitIntoWorkItems({"10.1.0.0/24", "192.0.2.7:443", "phone.example", "10.0.0.5"},
                                  256);
  ASSERT_TRUE(items.ok()) << items.status();
  EXPECT_THAT(*items, ElementsAre("10.1.0.0/24", "phone.example", "10.0.0.5", "192.0.2.7:443"));
}

TEST(WorkPlan, EndpointsOfOneHostShareAnItem) {
  auto items = splitIntoWorkItems(
      {"192.0.2.7:443", "192.0.2.8:443", "sips://192.0.2.7", "192.0.2.7:8443"}, 256);
  ASSERT_TRUE(items.ok()) << items.status();
  EXPECT_THAT(*items,
              ElementsAre("192.0.2.7:443 sips://192.0.2.7 192.0.2.7:8443", "192.0.2.8:443"));
}

TEST(WorkPlan, RangesAndOddSlicesBecomeRanges) {
  auto items = splitIntoWorkItems({"10.0.0.10-10.0.0.29"}, 8);
  ASSERT_TRUE(items.ok()) << items.status();
  EXPECT_THAT(*items, ElementsAre("10.0.0.10-10.0.0.17", "10.0.0.18-10.0.0.25",
                                  "10.0.0.26-10.0.0.29"));
  auto odd = splitIntoWorkItems({"10.0.0.0/28"}, 10);
  ASSERT_TRUE(odd.ok());
  EXPECT_THAT(*odd, ElementsAre("10.0.0.0-10.0.0.9", "10.0.0.10-10.0.0.15"));
}

TEST(WorkPlan, EveryAddressIsInExactlyOneSlice) {
  auto items = splitIntoWorkItems({"2001:db8::/120"}, 64);
  ASSERT_TRUE(items.ok()) << items.status();
  EXPECT_THAT(*items, ElementsAre("2001:db8::/122", "2001:db8::40/122", "2001:db8::80/122",
                                  "2001:db8::c0/122"));
}

TEST(WorkPlan, BadTargetsAndHugeScansAreRefused) {
  auto bad = splitIntoWorkItems({"10.0.0.300"}, 256);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("10.0.0.300"));
  auto huge = splitIntoWorkItems({"10.0.0.0/8"}, 1);
  ASSERT_FALSE(huge.ok());
  EXPECT_THAT(std::string(huge.status().message()), HasSubstr("work items"));
}

}  // namespace
}  // namespace tlsaudit::scanner
