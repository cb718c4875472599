#include "collectors/tls/starttls.h"

#include <algorithm>
#include <array>
#include <utility>

#include "collectors/net/peer_text.h"

namespace tlsaudit::collectors::tls {
namespace {

using net::asciiLower;
using net::equalsIgnoreCase;

std::string sanitise(std::string_view text, size_t max_chars) {
  return net::sanitisePeerText(text, max_chars);
}

using Step = StarttlsDialogue::Step;

constexpr size_t kMaxBannerChars = 200;
// Enough of a refusal to explain it in a report without quoting pages of server prose.
constexpr size_t kMaxReplyTextChars = 300;

// States shared by the line protocols: the greeting is awaited before start() changes anything,
// so the server-speaks-first dialogues begin in kAwaitGreeting.
constexpr int kAwaitGreeting = 0;
constexpr int kAwaitEhlo = 1;
constexpr int kAwaitStarttls = 2;
// Client-speaks-first dialogues (LDAP, XMPP, PostgreSQL) after start().
constexpr int kAwaitFeatures = 1;  // XMPP
constexpr int kAwaitProceed = 2;   // XMPP
constexpr int kAwaitResponse = 1;  // LDAP, PostgreSQL

// RFC 4511 §4.14.1: the StartTLS extended operation's requestName.
constexpr std::string_view kLdapStartTlsOid = "1.3.6.1.4.1.1466.20037";
// RFC 4511 §4.2 / X.690: LDAPMessage is a universal constructed SEQUENCE.
constexpr uint8_t kBerSequence = 0x30;
constexpr uint8_t kBerInteger = 0x02;
constexpr uint8_t kBerOctetString = 0x04;
constexpr uint8_t kBerEnumerated = 0x0a;
// RFC 4511 §4.12: ExtendedRequest ::= [APPLICATION 23], ExtendedResponse ::= [APPLICATION 24],
// both constructed; requestName is [0] primitive.
constexpr uint8_t kLdapExtendedRequest = 0x77;
constexpr uint8_t kLdapExtendedResponse = 0x78;
constexpr uint8_t kLdapRequestName = 0x80;
// The messageID we send; 0 is reserved for unsolicited notifications (RFC 4511 §4.4).
constexpr uint32_t kLdapMessageId = 1;

// RFC 6120 §5.4.2.1 / §5.4.2.3.
constexpr std::string_view kXmppTlsNamespace = "urn:ietf:params:xml:ns:xmpp-tls";

// PostgreSQL protocol, "SSLRequest": Int32 length 8, Int32 code 80877103 (0x04D2162F).
constexpr std::array<uint8_t, 8> kPostgresSslRequest = {0x00, 0x00, 0x00, 0x08,
                                                        0x04, 0xd2, 0x16, 0x2f};

// First whitespace-delimited word of `s` (after leading spaces) and the rest after it.
std::pair<std::string_view, std::string_view> splitWord(std::string_view s) {
  size_t start = s.find_first_not_of(' ');
  if (start == std::string_view::npos) return {{}, {}};
  s.remove_prefix(start);
  size_t end = s.find(' ');
  if (end == std::string_view::npos) return {s, {}};
  return {s.substr(0, end), s.substr(end + 1)};
}

std::string hexByte(uint8_t b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  return {'0', 'x', kDigits[b >> 4], kDigits[b & 0xf]};
}

std::string xmlAttributeEscape(std::string_view value) {
  std::string out;
  for (char c : value) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        // Control characters are not allowed in XML 1.0 (§2.2) even when escaped.
        if (static_cast<unsigned char>(c) >= 0x20) out.push_back(c);
    }
  }
  return out;
}

// RFC 4511 §4.1.9 and Appendix A.
std::string_view ldapResultName(uint32_t code) {
  switch (code) {
    case 0:
      return "success";
    case 1:
      return "operationsError";
    case 2:
      return "protocolError";
    case 3:
      return "timeLimitExceeded";
    case 4:
      return "sizeLimitExceeded";
    case 7:
      return "authMethodNotSupported";
    case 8:
      return "strongerAuthRequired";
    case 10:
      return "referral";
    case 11:
      return "adminLimitExceeded";
    case 12:
      return "unavailableCriticalExtension";
    case 13:
      return "confidentialityRequired";
    case 48:
      return "inappropriateAuthentication";
    case 49:
      return "invalidCredentials";
    case 50:
      return "insufficientAccessRights";
    case 51:
      return "busy";
    case 52:
      return "unavailable";
    case 53:
      return "unwillingToPerform";
    case 54:
      return "loopDetect";
    case 80:
      return "other";
    default:
      return "unknown";
  }
}

