#!/usr/bin/env python3
"""Plaintext dialogues that upgrade to TLS (STARTTLS), test code only.

--protocol selects the dialogue; each speaks its real greeting and upgrade:
  smtp  RFC 5321 / RFC 3207: "220 <banner>", EHLO lists STARTTLS, STARTTLS -> 220
  imap  RFC 3501 §6.2.1: "* OK [CAPABILITY ... STARTTLS ...] <banner>",
        "<tag> STARTTLS" -> "<tag> OK"
  pop3  RFC 1939 / RFC 2595 §4: "+OK <banner>", CAPA lists STLS, STLS -> +OK
  ftp   RFC 959 / RFC 4217 §4: "220 <banner>", FEAT lists AUTH TLS,
        AUTH TLS -> 234
  xmpp  RFC 6120 §4-5: the client's stream header is answered with ours
        (from=<--domain>) and <stream:features> holding
        <starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>;
        <starttls/> -> <proceed/>
  ldap  RFC 4511 §4.14 / RFC 4513 §3: the client speaks first; an
        ExtendedRequest 1.3.6.1.4.1.1466.20037 gets an ExtendedResponse with
        resultCode 0 (BER, X.690)
then the TLS handshake on the same connection (Python ssl; --cert/--key/
--min-version/--max-version/--ciphers as in sip_tls_server.py).

--refuse: the upgrade is offered but refused: SMTP 454, IMAP "<tag> NO",
POP3 -ERR, FTP 534, XMPP <failure/> and </stream:stream>, LDAP resultCode 2
(protocolError).  --no-starttls: the upgrade is not offered, and the command
gets the protocol's "unknown command" answer (SMTP 502, IMAP BAD, POP3 -ERR,
FTP 502, XMPP features without <starttls/> and <failure/> if asked anyway,
LDAP protocolError, RFC 4511 §4.12).

After TLS each dialogue answers its capability and logout commands (EHLO/QUIT,
CAPABILITY/LOGOUT, CAPA/QUIT, FEAT/PBSZ/PROT/QUIT, a restarted XMPP stream
and </stream:stream>, LDAP UnbindRequest).
Bounds: 4 KiB per line or XML tag, 64 KiB per LDAP message, 100 commands,
30 s idle timeout per command.  Plaintext pipelined after the go-ahead is
discarded (RFC 3207 §4.2, RFC 2595 §2.2).
"""

from __future__ import annotations

import os
import sys
from typing import Callable, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
from _common import BerError, Conn, LineReader, log  # noqa: E402

MAX_LINE = 4096
MAX_LDAP_MESSAGE = 64 * 1024
MAX_COMMANDS = 100
IDLE_TIMEOUT = 30.0

DEFAULT_BANNERS = {
    "smtp": "mail.test ESMTP tlsaudit-test",
    "imap": "imap.test IMAP4rev1 tlsaudit-test ready",
    "pop3": "pop3.test POP3 tlsaudit-test ready",
    "ftp": "ftp.test FTP tlsaudit-test ready",
}
SMTP_HOSTNAME = "mail.test"

ARGS = None
CTX = None


