// The shared politeness limits of a sweep: at most `per_subnet` connections (or UDP probes) at
// once into one /24 (IPv4) or /64 (IPv6), and at most `rate` new ones per second overall.
//
// ConnectionGate does the same for the TLS prober, keyed by host strings with a per-host
// semaphore; a sweep starts hundreds of thousands of short probes per second from several
// threads, so this gate is built for that: addresses are keyed by integers (no formatting or
// parsing), subnets are spread over independently locked stripes (two threads rarely meet on
// one lock), and the common case — the subnet has a free slot — takes one lock and no wait.
// A subnet's entry exists only while it has connections or waiters: memory follows what is in
// flight, never the size of the range. The per-host limit is not here: a sweep's lanes enforce it.
//
// Thread-safe. acquire() may be awaited from a coroutine on any single-threaded executor; a
// Permit may be released (destroyed) on any thread.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "collectors/net/asio.h"

namespace tlsaudit::net {

class SubnetGate {
 public:
  // per_subnet 0 and rate 0 mean unlimited.
  SubnetGate(size_t per_subnet, double probes_per_second);
  SubnetGate(const SubnetGate&) = delete;
  SubnetGate& operator=(const SubnetGate&) = delete;

  // A subnet's identity: the /24 of an IPv4 address, the first 64 bits of an IPv6 one.
  struct Subnet {
    uint64_t prefix = 0;
    bool v6 = false;
    bool operator==(const Subnet&) const = default;
  };
  static Subnet subnetOf(const asio::ip::address& a);

  // Held for the life of one connection or exchange; frees its subnet slot when destroyed.
  class Permit {
   public:
    Permit() = default;
    Permit(Permit&& o) noexcept : gate_(std::exchange(o.gate_, nullptr)), subnet_(o.subnet_) {}
    Permit& operator=(Permit&& o) noexcept;
    ~Permit();

   private:
    friend class SubnetGate;
    Permit(SubnetGate* gate, Subnet subnet) : gate_(gate), subnet_(subnet) {}
    SubnetGate* gate_ = nullptr;  // null: nothing to release
    Subnet subnet_;
  };

  // Waits for a slot in `a`'s subnet (first come, first served) and then for the rate limit.
  awaitable<Permit> acquire(const asio::ip::address& a);

  // Subnets with connections or waiters right now (for tests: 0 once everything is released).
  size_t subnetsTracked();

 private:
  struct Waiter {
    explicit Waiter(const asio::any_io_executor& ex) : executor(ex), timer(ex) {}
    asio::any_io_executor executor;
    asio::steady_timer timer;
    bool granted = false;  // under the stripe's lock
  };
  struct Slot {
    size_t in_use = 0;
    std::list<std::shared_ptr<Waiter>> waiters;  // empty lists allocate nothing
  };
  struct SubnetHash {
    size_t operator()(const Subnet& s) const;
  };
  // 64 bytes apart, so the two threads' stripes never share a cache line.
  struct alignas(64) Stripe {
    std::mutex mutex;
    std::unordered_map<Subnet, Slot, SubnetHash> slots;
  };
  static constexpr size_t kStripes = 64;

  Stripe& stripeOf(const Subnet& s) { return stripes_[SubnetHash{}(s) % kStripes]; }
  void release(const Subnet& s);

  size_t per_subnet_;
  std::chrono::nanoseconds interval_;
  std::array<Stripe, kStripes> stripes_;
  std::mutex rate_mutex_;
  std::chrono::steady_clock::time_point next_slot_{};
};

}  // namespace tlsaudit::net
