// The sinks' address parsers (webhook/Alertmanager URLs, syslog host:port): pure code, apart
// from the sockets, so the configuration fuzzer can build them.
#include <string>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "scanner/alerts/http_client.h"
#include "scanner/alerts/syslog_sink.h"

namespace tlsaudit::scanner::alerts {
namespace {

absl::Status invalidUrl(const char* why) { return absl::InvalidArgumentError(why); }

}  // namespace

std::string HttpUrl::redacted() const {
  bool v6 = host.find(':') != std::string::npos;
  return absl::StrCat(tls ? "https://" : "http://", v6 ? "[" : "", host, v6 ? "]" : "", ":", port);
}

absl::StatusOr<HttpUrl> parseHttpUrl(std::string_view text) {
  // Error messages never repeat the URL: it may carry a token in its path or query.
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F) return invalidUrl("contains a space or control character");
  }
  HttpUrl url;
  size_t sep = text.find("://");
  std::string scheme =
      absl::AsciiStrToLower(std::string(text.substr(0, sep == std::string_view::npos ? 0 : sep)));
  if (scheme == "https") {
    url.tls = true;
  } else if (scheme != "http") {
    return invalidUrl("must start with http:// or https://");
  }
  std::string_view rest = text.substr(sep + 3);
  size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view tail = end == std::string_view::npos ? "" : rest.substr(end);
  if (tail.find('#') != std::string_view::npos) {
    return invalidUrl("a fragment (#...) is not sent to servers");
  }
  if (authority.find('@') != std::string_view::npos) {
    return invalidUrl("user info (user:password@) is not allowed; put credentials in a header");
  }
  std::string_view host = authority, port;
  bool bracketed = authority.starts_with("[");
  if (bracketed) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return invalidUrl("unterminated [IPv6 address]");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return invalidUrl("unexpected text after ]");
      port = after.substr(1);
    }
  } else if (size_t colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.find(':') != std::string_view::npos) {
      return invalidUrl("an IPv6 address needs [brackets]");
    }
  }
  if (host.empty()) return invalidUrl("has no host");
  url.host = std::string(host);
  uint32_t port_number = url.tls ? 443 : 80;
  if (!port.empty() || authority.back() == ':') {
    if (!absl::SimpleAtoi(std::string(port), &port_number) || port_number == 0 ||
        port_number > 65535) {
      return invalidUrl("port must be 1..65535");
    }
  }
  url.port = std::to_string(port_number);
  url.path = tail.empty() ? "/" : (tail[0] == '?' ? "/" + std::string(tail) : std::string(tail));
  bool default_port = port_number == (url.tls ? 443u : 80u);
  url.authority = absl::StrCat(bracketed ? "[" : "", url.host, bracketed ? "]" : "",
                               default_port ? "" : absl::StrCat(":", port_number));
  return url;
}

absl::StatusOr<SyslogAddress> parseSyslogAddress(const std::string& address) {
  SyslogAddress out;
  std::string port;
  if (!address.empty() && address[0] == '[') {
    size_t close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      return absl::InvalidArgumentError("expected [IPv6 address]:port");
    }
    out.host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string::npos) return absl::InvalidArgumentError("expected host:port");
    out.host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (out.host.find(':') != std::string::npos) {
      return absl::InvalidArgumentError("an IPv6 address needs [brackets]: [::1]:514");
    }
  }
  uint32_t number = 0;
  if (out.host.empty()) return absl::InvalidArgumentError("expected host:port (no host)");
  if (!absl::SimpleAtoi(port, &number) || number == 0 || number > 65535) {
    return absl::InvalidArgumentError("port must be 1..65535");
  }
  out.port = static_cast<uint16_t>(number);
  return out;
}

}  // namespace tlsaudit::scanner::alerts