// Minimal BER reader (X.690 §8.1) for the few elements of an LDAP ExtendedResponse.
enum class BerStatus { kOk, kNeedMore, kBad };

struct BerHeader {
  uint8_t tag = 0;
  size_t header_size = 0;
  size_t length = 0;
};

BerStatus readBerHeader(std::span<const uint8_t> in, BerHeader& out) {
  if (in.empty()) return BerStatus::kNeedMore;
  out.tag = in[0];
  // High tag numbers (X.690 §8.1.2.4) never occur in LDAP's ASN.1.
  if ((out.tag & 0x1f) == 0x1f) return BerStatus::kBad;
  if (in.size() < 2) return BerStatus::kNeedMore;
  uint8_t first = in[1];
  if (first < 0x80) {
    out.header_size = 2;
    out.length = first;
  } else {
    // 0x80 is the indefinite form, which RFC 4511 §5.1 forbids; more than four length octets
    // would describe something far beyond kMaxServerBytes.
    size_t octets = first & 0x7f;
    if (octets == 0 || octets > 4) return BerStatus::kBad;
    if (in.size() < 2 + octets) return BerStatus::kNeedMore;
    size_t length = 0;
    for (size_t i = 0; i < octets; ++i) length = (length << 8) | in[2 + i];
    out.header_size = 2 + octets;
    out.length = length;
  }
  if (out.length > StarttlsDialogue::kMaxServerBytes) return BerStatus::kBad;
  return BerStatus::kOk;
}

// Reads one whole element of a complete message; false when it is malformed or overruns `in`.
bool readBerElement(std::span<const uint8_t>& in, uint8_t& tag, std::span<const uint8_t>& value) {
  BerHeader header;
  if (readBerHeader(in, header) != BerStatus::kOk) return false;
  if (header.length > in.size() - header.header_size) return false;
  tag = header.tag;
  value = in.subspan(header.header_size, header.length);
  in = in.subspan(header.header_size + header.length);
  return true;
}

// messageID is 0..maxInt (RFC 4511 §4.1.1) and resultCode a small ENUMERATED: both fit four
// two's-complement octets and are never negative.
bool readBerNonNegative(std::span<const uint8_t> value, uint32_t& out) {
  if (value.empty() || value.size() > 4 || (value[0] & 0x80) != 0) return false;
  out = 0;
  for (uint8_t b : value) out = (out << 8) | b;
  return true;
}

std::vector<uint8_t> ldapStartTlsRequest() {
  std::vector<uint8_t> name(kLdapStartTlsOid.begin(), kLdapStartTlsOid.end());
  std::vector<uint8_t> op = {kLdapExtendedRequest, static_cast<uint8_t>(2 + name.size()),
                             kLdapRequestName, static_cast<uint8_t>(name.size())};
  op.insert(op.end(), name.begin(), name.end());
  std::vector<uint8_t> message = {kBerSequence, static_cast<uint8_t>(3 + op.size()), kBerInteger,
                                  0x01, static_cast<uint8_t>(kLdapMessageId)};
  message.insert(message.end(), op.begin(), op.end());
  return message;
}

std::string_view localName(std::string_view qualified) {
  size_t colon = qualified.find(':');
  return colon == std::string_view::npos ? qualified : qualified.substr(colon + 1);
}

}  // namespace

std::optional<StarttlsProtocol> parseStarttlsProtocol(std::string_view name) {
  static constexpr std::pair<std::string_view, StarttlsProtocol> kNames[] = {
      {"", StarttlsProtocol::kNone},
      {"none", StarttlsProtocol::kNone},
      {"smtp", StarttlsProtocol::kSmtp},
      {"imap", StarttlsProtocol::kImap},
      {"pop3", StarttlsProtocol::kPop3},
      {"ftp", StarttlsProtocol::kFtp},
      {"ldap", StarttlsProtocol::kLdap},
      {"xmpp", StarttlsProtocol::kXmpp},
      {"postgres", StarttlsProtocol::kPostgres},
  };
  for (const auto& [text, protocol] : kNames) {
    if (equalsIgnoreCase(name, text)) return protocol;
  }
  return std::nullopt;
}

