#include "collectors/fingerprint/http_banner.h"

#include <algorithm>
#include <cctype>

#include "collectors/net/peer_text.h"

namespace tlsaudit::collectors::fingerprint {
namespace {

std::string_view view(std::span<const uint8_t> d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

size_t findIgnoreCase(std::string_view hay, std::string_view needle, size_t from = 0) {
  if (needle.empty() || hay.size() < needle.size()) return std::string_view::npos;
  for (size_t i = from; i + needle.size() <= hay.size(); ++i) {
    if (net::equalsIgnoreCase(hay.substr(i, needle.size()), needle)) return i;
  }
  return std::string_view::npos;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string decodeTitle(std::string_view raw) {
  std::string out;
  bool space = false;
  for (size_t i = 0; i < raw.size() && out.size() < 256; ++i) {
    char c = raw[i];
    if (c == '&') {
      // The few entities titles use (HTML Living Standard named character references).
      static constexpr std::pair<std::string_view, char> kEntities[] = {
          {"&amp;", '&'},  {"&lt;", '<'},    {"&gt;", '>'},  {"&quot;", '"'},
          {"&#39;", '\''}, {"&apos;", '\''}, {"&nbsp;", ' '}};
      bool matched = false;
      for (const auto& [name, ch] : kEntities) {
        if (raw.substr(i, name.size()) == name) {
          c = ch;
          i += name.size() - 1;
          matched = true;
          break;
        }
      }
      (void)matched;
    }
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return net::sanitisePeerText(out, 256);
}

}  // namespace

std::string buildHttpGet(std::string_view host) {
  std::string h(host);
  if (h.find(':') != std::string::npos && h.front() != '[') h = "[" + h + "]";  // RFC 3986 §3.2.2
  return "GET / HTTP/1.0\r\nHost: " + h +
         "\r\nUser-Agent: tlsaudit-discovery\r\nAccept: */*\r\nConnection: close\r\n\r\n";
}

bool httpTitleSettled(std::span<const uint8_t> data) {
  auto text = view(data);
  if (data.size() >= kMaxHttpBytes) return true;
  auto open = findIgnoreCase(text, "<title");
  if (open == std::string_view::npos)
    return findIgnoreCase(text, "<body") != std::string_view::npos;
  return findIgnoreCase(text, "</title", open) != std::string_view::npos;
}

std::optional<HttpBanner> parseHttpResponse(std::span<const uint8_t> data, bool final) {
  auto text = view(data.subspan(0, std::min(data.size(), kMaxHttpBytes)));
  size_t header_end = text.find("\r\n\r\n");
  size_t sep = 4;
  if (header_end == std::string_view::npos) {
    header_end = text.find("\n\n");
    sep = 2;
  }
  if (header_end == std::string_view::npos) {
    if (!final && data.size() < kMaxHttpBytes) return std::nullopt;
    header_end = text.size();
    sep = 0;
  }
  HttpBanner b;
  auto headers = text.substr(0, header_end);
  auto eol = headers.find('\n');
  auto status_line = trim(headers.substr(0, eol));
  b.status_line = net::sanitisePeerText(status_line, 256);
  // RFC 9112 §4: HTTP-version SP 3DIGIT SP reason.
  if (status_line.size() < 12 || status_line.substr(0, 5) != "HTTP/" || status_line[8] != ' ' ||
      !std::isdigit(static_cast<unsigned char>(status_line[9])) ||
      !std::isdigit(static_cast<unsigned char>(status_line[10])) ||
      !std::isdigit(static_cast<unsigned char>(status_line[11]))) {
    b.status = 0;
    return b;
  }
  b.status = (status_line[9] - '0') * 100 + (status_line[10] - '0') * 10 + (status_line[11] - '0');
  size_t pos = eol == std::string_view::npos ? headers.size() : eol + 1;
  int lines = 0;
  while (pos < headers.size() && lines++ < 200) {
    auto next = headers.find('\n', pos);
    auto line =
        trim(headers.substr(pos, next == std::string_view::npos ? headers.npos : next - pos));
    pos = next == std::string_view::npos ? headers.size() : next + 1;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    auto name = trim(line.substr(0, colon));
    auto value = trim(line.substr(colon + 1));
    if (net::equalsIgnoreCase(name, "server") && b.server.empty()) {
      b.server = net::sanitisePeerText(value, 256);
    } else if (net::equalsIgnoreCase(name, "www-authenticate")) {
      auto r = findIgnoreCase(value, "realm=\"");
      if (r != std::string_view::npos) {
        auto rest = value.substr(r + 7);
        b.www_authenticate_realm = net::sanitisePeerText(rest.substr(0, rest.find('"')), 128);
      }
    }
  }
  auto body = text.substr(std::min(text.size(), header_end + sep));
  auto open = findIgnoreCase(body, "<title");
  if (open != std::string_view::npos) {
    auto gt = body.find('>', open);
    if (gt != std::string_view::npos) {
      auto close = findIgnoreCase(body, "</title", gt);
      auto raw = body.substr(gt + 1, close == std::string_view::npos ? 512 : close - gt - 1);
      b.title = decodeTitle(raw.substr(0, 1024));
    }
  }
  return b;
}

}  // namespace tlsaudit::collectors::fingerprint
