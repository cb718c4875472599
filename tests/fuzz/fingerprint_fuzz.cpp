// libFuzzer target: signature matching over hostile evidence. The input is split at NUL bytes
// into the six evidence fields (sysObjectID, sysDescr, SIP agent, HTTP Server, HTTP title,
// certificate subject); identify() must stay bounded and hand out printable, capped text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "collectors/fingerprint/signatures.h"

namespace fp = tlsaudit::collectors::fingerprint;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string fields[6];
  size_t f = 0;
  for (size_t i = 0; i < size && f < 6; ++i) {
    if (data[i] == 0) {
      ++f;
    } else {
      fields[f].push_back(static_cast<char>(data[i]));
    }
  }
  fp::Evidence ev{fields[0], fields[1], fields[2], fields[3], fields[4], fields[5]};
  auto id = fp::SignatureDb::builtin().identify(ev);
  if (id) {
    for (const auto* s : {&id->vendor, &id->model, &id->firmware}) {
      if (s->size() > 128) abort();
      for (char c : *s) {
        if (c < 0x20 || c > 0x7e) abort();
      }
    }
  }
  return 0;
}