std::string_view starttlsName(StarttlsProtocol protocol) {
  switch (protocol) {
    case StarttlsProtocol::kNone:
      return "none";
    case StarttlsProtocol::kSmtp:
      return "smtp";
    case StarttlsProtocol::kImap:
      return "imap";
    case StarttlsProtocol::kPop3:
      return "pop3";
    case StarttlsProtocol::kFtp:
      return "ftp";
    case StarttlsProtocol::kLdap:
      return "ldap";
    case StarttlsProtocol::kXmpp:
      return "xmpp";
    case StarttlsProtocol::kPostgres:
      return "postgres";
  }
  return "none";
}

StarttlsProtocol starttlsForPort(uint16_t port) {
  switch (port) {
    case 25:   // RFC 5321 §4.5.4.2 (relay)
    case 587:  // RFC 6409 §3.1 (submission)
      return StarttlsProtocol::kSmtp;
    case 143:
      return StarttlsProtocol::kImap;  // RFC 3501 §2.1
    case 110:
      return StarttlsProtocol::kPop3;  // RFC 1939 §3
    case 21:
      return StarttlsProtocol::kFtp;  // IANA "ftp" (control connection)
    case 389:
      return StarttlsProtocol::kLdap;  // RFC 4511 §5.2
    case 5222:                         // RFC 6120 §14.7 (client-to-server)
    case 5269:                         // RFC 6120 §14.7 (server-to-server)
      return StarttlsProtocol::kXmpp;
    case 5432:
      return StarttlsProtocol::kPostgres;  // IANA "postgresql"
    default:
      return StarttlsProtocol::kNone;
  }
}

StarttlsDialogue::StarttlsDialogue(StarttlsProtocol protocol, std::string server_name,
                                   std::string client_name)
    : protocol_(protocol), server_name_(std::move(server_name)) {
  // The EHLO argument goes onto the wire verbatim: a space or CR/LF in configuration must not
  // turn into a second SMTP command.
  for (char c : client_name) {
    if (c > 0x20 && c < 0x7f) client_name_.push_back(c);
  }
  if (client_name_.empty()) client_name_ = "tlsaudit.invalid";
}

Step StarttlsDialogue::start() {
  if (done_) return Step{Step::Kind::kFailed, {}, "dialogue finished"};
  if (started_) return fail("start() called twice");
  started_ = true;
  switch (protocol_) {
    case StarttlsProtocol::kNone:
      return ready();
    case StarttlsProtocol::kLdap: {
      state_ = kAwaitResponse;
      Step step;
      step.kind = Step::Kind::kSend;
      step.to_send = ldapStartTlsRequest();
      return step;
    }
    case StarttlsProtocol::kXmpp:
      state_ = kAwaitFeatures;
      // RFC 6120 §4.2 and §4.7.2: the initial stream header; `to` names the service we want.
      return send(
          "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          "xmlns:stream='http://etherx.jabber.org/streams' to='" +
          xmlAttributeEscape(server_name_) + "' version='1.0'>");
    case StarttlsProtocol::kPostgres: {
      state_ = kAwaitResponse;
      Step step;
      step.kind = Step::Kind::kSend;
      step.to_send.assign(kPostgresSslRequest.begin(), kPostgresSslRequest.end());
      return step;
    }
    default:
      return Step{};  // the server speaks first
  }
}