class Session:
    """One connection: plaintext dialogue, then TLS on the same socket."""

    def __init__(self, conn: Conn):
        self.conn = conn
        self.reader = LineReader(conn, MAX_LINE)
        self.in_tls = False

    def offered(self) -> bool:
        """Whether the upgrade is advertised now."""
        return not ARGS.no_starttls and not self.in_tls

    def send(self, text: str) -> bool:
        return self.conn.sendall(text.encode("utf-8"))

    def send_lines(self, *lines: str) -> bool:
        return self.send("".join(f"{line}\r\n" for line in lines))

    def read_line(self, too_long_reply: str) -> Optional[str]:
        """One command line; None when the client closed, went idle or sent a
        line longer than MAX_LINE (answered with `too_long_reply`)."""
        try:
            line = self.reader.readline(IDLE_TIMEOUT)
        except ValueError:
            self.send_lines(too_long_reply)
            return None
        if line is None:
            return None
        text = line.decode("utf-8", errors="replace")
        log(f"{self.conn.peer}: {'[tls] ' if self.in_tls else ''}{text[:80]}")
        return text

    def start_tls(self) -> bool:
        # RFC 3207 §4.2 / RFC 2595 §2.2: plaintext the client pipelined after the
        # command must not be read as if it had come over TLS.
        self.reader.buf.clear()
        if not _common.tls_accept(self.conn, CTX):
            return False
        self.in_tls = True
        self.reader = LineReader(self.conn, MAX_LINE)
        return True

    def close(self) -> None:
        if self.in_tls:
            _common.tls_close(self.conn)
        else:
            self.conn.graceful_close()


def split_command(text: str) -> tuple[str, str]:
    """Verb in upper case, and the rest of the line."""
    parts = text.strip().split(" ", 1)
    return parts[0].upper(), parts[1] if len(parts) > 1 else ""


def bye(s: Session, *lines: str) -> bool:
    """Last words, then close; False: the connection is over."""
    s.send_lines(*lines)
    s.close()
    return False


def upgrade(s: Session, unknown: str, active: str, refused: str, go_ahead: str) -> bool:
    """Answers the upgrade command (STARTTLS, STLS, AUTH TLS) with one of the
    protocol's replies, and starts TLS after `go_ahead`; False when the
    connection is over."""
    if ARGS.no_starttls:
        return s.send_lines(unknown)
    if s.in_tls:
        return s.send_lines(active)
    if ARGS.refuse:
        return s.send_lines(refused)
    return s.send_lines(go_ahead) and s.start_tls()


def line_dialogue(s: Session, greeting: str, command: Callable[[Session, str], bool],
                  too_long: str, too_many: str) -> None:
    """Greeting, then one reply per command line until `command` returns
    False, the client leaves or MAX_COMMANDS are used up."""
    if not s.send_lines(greeting):
        return
    for _ in range(MAX_COMMANDS):
        text = s.read_line(too_long)
        if text is None or not command(s, text):
            return
    s.send_lines(too_many)


# ---- SMTP (RFC 5321, RFC 3207) ------------------------------------------------

def smtp_reply(s: Session, *lines: str) -> bool:
    """Multi-line reply: all but the last line use '-' after the code."""
    out = []
    for i, line in enumerate(lines):
        sep = " " if i == len(lines) - 1 else "-"
        out.append(f"{line[:3]}{sep}{line[4:]}")
    return s.send_lines(*out)


def smtp_command(s: Session, text: str) -> bool:
    verb, _arg = split_command(text)
    if verb == "EHLO":
        ext = ["250 STARTTLS"] if s.offered() else []
        return smtp_reply(s, f"250 {SMTP_HOSTNAME}", *ext, "250 SIZE 1000000")
    if verb == "HELO":
        return smtp_reply(s, f"250 {SMTP_HOSTNAME}")
    if verb in ("NOOP", "RSET"):
        return smtp_reply(s, "250 2.0.0 OK")
    if verb == "QUIT":
        return bye(s, "221 2.0.0 Bye")
    if verb == "STARTTLS":
        return upgrade(s, "502 5.5.1 Command not implemented", "503 5.5.1 TLS already active",
                       "454 4.7.0 TLS not available due to temporary reason",
                       "220 2.0.0 Ready to start TLS")
    if s.offered():
        return smtp_reply(s, "530 5.7.0 Must issue a STARTTLS command first")
    return smtp_reply(s, "502 5.5.2 Command not implemented")


def smtp(s: Session) -> None:
    line_dialogue(s, f"220 {ARGS.banner}", smtp_command, "500 5.5.2 Line too long",
                  "421 4.7.0 Too many commands, closing connection")


# ---- IMAP (RFC 3501) ------------------------------------------------------------

