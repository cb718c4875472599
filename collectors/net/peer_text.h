// Text a network peer sends (banners, SIP headers, STARTTLS replies) before it reaches reports
// and logs. Pure helpers, safe from any thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

namespace tlsaudit::net {

inline char asciiLower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

inline bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return asciiLower(x) == asciiLower(y);
         });
}

// Printable ASCII only (tab becomes a space, anything else '?'), at most max_chars, so peer
// text cannot forge log lines or send terminal escapes.
inline std::string sanitisePeerText(std::string_view text, size_t max_chars) {
  std::string out;
  for (char c : text) {
    if (out.size() >= max_chars) break;
    if (c == '\t') {
      out.push_back(' ');
    } else if (c >= 0x20 && c <= 0x7e) {
      out.push_back(c);
    } else {
      out.push_back('?');
    }
  }
  return out;
}

}  // namespace tlsaudit::net