Step StarttlsDialogue::onData(std::span<const uint8_t> data) {
  if (done_) return Step{Step::Kind::kFailed, {}, "dialogue finished"};
  if (!started_) return fail("onData() called before start()");
  if (data.size() > kMaxServerBytes - received_total_) {
    received_total_ = kMaxServerBytes;
    return fail("server sent more than " + std::to_string(kMaxServerBytes) +
                " bytes during STARTTLS");
  }
  received_total_ += data.size();
  // Compact only when the consumed prefix is at least as large as what remains, so feeding a
  // long line byte by byte stays linear.
  if (pos_ > 0 && pos_ >= buffer_.size() - pos_) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ = 0;
  }
  buffer_.insert(buffer_.end(), data.begin(), data.end());

  Step step;
  switch (protocol_) {
    case StarttlsProtocol::kSmtp:
      step = smtp();
      break;
    case StarttlsProtocol::kImap:
      step = imap();
      break;
    case StarttlsProtocol::kPop3:
      step = pop3();
      break;
    case StarttlsProtocol::kFtp:
      step = ftp();
      break;
    case StarttlsProtocol::kLdap:
      step = ldap();
      break;
    case StarttlsProtocol::kXmpp:
      step = xmpp();
      break;
    case StarttlsProtocol::kPostgres:
      step = postgres();
      break;
    case StarttlsProtocol::kNone:
      return fail("dialogue finished");
  }
  if (step.kind == Step::Kind::kNeedMore && line_too_long_) {
    return fail("server sent a line longer than " + std::to_string(kMaxLineBytes) + " bytes");
  }
  return step;
}

Step StarttlsDialogue::fail(std::string why) {
  done_ = true;
  buffer_.clear();
  pos_ = 0;
  return Step{Step::Kind::kFailed, {}, std::move(why)};
}

Step StarttlsDialogue::ready() {
  // Anything the server sent after its go-ahead is plaintext it had no business sending; it is
  // dropped rather than handed to TLS (the STARTTLS response-injection class of bugs).
  done_ = true;
  buffer_.clear();
  pos_ = 0;
  return Step{Step::Kind::kReady, {}, {}};
}

Step StarttlsDialogue::send(std::string_view bytes) {
  Step step;
  step.kind = Step::Kind::kSend;
  step.to_send.assign(bytes.begin(), bytes.end());
  return step;
}

std::optional<std::string> StarttlsDialogue::takeLine() {
  const uint8_t* begin = buffer_.data() + pos_;
  size_t available = buffer_.size() - pos_;
  const uint8_t* lf = std::find(begin + line_scan_, begin + available, '\n');
  if (lf == begin + available) {
    line_scan_ = available;
    // One more byte than the limit may be the CR of a maximal line.
    if (available > kMaxLineBytes + 1) line_too_long_ = true;
    return std::nullopt;
  }
  size_t length = static_cast<size_t>(lf - begin);
  pos_ += length + 1;
  line_scan_ = 0;
  if (length > 0 && begin[length - 1] == '\r') --length;
  if (length > kMaxLineBytes) {
    line_too_long_ = true;
    return std::nullopt;
  }
  std::string line(reinterpret_cast<const char*>(begin), length);
  if (!banner_set_) {
    banner_set_ = true;
    banner_ = sanitise(line, kMaxBannerChars);
  }
  return line;
}

StarttlsDialogue::ReplyStatus StarttlsDialogue::takeReply(bool every_line_coded) {
  while (auto line = takeLine()) {
    std::string_view text = *line;
    // RFC 5321 §4.2 / RFC 959 §4.2: three digits, then "-" (more lines follow), " " or the end
    // of the line (last line).
    bool coded = text.size() >= 3 && text[0] >= '1' && text[0] <= '5' && text[1] >= '0' &&
                 text[1] <= '9' && text[2] >= '0' && text[2] <= '9' &&
                 (text.size() == 3 || text[3] == ' ' || text[3] == '-');
    int code = coded ? (text[0] - '0') * 100 + (text[1] - '0') * 10 + (text[2] - '0') : 0;
    bool last = coded && (text.size() == 3 || text[3] == ' ');
    std::string_view rest = text.size() > 4 ? text.substr(4) : std::string_view{};
    if (reply_code_ == 0) {
      if (!coded) {
        reply_code_ = 0;
        reply_lines_.assign(1, std::string(text));
        return ReplyStatus::kMalformed;
      }
      reply_code_ = code;
      reply_lines_.emplace_back(rest);
      if (last) return ReplyStatus::kComplete;
      continue;
    }
    if (every_line_coded) {
      if (!coded || code != reply_code_) {
        reply_code_ = 0;
        reply_lines_.assign(1, std::string(text));
        return ReplyStatus::kMalformed;
      }
      reply_lines_.emplace_back(rest);
      if (last) return ReplyStatus::kComplete;
      continue;
    }
    // FTP: lines between the first and the last are free text.
    if (last && code == reply_code_) {
      reply_lines_.emplace_back(rest);
      return ReplyStatus::kComplete;
    }
    reply_lines_.emplace_back(text);
  }
  return ReplyStatus::kIncomplete;
}

