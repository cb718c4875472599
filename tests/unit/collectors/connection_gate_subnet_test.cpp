// The per-subnet limit of ConnectionGate: at most N permits at once into one /24 (IPv6 /64).
#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "collectors/net/connection_gate.h"

namespace tlsaudit::net {
namespace {

TEST(ConnectionGateSubnetTest, SubnetKeys) {
  EXPECT_EQ(ConnectionGate::subnetOf("10.1.2.3"), "10.1.2.0/24");
  EXPECT_EQ(ConnectionGate::subnetOf("2001:db8::1:2"), "2001:db8::/64");
  EXPECT_EQ(ConnectionGate::subnetOf("not-an-address"), "not-an-address");
}

TEST(ConnectionGateSubnetTest, AtMostNPerSubnetAtOnce) {
  asio::io_context io(1);
  ConnectionGate gate(/*per_host=*/4, /*rate=*/0, /*per_subnet=*/2);
  int in_10_1_2 = 0, max_in_10_1_2 = 0, other_done = 0, done = 0;
  auto hold = [&](std::string host) -> awaitable<void> {
    auto permit = co_await gate.acquire(host);
    bool counted = host.rfind("10.1.2.", 0) == 0;
    if (counted) max_in_10_1_2 = std::max(max_in_10_1_2, ++in_10_1_2);
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(std::chrono::milliseconds(20));
    co_await t.async_wait(use_awaitable);
    if (counted)
      --in_10_1_2;
    else
      ++other_done;
    ++done;
  };
  for (int i = 1; i <= 6; ++i) {
    asio::co_spawn(io, hold("10.1.2." + std::to_string(i)), asio::detached);
  }
  asio::co_spawn(io, hold("10.1.3.1"), asio::detached);
  auto start = std::chrono::steady_clock::now();
  io.run();
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(done, 7);
  EXPECT_EQ(max_in_10_1_2, 2);
  EXPECT_EQ(other_done, 1);
  // Six permits two at a time: three rounds of 20 ms.
  EXPECT_GE(elapsed, std::chrono::milliseconds(55));
  EXPECT_EQ(gate.hostsTracked(), 0u);
  EXPECT_EQ(gate.inFlight(), 0u);
}

}  // namespace
}  // namespace tlsaudit::net
