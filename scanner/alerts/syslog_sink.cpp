#include "scanner/alerts/syslog_sink.h"

// clang-format off
#include "collectors/net/asio.h"  // first: <utility> before Boost.Asio
// clang-format on

#include <sys/socket.h>

#include <boost/beast/core/tcp_stream.hpp>
#include <cerrno>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "scanner/alerts/name_lookup.h"

namespace tlsaudit::scanner::alerts {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using Clock = std::chrono::steady_clock;

}  // namespace


// The sink's socket, kept between events; only the delivery thread touches it.
struct SyslogSink::Connection {
  asio::io_context io;
  std::optional<asio::ip::udp::socket> udp;
  std::optional<beast::tcp_stream> tcp;

  // Whether the collector closed (or reset) the TCP connection since the last write. Syslog
  // collectors never send, so anything readable is an end of stream, an error, or noise.
  bool tcpClosedByPeer() {
    int fd = tcp->socket().native_handle();
    char buf[512];
    for (int i = 0; i < 64; ++i) {
      ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0) return true;
      if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
    }
    return false;
  }
};

SyslogSink::SyslogSink(SinkConfig config, MessageContext context, SyslogAddress address)
    : config_(std::move(config)),
      context_(std::move(context)),
      address_(std::move(address)),
      tcp_(config_.transport == "tcp"),
      connection_(std::make_unique<Connection>()) {}

SyslogSink::~SyslogSink() = default;

absl::StatusOr<std::unique_ptr<AlertSink>> SyslogSink::create(const SinkConfig& config,
                                                              const MessageContext& context) {
  auto address = parseSyslogAddress(config.address);
  if (!address.ok()) return address.status();
  return std::unique_ptr<AlertSink>(new SyslogSink(config, context, *std::move(address)));
}

absl::Status SyslogSink::deliver(const AlertEvent& event) {
  Clock::time_point deadline = Clock::now() + config_.timeout;
  std::string where = absl::StrCat(
      "syslog ", config_.transport, "://", address_.host.find(':') != std::string::npos ? "[" : "",
      address_.host, address_.host.find(':') != std::string::npos ? "]" : "", ":", address_.port);
  Connection& c = *connection_;
  auto endpointsOf = [&]() -> absl::StatusOr<std::vector<asio::ip::address>> {
    auto addresses = lookupAddresses(address_.host, deadline);
    if (!addresses.ok()) {
      return absl::Status(addresses.status().code(),
                          absl::StrCat(where, ": ", addresses.status().message()));
    }
    return addresses;
  };
  boost::system::error_code ec;

  if (!tcp_) {
    std::string message =
        syslogMessage(event, context_, config_.facility, config_.app_name, kSyslogUdpMaxBytes);
    if (!c.udp) {
      auto addresses = endpointsOf();
      if (!addresses.ok()) return addresses.status();
      asio::ip::udp::endpoint endpoint(addresses->front(), address_.port);
      c.udp.emplace(c.io);
      c.udp->open(endpoint.protocol(), ec);
      // A connected socket reports the ICMP port-unreachable of an earlier datagram on a later
      // send, so a collector that went away is noticed (after one lost datagram) and retried.
      if (!ec) c.udp->connect(endpoint, ec);
      if (ec) {
        c.udp.reset();
        return absl::UnavailableError(absl::StrCat(where, ": ", ec.message()));
      }
    }
    c.udp->send(asio::buffer(message), 0, ec);
    if (ec) {
      c.udp.reset();
      return absl::UnavailableError(absl::StrCat(where, ": send: ", ec.message()));
    }
    return absl::OkStatus();
  }

  std::string frame = octetCountingFrame(
      syslogMessage(event, context_, config_.facility, config_.app_name, kSyslogTcpMaxBytes));
  if (c.tcp && c.tcpClosedByPeer()) c.tcp.reset();
  if (!c.tcp) {
    auto addresses = endpointsOf();
    if (!addresses.ok()) return addresses.status();
    std::vector<asio::ip::tcp::endpoint> endpoints;
    for (const auto& a : *addresses) endpoints.emplace_back(a, address_.port);
    c.tcp.emplace(c.io);
    c.tcp->expires_at(deadline);
    c.tcp->async_connect(
        endpoints, [&](boost::system::error_code e, const asio::ip::tcp::endpoint&) { ec = e; });
    c.io.restart();
    c.io.run();
    if (ec) {
      c.tcp.reset();
      if (ec == beast::error::timeout) {
        return absl::DeadlineExceededError(absl::StrCat(where, ": connect timed out"));
      }
      return absl::UnavailableError(absl::StrCat(where, ": connect: ", ec.message()));
    }
  }
  c.tcp->expires_at(deadline);
  asio::async_write(*c.tcp, asio::buffer(frame),
                    [&](boost::system::error_code e, size_t) { ec = e; });
  c.io.restart();
  c.io.run();
  if (ec) {
    c.tcp.reset();
    if (ec == beast::error::timeout) {
      return absl::DeadlineExceededError(absl::StrCat(where, ": write timed out"));
    }
    return absl::UnavailableError(absl::StrCat(where, ": write: ", ec.message()));
  }
  c.tcp->expires_never();
  return absl::OkStatus();
}

}  // namespace tlsaudit::scanner::alerts
