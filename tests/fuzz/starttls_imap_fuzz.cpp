// libFuzzer target: the IMAP (RFC 3501 §6.2.1) STARTTLS dialogue fed hostile server bytes.
#include "tests/fuzz/starttls_fuzz_driver.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzzStarttlsDialogue(tlsaudit::collectors::tls::StarttlsProtocol::kImap, data, size);
}
