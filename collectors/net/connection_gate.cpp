#include "collectors/net/connection_gate.h"

namespace tlsaudit::net {

awaitable<void> AsyncSemaphore::acquire() {
  auto ex = co_await asio::this_coro::executor;
  std::shared_ptr<Waiter> waiter;
  {
    std::lock_guard lock(mutex_);
    if (available_ > 0) {
      --available_;
      co_return;
    }
    waiter = std::make_shared<Waiter>(ex);
    waiter->timer.expires_at(asio::steady_timer::time_point::max());
    waiters_.push_back(waiter);
  }
  for (;;) {
    boost::system::error_code ec;
    co_await waiter->timer.async_wait(asio::redirect_error(use_awaitable, ec));
    std::lock_guard lock(mutex_);
    if (waiter->granted) co_return;
  }
}

void AsyncSemaphore::release() {
  std::shared_ptr<Waiter> waiter;
  {
    std::lock_guard lock(mutex_);
    if (waiters_.empty()) {
      ++available_;
      return;
    }
    waiter = waiters_.front();
    waiters_.pop_front();
    waiter->granted = true;
  }
  // The cancel runs on the waiter's strand, after its wait has been started.
  asio::post(waiter->executor, [waiter] { waiter->timer.cancel(); });
}

bool AsyncSemaphore::idle(size_t count) {
  std::lock_guard lock(mutex_);
  return waiters_.empty() && available_ == count;
}

ConnectionGate::ConnectionGate(size_t per_host, double connections_per_second)
    : per_host_(per_host == 0 ? 1 : per_host),
      interval_(connections_per_second > 0
                    ? std::chrono::nanoseconds(static_cast<int64_t>(1e9 / connections_per_second))
                    : std::chrono::nanoseconds(0)) {}

ConnectionGate::Permit& ConnectionGate::Permit::operator=(Permit&& o) noexcept {
  if (this != &o) {
    if (gate_) gate_->release(host_);
    gate_ = std::exchange(o.gate_, nullptr);
    host_ = std::move(o.host_);
  }
  return *this;
}

ConnectionGate::Permit::~Permit() {
  if (gate_) gate_->release(host_);
}

awaitable<ConnectionGate::Permit> ConnectionGate::acquire(const std::string& host) {
  std::shared_ptr<AsyncSemaphore> sem;
  {
    std::lock_guard lock(mutex_);
    auto& slot = hosts_[host];
    if (!slot) slot = std::make_shared<AsyncSemaphore>(per_host_);
    sem = slot;
  }
  co_await sem->acquire();
  Permit permit(this, host);
  if (interval_.count() > 0) {
    std::chrono::steady_clock::time_point slot;
    auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(mutex_);
      if (next_slot_ < now) next_slot_ = now;
      slot = next_slot_;
      next_slot_ += interval_;
    }
    if (slot > now) {
      asio::steady_timer timer(co_await asio::this_coro::executor);
      timer.expires_at(slot);
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    }
  }
  ++started_;
  co_return permit;
}

void ConnectionGate::release(const std::string& host) {
  std::shared_ptr<AsyncSemaphore> sem;
  {
    std::lock_guard lock(mutex_);
    auto it = hosts_.find(host);
    if (it == hosts_.end()) return;
    sem = it->second;
  }
  sem->release();
  // Forget idle hosts so memory follows what is in flight, not the size of the range.
  std::lock_guard lock(mutex_);
  auto it = hosts_.find(host);
  if (it != hosts_.end() && it->second.use_count() == 2 && it->second->idle(per_host_)) {
    hosts_.erase(it);
  }
}

size_t ConnectionGate::hostsTracked() {
  std::lock_guard lock(mutex_);
  return hosts_.size();
}

}  // namespace tlsaudit::net
