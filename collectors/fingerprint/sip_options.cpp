#include "collectors/fingerprint/sip_options.h"

#include <algorithm>

#include "collectors/net/peer_text.h"

namespace tlsaudit::collectors::fingerprint {
namespace {

using net::asciiLower;
using net::equalsIgnoreCase;

std::string sanitise(std::string_view text, size_t max_chars) {
  return net::sanitisePeerText(text, max_chars);
}

// Longest header value kept (SipResponse documents the cap).
constexpr size_t kMaxValueChars = 256;
// The placeholder host for fields the caller left empty: RFC 6761 §6.4 reserves ".invalid".
constexpr std::string_view kFallbackHost = "tlsaudit.invalid";

char asciiUpper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool isAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// RFC 3261 §25.1 `token` characters: what branch and tag may hold.
bool isTokenChar(char c) {
  return isAlnum(c) || std::string_view("-.!%*_+`'~").find(c) != std::string_view::npos;
}

// Request fields come from our own configuration and generators, but a stray CR/LF or space
// would still split or corrupt a header line, so each field keeps only what its grammar allows.
template <typename Pred>
std::string keepOnly(std::string_view text, Pred allowed) {
  std::string out;
  for (char c : text) {
    if (allowed(c)) out.push_back(c);
  }
  return out;
}

std::string hostField(std::string_view host) {
  // RFC 3261 §25.1 hostname / IPv4address / IPv6reference characters.
  std::string clean =
      keepOnly(host, [](char c) { return isAlnum(c) || c == '.' || c == '-' || c == ':'; });
  if (clean.empty()) return std::string(kFallbackHost);
  // RFC 3261 §19.1.1 / RFC 5118 §4.1: an IPv6 address appears in brackets in a SIP URI and Via.
  if (clean.find(':') != std::string::npos) return "[" + clean + "]";
  return clean;
}

std::string hostPort(std::string_view host, uint16_t port) {
  std::string out = hostField(host);
  if (port != 0) out += ":" + std::to_string(port);
  return out;
}

std::string tokenField(std::string_view text, std::string_view fallback) {
  std::string clean = keepOnly(text, isTokenChar);
  return clean.empty() ? std::string(fallback) : clean;
}

std::string_view trim(std::string_view s) {
  size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  size_t end = s.find_last_not_of(" \t");
  return s.substr(begin, end - begin + 1);
}

SipResponse problem(std::string what) {
  SipResponse response;
  response.status_line = std::move(what);
  return response;
}

// RFC 3261 §7.2: Status-Line = SIP-Version SP Status-Code SP Reason-Phrase; the version is
// compared case-insensitively (§7.1) and Status-Code is three digits, 1xx to 6xx (§21).
int parseStatusLine(std::string_view line) {
  constexpr std::string_view kVersion = "SIP/2.0 ";
  if (line.size() < kVersion.size() + 3 ||
      !equalsIgnoreCase(line.substr(0, kVersion.size()), kVersion)) {
    return 0;
  }
  std::string_view code = line.substr(kVersion.size(), 3);
  if (code[0] < '1' || code[0] > '6' || code[1] < '0' || code[1] > '9' || code[2] < '0' ||
      code[2] > '9') {
    return 0;
  }
  if (line.size() > kVersion.size() + 3 && line[kVersion.size() + 3] != ' ') return 0;
  return (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
}

}  // namespace

std::string buildSipOptions(const SipOptionsRequest& request) {
  std::string transport = keepOnly(request.transport, isAlnum);
  std::transform(transport.begin(), transport.end(), transport.begin(), asciiUpper);
  if (transport.empty()) transport = "TLS";
  std::string transport_param = transport;
  std::transform(transport_param.begin(), transport_param.end(), transport_param.begin(),
                 asciiLower);

  std::string target = "sip:" + hostPort(request.target_host, request.target_port);
  std::string local = hostPort(request.local_host, request.local_port);
  // RFC 3261 §8.1.1.4: Call-ID is a `word` (printable, no spaces).
  std::string call_id = keepOnly(request.call_id, [](char c) { return c > 0x20 && c < 0x7f; });
  if (call_id.empty()) call_id = "tlsaudit-options";

  std::string out;
  // RFC 3261 §11.1: OPTIONS is addressed like any request; the Request-URI is the target.
  out += "OPTIONS " + target + " SIP/2.0\r\n";
  // RFC 3261 §8.1.1.7: the branch starts with the magic cookie z9hG4bK; RFC 3581 §3: rport asks
  // for the response to come back to our source port through NAT.
  out += "Via: SIP/2.0/" + transport + " " + local + ";branch=z9hG4bK" +
         tokenField(request.branch, "tlsaudit") + ";rport\r\n";
  out += "Max-Forwards: 70\r\n";  // RFC 3261 §8.1.1.6
  out += "From: <sip:tlsaudit@" + hostField(request.local_host) +
         ">;tag=" + tokenField(request.tag, "tlsaudit") + "\r\n";
  out += "To: <" + target + ">\r\n";
  out += "Call-ID: " + call_id + "\r\n";
  out += "CSeq: 1 OPTIONS\r\n";
  out += "Contact: <sip:tlsaudit@" + local + ";transport=" + transport_param + ">\r\n";
  out += "Accept: application/sdp\r\n";  // RFC 3261 §11.1 example
  out += "User-Agent: tlsaudit\r\n";
  out += "Content-Length: 0\r\n";
  out += "\r\n";
  return out;
}

std::optional<SipResponse> parseSipResponse(std::span<const uint8_t> data) {
  std::string_view all(reinterpret_cast<const char*>(data.data()), data.size());
  // Only the first kMaxSipHeaderBytes are ever looked at, however much arrived.
  std::string_view text = all.substr(0, kMaxSipHeaderBytes);

  // RFC 3261 §7.5: CRLFs before the start line are skipped (RFC 5626 §4.4.1 keep-alives).
  size_t pos = text.find_first_not_of("\r\n");
  if (pos != std::string_view::npos) {
    // Fail early on anything that cannot become a SIP response (TLS alerts, HTTP, a request).
    constexpr std::string_view kPrefix = "SIP/";
    std::string_view head = text.substr(pos, kPrefix.size());
    if (!equalsIgnoreCase(head, kPrefix.substr(0, head.size()))) {
      return problem("not a SIP response: " + sanitise(text.substr(pos), 64));
    }
  }

  std::string status_line;
  std::string user_agent;
  std::string server;
  std::string* current = nullptr;  // header value a continuation line extends
  bool first = true;
  while (true) {
    if (pos == std::string_view::npos || pos >= text.size()) pos = text.size();
    size_t lf = text.find('\n', pos);
    if (lf == std::string_view::npos) {
      if (all.size() > kMaxSipHeaderBytes) {
        return problem("SIP header block larger than " + std::to_string(kMaxSipHeaderBytes) +
                       " bytes");
      }
      return std::nullopt;
    }
    std::string_view line = text.substr(pos, lf - pos);
    pos = lf + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (first) {
      first = false;
      status_line = std::string(line);
      continue;
    }
    if (line.empty()) break;  // RFC 3261 §7: an empty line ends the header block
    // RFC 3261 §7.3.1: a line starting with whitespace continues the previous header value.
    if (line.front() == ' ' || line.front() == '\t') {
      if (current != nullptr && current->size() < kMaxValueChars) {
        *current += " ";
        *current += trim(line);
      }
      continue;
    }
    current = nullptr;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // not a header; tolerated
    // RFC 3261 §7.3.1: header names are case-insensitive; HCOLON allows whitespace before ':'.
    std::string_view name = trim(line.substr(0, colon));
    std::string_view value = trim(line.substr(colon + 1));
    // Neither header has a compact form (RFC 3261 §20); the first occurrence wins.
    std::string* target = nullptr;
    if (equalsIgnoreCase(name, "User-Agent")) target = &user_agent;
    if (equalsIgnoreCase(name, "Server")) target = &server;
    if (target != nullptr && target->empty()) {
      *target = std::string(value.substr(0, kMaxValueChars));
      current = target;
    }
  }

  SipResponse response;
  response.status_code = parseStatusLine(status_line);
  if (response.status_code == 0) {
    return problem("not a SIP status line: " + sanitise(status_line, 64));
  }
  response.status_line = sanitise(status_line, kMaxValueChars);
  response.user_agent = sanitise(trim(user_agent), kMaxValueChars);
  response.server = sanitise(trim(server), kMaxValueChars);
  return response;
}

}  // namespace tlsaudit::collectors::fingerprint
