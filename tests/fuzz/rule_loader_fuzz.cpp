// libFuzzer target: the loaders of users' YAML files. The input is read as a rule file, a
// profile (then compiled) and a waivers file; every outcome must be a value or a clear error.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "rules/policy.h"
#include "rules/waivers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  static const auto* shipped = [] {
    auto lib = tlsaudit::rules::PolicyLibrary::shipped();
    if (!lib.ok()) __builtin_trap();
    return new tlsaudit::rules::PolicyLibrary(*std::move(lib));
  }();
  tlsaudit::rules::PolicyLibrary lib = *shipped;
  if (lib.addText(text, "fuzz.yaml", true).ok()) {
    // Profiles this input added (or replaced): compiling the shipped ones again teaches nothing.
    for (const auto* p : lib.profiles()) {
      if (shipped->profile(p->id) != p) (void)lib.compile({p->id});
    }
  }
  if (auto w = tlsaudit::rules::parseWaivers(text, "fuzz.yaml"); w.ok()) {
    (void)tlsaudit::rules::expiredWaivers(*w, 1780272000);
    tlsaudit::v1::Finding f;
    f.set_rule_id("cert-sig-md5");
    f.set_asset("10.20.3.4");
    (void)tlsaudit::rules::applyWaivers(*w, 1780272000, tlsaudit::v1::Asset(), 443, f);
  }
  return 0;
}
