// Politeness limits shared by every probe of a scan: at most `per_host` simultaneous connections
// to one address, at most `per_subnet` to one /24 (IPv4) or /64 (IPv6) and at most `rate` new
// connections (or UDP probes) per second overall. Fragile devices (a 2012
// desk phone) fall over when hit with dozens of connections; these limits are what keeps a scan
// gentle. Thread-safe; acquire() must be awaited from a coroutine running on a strand.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "collectors/net/asio.h"

namespace tlsaudit::net {

// A counting semaphore for coroutines.
class AsyncSemaphore {
 public:
  explicit AsyncSemaphore(size_t count) : available_(count) {}
  awaitable<void> acquire();
  void release();
  // True when nobody holds or waits for it and it is back at `count`.
  bool idle(size_t count);

 private:
  struct Waiter {
    explicit Waiter(const asio::any_io_executor& ex) : executor(ex), timer(ex) {}
    asio::any_io_executor executor;
    asio::steady_timer timer;
    bool granted = false;
  };
  std::mutex mutex_;
  size_t available_;
  std::deque<std::shared_ptr<Waiter>> waiters_;
};

class ConnectionGate {
 public:
  // per_host >= 1; rate 0 and per_subnet 0 mean unlimited.
  ConnectionGate(size_t per_host, double connections_per_second, size_t per_subnet = 0);

  // Held for the life of one connection; releases its per-host slot when destroyed.
  class Permit {
   public:
    Permit() = default;
    Permit(ConnectionGate* gate, std::string host, std::string subnet)
        : gate_(gate), host_(std::move(host)), subnet_(std::move(subnet)) {}
    Permit(Permit&& o) noexcept
        : gate_(std::exchange(o.gate_, nullptr)),
          host_(std::move(o.host_)),
          subnet_(std::move(o.subnet_)) {}
    Permit& operator=(Permit&& o) noexcept;
    ~Permit();

   private:
    ConnectionGate* gate_ = nullptr;
    std::string host_;
    std::string subnet_;  // empty when subnets are not limited
  };

  // Waits for a per-subnet slot (subnet first, so a holder of a host slot never waits for its
  // subnet and the two cannot deadlock), a per-host slot for `host` (an address string) and for
  // the rate limit.
  awaitable<Permit> acquire(const std::string& host);

  size_t hostsTracked();
  uint64_t connectionsStarted() const { return started_.load(); }
  // Permits currently held (the in-flight gauge).
  uint64_t inFlight() const { return in_flight_.load(); }
  // The subnet key of an address string: "a.b.c.0/24" or the first 64 bits for IPv6.
  static std::string subnetOf(const std::string& host);

 private:
  void release(const std::string& host, const std::string& subnet);
  void releaseKey(std::map<std::string, std::shared_ptr<AsyncSemaphore>>& map,
                  const std::string& key, size_t count);

  size_t per_host_;
  size_t per_subnet_;
  std::chrono::nanoseconds interval_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<AsyncSemaphore>> hosts_;
  std::map<std::string, std::shared_ptr<AsyncSemaphore>> subnets_;
  std::atomic<uint64_t> in_flight_{0};
  std::chrono::steady_clock::time_point next_slot_{};
  std::atomic<uint64_t> started_{0};
};

}  // namespace tlsaudit::net
