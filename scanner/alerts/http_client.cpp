#include "scanner/alerts/http_client.h"

// clang-format off
#include "collectors/net/asio.h"  // first: <utility> before Boost.Asio
// clang-format on

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <exception>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "scanner/alerts/name_lookup.h"

namespace tlsaudit::scanner::alerts {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using Clock = std::chrono::steady_clock;
using tcp = asio::ip::tcp;
using Result = absl::StatusOr<HttpResponse>;

constexpr size_t kBodyChunk = 8192;

// An I/O failure as a status: timeouts (Beast's tcp_stream deadline) apart from the rest.
absl::Status ioError(const HttpUrl& url, const char* step, const beast::error_code& ec,
                     std::chrono::milliseconds timeout) {
  if (ec == beast::error::timeout) {
    return absl::DeadlineExceededError(
        absl::StrCat(url.redacted(), ": no answer within ", timeout.count(), " ms (", step, ")"));
  }
  return absl::UnavailableError(absl::StrCat(url.redacted(), ": ", step, ": ", ec.message()));
}

}  // namespace


absl::Status acceptedOrError(const HttpUrl& url, const absl::StatusOr<HttpResponse>& response) {
  if (!response.ok()) return response.status();
  if (response->status >= 200 && response->status < 300) return absl::OkStatus();
  // Enough of the answer to say why (Alertmanager explains a refusal in its body), on one line.
  // Printable ASCII only: the text is logged and stored, and a cut through a UTF-8 character
  // (or a receiver's binary answer) would make it invalid text for PostgreSQL.
  std::string why = response->body.substr(0, 200);
  for (char& c : why) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) c = ' ';
    if (u >= 0x80) c = '?';
  }
  return absl::UnavailableError(absl::StrCat("HTTP ", response->status, " from ", url.redacted(),
                                             why.empty() ? "" : ": ", why));
}

struct HttpClient::Impl {
  HttpClientOptions options;
  ssl::context tls{ssl::context::tls_client};

  template <typename Stream>
  net::awaitable<Result> exchange(Stream& stream, beast::tcp_stream& lowest, const HttpUrl& url,
                                  const http::request<http::string_body>& request,
                                  Clock::time_point deadline, std::chrono::milliseconds timeout) {
    beast::error_code ec;
    lowest.expires_at(deadline);
    co_await http::async_write(stream, request, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return ioError(url, "sending the request", ec, timeout);

    // The buffer's maximum bounds what a server can make us hold while the header is parsed.
    beast::flat_buffer buffer(options.max_response_header_bytes + kBodyChunk);
    // buffer_body: the body lands in our own fixed chunk, so a Content-Length of any size
    // neither fails the read of the status nor makes the parser reserve memory for it.
    http::response_parser<http::buffer_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options.max_response_header_bytes));
    // Capped below, by what we keep. Not boost::none: Boost 1.74's parser compares a Content-Length
    // with an empty limit as if the limit were zero.
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    lowest.expires_at(deadline);
    co_await http::async_read_header(stream, buffer, parser,
                                     asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return ioError(url, "reading the answer", ec, timeout);
    HttpResponse response;
    response.status = static_cast<int>(parser.get().result_int());
    // The status is the answer. The body only helps to explain a refusal, so it is not read
    // after a 2xx, and otherwise only what arrives by the deadline, up to the cap: a body that
    // is too large, slow or cut short does not change the outcome.
    if (response.status >= 200 && response.status < 300) co_return response;
    char chunk[kBodyChunk];
    while (!parser.is_done() && response.body.size() < options.max_response_body_bytes) {
      parser.get().body().data = chunk;
      parser.get().body().size = sizeof chunk;
      co_await http::async_read(stream, buffer, parser,
                                asio::redirect_error(asio::use_awaitable, ec));
      if (ec == http::error::need_buffer) ec = {};
      response.body.append(chunk, sizeof chunk - parser.get().body().size);
      if (ec) break;
    }
    if (response.body.size() > options.max_response_body_bytes) {
      response.body.resize(options.max_response_body_bytes);
    }
    co_return response;
  }

