// The two probes a sweep is made of: a TCP connect (is the port open?) and a UDP exchange (send
// one datagram, wait for one answer), each with a deadline per attempt and a bounded number of
// retries. What happens on the wire is the result, never an error.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "collectors/net/asio.h"
#include "collectors/net/probe_socket.h"

namespace tlsaudit::net {

using udp = asio::ip::udp;

struct TcpProbeResult {
  IoResult result = IoResult::kError;  // kOk: the port accepted the connection
  int attempts = 0;
};

// Connects to `peer`; a timeout is retried up to `retries` times (a refusal is an answer and is
// not). The connection is closed at once.
awaitable<TcpProbeResult> tcpConnectProbe(const tcp::endpoint& peer,
                                          std::chrono::milliseconds timeout, int retries);

// The many short connects of a sweep on one single-threaded io_context, with as few system
// calls and handlers per probe as the kernel allows:
//  * A connect is checked at once: on loopback and for local addresses the kernel has already
//    processed the RST (or the whole handshake) when the non-blocking connect() returns, so a
//    second connect() reports the answer and the probe ends without epoll, timer or coroutine
//    switch. On a real network it reports "still in progress" and the socket is handed to the
//    io_context to wait.
//  * A socket whose connect was refused is reused for the next probe: Linux resets it to the
//    unconnected state (new ephemeral port on the next connect), which saves the socket() and
//    close() of every closed port, a third of the kernel's work on a refused connect.
//  * Deadlines: one periodic timer cancels every connect older than `timeout`, instead of one
//    timer (and one extra handler) per connect. A connect may thus outlive its timeout by up to
//    one `tick`. The deadline runs from the connect() call, not from when a waiter starts.
// Every function must be called from the io_context's thread.
class ConnectSweeper {
 public:
  ConnectSweeper(const asio::any_io_executor& executor, std::chrono::milliseconds timeout,
                 std::chrono::milliseconds tick = std::chrono::milliseconds(25));
  ~ConnectSweeper();
  ConnectSweeper(const ConnectSweeper&) = delete;
  ConnectSweeper& operator=(const ConnectSweeper&) = delete;

  // A probe whose first attempt has been made. done(): the kernel answered before connect()
  // returned and result() is final; otherwise it owns the connecting socket and must be given
  // to finish() (or dropped, which closes the socket).
  class Started {
   public:
    Started(Started&& o) noexcept;
    Started& operator=(Started&& o) noexcept;
    ~Started();
    bool done() const { return fd_ < 0; }
    const TcpProbeResult& result() const { return out_; }

   private:
    friend class ConnectSweeper;
    Started() = default;
    tcp::endpoint peer_;
    int retries_ = 0;
    int fd_ = -1;  // the connecting socket while not done()
    std::chrono::steady_clock::time_point deadline_;
    TcpProbeResult out_;
  };

  // Makes the first attempt of a probe of `peer` without suspending. A timeout is retried up to
  // `retries` times by finish() (a refusal is an answer and is not).
  Started start(const tcp::endpoint& peer, int retries);
  // Waits for a started probe's answer or deadline, retrying after timeouts.
  awaitable<TcpProbeResult> finish(Started probe);
  // start() and, when needed, finish(): as tcpConnectProbe() with this sweeper's timeout.
  awaitable<TcpProbeResult> probe(const tcp::endpoint& peer, int retries);
  // The ticker: run it (co_spawn) on the same io_context; it returns after stop().
  awaitable<void> run();
  void stop();

  // Counters for --stats and tests: sockets created (the rest of the probes reused a refused
  // one) and attempts answered before connect() returned.
  uint64_t socketsOpened() const { return sockets_opened_; }
  uint64_t immediateAnswers() const { return immediate_answers_; }

 private:
  struct Entry {
    Entry* prev = nullptr;
    Entry* next = nullptr;
    std::chrono::steady_clock::time_point deadline;
    tcp::socket* socket = nullptr;
    bool expired = false;
  };
  // One connect attempt: its answer, or `fd` >= 0 when it is still in progress.
  struct Attempt {
    IoResult result = IoResult::kError;
    int fd = -1;
  };
  Attempt attempt(const tcp::endpoint& peer);
  int openSocket(const tcp::endpoint& peer, bool& reused);
  void recycle(int fd, bool v6);
  awaitable<IoResult> awaitAnswer(int fd, const tcp::endpoint& peer,
                                  std::chrono::steady_clock::time_point deadline);
  void link(Entry& e);
  void unlink(Entry& e);
  void expire();

  asio::any_io_executor executor_;
  asio::steady_timer timer_;
  std::chrono::milliseconds timeout_;
  std::chrono::milliseconds tick_;
  Entry* head_ = nullptr;  // oldest first: every entry has the same timeout
  Entry* tail_ = nullptr;
  bool stopped_ = false;
  std::vector<int> idle_v4_;  // refused sockets ready for another connect
  std::vector<int> idle_v6_;
  uint64_t sockets_opened_ = 0;
  uint64_t immediate_answers_ = 0;
};

struct UdpProbeResult {
  IoResult result = IoResult::kError;  // kOk: `reply` holds the first datagram received
  std::vector<uint8_t> reply;
  int attempts = 0;
};

// Sends `request` to `peer` on a connected UDP socket and waits `timeout` for one datagram,
// resending up to `retries` times. An ICMP port unreachable ends the probe as kRefused.
// Datagrams longer than `max_reply` are truncated.
awaitable<UdpProbeResult> udpExchange(const udp::endpoint& peer, std::vector<uint8_t> request,
                                      std::chrono::milliseconds timeout, int retries,
                                      size_t max_reply = 65535);
// As above, with the request built once the local endpoint is known (SIP puts it in Via).
using UdpRequestBuilder = std::function<std::vector<uint8_t>(const udp::endpoint& local)>;
awaitable<UdpProbeResult> udpExchange(const udp::endpoint& peer, UdpRequestBuilder build,
                                      std::chrono::milliseconds timeout, int retries,
                                      size_t max_reply = 65535);

}  // namespace tlsaudit::net
