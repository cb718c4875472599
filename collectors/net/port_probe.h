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

// Deadlines for the many short connects of a sweep on one single-threaded io_context: one
// periodic timer cancels every connect older than `timeout`, instead of one timer (and one
// extra handler) per connect, which is most of a sweep's user-space cost. A connect may thus
// outlive its timeout by up to one `tick`. Every function must be called from the io_context's
// thread.
class ConnectSweeper {
 public:
  ConnectSweeper(const asio::any_io_executor& executor, std::chrono::milliseconds timeout,
                 std::chrono::milliseconds tick = std::chrono::milliseconds(25));
  // As tcpConnectProbe(), with this sweeper's timeout.
  awaitable<TcpProbeResult> probe(const tcp::endpoint& peer, int retries);
  // The ticker: run it (co_spawn) on the same io_context; it returns after stop().
  awaitable<void> run();
  void stop();

 private:
  struct Entry {
    Entry* prev = nullptr;
    Entry* next = nullptr;
    std::chrono::steady_clock::time_point deadline;
    tcp::socket* socket = nullptr;
    bool expired = false;
  };
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