std::string StarttlsDialogue::consumeReply() {
  std::string text = reply_code_ != 0 ? std::to_string(reply_code_) : std::string();
  for (const auto& line : reply_lines_) {
    if (text.size() >= kMaxReplyTextChars) break;
    if (!text.empty()) text.push_back(' ');
    text += line;
  }
  reply_code_ = 0;
  reply_lines_.clear();
  return sanitise(text, kMaxReplyTextChars);
}

Step StarttlsDialogue::smtp() {
  ReplyStatus status = takeReply(/*every_line_coded=*/true);
  if (status == ReplyStatus::kIncomplete) return Step{};
  if (status == ReplyStatus::kMalformed) return fail("not an SMTP reply: " + consumeReply());
  int code = reply_code_;
  bool refused = code >= 400;
  switch (state_) {
    case kAwaitGreeting:
      if (code != 220) {
        return fail((refused ? "SMTP greeting refuses service: " : "unexpected SMTP greeting: ") +
                    consumeReply());
      }
      consumeReply();
      state_ = kAwaitEhlo;
      return send("EHLO " + client_name_ + "\r\n");  // RFC 5321 §4.1.1.1
    case kAwaitEhlo: {
      if (code != 250) {
        return fail((refused ? "EHLO refused: " : "unexpected reply to EHLO: ") + consumeReply());
      }
      // RFC 3207 §4: the EHLO keyword is "STARTTLS"; keywords are case-insensitive
      // (RFC 5321 §2.4).
      bool offered = std::any_of(reply_lines_.begin(), reply_lines_.end(), [](const auto& l) {
        return equalsIgnoreCase(splitWord(l).first, "STARTTLS");
      });
      consumeReply();
      if (!offered) return fail("server does not offer STARTTLS");
      state_ = kAwaitStarttls;
      return send("STARTTLS\r\n");
    }
    default:
      // RFC 3207 §4: 220 ready to start TLS; 454 (and any 4xx/5xx) refuses.
      if (code == 220) {
        consumeReply();
        return ready();
      }
      return fail((refused ? "STARTTLS refused: " : "unexpected reply to STARTTLS: ") +
                  consumeReply());
  }
}

Step StarttlsDialogue::ftp() {
  while (true) {
    ReplyStatus status = takeReply(/*every_line_coded=*/false);
    if (status == ReplyStatus::kIncomplete) return Step{};
    if (status == ReplyStatus::kMalformed) return fail("not an FTP reply: " + consumeReply());
    int code = reply_code_;
    bool refused = code >= 400;
    if (state_ == kAwaitGreeting) {
      // RFC 959 §5.4: 120 (ready in nnn minutes) precedes the 220 greeting.
      if (code == 120) {
        consumeReply();
        continue;
      }
      if (code != 220) {
        return fail((refused ? "FTP greeting refuses service: " : "unexpected FTP greeting: ") +
                    consumeReply());
      }
      consumeReply();
      state_ = kAwaitStarttls;
      return send("AUTH TLS\r\n");  // RFC 4217 §4
    }
    // RFC 4217 §4: 234 accepts; 431, 500, 502, 504, 534 refuse.
    if (code == 234) {
      consumeReply();
      return ready();
    }
    return fail((refused ? "AUTH TLS refused: " : "unexpected reply to AUTH TLS: ") +
                consumeReply());
  }
}