  net::awaitable<Result> run(const HttpUrl& url, std::vector<asio::ip::address> addresses,
                             const http::request<http::string_body>& request,
                             Clock::time_point deadline, std::chrono::milliseconds timeout) {
    auto executor = co_await asio::this_coro::executor;
    beast::tcp_stream stream(executor);
    std::vector<tcp::endpoint> endpoints;
    uint32_t port = 0;
    absl::SimpleAtoi(url.port, &port);
    for (const auto& a : addresses) endpoints.emplace_back(a, static_cast<uint16_t>(port));
    beast::error_code ec;
    stream.expires_at(deadline);
    co_await stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return ioError(url, "connect", ec, timeout);
    if (!url.tls) co_return co_await exchange(stream, stream, url, request, deadline, timeout);

    beast::ssl_stream<beast::tcp_stream> tls_stream(std::move(stream), tls);
    SSL* ssl_handle = tls_stream.native_handle();
    boost::system::error_code not_literal;
    asio::ip::make_address(url.host, not_literal);
    // RFC 6066 §3: SNI carries host names only, never address literals.
    if (not_literal) SSL_set_tlsext_host_name(ssl_handle, url.host.c_str());
    if (options.verify_tls) {
      // RFC 9110 §4.3.4 / RFC 6125: the certificate must name the host we connected to.
      if (not_literal) {
        SSL_set1_host(ssl_handle, url.host.c_str());
      } else {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_handle), url.host.c_str());
      }
    }
    beast::get_lowest_layer(tls_stream).expires_at(deadline);
    co_await tls_stream.async_handshake(ssl::stream_base::client,
                                        asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      long verify = SSL_get_verify_result(ssl_handle);
      if (options.verify_tls && verify != X509_V_OK) {
        co_return absl::UnavailableError(absl::StrCat(
            url.redacted(), ": certificate not accepted: ", X509_verify_cert_error_string(verify)));
      }
      co_return ioError(url, "TLS handshake", ec, timeout);
    }
    co_return co_await exchange(tls_stream, beast::get_lowest_layer(tls_stream), url, request,
                                deadline, timeout);
  }
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() = default;

absl::StatusOr<std::unique_ptr<HttpClient>> HttpClient::create(const HttpClientOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  SSL_CTX* ctx = impl->tls.native_handle();
  // RFC 8996: TLS 1.0 and 1.1 are deprecated; receivers of alerts are our own infrastructure.
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (options.verify_tls) {
    boost::system::error_code ec;
    impl->tls.set_default_verify_paths(ec);
    if (!options.ca_file.empty()) {
      impl->tls.load_verify_file(options.ca_file, ec);
      if (ec) {
        return absl::InvalidArgumentError(
            absl::StrCat("cannot load trusted roots from ", options.ca_file, ": ", ec.message()));
      }
    }
    impl->tls.set_verify_mode(ssl::verify_peer);
  } else {
    impl->tls.set_verify_mode(ssl::verify_none);
  }
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

absl::StatusOr<HttpResponse> HttpClient::post(const HttpUrl& url, const HttpHeaders& headers,
                                              std::string body, std::chrono::milliseconds timeout) {
  Clock::time_point deadline = Clock::now() + timeout;
  auto addresses = lookupAddresses(url.host, deadline);
  if (!addresses.ok()) {
    return absl::Status(addresses.status().code(),
                        absl::StrCat(url.redacted(), ": ", addresses.status().message()));
  }
  http::request<http::string_body> request{http::verb::post, url.path, 11};
  request.set(http::field::host, url.authority);
  request.set(http::field::user_agent, "tlsaudit");
  for (const auto& [name, value] : headers) request.set(name, value);
  // One request per connection: a delivery is rare, and a fresh connection never meets a
  // keep-alive connection the server has half closed.
  request.set(http::field::connection, "close");
  request.body() = std::move(body);
  request.prepare_payload();

  Result result = absl::DeadlineExceededError(
      absl::StrCat(url.redacted(), ": no answer within ", timeout.count(), " ms"));
  asio::io_context io;
  asio::co_spawn(io, impl_->run(url, *std::move(addresses), request, deadline, timeout),
                 [&](std::exception_ptr error, Result r) {
                   if (error) {
                     result =
                         absl::InternalError(absl::StrCat(url.redacted(), ": HTTP client failed"));
                   } else {
                     result = std::move(r);
                   }
                 });
  // Every step has the deadline, so run() returns by then; the margin only guards against a
  // step that ignores it, whose coroutine is then destroyed with the io_context.
  io.run_for(timeout + std::chrono::seconds(1));
  return result;
}

}  // namespace tlsaudit::scanner::alerts
