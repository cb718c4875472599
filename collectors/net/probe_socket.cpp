#include "collectors/net/probe_socket.h"

namespace tlsaudit::net {

const char* ioResultName(IoResult r) {
  switch (r) {
    case IoResult::kOk:
      return "ok";
    case IoResult::kTimeout:
      return "timeout";
    case IoResult::kRefused:
      return "refused";
    case IoResult::kReset:
      return "reset";
    case IoResult::kEof:
      return "eof";
    case IoResult::kUnreachable:
      return "unreachable";
    case IoResult::kError:
      return "error";
  }
  return "error";
}

std::shared_ptr<ProbeSocket> ProbeSocket::create(const asio::any_io_executor& executor) {
  return std::shared_ptr<ProbeSocket>(new ProbeSocket(executor));
}

ProbeSocket::ProbeSocket(const asio::any_io_executor& executor)
    : socket_(executor), timer_(executor) {}

ProbeSocket::DeadlineGuard ProbeSocket::arm(std::chrono::milliseconds timeout) {
  timed_out_ = false;
  uint64_t gen = ++generation_;
  timer_.expires_after(timeout);
  // The handler holds the socket alive; the generation check stops a stale expiry (queued just
  // as the operation finished) from cancelling a later operation.
  timer_.async_wait([self = shared_from_this(), gen](const boost::system::error_code& ec) {
    if (ec || gen != self->generation_) return;
    self->timed_out_ = true;
    boost::system::error_code ignored;
    self->socket_.cancel(ignored);
  });
  return DeadlineGuard(*this);
}

void ProbeSocket::disarm() {
  ++generation_;
  timer_.cancel();
}

IoResult ProbeSocket::classify(const boost::system::error_code& ec) {
  if (!ec) return IoResult::kOk;
  last_error_ = ec.message();
  if (timed_out_) return IoResult::kTimeout;
  namespace err = asio::error;
  if (ec == err::eof) return IoResult::kEof;
  if (ec == err::connection_refused) return IoResult::kRefused;
  if (ec == err::connection_reset || ec == err::broken_pipe || ec == err::connection_aborted) {
    return IoResult::kReset;
  }
  if (ec == err::host_unreachable || ec == err::network_unreachable) return IoResult::kUnreachable;
  if (ec == err::timed_out) return IoResult::kTimeout;
  return IoResult::kError;
}

awaitable<IoResult> ProbeSocket::connect(const tcp::endpoint& peer,
                                         std::chrono::milliseconds timeout) {
  boost::system::error_code ec;
  {
    auto guard = arm(timeout);
    co_await socket_.async_connect(peer, asio::redirect_error(use_awaitable, ec));
  }
  if (!ec) {
    boost::system::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
  }
  co_return classify(ec);
}

awaitable<IoResult> ProbeSocket::writeAll(std::span<const uint8_t> data,
                                          std::chrono::milliseconds timeout) {
  boost::system::error_code ec;
  {
    auto guard = arm(timeout);
    co_await asio::async_write(socket_, asio::buffer(data.data(), data.size()),
                               asio::redirect_error(use_awaitable, ec));
  }
  co_return classify(ec);
}

awaitable<IoResult> ProbeSocket::readSome(std::vector<uint8_t>& out, size_t max_bytes,
                                          std::chrono::milliseconds timeout) {
  boost::system::error_code ec;
  size_t old = out.size();
  out.resize(old + max_bytes);
  size_t n = 0;
  {
    auto guard = arm(timeout);
    n = co_await socket_.async_read_some(asio::buffer(out.data() + old, max_bytes),
                                         asio::redirect_error(use_awaitable, ec));
  }
  out.resize(old + n);
  if (n > 0) co_return IoResult::kOk;
  co_return classify(ec ? ec : asio::error::eof);
}

void ProbeSocket::close() {
  disarm();
  boost::system::error_code ignored;
  socket_.close(ignored);
}

}  // namespace tlsaudit::net
