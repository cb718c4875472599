// Page tokens come back from API callers: any text must decode to a key that passed its checks
// (an id above zero, one address, 64 hex digits) or to kInvalidArgument, never a crash.
#include <arpa/inet.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/page_token.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view token(reinterpret_cast<const char*>(data), size);
  using namespace tlsaudit::storage;
  if (auto id = decodeIdPageToken("findings", token); id.ok() && *id <= 0) __builtin_trap();
  if (auto key = decodeAddressIdPageToken("findings-by-address", token); key.ok()) {
    unsigned char buf[16];
    if (key->id <= 0) __builtin_trap();
    if (inet_pton(AF_INET, key->address.c_str(), buf) != 1 &&
        inet_pton(AF_INET6, key->address.c_str(), buf) != 1) {
      __builtin_trap();
    }
  }
  if (auto sha = decodeSha256PageToken("certificates", token); sha.ok() && sha->size() != 64) {
    __builtin_trap();
  }
  // The raw bytes as the key of a token: encode, decode, same key back.
  if (size <= 512) {
    auto back = decodePageToken("assets", encodePageToken("assets", token));
    if (!back.ok() || *back != token) __builtin_trap();
  }
  return 0;
}
