// What the gRPC API refuses before a request reaches the database: callers without tokens from
// elsewhere than loopback, oversized watch requests, oversized waiver fields.
#include "scanner/api/request_checks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ctime>

#include "scanner/api/api_context.h"

namespace tlsaudit::scanner {
namespace {

using ::testing::HasSubstr;

TEST(RequestChecks, OnlyLoopbackPeersAreLocal) {
  for (const char* peer : {"ipv4:127.0.0.1:40000", "ipv4:127.9.8.7:1", "ipv6:[::1]:5",
                           "ipv6:[::ffff:127.0.0.1]:5", "unix:/run/tlsaudit.sock"}) {
    EXPECT_TRUE(isLoopbackPeer(peer)) << peer;
  }
  for (const char* peer : {"ipv4:10.0.0.1:40000", "ipv4:128.0.0.1:1", "ipv6:[2001:db8::1]:5",
                           "ipv6:[::11]:5", "ipv4:1127.0.0.1:5", ""}) {
    EXPECT_FALSE(isLoopbackPeer(peer)) << peer;
  }
}

TEST(RequestChecks, WatchRequestsAreBounded) {
  tlsaudit::v1::WatchFindingsRequest ok;
  ok.add_kinds("opened");
  ok.add_rule_ids("cert-sig-md5");
  ok.set_after("12");
  EXPECT_TRUE(checkWatchRequest(ok).ok());

  auto many_kinds = ok;
  for (int i = 0; i < 20; ++i) many_kinds.add_kinds("opened");
  EXPECT_THAT(std::string(checkWatchRequest(many_kinds).message()), HasSubstr("kinds: more than 16"));
  auto bad_kind = ok;
  bad_kind.add_kinds(std::string(5000, 'x'));
  std::string msg(checkWatchRequest(bad_kind).message());
  EXPECT_THAT(msg, HasSubstr("kinds[1]"));
  EXPECT_LT(msg.size(), 200u);  // the value is not echoed whole
  auto many_rules = ok;
  for (int i = 0; i < 101; ++i) many_rules.add_rule_ids("r" + std::to_string(i));
  EXPECT_THAT(std::string(checkWatchRequest(many_rules).message()),
              HasSubstr("rule_ids: more than 100"));
  auto long_rule = ok;
  long_rule.add_rule_ids(std::string(201, 'r'));
  EXPECT_THAT(std::string(checkWatchRequest(long_rule).message()), HasSubstr("rule_ids[1]"));
  auto bad_after = ok;
  bad_after.set_after("1; DROP TABLE findings");
  EXPECT_THAT(std::string(checkWatchRequest(bad_after).message()), HasSubstr("after"));
}

TEST(RequestChecks, WaiverSelectorTextIsBounded) {
  tlsaudit::v1::Waiver w;
  w.set_rule_id("proto-tls10");
  w.set_reason("r");
  w.mutable_expires()->set_seconds(std::time(nullptr) + 3600);
  w.mutable_selector()->set_vendor("Yealink");
  EXPECT_TRUE(checkWaiver(w, "waiver").ok());
  w.mutable_selector()->set_model(std::string(300, 'm'));
  EXPECT_THAT(std::string(checkWaiver(w, "waiver").message()), HasSubstr("waiver.selector.model"));
}

}  // namespace
}  // namespace tlsaudit::scanner
