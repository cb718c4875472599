#include "collectors/tls/openssl_handshake.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>

namespace tlsaudit::collectors::tls {
namespace {

struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslDeleter {
  void operator()(SSL* s) const { SSL_free(s); }
};

constexpr size_t kMaxHandshakeBytes = 512 * 1024;  // what the server may send before we give up
constexpr size_t kReadChunk = 16 * 1024;

int exIndex() {
  static int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// Called by OpenSSL when the server sends a CertificateRequest: record what it asked for and
// send no certificate (the handshake then continues or is refused by the server; both are facts).
int onClientCertRequested(SSL* ssl, X509** /*cert*/, EVP_PKEY** /*key*/) {
  auto* result = static_cast<HandshakeResult*>(SSL_get_ex_data(ssl, exIndex()));
  if (!result) return 0;
  result->client_cert_requested = true;
  int n = SSL_get_sigalgs(ssl, -1, nullptr, nullptr, nullptr, nullptr, nullptr);
  for (int i = 0; i < n && i < 256; ++i) {
    unsigned char rsig = 0, rhash = 0;
    SSL_get_sigalgs(ssl, i, nullptr, nullptr, nullptr, &rsig, &rhash);
    result->client_sigalgs.push_back(static_cast<uint16_t>((rhash << 8) | rsig));
  }
  const STACK_OF(X509_NAME)* names = SSL_get_client_CA_list(ssl);
  for (int i = 0; names && i < sk_X509_NAME_num(names) && i < 1024; ++i) {
    unsigned char* der = nullptr;
    int len = i2d_X509_NAME(sk_X509_NAME_value(names, i), &der);
    if (len > 0) result->client_ca_names.emplace_back(der, der + len);
    OPENSSL_free(der);
  }
  return 0;
}

std::string opensslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

// Moves what OpenSSL wrote into its output BIO onto the socket.
net::awaitable<bool> flush(BIO* wbio, net::ProbeSocket& socket, std::chrono::milliseconds timeout) {
  char buf[kReadChunk];
  for (;;) {
    int n = BIO_read(wbio, buf, sizeof buf);
    if (n <= 0) co_return true;
    auto r = co_await socket.writeAll({reinterpret_cast<uint8_t*>(buf), static_cast<size_t>(n)},
                                      timeout);
    if (r != net::IoResult::kOk) co_return false;
  }
}

}  // namespace

net::awaitable<HandshakeResult> runOpensslHandshake(net::ProbeSocket& socket,
                                                    const HandshakeRequest& request,
                                                    std::chrono::milliseconds timeout) {
  HandshakeResult result;
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, SslCtxDeleter> ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    result.error = "SSL_CTX_new failed: " + opensslErrors();
    co_return result;
  }
  // Level 0 so that MD5/SHA-1 signatures, 1024-bit keys and TLS 1.0 can be observed.
  SSL_CTX_set_security_level(ctx.get(), 0);
  SSL_CTX_set_cipher_list(ctx.get(), "ALL:COMPLEMENTOFALL:@SECLEVEL=0");
  SSL_CTX_set_options(ctx.get(),
                      SSL_OP_LEGACY_SERVER_CONNECT | SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  if (request.min_version) SSL_CTX_set_min_proto_version(ctx.get(), request.min_version);
  if (request.max_version) SSL_CTX_set_max_proto_version(ctx.get(), request.max_version);
  if (!request.sigalgs.empty() && !SSL_CTX_set1_sigalgs_list(ctx.get(), request.sigalgs.c_str())) {
    result.error = "bad signature algorithm list: " + opensslErrors();
    co_return result;
  }
  SSL_CTX_set_client_cert_cb(ctx.get(), onClientCertRequested);
  static const unsigned char kAlpn[] = "\x02h2\x08http/1.1";
  static const unsigned char kAlpnHttp1[] = "\x08http/1.1";
  // An HTTP/1.0 request needs the server not to pick h2 (RFC 7301 §3.1).
  if (request.http_request) {
    SSL_CTX_set_alpn_protos(ctx.get(), kAlpnHttp1, sizeof kAlpnHttp1 - 1);
  } else {
    SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof kAlpn - 1);
  }

