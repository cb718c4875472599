// Politeness limits shared by every probe of a scan: at most `per_host` simultaneous connections
// to one address and at most `rate` new connections per second overall. Fragile devices (a 2012
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
  // per_host >= 1; rate 0 means unlimited.
  ConnectionGate(size_t per_host, double connections_per_second);

  // Held for the life of one connection; releases its per-host slot when destroyed.
  class Permit {
   public:
    Permit() = default;
    Permit(ConnectionGate* gate, std::string host) : gate_(gate), host_(std::move(host)) {}
    Permit(Permit&& o) noexcept
        : gate_(std::exchange(o.gate_, nullptr)), host_(std::move(o.host_)) {}
    Permit& operator=(Permit&& o) noexcept;
    ~Permit();

   private:
    ConnectionGate* gate_ = nullptr;
    std::string host_;
  };

  // Waits for a per-host slot for `host` (an address string) and for the rate limit.
  awaitable<Permit> acquire(const std::string& host);

  size_t hostsTracked();
  uint64_t connectionsStarted() const { return started_.load(); }

 private:
  void release(const std::string& host);

  size_t per_host_;
  std::chrono::nanoseconds interval_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<AsyncSemaphore>> hosts_;
  std::chrono::steady_clock::time_point next_slot_{};
  std::atomic<uint64_t> started_{0};
};

}  // namespace tlsaudit::net