def imap_capabilities(s: Session) -> str:
    # RFC 3501 §6.2.1 / §6.2.3: STARTTLS and LOGINDISABLED until TLS is up.
    if s.offered():
        return "IMAP4rev1 LITERAL+ ID STARTTLS LOGINDISABLED"
    return "IMAP4rev1 LITERAL+ ID AUTH=PLAIN"


def imap_command(s: Session, text: str) -> bool:
    tag, rest = (text.strip().split(" ", 1) + [""])[:2]
    verb, _arg = split_command(rest)
    if not tag or not verb:
        return s.send_lines("* BAD Missing tag or command")
    if verb == "CAPABILITY":
        return s.send_lines(f"* CAPABILITY {imap_capabilities(s)}",
                            f"{tag} OK CAPABILITY completed")
    if verb == "NOOP":
        return s.send_lines(f"{tag} OK NOOP completed")
    if verb == "LOGOUT":
        return bye(s, "* BYE Logging out", f"{tag} OK LOGOUT completed")
    if verb == "STARTTLS":
        return upgrade(s, f"{tag} BAD Unknown command", f"{tag} BAD TLS is already active",
                       f"{tag} NO [UNAVAILABLE] TLS not available",
                       f"{tag} OK Begin TLS negotiation now")
    if verb in ("LOGIN", "AUTHENTICATE") and s.offered():
        return s.send_lines(f"{tag} NO [PRIVACYREQUIRED] Use STARTTLS first")
    return s.send_lines(f"{tag} BAD Unknown command")


def imap(s: Session) -> None:
    line_dialogue(s, f"* OK [CAPABILITY {imap_capabilities(s)}] {ARGS.banner}", imap_command,
                  "* BAD Line too long", "* BYE Too many commands")


# ---- POP3 (RFC 1939, RFC 2449, RFC 2595) ----------------------------------------

def pop3_command(s: Session, text: str) -> bool:
    verb, _arg = split_command(text)
    if verb == "CAPA":  # RFC 2449 §5; STLS is the RFC 2595 §4 capability
        caps = ["TOP", "UIDL", "RESP-CODES"] + (["STLS"] if s.offered() else ["USER"])
        return s.send_lines("+OK Capability list follows", *caps, ".")
    if verb == "NOOP":
        return s.send_lines("+OK")
    if verb == "QUIT":
        return bye(s, "+OK Bye")
    if verb == "STLS":
        return upgrade(s, "-ERR Unknown command", "-ERR Command not permitted when TLS active",
                       "-ERR [SYS/TEMP] TLS not available", "+OK Begin TLS negotiation")
    if verb in ("USER", "PASS", "APOP", "AUTH") and s.offered():
        return s.send_lines("-ERR [AUTH] Use STLS first")
    return s.send_lines("-ERR Unknown command")


def pop3(s: Session) -> None:
    line_dialogue(s, f"+OK {ARGS.banner}", pop3_command, "-ERR Line too long",
                  "-ERR Too many commands")


# ---- FTP control connection (RFC 959, RFC 2389, RFC 4217) -------------------------

def ftp_command(s: Session, text: str) -> bool:
    verb, arg = split_command(text)
    if verb == "FEAT":  # RFC 2389 §3.2: feature lines start with a space
        feats = [" AUTH TLS", " PBSZ", " PROT"] if not ARGS.no_starttls else []
        return s.send_lines("211-Features:", *feats, " UTF8", "211 End")
    if verb == "NOOP":
        return s.send_lines("200 NOOP ok")
    if verb == "QUIT":
        return bye(s, "221 Goodbye")
    if verb == "AUTH":
        if not ARGS.no_starttls and arg.strip().upper() not in ("TLS", "TLS-C", "SSL"):
            return s.send_lines("504 Security mechanism not understood")
        return upgrade(s, "502 Command not implemented", "503 TLS already active",
                       "534 Request denied for policy reasons", "234 AUTH TLS successful")
    if verb in ("PBSZ", "PROT") and s.in_tls:  # RFC 4217 §8, §9
        return s.send_lines(f"200 {verb} ok")
    if verb in ("USER", "PASS") and s.offered():
        return s.send_lines("530 TLS required on the control channel")
    return s.send_lines("502 Command not implemented")


