// HTTP banner grabbing (RFC 9110/9112): the request we send and a parser for what comes back,
// keeping only what identifies a device: status, Server header and the HTML <title>. Pure byte
// code; the probe that moves the bytes lives in collectors/discovery.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace tlsaudit::collectors::fingerprint {

// "GET / HTTP/1.0" with Host (RFC 9112 §3.2), a User-Agent naming us and Connection: close.
std::string buildHttpGet(std::string_view host);

struct HttpBanner {
  int status = 0;                      // 0 when the data is not an HTTP response
  std::string status_line;             // sanitised
  std::string server;                  // Server header, sanitised, at most 256 characters
  std::string title;                   // <title> text, entities decoded, whitespace collapsed
  std::string www_authenticate_realm;  // realm="..." of WWW-Authenticate (devices name themselves)
};

// Bytes of a response we read at most (headers plus the start of the body).
inline constexpr size_t kMaxHttpBytes = 32 * 1024;

// Parses the response read so far. nullopt while the header block is incomplete and fewer than
// kMaxHttpBytes arrived; otherwise a banner (status 0 when it is not HTTP). `final` says the
// peer closed or the cap was reached, so an incomplete header block is parsed as it is.
std::optional<HttpBanner> parseHttpResponse(std::span<const uint8_t> data, bool final);

// True once `data` holds the whole title or enough that no title will follow.
bool httpTitleSettled(std::span<const uint8_t> data);

}  // namespace tlsaudit::collectors::fingerprint
