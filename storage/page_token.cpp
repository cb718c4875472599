#include "storage/page_token.h"

#include <arpa/inet.h>

#include <charconv>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace tlsaudit::storage {

namespace {

absl::Status invalidToken() { return absl::InvalidArgumentError("invalid page token"); }

bool parsePositiveId(std::string_view text, int64_t& id) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  return ec == std::errc() && end == text.data() + text.size() && id > 0;
}

// One address as PostgreSQL's host() prints it; anything else would reach SQL as a cast error.
bool isAddress(const std::string& text) {
  unsigned char buf[16];
  return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

}  // namespace

std::string encodePageToken(std::string_view list, std::string_view key) {
  std::string raw = absl::StrCat("v1|", absl::string_view(list.data(), list.size()), "|",
                                 absl::string_view(key.data(), key.size()));
  return absl::WebSafeBase64Escape(raw);
}

absl::StatusOr<std::string> decodePageToken(std::string_view list, std::string_view token) {
  // Tokens come from API callers: the ones we issue are a few dozen bytes; refuse anything that
  // could not be one before decoding it.
  constexpr size_t kMaxTokenBytes = 1024;
  if (token.size() > kMaxTokenBytes) return absl::InvalidArgumentError("invalid page token");
  std::string raw;
  std::string prefix = absl::StrCat("v1|", absl::string_view(list.data(), list.size()), "|");
  if (!absl::WebSafeBase64Unescape(absl::string_view(token.data(), token.size()), &raw) ||
      raw.rfind(prefix, 0) != 0) {
    return absl::InvalidArgumentError("invalid page token");
  }
  return raw.substr(prefix.size());
}

absl::StatusOr<int64_t> decodeIdPageToken(std::string_view list, std::string_view token) {
  auto key = decodePageToken(list, token);
  if (!key.ok()) return key.status();
  int64_t id = 0;
  if (!parsePositiveId(*key, id)) return invalidToken();
  return id;
}

std::string encodeAddressIdPageToken(std::string_view list, std::string_view address,
                                     std::string_view id) {
  return encodePageToken(list, absl::StrCat(absl::string_view(address.data(), address.size()),
                                            "|", absl::string_view(id.data(), id.size())));
}

absl::StatusOr<AddressIdKey> decodeAddressIdPageToken(std::string_view list,
                                                      std::string_view token) {
  auto key = decodePageToken(list, token);
  if (!key.ok()) return key.status();
  size_t bar = key->rfind('|');
  if (bar == std::string::npos) return invalidToken();
  AddressIdKey out;
  out.address = key->substr(0, bar);
  if (!isAddress(out.address) ||
      !parsePositiveId(std::string_view(*key).substr(bar + 1), out.id)) {
    return invalidToken();
  }
  return out;
}

absl::StatusOr<std::string> decodeSha256PageToken(std::string_view list, std::string_view token) {
  auto key = decodePageToken(list, token);
  if (!key.ok()) return key.status();
  if (key->size() != 64) return invalidToken();
  for (char c : *key) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return invalidToken();
  }
  return key;
}

}  // namespace tlsaudit::storage
