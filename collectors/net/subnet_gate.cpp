#include "collectors/net/subnet_gate.h"

namespace tlsaudit::net {

SubnetGate::SubnetGate(size_t per_subnet, double probes_per_second)
    : per_subnet_(per_subnet),
      interval_(probes_per_second > 0
                    ? std::chrono::nanoseconds(static_cast<int64_t>(1e9 / probes_per_second))
                    : std::chrono::nanoseconds(0)) {}

SubnetGate::Subnet SubnetGate::subnetOf(const asio::ip::address& a) {
  if (a.is_v4()) return Subnet{a.to_v4().to_uint() >> 8, false};
  auto b = a.to_v6().to_bytes();
  uint64_t prefix = 0;
  for (size_t i = 0; i < 8; ++i) prefix = (prefix << 8) | b[i];
  return Subnet{prefix, true};
}

size_t SubnetGate::SubnetHash::operator()(const Subnet& s) const {
  // splitmix64 finaliser: neighbouring /24s land in unrelated stripes.
  uint64_t x = s.prefix + (s.v6 ? 0x9E3779B97F4A7C15ull : 0);
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return static_cast<size_t>(x ^ (x >> 31));
}

SubnetGate::Permit& SubnetGate::Permit::operator=(Permit&& o) noexcept {
  if (this != &o) {
    if (gate_) gate_->release(subnet_);
    gate_ = std::exchange(o.gate_, nullptr);
    subnet_ = o.subnet_;
  }
  return *this;
}

SubnetGate::Permit::~Permit() {
  if (gate_) gate_->release(subnet_);
}

awaitable<SubnetGate::Permit> SubnetGate::acquire(const asio::ip::address& a) {
  Permit permit;
  if (per_subnet_ > 0) {
    Subnet subnet = subnetOf(a);
    Stripe& stripe = stripeOf(subnet);
    // Takes a free slot if there is one (the common case: one lock, no wait).
    auto take = [&] {
      Slot& slot = stripe.slots[subnet];
      if (slot.in_use >= per_subnet_) return false;
      ++slot.in_use;
      return true;
    };
    bool taken = false;
    {
      std::lock_guard lock(stripe.mutex);
      taken = take();
    }
    if (!taken) {
      auto waiter = std::make_shared<Waiter>(co_await asio::this_coro::executor);
      waiter->timer.expires_at(asio::steady_timer::time_point::max());
      {
        // Look again: a slot may have been freed while the waiter was made.
        std::lock_guard lock(stripe.mutex);
        taken = take();
        if (!taken) stripe.slots[subnet].waiters.push_back(waiter);
      }
      // A release hands its slot to the first waiter and cancels the waiter's timer on the
      // waiter's own executor, which runs only after this coroutine has started waiting.
      while (!taken) {
        boost::system::error_code ec;
        co_await waiter->timer.async_wait(asio::redirect_error(use_awaitable, ec));
        std::lock_guard lock(stripe.mutex);
        taken = waiter->granted;
      }
    }
    permit = Permit(this, subnet);
  }
  if (interval_.count() > 0) {
    std::chrono::steady_clock::time_point slot;
    auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(rate_mutex_);
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
  co_return permit;
}

void SubnetGate::release(const Subnet& subnet) {
  Stripe& stripe = stripeOf(subnet);
  std::shared_ptr<Waiter> next;
  {
    std::lock_guard lock(stripe.mutex);
    auto it = stripe.slots.find(subnet);
    if (it == stripe.slots.end()) return;
    Slot& slot = it->second;
    if (!slot.waiters.empty()) {
      // The slot passes to the first waiter: in_use stays.
      next = std::move(slot.waiters.front());
      slot.waiters.pop_front();
      next->granted = true;
    } else if (--slot.in_use == 0) {
      stripe.slots.erase(it);
    }
  }
  if (next) asio::post(next->executor, [next] { next->timer.cancel(); });
}

size_t SubnetGate::subnetsTracked() {
  size_t n = 0;
  for (auto& stripe : stripes_) {
    std::lock_guard lock(stripe.mutex);
    n += stripe.slots.size();
  }
  return n;
}

}  // namespace tlsaudit::net
