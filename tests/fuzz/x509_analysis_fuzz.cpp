// libFuzzer target: certificates and CA names a server presents, through our OpenSSL-based
// analysis (the DER is hostile; OpenSSL parses it, our code must survive whatever it returns).
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "collectors/tls/x509_analysis.h"

using namespace tlsaudit::collectors::tls;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto store = TrustStore::load({}, false);
  std::span<const uint8_t> input(data, size);
  (void)analyzeCertificate(input);
  (void)formatDistinguishedName(input);
  // A chain of the input split in two: leaf and "intermediate".
  std::vector<std::vector<uint8_t>> chain = {std::vector<uint8_t>(data, data + size / 2),
                                             std::vector<uint8_t>(data + size / 2, data + size)};
  if (store.ok())
    (void)analyzeChain(chain, **store, "phone.example", std::chrono::system_clock::now());
  return 0;
}
