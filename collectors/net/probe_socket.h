// A TCP socket whose every operation has a deadline. Used by one coroutine at a time; create it
// on a strand so the deadline handler and the coroutine never run concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "collectors/net/asio.h"

namespace tlsaudit::net {

// How a socket operation ended, as a fact for the report.
enum class IoResult { kOk, kTimeout, kRefused, kReset, kEof, kUnreachable, kError };
const char* ioResultName(IoResult r);

class ProbeSocket : public std::enable_shared_from_this<ProbeSocket> {
 public:
  static std::shared_ptr<ProbeSocket> create(const asio::any_io_executor& executor);

  awaitable<IoResult> connect(const tcp::endpoint& peer, std::chrono::milliseconds timeout);
  awaitable<IoResult> writeAll(std::span<const uint8_t> data, std::chrono::milliseconds timeout);
  // Reads what is available (at most max_bytes) and appends it to `out`.
  awaitable<IoResult> readSome(std::vector<uint8_t>& out, size_t max_bytes,
                               std::chrono::milliseconds timeout);
  // Closes immediately; further operations fail.
  void close();

  tcp::socket& socket() { return socket_; }
  std::string lastError() const { return last_error_; }
  // Arms the deadline for an operation run directly on socket() (e.g. by an SSL stream); the
  // returned guard disarms it. timedOut() tells whether it fired.
  class DeadlineGuard {
   public:
    explicit DeadlineGuard(ProbeSocket& s) : s_(s) {}
    ~DeadlineGuard() { s_.disarm(); }

   private:
    ProbeSocket& s_;
  };
  DeadlineGuard arm(std::chrono::milliseconds timeout);
  bool timedOut() const { return timed_out_; }

 private:
  explicit ProbeSocket(const asio::any_io_executor& executor);
  void disarm();
  IoResult classify(const boost::system::error_code& ec);

  tcp::socket socket_;
  asio::steady_timer timer_;
  uint64_t generation_ = 0;
  bool timed_out_ = false;
  std::string last_error_;
};

}  // namespace tlsaudit::net
