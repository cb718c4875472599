// A real TLS handshake through OpenSSL at security level 0, over an already connected probe
// socket (after any STARTTLS dialogue). Used where our own ClientHello engine cannot see the
// answer: TLS 1.3 encrypts certificates, CertificateRequest and EncryptedExtensions; and SIP
// over TLS needs a finished handshake before OPTIONS can be sent.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "collectors/fingerprint/http_banner.h"
#include "collectors/fingerprint/sip_options.h"
#include "collectors/net/probe_socket.h"

namespace tlsaudit::collectors::tls {

struct HandshakeRequest {
  int min_version = 0;      // OpenSSL version constant (TLS1_VERSION ...), 0 = lowest
  int max_version = 0;      // 0 = highest
  std::string sigalgs;      // OpenSSL signature algorithm list, empty = OpenSSL's default
  std::string server_name;  // SNI, empty = none
  std::optional<fingerprint::SipOptionsRequest> sip_options;  // send OPTIONS after the handshake
  std::optional<std::string> http_request;  // send this (e.g. buildHttpGet) and read a banner
};

struct HandshakeResult {
  bool completed = false;
  std::string error;  // why it did not complete
  int version = 0;    // OpenSSL version constant
  uint16_t cipher_suite = 0;
  std::vector<std::vector<uint8_t>> chain;  // DER, as presented
  bool client_cert_requested = false;
  std::vector<uint16_t> client_sigalgs;               // from the CertificateRequest
  std::vector<std::vector<uint8_t>> client_ca_names;  // DER names
  std::string alpn;
  bool ocsp_stapled = false;
  std::optional<fingerprint::SipResponse> sip;
  std::string sip_error;
  std::optional<fingerprint::HttpBanner> http;
  std::string http_error;
};

// Runs the handshake with `timeout` per I/O step on `socket` (which it does not close).
net::awaitable<HandshakeResult> runOpensslHandshake(net::ProbeSocket& socket,
                                                    const HandshakeRequest& request,
                                                    std::chrono::milliseconds timeout);

}  // namespace tlsaudit::collectors::tls
