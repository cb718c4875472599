// SubnetGate, the sweep's shared limits: at most N permits at once into one /24 (IPv6 /64), from
// one thread or from two io_contexts on two threads, first come first served, a rate limit, and
// no entry left behind once every permit is released.
#include "collectors/net/subnet_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace tlsaudit::net {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

asio::ip::address addr(const std::string& text) { return asio::ip::make_address(text); }

TEST(SubnetGateTest, SubnetKeys) {
  auto s = [](const char* a) { return SubnetGate::subnetOf(addr(a)); };
  EXPECT_EQ(s("10.1.2.3"), s("10.1.2.254"));
  EXPECT_FALSE(s("10.1.2.3") == s("10.1.3.3"));
  EXPECT_EQ(s("2001:db8::1:2"), s("2001:db8::ffff:ffff:ffff:ffff"));
  EXPECT_FALSE(s("2001:db8::1") == s("2001:db8:0:1::1"));
  // An IPv4 /24 and an IPv6 /64 with the same number are different subnets.
  EXPECT_FALSE(s("0.0.0.1") == s("::1"));
}

// Holds a permit for `hold` and records how many were held at once in 10.1.2.0/24.
struct Holders {
  std::atomic<int> in_subnet{0}, max_in_subnet{0}, done{0};
  awaitable<void> hold(SubnetGate& gate, std::string host, milliseconds hold) {
    auto permit = co_await gate.acquire(addr(host));
    bool counted = host.rfind("10.1.2.", 0) == 0;
    if (counted) {
      int now = ++in_subnet;
      int seen = max_in_subnet.load();
      while (now > seen && !max_in_subnet.compare_exchange_weak(seen, now)) {
      }
    }
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(hold);
    co_await t.async_wait(use_awaitable);
    if (counted) --in_subnet;
    ++done;
  }
};

TEST(SubnetGateTest, AtMostNPerSubnetAtOnce) {
  asio::io_context io(1);
  SubnetGate gate(/*per_subnet=*/2, /*rate=*/0);
  Holders h;
  for (int i = 1; i <= 6; ++i) {
    asio::co_spawn(io, h.hold(gate, "10.1.2." + std::to_string(i), milliseconds(20)),
                   asio::detached);
  }
  // Another /24 is not held up by the full one.
  asio::co_spawn(io, h.hold(gate, "10.1.3.1", milliseconds(1)), asio::detached);
  auto start = Clock::now();
  io.run_for(std::chrono::seconds(10));
  EXPECT_EQ(h.done.load(), 7);
  EXPECT_EQ(h.max_in_subnet.load(), 2);
  // Six permits two at a time: three rounds of 20 ms.
  EXPECT_GE(Clock::now() - start, milliseconds(55));
  EXPECT_EQ(gate.subnetsTracked(), 0u);
}

TEST(SubnetGateTest, TwoThreadsShareTheLimit) {
  SubnetGate gate(/*per_subnet=*/3, /*rate=*/0);
  Holders h;
  asio::io_context a(1), b(1);
  for (int i = 0; i < 40; ++i) {
    auto& io = i % 2 ? a : b;
    asio::co_spawn(io, h.hold(gate, "10.1.2." + std::to_string(i + 1), milliseconds(2)),
                   asio::detached);
  }
  std::thread other([&b] { b.run_for(std::chrono::seconds(20)); });
  a.run_for(std::chrono::seconds(20));
  other.join();
  EXPECT_EQ(h.done.load(), 40);
  EXPECT_LE(h.max_in_subnet.load(), 3);
  EXPECT_GE(h.max_in_subnet.load(), 1);
  EXPECT_EQ(gate.subnetsTracked(), 0u);
}

TEST(SubnetGateTest, WaitersAreServedInArrivalOrder) {
  asio::io_context io(1);
  SubnetGate gate(/*per_subnet=*/1, /*rate=*/0);
  std::vector<int> order;
  auto take = [&](int id) -> awaitable<void> {
    auto permit = co_await gate.acquire(addr("192.0.2.7"));
    order.push_back(id);
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(milliseconds(2));
    co_await t.async_wait(use_awaitable);
  };
  for (int i = 0; i < 5; ++i) asio::co_spawn(io, take(i), asio::detached);
  io.run_for(std::chrono::seconds(10));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(gate.subnetsTracked(), 0u);
}

TEST(SubnetGateTest, RateLimitSpacesPermits) {
  asio::io_context io(1);
  SubnetGate gate(/*per_subnet=*/0, /*rate=*/50);
  int done = 0;
  auto take = [&](int i) -> awaitable<void> {
    auto permit = co_await gate.acquire(addr("10.9.0." + std::to_string(i)));
    ++done;
  };
  for (int i = 1; i <= 5; ++i) asio::co_spawn(io, take(i), asio::detached);
  auto start = Clock::now();
  io.run_for(std::chrono::seconds(10));
  EXPECT_EQ(done, 5);
  // The first is immediate, the fifth 4 x 20 ms later.
  EXPECT_GE(Clock::now() - start, milliseconds(78));
  EXPECT_EQ(gate.subnetsTracked(), 0u);
}

TEST(SubnetGateTest, MemoryFollowsWhatIsHeld) {
  asio::io_context io(1);
  SubnetGate gate(/*per_subnet=*/64, /*rate=*/0);
  size_t peak = 0;
  auto sweep = [&]() -> awaitable<void> {
    // 65,536 addresses over 256 subnets, eight permits held at a time.
    std::vector<SubnetGate::Permit> held(8);
    for (uint32_t i = 0; i < 65536; ++i) {
      held[i % 8] = co_await gate.acquire(asio::ip::address_v4(0x0A000000u + i * 257u));
      if (i % 1024 == 0) peak = std::max(peak, gate.subnetsTracked());
    }
  };
  asio::co_spawn(io, sweep(), asio::detached);
  io.run_for(std::chrono::seconds(20));
  EXPECT_LE(peak, 8u);
  EXPECT_EQ(gate.subnetsTracked(), 0u);
}

}  // namespace
}  // namespace tlsaudit::net
