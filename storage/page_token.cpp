#include "storage/page_token.h"

#include <charconv>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace tlsaudit::storage {

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
  auto [end, ec] = std::from_chars(key->data(), key->data() + key->size(), id);
  if (ec != std::errc() || end != key->data() + key->size() || id <= 0) {
    return absl::InvalidArgumentError("invalid page token");
  }
  return id;
}

}  // namespace tlsaudit::storage