def ftp(s: Session) -> None:
    line_dialogue(s, f"220 {ARGS.banner}", ftp_command, "500 Line too long",
                  "421 Too many commands")


# ---- XMPP (RFC 6120) ----------------------------------------------------------------

XMPP_TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls"  # RFC 6120 §5.4.2.1


def xmpp_tag(s: Session) -> Optional[str]:
    """The next XML tag without its angle brackets (text between tags is
    skipped); None on close, timeout or a tag longer than MAX_LINE."""
    try:
        chunk = s.reader.read_until(b">", MAX_LINE, IDLE_TIMEOUT)
    except ValueError:
        return None
    if chunk is None:
        return None
    start = chunk.find(b"<")
    if start < 0:
        return None
    tag = chunk[start + 1:-1].decode("utf-8", errors="replace").strip()
    log(f"{s.conn.peer}: {'[tls] ' if s.in_tls else ''}<{tag[:80]}>")
    return tag


def xmpp_tag_name(tag: str) -> str:
    return tag.split(None, 1)[0].rstrip("/") if tag else ""


def xmpp_open_stream(s: Session) -> bool:
    """Waits for the client's stream header (RFC 6120 §4.2) and answers with
    ours (a new stream id each time, §4.7.3) and the stream features (§4.3.2)."""
    while True:
        tag = xmpp_tag(s)
        if tag is None:
            return False
        if tag.startswith("?"):
            continue  # the XML declaration
        if xmpp_tag_name(tag) != "stream:stream":
            s.send("<stream:error><not-well-formed "
                   "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>")
            return False
        break
    if s.offered():
        features = f"<starttls xmlns='{XMPP_TLS_NS}'><required/></starttls>"
    else:
        features = ("<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                    "<mechanism>PLAIN</mechanism></mechanisms>")
    # One write: some clients (openssl s_client) look for <starttls in one read.
    return s.send(
        f"<?xml version='1.0'?><stream:stream from='{ARGS.domain}' "
        f"id='{os.urandom(8).hex()}' version='1.0' xml:lang='en' "
        "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
        f"<stream:features>{features}</stream:features>")


def xmpp(s: Session) -> None:
    if not xmpp_open_stream(s):
        return
    for _ in range(MAX_COMMANDS):
        tag = xmpp_tag(s)
        if tag is None:
            return
        name = xmpp_tag_name(tag)
        if name == "/stream:stream":  # RFC 6120 §4.4
            s.send("</stream:stream>")
            s.close()
            return
        if name != "starttls":
            continue
        if not tag.endswith("/") and xmpp_tag(s) is None:  # its end tag
            return
        if not s.offered() or ARGS.refuse:
            # RFC 6120 §5.4.2.2: <failure/>, then the server closes the stream.
            s.send(f"<failure xmlns='{XMPP_TLS_NS}'/></stream:stream>")
            s.close()
            return
        if not s.send(f"<proceed xmlns='{XMPP_TLS_NS}'/>") or not s.start_tls():
            return
        # RFC 6120 §5.4.3.3: the client opens a new stream over TLS.
        if not xmpp_open_stream(s):
            return


# ---- LDAP (RFC 4511, BER per X.690 with RFC 4511 §5.1 restrictions) ---------------

LDAP_STARTTLS_OID = b"1.3.6.1.4.1.1466.20037"  # RFC 4511 §4.14.1
LDAP_NOTICE_OF_DISCONNECTION_OID = b"1.3.6.1.4.1.1466.20036"  # RFC 4511 §4.4.1
BER_INTEGER, BER_OCTET_STRING, BER_ENUMERATED, BER_SEQUENCE = 0x02, 0x04, 0x0A, 0x30
LDAP_UNBIND_REQUEST = 0x42  # [APPLICATION 2] NULL, primitive
LDAP_EXTENDED_REQUEST = 0x77  # [APPLICATION 23], constructed
LDAP_EXTENDED_RESPONSE = 0x78  # [APPLICATION 24], constructed
LDAP_REQUEST_NAME = 0x80  # [0] LDAPOID, primitive
LDAP_RESPONSE_NAME = 0x8A  # [10] LDAPOID, primitive
LDAP_SUCCESS, LDAP_OPERATIONS_ERROR, LDAP_PROTOCOL_ERROR = 0, 1, 2  # RFC 4511 §4.1.9


def ber_length(n: int) -> bytes:
    """Definite length, short form below 128, else the shortest long form
    (X.690 §8.1.3, §10.1)."""
    if n < 0x80:
        return bytes([n])
    octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def ber(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + ber_length(len(content)) + content


def ber_integer(tag: int, value: int) -> bytes:
    """INTEGER / ENUMERATED content: minimal two's complement (X.690 §8.3.2)."""
    length = max(1, (value.bit_length() + 8) // 8)
    return ber(tag, value.to_bytes(length, "big", signed=True))


def ber_read(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """(tag, value, next position) of the element at `pos`."""
    tag, start, end = _common.ber_tlv(data, pos)
    return tag, data[start:end], end


def ldap_read_message(s: Session) -> Optional[bytes]:
    """One whole LDAPMessage (tag, length, content) or None."""
    head = s.reader.read_exact(2, IDLE_TIMEOUT)
    if head is None:
        return None
    if head[0] != BER_SEQUENCE:
        raise BerError(f"LDAPMessage must be a SEQUENCE, got tag 0x{head[0]:02x}")
    length_octets = b""
    if head[1] >= 0x80:
        count = head[1] & 0x7F
        if count == 0 or count > 4:
            raise BerError("indefinite or oversized length")
        length_octets = s.reader.read_exact(count, IDLE_TIMEOUT)
        if length_octets is None:
            return None
        length = int.from_bytes(length_octets, "big")
    else:
        length = head[1]
    if length > MAX_LDAP_MESSAGE:
        raise BerError(f"LDAPMessage of {length} bytes")
    body = s.reader.read_exact(length, IDLE_TIMEOUT)
    return None if body is None else head + length_octets + body


def ldap_extended_response(message_id: int, result_code: int, diagnostic: str,
                           response_name: Optional[bytes]) -> bytes:
    # RFC 4511 §4.12: ExtendedResponse ::= [APPLICATION 24] SEQUENCE {
    #   COMPONENTS OF LDAPResult (resultCode, matchedDN, diagnosticMessage),
    #   responseName [10] LDAPOID OPTIONAL, ... }
    op = (ber_integer(BER_ENUMERATED, result_code) + ber(BER_OCTET_STRING, b"") +
          ber(BER_OCTET_STRING, diagnostic.encode("utf-8")))
    if response_name is not None:
        op += ber(LDAP_RESPONSE_NAME, response_name)
    return ber(BER_SEQUENCE,
               ber_integer(BER_INTEGER, message_id) + ber(LDAP_EXTENDED_RESPONSE, op))


def ldap_disconnect(s: Session, why: str) -> None:
    """RFC 4511 §4.4.1 Notice of Disconnection (messageID 0), then close."""
    s.conn.sendall(ldap_extended_response(0, LDAP_PROTOCOL_ERROR, why,
                                          LDAP_NOTICE_OF_DISCONNECTION_OID))
    s.close()


def ldap(s: Session) -> None:
    # LDAP is binary: the LineReader is only used for its buffered exact reads.
    for _ in range(MAX_COMMANDS):
        try:
            message = ldap_read_message(s)
            if message is None:
                return
            _tag, content, _end = ber_read(message, 0)
            tag, value, pos = ber_read(content, 0)
            if tag != BER_INTEGER or not value or value[0] & 0x80:
                raise BerError("messageID is not a non-negative INTEGER")
            message_id = int.from_bytes(value, "big")
            op_tag, op, _ = ber_read(content, pos)
            name = b""
            if op_tag == LDAP_EXTENDED_REQUEST:
                name_tag, name, _ = ber_read(op, 0)
                if name_tag != LDAP_REQUEST_NAME:
                    raise BerError("ExtendedRequest without requestName")
        except BerError as exc:
            log(f"{s.conn.peer}: bad LDAP message: {exc}")
            ldap_disconnect(s, f"malformed LDAPMessage: {exc}")
            return
        log(f"{s.conn.peer}: {'[tls] ' if s.in_tls else ''}LDAP id {message_id} "
            f"op 0x{op_tag:02x} {name.decode('ascii', errors='replace')}")
        if op_tag == LDAP_UNBIND_REQUEST:  # RFC 4511 §4.3: no response
            s.close()
            return
        if op_tag != LDAP_EXTENDED_REQUEST:
            ldap_disconnect(s, "only StartTLS and Unbind are implemented")
            return
        if name != LDAP_STARTTLS_OID or ARGS.no_starttls:
            # RFC 4511 §4.12: an unrecognised requestName gets protocolError.
            s.conn.sendall(ldap_extended_response(message_id, LDAP_PROTOCOL_ERROR,
                                                  "unsupported extended operation", None))
        elif s.in_tls:  # RFC 4511 §4.14.2
            s.conn.sendall(ldap_extended_response(message_id, LDAP_OPERATIONS_ERROR,
                                                  "TLS already established", None))
        elif ARGS.refuse:
            s.conn.sendall(ldap_extended_response(message_id, LDAP_PROTOCOL_ERROR,
                                                  "StartTLS refused", None))
        else:
            # RFC 4511 §4.14.2: success, responseName is the StartTLS OID.
            ok = s.conn.sendall(ldap_extended_response(message_id, LDAP_SUCCESS, "",
                                                       LDAP_STARTTLS_OID))
            if not ok or not s.start_tls():
                return


PROTOCOLS: dict[str, Callable[[Session], None]] = {
    "smtp": smtp, "imap": imap, "pop3": pop3, "ftp": ftp, "xmpp": xmpp, "ldap": ldap,
}


def handle(conn: Conn) -> None:
    PROTOCOLS[ARGS.protocol](Session(conn))


def main(default_protocol: Optional[str] = None) -> None:
    global ARGS, CTX
    p = _common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--protocol", choices=sorted(PROTOCOLS), default=default_protocol,
                   required=default_protocol is None, help="the plaintext dialogue")
    _common.add_tls_server_options(p, cert_required=False)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--refuse", action="store_true",
                      help="offer the upgrade but refuse the command")
    mode.add_argument("--no-starttls", action="store_true",
                      help="do not offer the upgrade; the command is unknown")
    p.add_argument("--banner", default=None,
                   help="greeting text (SMTP/FTP after '220 ', IMAP after the "
                        "capability code, POP3 after '+OK '); default per protocol")
    p.add_argument("--domain", default="xmpp.test",
                   help="XMPP: the server's domain, from= of its stream header "
                        "(default %(default)s)")
    ARGS = p.parse_args()
    if ARGS.banner is None:
        ARGS.banner = DEFAULT_BANNERS.get(ARGS.protocol, "")
    if not (ARGS.refuse or ARGS.no_starttls):
        if not ARGS.cert:
            p.error("--cert is required unless --refuse or --no-starttls is given")
    if ARGS.cert:
        CTX = _common.make_server_context(ARGS)
    _common.serve(ARGS, handle)


if __name__ == "__main__":
    main()
