// libFuzzer target: the TLS record layer and the server's first flight (ServerHello, HRR,
// Certificate, ServerKeyExchange, CertificateRequest, CertificateStatus, ServerHelloDone,
// alerts). Byte 0 picks the cipher suite context a ServerKeyExchange is read in, by making the
// parser see a prefix ServerHello; the rest is the peer's bytes.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "collectors/tls/server_flight.h"

using tlsaudit::collectors::tls::ParsedFlight;
using tlsaudit::collectors::tls::parseServerFlight;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> input(data, size);
  auto flight = parseServerFlight(input, false);
  // Invariants: a final answer never claims more than the caps allow.
  if (flight.certificates.size() > tlsaudit::collectors::tls::kMaxCertificates) abort();
  if (flight.state == ParsedFlight::State::kError && flight.error.empty()) abort();
  // Parsing a prefix must never be "more final" than an error-free longer input: feed halves.
  if (size > 1) {
    auto half = parseServerFlight(input.first(size / 2), false);
    if (half.state == ParsedFlight::State::kComplete &&
        flight.state == ParsedFlight::State::kIncomplete) {
      abort();
    }
  }
  return 0;
}
