// Shared libFuzzer driver for the STARTTLS dialogues. Input: byte 0 chooses the chunk size
// (0 = everything at once, n = n bytes per onData call), the rest is what the server sends.
// kSend is acted on by polling again, as the socket code does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "collectors/tls/starttls.h"

namespace starttls_fuzz {

using tlsaudit::collectors::tls::StarttlsDialogue;
using tlsaudit::collectors::tls::StarttlsProtocol;
using Kind = StarttlsDialogue::Step::Kind;

inline bool printable(const std::string& s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace starttls_fuzz

// Drives one dialogue over the fuzzer input; aborts when an invariant breaks.
inline int fuzzStarttlsDialogue(tlsaudit::collectors::tls::StarttlsProtocol protocol,
                                const uint8_t* data, size_t size) {
  using namespace starttls_fuzz;
  if (size == 0) return 0;
  size_t chunk = data[0] == 0 ? size : data[0];
  std::span<const uint8_t> rest(data + 1, size - 1);

  StarttlsDialogue dialogue(protocol, "example.org");
  StarttlsDialogue::Step step = dialogue.start();
  size_t fed = 0;
  int sends = 0;
  while (true) {
    if (step.kind == Kind::kSend) {
      // No dialogue has more than two things to say (SMTP EHLO + STARTTLS, XMPP header +
      // starttls), and none says nothing.
      if (++sends > 2 || step.to_send.empty()) abort();
      step = dialogue.onData({});
      continue;
    }
    if (step.kind != Kind::kNeedMore || rest.empty()) break;
    size_t n = chunk < rest.size() ? chunk : rest.size();
    step = dialogue.onData(rest.first(n));
    rest = rest.subspan(n);
    fed += n;
    if (fed > StarttlsDialogue::kMaxServerBytes && step.kind != Kind::kFailed) abort();
  }

  if (step.kind == Kind::kFailed && (step.error.empty() || !printable(step.error))) abort();
  if (dialogue.banner().size() > 200 || !printable(dialogue.banner())) abort();
  if (step.kind == Kind::kReady || step.kind == Kind::kFailed) {
    // Finished is final, whatever arrives next.
    StarttlsDialogue::Step after = dialogue.onData(std::span<const uint8_t>(data, 1));
    if (after.kind != Kind::kFailed || after.error != "dialogue finished") abort();
  }
  return 0;
}
