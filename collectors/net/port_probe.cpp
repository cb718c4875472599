#include "collectors/net/port_probe.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

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

namespace {

IoResult connectResult(int err) {
  switch (err) {
    case 0:
    case EISCONN:
      return IoResult::kOk;
    case ECONNREFUSED:
      return IoResult::kRefused;
    case ECONNRESET:
    case ECONNABORTED:
      return IoResult::kReset;
    case EHOSTUNREACH:
    case ENETUNREACH:
      return IoResult::kUnreachable;
    case ETIMEDOUT:
      return IoResult::kTimeout;
    default:
      return IoResult::kError;
  }
}

// connect(2) on a non-blocking socket; the errno it left, 0 on success.
int connectErrno(int fd, const tcp::endpoint& peer) {
  return ::connect(fd, peer.data(), static_cast<socklen_t>(peer.size())) == 0 ? 0 : errno;
}

// Refused sockets kept for reuse, per family: one is enough for a run of refusals, a few cover
// lanes that finish together.
constexpr size_t kIdleSockets = 8;

}  // namespace

ConnectSweeper::ConnectSweeper(const asio::any_io_executor& executor,
                               std::chrono::milliseconds timeout, std::chrono::milliseconds tick)
    : executor_(executor), timer_(executor), timeout_(timeout), tick_(tick) {}

ConnectSweeper::~ConnectSweeper() {
  for (int fd : idle_v4_) ::close(fd);
  for (int fd : idle_v6_) ::close(fd);
}

ConnectSweeper::Started::Started(Started&& o) noexcept
    : peer_(o.peer_),
      retries_(o.retries_),
      fd_(std::exchange(o.fd_, -1)),
      deadline_(o.deadline_),
      out_(o.out_) {}

ConnectSweeper::Started& ConnectSweeper::Started::operator=(Started&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    peer_ = o.peer_;
    retries_ = o.retries_;
    fd_ = std::exchange(o.fd_, -1);
    deadline_ = o.deadline_;
    out_ = o.out_;
  }
  return *this;
}

ConnectSweeper::Started::~Started() {
  if (fd_ >= 0) ::close(fd_);
}

void ConnectSweeper::link(Entry& e) {
  // Deadlines run from each connect() call and waiters may start in another order: walk back
  // from the newest (almost always zero steps) to keep the list sorted.
  Entry* after = tail_;
  while (after && after->deadline > e.deadline) after = after->prev;
  e.prev = after;
  e.next = after ? after->next : head_;
  (e.next ? e.next->prev : tail_) = &e;
  (after ? after->next : head_) = &e;
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

int ConnectSweeper::openSocket(const tcp::endpoint& peer, bool& reused) {
  auto& idle = peer.protocol() == tcp::v6() ? idle_v6_ : idle_v4_;
  if (!idle.empty()) {
    reused = true;
    int fd = idle.back();
    idle.pop_back();
    return fd;
  }
  reused = false;
  ++sockets_opened_;
  return ::socket(peer.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  IPPROTO_TCP);
}

void ConnectSweeper::recycle(int fd, bool v6) {
  auto& idle = v6 ? idle_v6_ : idle_v4_;
  if (idle.size() < kIdleSockets) {
    idle.push_back(fd);
  } else {
    ::close(fd);
  }
}

ConnectSweeper::Attempt ConnectSweeper::attempt(const tcp::endpoint& peer) {
  bool v6 = peer.protocol() == tcp::v6();
  // Two rounds: a reused socket the kernel did not reset is dropped for a fresh one.
  for (int round = 0; round < 2; ++round) {
    bool reused = false;
    int fd = openSocket(peer, reused);
    if (fd < 0) return {};
    int err = connectErrno(fd, peer);
    if (err == EINPROGRESS) {
      // A local stack has answered by now (the SYN and its RST or SYN-ACK are processed before
      // connect() returns): the second connect() reports it, or EALREADY while the SYN is on
      // the wire. After a refusal, Linux leaves the socket unconnected and ready for another
      // connect(); POSIX calls that state unspecified, hence the check below on reuse.
      err = connectErrno(fd, peer);
      if (err == EALREADY) return {IoResult::kTimeout, fd};
    } else if (reused && (err == EISCONN || err == EALREADY || err == EINVAL)) {
      ::close(fd);
      continue;
    }
    ++immediate_answers_;
    if (err == ECONNREFUSED) {
      recycle(fd, v6);
    } else {
      ::close(fd);
    }
    return {connectResult(err), -1};
  }
  return {};
}

awaitable<IoResult> ConnectSweeper::awaitAnswer(int fd, const tcp::endpoint& peer,
                                                std::chrono::steady_clock::time_point deadline) {
  tcp::socket socket(executor_);
  boost::system::error_code ec;
  socket.assign(peer.protocol(), fd, ec);
  if (ec) {
    ::close(fd);
    co_return IoResult::kError;
  }
  // The entry lives in this coroutine frame: linking it costs no allocation.
  Entry entry;
  entry.deadline = deadline;
  entry.socket = &socket;
  link(entry);
  IoResult result = IoResult::kError;
  // Writable means answered; connect() says how. A wake-up while the SYN is still unanswered
  // waits again (bounded: the deadline cancels the wait).
  for (int wakeups = 0;; ++wakeups) {
    co_await socket.async_wait(tcp::socket::wait_write, asio::redirect_error(use_awaitable, ec));
    if (entry.expired) {
      result = IoResult::kTimeout;
      break;
    }
    int err = connectErrno(fd, peer);
    if (err == EALREADY && !ec && wakeups < 16) continue;
    result = err == EALREADY ? IoResult::kError : connectResult(err);
    break;
  }
  if (!entry.expired) unlink(entry);
  boost::system::error_code ignored;
  socket.close(ignored);
  co_return result;
}

ConnectSweeper::Started ConnectSweeper::start(const tcp::endpoint& peer, int retries) {
  Started p;
  p.peer_ = peer;
  p.retries_ = retries;
  p.out_.attempts = 1;
  auto a = attempt(peer);
  if (a.fd >= 0) {
    p.fd_ = a.fd;
    p.deadline_ = std::chrono::steady_clock::now() + timeout_;
  } else {
    p.out_.result = a.result;
  }
  return p;
}

awaitable<TcpProbeResult> ConnectSweeper::finish(Started p) {
  TcpProbeResult out = p.out_;
  if (p.done()) co_return out;
  int fd = std::exchange(p.fd_, -1);
  auto deadline = p.deadline_;
  for (;;) {
    out.result = co_await awaitAnswer(fd, p.peer_, deadline);
    // Only silence deserves another try: a refusal or reset is the port's answer.
    if (out.result != IoResult::kTimeout || out.attempts > p.retries_) break;
    ++out.attempts;
    auto next = attempt(p.peer_);
    if (next.fd < 0) {
      out.result = next.result;
      break;
    }
    fd = next.fd;
    deadline = std::chrono::steady_clock::now() + timeout_;
  }
  co_return out;
}

awaitable<TcpProbeResult> ConnectSweeper::probe(const tcp::endpoint& peer, int retries) {
  auto started = start(peer, retries);
  if (started.done()) co_return started.result();
  co_return co_await finish(std::move(started));
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