  std::unique_ptr<SSL, SslDeleter> ssl(SSL_new(ctx.get()));
  if (!ssl) {
    result.error = "SSL_new failed: " + opensslErrors();
    co_return result;
  }
  SSL_set_ex_data(ssl.get(), exIndex(), &result);
  if (!request.server_name.empty())
    SSL_set_tlsext_host_name(ssl.get(), request.server_name.c_str());
  SSL_set_tlsext_status_type(ssl.get(), TLSEXT_STATUSTYPE_ocsp);
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), rbio, wbio);  // the SSL owns both from here
  SSL_set_connect_state(ssl.get());

  size_t received = 0;
  std::vector<uint8_t> inbuf;
  // Drives one OpenSSL call to completion, moving bytes between its BIOs and the socket.
  auto drive = [&](auto&& op) -> net::awaitable<int> {
    for (;;) {
      ERR_clear_error();
      int ret = op();
      int err = SSL_get_error(ssl.get(), ret);
      if (!co_await flush(wbio, socket, timeout)) {
        result.error = "write failed: " + socket.lastError();
        co_return -1;
      }
      if (ret > 0) co_return ret;
      if (err != SSL_ERROR_WANT_READ) {
        std::string why = opensslErrors();
        result.error = why.empty() ? "TLS error " + std::to_string(err) : why;
        co_return -1;
      }
      inbuf.clear();
      auto r = co_await socket.readSome(inbuf, kReadChunk, timeout);
      if (r != net::IoResult::kOk) {
        result.error = std::string("read: ") + net::ioResultName(r);
        co_return -1;
      }
      received += inbuf.size();
      if (received > kMaxHandshakeBytes) {
        result.error = "server sent more than " + std::to_string(kMaxHandshakeBytes) + " bytes";
        co_return -1;
      }
      BIO_write(rbio, inbuf.data(), static_cast<int>(inbuf.size()));
    }
  };

  int hs = co_await drive([&] { return SSL_do_handshake(ssl.get()); });
  // The chain is known once the Certificate message was processed, even if the handshake then
  // failed (e.g. the server insisted on a client certificate).
  if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl.get())) {
    for (int i = 0; i < sk_X509_num(chain) && i < 32; ++i) {
      unsigned char* der = nullptr;
      int len = i2d_X509(sk_X509_value(chain, i), &der);
      if (len > 0) result.chain.emplace_back(der, der + len);
      OPENSSL_free(der);
    }
  }
  if (hs <= 0) co_return result;
  result.completed = true;
  result.version = SSL_version(ssl.get());
  if (const SSL_CIPHER* c = SSL_get_current_cipher(ssl.get())) {
    result.cipher_suite = static_cast<uint16_t>(SSL_CIPHER_get_protocol_id(c));
  }
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(ssl.get(), &alpn, &alpn_len);
  if (alpn && alpn_len) result.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  const unsigned char* ocsp = nullptr;
  result.ocsp_stapled = SSL_get_tlsext_status_ocsp_resp(ssl.get(), &ocsp) > 0;

  if (request.sip_options) {
    std::string msg = fingerprint::buildSipOptions(*request.sip_options);
    int w = co_await drive(
        [&] { return SSL_write(ssl.get(), msg.data(), static_cast<int>(msg.size())); });
    if (w <= 0) {
      result.sip_error = "sending OPTIONS failed: " + result.error;
      result.error.clear();
      co_return result;
    }
    std::vector<uint8_t> response;
    for (;;) {
      char buf[4096];
      int n = co_await drive([&] { return SSL_read(ssl.get(), buf, sizeof buf); });
      if (n <= 0) {
        result.sip_error = "no SIP response: " + result.error;
        result.error.clear();
        break;
      }
      response.insert(response.end(), buf, buf + n);
      if (auto parsed = fingerprint::parseSipResponse(response)) {
        result.sip = std::move(parsed);
        break;
      }
    }
  }
  if (request.http_request) {
    const std::string& msg = *request.http_request;
    int w = co_await drive(
        [&] { return SSL_write(ssl.get(), msg.data(), static_cast<int>(msg.size())); });
    if (w <= 0) {
      result.http_error = "sending the HTTP request failed: " + result.error;
      result.error.clear();
      co_return result;
    }
    std::vector<uint8_t> response;
    bool closed = false;
    while (response.size() < fingerprint::kMaxHttpBytes) {
      char buf[4096];
      int n = co_await drive([&] { return SSL_read(ssl.get(), buf, sizeof buf); });
      if (n <= 0) {
        closed = true;
        result.error.clear();
        break;
      }
      response.insert(response.end(), buf, buf + n);
      auto parsed = fingerprint::parseHttpResponse(response, false);
      if (parsed && fingerprint::httpTitleSettled(response)) break;
    }
    result.http = fingerprint::parseHttpResponse(response, true);
    if (response.empty() && closed) result.http_error = "no HTTP response";
  }
  co_return result;
}

}  // namespace tlsaudit::collectors::tls