Step StarttlsDialogue::imap() {
  while (auto line = takeLine()) {
    auto [first, after_first] = splitWord(*line);
    auto [second, after_second] = splitWord(after_first);
    std::string text = sanitise(*line, kMaxReplyTextChars);
    if (state_ == kAwaitGreeting) {
      // RFC 3501 §7.1: the greeting is an untagged OK, PREAUTH or BYE.
      if (first != "*") return fail("not an IMAP greeting: " + text);
      if (equalsIgnoreCase(second, "OK") || equalsIgnoreCase(second, "PREAUTH")) {
        state_ = kAwaitStarttls;
        return send("a001 STARTTLS\r\n");  // RFC 3501 §6.2.1
      }
      if (equalsIgnoreCase(second, "BYE")) return fail("IMAP server closes: " + text);
      return fail("not an IMAP greeting: " + text);
    }
    if (first == "*") {
      if (equalsIgnoreCase(second, "BYE")) return fail("IMAP server closes: " + text);
      continue;  // untagged data (CAPABILITY, ...) may precede the tagged reply
    }
    if (equalsIgnoreCase(first, "a001")) {
      if (equalsIgnoreCase(second, "OK")) return ready();
      if (equalsIgnoreCase(second, "NO") || equalsIgnoreCase(second, "BAD")) {
        return fail("STARTTLS refused: " + text);
      }
    }
    return fail("unexpected reply to STARTTLS: " + text);
  }
  return Step{};
}

Step StarttlsDialogue::pop3() {
  while (auto line = takeLine()) {
    auto [status, rest] = splitWord(*line);
    std::string text = sanitise(*line, kMaxReplyTextChars);
    // RFC 1939 §3: a status indicator starts every response. Only "+OK" at the line start
    // counts, not after leading spaces.
    bool ok = !line->empty() && (*line)[0] == '+' && equalsIgnoreCase(status, "+OK");
    bool err = !line->empty() && (*line)[0] == '-' && equalsIgnoreCase(status, "-ERR");
    if (state_ == kAwaitGreeting) {
      if (ok) {
        state_ = kAwaitStarttls;
        return send("STLS\r\n");  // RFC 2595 §4
      }
      if (err) return fail("POP3 greeting refuses service: " + text);
      return fail("not a POP3 greeting: " + text);
    }
    if (ok) return ready();
    if (err) return fail("STLS refused: " + text);
    return fail("unexpected reply to STLS: " + text);
  }
  return Step{};
}

Step StarttlsDialogue::ldap() {
  std::span<const uint8_t> available(buffer_.data() + pos_, buffer_.size() - pos_);
  if (!available.empty() && available[0] != kBerSequence) {
    return fail("not an LDAP message (first byte " + hexByte(available[0]) + ")");
  }
  BerHeader header;
  BerStatus status = readBerHeader(available, header);
  if (status == BerStatus::kNeedMore) return Step{};
  if (status == BerStatus::kBad) {
    return fail("malformed LDAP response (length not definite or larger than " +
                std::to_string(kMaxServerBytes) + " bytes)");
  }
  if (header.length > kMaxServerBytes - header.header_size) {
    return fail("LDAP response larger than " + std::to_string(kMaxServerBytes) + " bytes");
  }
  if (available.size() < header.header_size + header.length) return Step{};
  std::span<const uint8_t> message = available.subspan(header.header_size, header.length);

  uint8_t tag = 0;
  std::span<const uint8_t> value;
  uint32_t message_id = 0;
  if (!readBerElement(message, tag, value) || tag != kBerInteger ||
      !readBerNonNegative(value, message_id)) {
    return fail("malformed LDAP response (messageID)");
  }
  std::span<const uint8_t> op;
  if (!readBerElement(message, tag, op)) return fail("malformed LDAP response (protocolOp)");
  if (tag != kLdapExtendedResponse) {
    return fail("unexpected LDAP operation in reply to StartTLS (tag " + hexByte(tag) + ")");
  }
  // RFC 4511 §4.1.9: LDAPResult ::= resultCode ENUMERATED, matchedDN, diagnosticMessage, ...
  uint32_t result_code = 0;
  if (!readBerElement(op, tag, value) || tag != kBerEnumerated ||
      !readBerNonNegative(value, result_code)) {
    return fail("malformed LDAP response (resultCode)");
  }
  std::string diagnostic;
  std::span<const uint8_t> matched_dn;
  if (readBerElement(op, tag, matched_dn) && tag == kBerOctetString &&
      readBerElement(op, tag, value) && tag == kBerOctetString) {
    diagnostic =
        sanitise(std::string_view(reinterpret_cast<const char*>(value.data()), value.size()),
                 kMaxReplyTextChars);
  }
  std::string described = "resultCode " + std::to_string(result_code) + " (" +
                          std::string(ldapResultName(result_code)) + ")";
  if (!diagnostic.empty()) described += ", diagnosticMessage \"" + diagnostic + "\"";
  // RFC 4511 §4.4: messageID 0 is an unsolicited notification, typically Notice of
  // Disconnection (§4.4.1).
  if (message_id == 0) return fail("LDAP server sent an unsolicited notification: " + described);
  if (message_id != kLdapMessageId) {
    return fail("LDAP response has messageID " + std::to_string(message_id) + ", expected 1");
  }
  if (result_code != 0) return fail("StartTLS refused: " + described);
  pos_ += header.header_size + header.length;
  return ready();
}

