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

ConnectionGate::ConnectionGate(size_t per_host, double connections_per_second, size_t per_subnet)
    : per_host_(per_host == 0 ? 1 : per_host),
      per_subnet_(per_subnet),
      interval_(connections_per_second > 0
                    ? std::chrono::nanoseconds(static_cast<int64_t>(1e9 / connections_per_second))
                    : std::chrono::nanoseconds(0)) {}

ConnectionGate::Permit& ConnectionGate::Permit::operator=(Permit&& o) noexcept {
  if (this != &o) {
    if (gate_) gate_->release(host_, subnet_);
    gate_ = std::exchange(o.gate_, nullptr);
    host_ = std::move(o.host_);
    subnet_ = std::move(o.subnet_);
  }
  return *this;
}

ConnectionGate::Permit::~Permit() {
  if (gate_) gate_->release(host_, subnet_);
}

std::string ConnectionGate::subnetOf(const std::string& host) {
  boost::system::error_code ec;
  auto a = asio::ip::make_address(host, ec);
  if (ec) return host;
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    return std::to_string(b[0]) + "." + std::to_string(b[1]) + "." + std::to_string(b[2]) + ".0/24";
  }
  auto b = a.to_v6().to_bytes();
  std::fill(b.begin() + 8, b.end(), 0);
  return asio::ip::address_v6(b).to_string() + "/64";
}

awaitable<ConnectionGate::Permit> ConnectionGate::acquire(const std::string& host) {
  std::shared_ptr<AsyncSemaphore> subnet_sem, sem;
  std::string subnet = per_subnet_ ? subnetOf(host) : std::string();
  {
    std::lock_guard lock(mutex_);
    if (per_subnet_) {
      auto& s = subnets_[subnet];
      if (!s) s = std::make_shared<AsyncSemaphore>(per_subnet_);
      subnet_sem = s;
    }
    auto& slot = hosts_[host];
    if (!slot) slot = std::make_shared<AsyncSemaphore>(per_host_);
    sem = slot;
  }
  if (subnet_sem) co_await subnet_sem->acquire();
  co_await sem->acquire();
  ++in_flight_;
  Permit permit(this, host, subnet);
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

void ConnectionGate::release(const std::string& host, const std::string& subnet) {
  --in_flight_;
  releaseKey(hosts_, host, per_host_);
  if (!subnet.empty()) releaseKey(subnets_, subnet, per_subnet_);
}

void ConnectionGate::releaseKey(std::map<std::string, std::shared_ptr<AsyncSemaphore>>& map,
                                const std::string& key, size_t count) {
  std::shared_ptr<AsyncSemaphore> sem;
  {
    std::lock_guard lock(mutex_);
    auto it = map.find(key);
    if (it == map.end()) return;
    sem = it->second;
  }
  sem->release();
  // Forget idle keys so memory follows what is in flight, not the size of the range.
  std::lock_guard lock(mutex_);
  auto it = map.find(key);
  if (it != map.end() && it->second.use_count() == 2 && it->second->idle(count)) {
    map.erase(it);
  }
}

size_t ConnectionGate::hostsTracked() {
  std::lock_guard lock(mutex_);
  return hosts_.size();
}

}  // namespace tlsaudit::net
