#include "collectors/net/port_probe.h"

#include <memory>

namespace tlsaudit::net {

awaitable<TcpProbeResult> tcpConnectProbe(const tcp::endpoint& peer,
                                          std::chrono::milliseconds timeout, int retries) {
  auto ex = co_await asio::this_coro::executor;
  TcpProbeResult out;
  for (int attempt = 0; attempt <= retries; ++attempt) {
    auto socket = ProbeSocket::create(ex);
    ++out.attempts;
    out.result = co_await socket->connect(peer, timeout);
    socket->close();
    // Only silence deserves another try: a refusal or reset is the port's answer.
    if (out.result != IoResult::kTimeout) break;
  }
  co_return out;
}

ConnectSweeper::ConnectSweeper(const asio::any_io_executor& executor,
                               std::chrono::milliseconds timeout, std::chrono::milliseconds tick)
    : executor_(executor), timer_(executor), timeout_(timeout), tick_(tick) {}

void ConnectSweeper::link(Entry& e) {
  e.prev = tail_;
  e.next = nullptr;
  if (tail_) {
    tail_->next = &e;
  } else {
    head_ = &e;
  }
  tail_ = &e;
}

void ConnectSweeper::unlink(Entry& e) {
  (e.prev ? e.prev->next : head_) = e.next;
  (e.next ? e.next->prev : tail_) = e.prev;
  e.prev = e.next = nullptr;
}

void ConnectSweeper::expire() {
  auto now = std::chrono::steady_clock::now();
  while (head_ && head_->deadline <= now) {
    Entry* e = head_;
    unlink(*e);
    e->expired = true;
    boost::system::error_code ignored;
    e->socket->cancel(ignored);
  }
}

awaitable<void> ConnectSweeper::run() {
  while (!stopped_) {
    timer_.expires_after(tick_);
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(use_awaitable, ec));
    expire();
  }
}

void ConnectSweeper::stop() {
  stopped_ = true;
  timer_.cancel();
}

awaitable<TcpProbeResult> ConnectSweeper::probe(const tcp::endpoint& peer, int retries) {
  TcpProbeResult out;
  for (int attempt = 0; attempt <= retries; ++attempt) {
    ++out.attempts;
    tcp::socket socket(executor_);
    boost::system::error_code ec;
    // The entry lives in this coroutine frame: linking it costs no allocation.
    Entry entry;
    entry.deadline = std::chrono::steady_clock::now() + timeout_;
    entry.socket = &socket;
    link(entry);
    co_await socket.async_connect(peer, asio::redirect_error(use_awaitable, ec));
    if (!entry.expired) unlink(entry);
    boost::system::error_code result = ec, ignored;
    socket.close(ignored);
    if (entry.expired) {
      out.result = IoResult::kTimeout;
      continue;
    }
    namespace err = asio::error;
    if (!result) {
      out.result = IoResult::kOk;
    } else if (result == err::connection_refused) {
      out.result = IoResult::kRefused;
    } else if (result == err::connection_reset || result == err::connection_aborted) {
      out.result = IoResult::kReset;
    } else if (result == err::host_unreachable || result == err::network_unreachable) {
      out.result = IoResult::kUnreachable;
    } else if (result == err::timed_out) {
      out.result = IoResult::kTimeout;
    } else {
      out.result = IoResult::kError;
    }
    // Only silence deserves another try: a refusal or reset is the port's answer.
    if (out.result != IoResult::kTimeout) break;
  }
  co_return out;
}

namespace {

// A UDP socket with a deadline on its receive, the same pattern as ProbeSocket: the timer
// cancels the socket, and a generation counter keeps a stale expiry from hitting a later wait.
struct UdpState : std::enable_shared_from_this<UdpState> {
  explicit UdpState(const asio::any_io_executor& ex) : socket(ex), timer(ex) {}
  udp::socket socket;
  asio::steady_timer timer;
  uint64_t generation = 0;
  bool timed_out = false;

  void arm(std::chrono::milliseconds timeout) {
    timed_out = false;
    uint64_t gen = ++generation;
    timer.expires_after(timeout);
    timer.async_wait([self = shared_from_this(), gen](const boost::system::error_code& ec) {
      if (ec || gen != self->generation) return;
      self->timed_out = true;
      boost::system::error_code ignored;
      self->socket.cancel(ignored);
    });
  }
  void disarm() {
    ++generation;
    timer.cancel();
  }
};

}  // namespace

awaitable<UdpProbeResult> udpExchange(const udp::endpoint& peer, std::vector<uint8_t> request,
                                      std::chrono::milliseconds timeout, int retries,
                                      size_t max_reply) {
  UdpRequestBuilder build = [request = std::move(request)](const udp::endpoint&) {
    return request;
  };
  co_return co_await udpExchange(peer, std::move(build), timeout, retries, max_reply);
}

awaitable<UdpProbeResult> udpExchange(const udp::endpoint& peer, UdpRequestBuilder build,
                                      std::chrono::milliseconds timeout, int retries,
                                      size_t max_reply) {
  auto ex = co_await asio::this_coro::executor;
  UdpProbeResult out;
  auto state = std::make_shared<UdpState>(ex);
  boost::system::error_code ec;
  state->socket.open(peer.protocol(), ec);
  if (!ec) state->socket.connect(peer, ec);
  udp::endpoint local;
  if (!ec) local = state->socket.local_endpoint(ec);
  if (ec) {
    out.result = IoResult::kError;
    co_return out;
  }
  std::vector<uint8_t> request = build(local);
  std::vector<uint8_t> buffer(std::max<size_t>(1, max_reply));
  for (int attempt = 0; attempt <= retries; ++attempt) {
    ++out.attempts;
    state->socket.send(asio::buffer(request), 0, ec);
    if (ec) {
      out.result = ec == asio::error::connection_refused ? IoResult::kRefused : IoResult::kError;
      break;
    }
    size_t n = 0;
    state->arm(timeout);
    n = co_await state->socket.async_receive(asio::buffer(buffer),
                                             asio::redirect_error(use_awaitable, ec));
    state->disarm();
    if (!ec) {
      buffer.resize(n);
      out.reply = std::move(buffer);
      out.result = IoResult::kOk;
      break;
    }
    if (state->timed_out) {
      out.result = IoResult::kTimeout;
      continue;
    }
    // Linux reports an ICMP port unreachable for a connected UDP socket as ECONNREFUSED.
    out.result = ec == asio::error::connection_refused ? IoResult::kRefused : IoResult::kError;
    break;
  }
  boost::system::error_code ignored;
  state->socket.close(ignored);
  co_return out;
}

}  // namespace tlsaudit::net
