// Opaque keyset page tokens: the sort key of the last row a page returned, versioned and
// tagged with the list it belongs to, so a token from another list or a forged one is refused
// instead of being used as a value.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace tlsaudit::storage {

// `list` names the list ("findings", "assets"...); `key` is the last row's sort key.
std::string encodePageToken(std::string_view list, std::string_view key);
// The key; kInvalidArgument when `token` was not made by encodePageToken for `list`.
absl::StatusOr<std::string> decodePageToken(std::string_view list, std::string_view token);
// decodePageToken for numeric keys (ids).
absl::StatusOr<int64_t> decodeIdPageToken(std::string_view list, std::string_view token);

// An (address, id) key as "ADDRESS|ID": the address is one IPv4 or IPv6 address in text form.
struct AddressIdKey {
  std::string address;
  int64_t id = 0;
};
std::string encodeAddressIdPageToken(std::string_view list, std::string_view address,
                                     std::string_view id);
absl::StatusOr<AddressIdKey> decodeAddressIdPageToken(std::string_view list,
                                                      std::string_view token);
// A key that is a SHA-256 in lowercase hex (64 digits).
absl::StatusOr<std::string> decodeSha256PageToken(std::string_view list, std::string_view token);

}  // namespace tlsaudit::storage