Step StarttlsDialogue::xmpp() {
  // A tiny tokenizer is enough: only tag names and one attribute value matter, and each byte is
  // looked at once however the stream is chunked.
  while (pos_ < buffer_.size()) {
    char c = static_cast<char>(buffer_[pos_++]);
    if (!in_xml_tag_) {
      if (c == '<') {
        in_xml_tag_ = true;
        xml_tag_.clear();
      }
      continue;
    }
    if (c != '>') {
      if (xml_tag_.size() >= kMaxLineBytes) {
        return fail("server sent an XML tag longer than " + std::to_string(kMaxLineBytes) +
                    " bytes");
      }
      xml_tag_.push_back(c);
      continue;
    }
    in_xml_tag_ = false;
    Step step = xmppTag();
    if (step.kind != Step::Kind::kNeedMore) return step;
  }
  return Step{};
}

Step StarttlsDialogue::xmppTag() {
  std::string_view tag = xml_tag_;
  bool closing = !tag.empty() && tag.front() == '/';
  if (closing) tag.remove_prefix(1);
  bool self_closing = !closing && !tag.empty() && tag.back() == '/';
  std::string_view name = tag.substr(0, tag.find_first_of(" \t\r\n/"));
  if (name.empty() || name.front() == '?' || name.front() == '!') return Step{};

  // RFC 6120 §4.4: the server closing its stream ends the dialogue.
  if (name == "stream:stream") {
    if (closing) return fail("XMPP server closed the stream");
    if (!banner_set_) {
      banner_set_ = true;
      banner_ = sanitise("<" + xml_tag_ + ">", kMaxBannerChars);
    }
    return Step{};
  }
  // RFC 6120 §4.9: the first child of <stream:error/> names the condition.
  if (name == "stream:error") {
    if (closing || self_closing) {
      return fail("XMPP stream error: " +
                  (stream_error_.empty() ? std::string("unspecified") : stream_error_));
    }
    in_stream_error_ = true;
    return Step{};
  }
  if (in_stream_error_) {
    if (!closing && stream_error_.empty()) stream_error_ = sanitise(localName(name), 64);
    return Step{};
  }

  if (state_ == kAwaitFeatures) {
    if (name == "stream:features" && (closing || self_closing)) {
      // RFC 6120 §5.3.1: STARTTLS is offered only by a <starttls/> feature in its namespace.
      if (!starttls_offered_) return fail("server does not offer STARTTLS");
      state_ = kAwaitProceed;
      return send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    }
    if (!closing && localName(name) == "starttls" &&
        tag.find(kXmppTlsNamespace) != std::string_view::npos) {
      starttls_offered_ = true;
    }
    return Step{};
  }
  // RFC 6120 §5.4.2.2 (<failure/>) and §5.4.2.3 (<proceed/>).
  if (!closing && localName(name) == "proceed") return ready();
  if (!closing && localName(name) == "failure") return fail("STARTTLS refused: <failure/>");
  return Step{};
}

Step StarttlsDialogue::postgres() {
  if (pos_ >= buffer_.size()) return Step{};
  uint8_t answer = buffer_[pos_++];
  // PostgreSQL protocol "SSL Session Encryption": a single byte 'S' or 'N', or an
  // ErrorResponse from a server too old to know SSLRequest.
  if (answer == 'S') return ready();
  if (answer == 'N') return fail("server refuses SSL");
  if (answer == 'E') return fail("server answered SSLRequest with an error message");
  return fail("unexpected answer to SSLRequest (byte " + hexByte(answer) + ")");
}

}  // namespace tlsaudit::collectors::tls
