// Ranges, exclusions and the permuted sweep order (collectors/net/targets.h).
#include <gtest/gtest.h>

#include <set>

#include "collectors/net/targets.h"

namespace tlsaudit::net {
namespace {

TEST(RangeTest, FullAndShortForms) {
  auto t = parseTarget("10.0.0.10-10.0.0.50");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(t->isNetwork());
  EXPECT_TRUE(t->is_range);
  EXPECT_EQ(t->network_size, 41u);
  EXPECT_EQ(t->addressAt(0).to_string(), "10.0.0.10");
  EXPECT_EQ(t->addressAt(40).to_string(), "10.0.0.50");
  t = parseTarget("10.0.0.250-255");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->network_size, 6u);
  t = parseTarget("10.0.0.255-10.0.1.1");  // crosses an octet boundary
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->network_size, 3u);
  EXPECT_EQ(t->addressAt(2).to_string(), "10.0.1.1");
  t = parseTarget("2001:db8::1-2001:db8::ff");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->network_size, 255u);
  EXPECT_EQ(t->addressAt(254).to_string(), "2001:db8::ff");
}

TEST(RangeTest, BadRangesNameTheProblem) {
  auto t = parseTarget("10.0.0.50-10.0.0.10");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("comes before"), std::string::npos);
  EXPECT_FALSE(parseTarget("10.0.0.1-2001:db8::1").ok());
  EXPECT_FALSE(parseTarget("10.0.0.1-300").ok());
  EXPECT_FALSE(parseTarget("0.0.0.0-255.255.255.255").ok());  // larger than kMaxRangeSize
  EXPECT_FALSE(parseTarget("2001:db8::-2001:db9::").ok());
  // Host names with dashes are still host names.
  auto h = parseTarget("phone-lobby-3.example");
  ASSERT_TRUE(h.ok());
  EXPECT_FALSE(h->isNetwork());
}

TEST(AddressSpaceTest, ContainsHonoursBlocksRangesAndExclusions) {
  auto inc = parseTargets({"127.0.5.0/24", "10.1.1.1-10.1.1.9", "192.0.2.7", "2001:db8::/120"});
  auto exc = parseTargets({"127.0.5.128/25", "10.1.1.5"});
  ASSERT_TRUE(inc.ok() && exc.ok());
  auto space = AddressSpace::build(*inc, *exc);
  ASSERT_TRUE(space.ok()) << space.status();
  auto has = [&](const char* a) { return space->contains(asio::ip::make_address(a)); };
  EXPECT_TRUE(has("127.0.5.1"));
  EXPECT_TRUE(has("127.0.5.127"));
  EXPECT_FALSE(has("127.0.5.128"));
  EXPECT_FALSE(has("127.0.5.255"));
  EXPECT_FALSE(has("127.0.9.9"));
  EXPECT_TRUE(has("10.1.1.1"));
  EXPECT_FALSE(has("10.1.1.5"));
  EXPECT_TRUE(has("10.1.1.9"));
  EXPECT_FALSE(has("10.1.1.10"));
  EXPECT_TRUE(has("192.0.2.7"));
  EXPECT_FALSE(has("192.0.2.8"));
  EXPECT_TRUE(has("2001:db8::42"));
  EXPECT_FALSE(has("2001:db8::1:0"));
  EXPECT_TRUE(has("::ffff:127.0.5.3"));  // IPv4-mapped is the IPv4 address
  EXPECT_EQ(space->size(), 256u + 9u + 1u + 256u);
}

TEST(AddressSpaceTest, AtWalksBlocksInOrder) {
  auto inc = parseTargets({"10.0.0.1", "10.0.1.0/30", "10.0.2.5-7"});
  ASSERT_TRUE(inc.ok());
  auto space = AddressSpace::build(*inc, {});
  ASSERT_TRUE(space.ok());
  ASSERT_EQ(space->size(), 8u);
  const char* expected[] = {"10.0.0.1", "10.0.1.0", "10.0.1.1", "10.0.1.2",
                            "10.0.1.3", "10.0.2.5", "10.0.2.6", "10.0.2.7"};
  for (uint64_t i = 0; i < 8; ++i) EXPECT_EQ(space->at(i).to_string(), expected[i]) << i;
}

TEST(AddressSpaceTest, HostNamesMustBeResolvedFirst) {
  auto inc = parseTargets({"printer.example"});
  ASSERT_TRUE(inc.ok());
  EXPECT_FALSE(AddressSpace::build(*inc, {}).ok());
}

TEST(PermutedIndexTest, VisitsEveryIndexOnce) {
  for (uint64_t n : {1ull, 2ull, 3ull, 255ull, 256ull, 1000ull, 4097ull}) {
    PermutedIndex p(n, 12345);
    std::set<uint64_t> seen;
    while (auto i = p.next()) {
      ASSERT_LT(*i, n);
      ASSERT_TRUE(seen.insert(*i).second) << "index " << *i << " twice for n=" << n;
    }
    EXPECT_EQ(seen.size(), n);
  }
  PermutedIndex empty(0, 1);
  EXPECT_FALSE(empty.next());
}

TEST(PermutedIndexTest, SpreadsConsecutiveProbesAcrossSubnets) {
  // A /16 in sweep order: the first 256 addresses must touch many /24s, not one.
  PermutedIndex p(65536, 99);
  std::set<uint64_t> subnets;
  for (int i = 0; i < 256; ++i) subnets.insert(*p.next() >> 8);
  EXPECT_GT(subnets.size(), 150u);
  // Different keys give different orders; the same key the same order.
  PermutedIndex a(1000, 1), b(1000, 2), c(1000, 1);
  int same_ab = 0, same_ac = 0;
  for (int i = 0; i < 1000; ++i) {
    auto x = a.next(), y = b.next(), z = c.next();
    same_ab += *x == *y;
    same_ac += *x == *z;
  }
  EXPECT_LT(same_ab, 50);
  EXPECT_EQ(same_ac, 1000);
}

TEST(PermutedIndexTest, CostIsBoundedPerIndex) {
  // Worst case: n just above a power of four, so most counter values are skipped.
  PermutedIndex p((1u << 20) + 1, 7);
  uint64_t count = 0;
  while (p.next()) ++count;
  EXPECT_EQ(count, (1u << 20) + 1);
}

}  // namespace
}  // namespace tlsaudit::net
