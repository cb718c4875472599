// libFuzzer target: the HTTP banner parser (status line, Server, WWW-Authenticate realm,
// <title>) on hostile responses, as complete and as partial reads.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "collectors/fingerprint/http_banner.h"

namespace fp = tlsaudit::collectors::fingerprint;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> bytes(data, size);
  for (bool final : {false, true}) {
    auto b = fp::parseHttpResponse(bytes, final);
    if (final && !b) abort();  // a final read always yields a verdict
    if (!b) continue;
    if (b->status != 0 && (b->status < 0 || b->status > 999)) abort();
    if (b->server.size() > 256 || b->title.size() > 256) abort();
    for (const auto* s : {&b->server, &b->title, &b->status_line, &b->www_authenticate_realm}) {
      for (char c : *s) {
        if (c < 0x20 || c > 0x7e) abort();
      }
    }
  }
  (void)fp::httpTitleSettled(bytes);
  return 0;
}
