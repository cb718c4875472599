// STARTTLS dialogues as pure state machines: they are fed the bytes a server sends and say what
// to send next, so the socket code only moves bytes and deadlines, and fuzzers drive them
// directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tlsaudit::collectors::tls {

enum class StarttlsProtocol { kNone, kSmtp, kImap, kPop3, kFtp, kLdap, kXmpp, kPostgres };

// "smtp", "imap", ... ("" and "none" give kNone); nullopt for anything else.
std::optional<StarttlsProtocol> parseStarttlsProtocol(std::string_view name);
std::string_view starttlsName(StarttlsProtocol protocol);
// The dialogue a well-known port implies (25/587 smtp, 143 imap, 110 pop3, 21 ftp, 389 ldap,
// 5222/5269 xmpp, 5432 postgres); kNone otherwise (including implicit-TLS ports 465/993/995).
StarttlsProtocol starttlsForPort(uint16_t port);

class StarttlsDialogue {
 public:
  // Total bytes a server may send during the dialogue before it is treated as hostile.
  static constexpr size_t kMaxServerBytes = 64 * 1024;

  struct Step {
    enum class Kind { kSend, kNeedMore, kReady, kFailed };
    Kind kind = Kind::kNeedMore;
    std::vector<uint8_t> to_send;  // for kSend
    std::string error;             // for kFailed: what the server said or did wrong
  };

  // `server_name` is used where the protocol names the server (XMPP `to=`); `client_name`
  // for SMTP EHLO.
  StarttlsDialogue(StarttlsProtocol protocol, std::string server_name,
                   std::string client_name = "tlsaudit.invalid");

  // What to do before reading anything: kSend for client-speaks-first protocols (LDAP,
  // PostgreSQL), kNeedMore otherwise.
  Step start();
  // Feeds bytes received from the server; returns the next step. After kSend the caller sends
  // the bytes and keeps reading; after kReady the TLS handshake starts on the same connection;
  // kFailed is final.
  Step onData(std::span<const uint8_t> data);

  // The server's first greeting line, sanitised to printable ASCII, at most 200 characters.
  const std::string& banner() const { return banner_; }

 private:
  // Longest server line (without its terminator) and longest XML tag accepted.
  static constexpr size_t kMaxLineBytes = 4096;

  enum class ReplyStatus { kIncomplete, kComplete, kMalformed };

  Step fail(std::string why);
  Step ready();
  Step send(std::string_view bytes);
  Step smtp();
  Step imap();
  Step pop3();
  Step ftp();
  Step ldap();
  Step xmpp();
  Step postgres();
  // Takes one complete CRLF- or LF-terminated line from the buffer, without the terminator.
  // nullopt when none is complete yet or the line is too long (then line_too_long_ is set).
  std::optional<std::string> takeLine();
  // Collects one numbered reply (SMTP, FTP) into reply_code_/reply_lines_. With
  // `every_line_coded` (SMTP) every line carries the code; otherwise (FTP, RFC 959 §4.2) only
  // the first and the last must.
  ReplyStatus takeReply(bool every_line_coded);
  // reply_code_ and reply_lines_ as one sanitised line for error messages; resets the reply.
  std::string consumeReply();
  // Acts on the XML tag just read into xml_tag_ (XMPP).
  Step xmppTag();

  StarttlsProtocol protocol_;
  std::string server_name_;
  std::string client_name_;
  std::vector<uint8_t> buffer_;
  size_t pos_ = 0;        // read position in buffer_
  size_t line_scan_ = 0;  // bytes from pos_ already known to hold no line feed
  size_t received_total_ = 0;
  int state_ = 0;
  bool started_ = false;
  bool done_ = false;
  bool line_too_long_ = false;
  bool banner_set_ = false;
  std::string banner_;
  // SMTP/FTP reply being collected.
  int reply_code_ = 0;
  std::vector<std::string> reply_lines_;
  bool starttls_offered_ = false;
  // XMPP tokenizer.
  bool in_xml_tag_ = false;
  bool in_stream_error_ = false;
  std::string xml_tag_;
  std::string stream_error_;
};

}  // namespace tlsaudit::collectors::tls
