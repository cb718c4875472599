// libFuzzer target: the answer to an SSLv2 CLIENT-HELLO (SSLv2 SERVER-HELLO / ERROR records, or
// TLS records from servers that answer an SSLv2 hello in TLS).
#include <cstdint>
#include <cstdlib>

#include "collectors/tls/server_flight.h"

using tlsaudit::collectors::tls::ParsedFlight;
using tlsaudit::collectors::tls::parseServerFlight;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto flight = parseServerFlight({data, size}, true);
  if (flight.ssl2_hello) {
    if (flight.ssl2_hello->certificate.size() > 0xFFFF) abort();
    if (flight.ssl2_hello->cipher_specs.size() > 0xFFFF / 3) abort();
  }
  if (flight.state == ParsedFlight::State::kError && flight.error.empty()) abort();
  return 0;
}
