// libFuzzer target: the XMPP (RFC 6120 §5) STARTTLS dialogue fed hostile server bytes.
#include "tests/fuzz/starttls_fuzz_driver.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzzStarttlsDialogue(tlsaudit::collectors::tls::StarttlsProtocol::kXmpp, data, size);
}
