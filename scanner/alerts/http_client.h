// A small HTTP/1.1 client for alert sinks (Boost.Beast): one POST per connection, http or https
// with the server's certificate and name verified by OpenSSL, a deadline over every step
// (name lookup, connect, TLS handshake, write, read) and a cap on what the server may send back.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace tlsaudit::scanner::alerts {

struct HttpUrl {
  bool tls = false;  // https
  std::string host;  // name or address, without brackets
  std::string port;  // decimal; 80/443 when the URL has none
  std::string path;  // "/..." including the query; "/" when the URL has none
  // Host header value (RFC 9110 §7.2): the host as written, with the port when not default.
  std::string authority;
  // scheme://host:port, for messages: the path can carry a token (many webhook URLs do), so
  // it never appears in logs.
  std::string redacted() const;
};

// Parses an absolute http:// or https:// URL. Refuses user info (credentials belong in a
// header, which is never logged), fragments, spaces and control characters.
absl::StatusOr<HttpUrl> parseHttpUrl(std::string_view url);

struct HttpClientOptions {
  std::string ca_file;     // extra trusted roots (PEM) on top of the system store
  bool verify_tls = true;  // https: verify the chain and that it names the host
  size_t max_response_header_bytes = 16 * 1024;
  size_t max_response_body_bytes = 64 * 1024;
};

struct HttpResponse {
  int status = 0;
  std::string body;  // at most max_response_body_bytes; cut off (not an error) beyond it
};

// The outcome of a delivery: OK for a 2xx answer. Anything else is kUnavailable ("HTTP 503 from
// http://host:port: <start of the answer's body>") or the request's own error, and is retried.
// A 409 is retried too: with an Idempotency-Key it means the first attempt is still being
// processed (draft-ietf-httpapi-idempotency-key-header §2.7), not that it is done.
absl::Status acceptedOrError(const HttpUrl& url, const absl::StatusOr<HttpResponse>& response);

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// Used by one thread at a time; every call runs its own I/O on the calling thread and returns
// by the deadline (the sink's timeout), so it must not be called on an io_context thread.
class HttpClient {
 public:
  // Loads the trust store; kInvalidArgument when ca_file cannot be read.
  static absl::StatusOr<std::unique_ptr<HttpClient>> create(const HttpClientOptions& options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // POSTs `body` to `url` with `headers` (plus Host, Content-Length, Connection: close and a
  // User-Agent) and reads the answer. Any answer is a response, whatever its status; errors are
  // kUnavailable (lookup, connect, TLS, write, read failed) or kDeadlineExceeded, with a message
  // that names url.redacted() and never a header value or the body sent.
  absl::StatusOr<HttpResponse> post(const HttpUrl& url, const HttpHeaders& headers,
                                    std::string body, std::chrono::milliseconds timeout);

 private:
  struct Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tlsaudit::scanner::alerts
