#include "scanner/metrics/metrics_server.h"

#include <atomic>

// clang-format off
#include "collectors/net/asio.h"  // <utility> before Asio (Boost 1.74 + GCC 12)
// clang-format on

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <sstream>
#include <thread>

namespace tlsaudit::scanner {
namespace {

namespace asio = net::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr size_t kMaxRequestBytes = 8192;
constexpr auto kRequestDeadline = std::chrono::seconds(10);

}  // namespace

struct MetricsServer::Impl {
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  std::shared_ptr<prometheus::Registry> registry;
  std::function<HealthReport()> health;
  std::thread thread;

  http::response<http::string_body> answer(const http::request<http::string_body>& req) {
    http::response<http::string_body> res;
    res.version(req.version());
    res.keep_alive(false);
    res.set(http::field::server, "tlsaudit");
    std::string target(req.target());
    if (auto q = target.find('?'); q != std::string::npos) target.resize(q);
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      res.result(http::status::method_not_allowed);
      res.set(http::field::allow, "GET, HEAD");
      res.body() = "only GET\n";
    } else if (target == "/metrics") {
      std::ostringstream out;
      prometheus::TextSerializer().Serialize(out, registry->Collect());
      res.result(http::status::ok);
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = out.str();
    } else if (target == "/healthz") {
      HealthReport h = health ? health() : HealthReport{true, "ok\n"};
      res.result(h.healthy ? http::status::ok : http::status::service_unavailable);
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.body() = h.text;
    } else {
      res.result(http::status::not_found);
      res.body() = "not found (try /metrics or /healthz)\n";
    }
    if (req.method() == http::verb::head) res.body().clear();
    res.prepare_payload();
    return res;
  }

  // Connections being served; more than kMaxSessions at once are closed unanswered, so a
  // client cannot hold the daemon's file descriptors (each lasts kRequestDeadline at most).
  static constexpr int kMaxSessions = 32;
  std::atomic<int> sessions{0};

  void serve(tcp::socket socket) {
    if (sessions.load() >= kMaxSessions) {
      beast::error_code ignored;
      socket.close(ignored);
      return;
    }
    ++sessions;
    // Decrements when the last handler holding it is done.
    auto session = std::shared_ptr<void>(nullptr, [this](void*) { --sessions; });
    auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
    auto buffer = std::make_shared<beast::flat_buffer>(kMaxRequestBytes);
    auto parser = std::make_shared<http::request_parser<http::string_body>>();
    parser->header_limit(kMaxRequestBytes);
    parser->body_limit(kMaxRequestBytes);
    stream->expires_after(kRequestDeadline);
    http::async_read(*stream, *buffer, *parser,
                     [this, stream, buffer, parser, session](beast::error_code ec, size_t) {
                       if (ec) return;
                       auto res = std::make_shared<http::response<http::string_body>>(
                           answer(parser->get()));
                       stream->expires_after(kRequestDeadline);
                       http::async_write(*stream, *res, [stream, res, session](beast::error_code,
                                                                               size_t) {
                         beast::error_code ignored;
                         stream->socket().shutdown(tcp::socket::shutdown_send, ignored);
                       });
                     });
  }

  void accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) serve(std::move(socket));
      accept();
    });
  }
};

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::start(
    const std::string& listen, std::shared_ptr<prometheus::Registry> registry,
    std::function<HealthReport()> health) {
  std::unique_ptr<MetricsServer> s(new MetricsServer());
  s->impl_ = std::make_unique<Impl>();
  auto& impl = *s->impl_;
  impl.registry = std::move(registry);
  impl.health = std::move(health);
  auto colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) return absl::InvalidArgumentError("metrics listen address '" + listen + "': not an address");
  tcp::endpoint ep(address, static_cast<uint16_t>(std::stoi(listen.substr(colon + 1))));
  impl.acceptor.open(ep.protocol(), ec);
  if (!ec) impl.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl.acceptor.bind(ep, ec);
  if (!ec) impl.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::FailedPreconditionError("cannot listen for metrics on " + listen + ": " +
                                         ec.message());
  }
  impl.accept();
  impl.thread = std::thread([&impl] { impl.io.run(); });
  return s;
}

int MetricsServer::port() const { return impl_ ? impl_->acceptor.local_endpoint().port() : 0; }

void MetricsServer::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  asio::post(impl_->io, [this] {
    boost::system::error_code ec;
    impl_->acceptor.close(ec);
    impl_->io.stop();
  });
  impl_->thread.join();
}

MetricsServer::~MetricsServer() { stop(); }

}  // namespace tlsaudit::scanner
