#!/usr/bin/env python3
"""Scripted legacy TLS/SSL responder (test code only).

Emulates an old embedded device for protocol features that Debian's OpenSSL 3
cannot serve any more: SSLv2, SSLv3, EXPORT/RC4/DES cipher suites.  It never
completes a handshake.  It parses the client's first flight, answers with a
real server flight built byte by byte, then reads (bounded) until the client
goes away or 5 s pass, and closes.

TLS/SSLv3 path (record-layer ClientHello):
    ServerHello, Certificate, [CertificateRequest], ServerHelloDone.
    There is NO ServerKeyExchange, so only configure cipher suites whose key
    exchange is plain RSA (TLS_RSA_*, including the RSA_EXPORT suites, for
    which a real server with a >512-bit key would also have had to send a
    ServerKeyExchange; scanners only look at the ServerHello anyway).
    The version is chosen from client_version alone (supported_versions is
    ignored: this is a pre-TLS 1.3 server).

SSLv2 path (2-byte-header CLIENT-HELLO):
    version 0x0002 -> SERVER-HELLO (or ERROR NO-CIPHER); silently closed if
    ssl2 is not enabled.  Version >= 0x0300 (the "SSLv2-compatible" hello of
    RFC 5246 Appendix E.2 / RFC 6101 Appendix E) -> treated as a TLS
    ClientHello, answered in TLS record format.

Byte layouts follow RFC 5246 (TLS 1.2), RFC 4346 (TLS 1.1), RFC 2246
(TLS 1.0), RFC 6101 (SSL 3.0), RFC 5746 (renegotiation_info), RFC 7507
(TLS_FALLBACK_SCSV) and draft-hickman-netscape-ssl-00 ("The SSL Protocol",
SSL 2.0, 1995).
"""

from __future__ import annotations

import argparse
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
from _common import Conn, log  # noqa: E402

# --- constants ---------------------------------------------------------------

VERSIONS = {  # CLI name -> wire version
    "ssl2": 0x0002,
    "ssl3": 0x0300,
    "tls1.0": 0x0301,
    "tls1.1": 0x0302,
    "tls1.2": 0x0303,
}

# RFC 5246 6.2.1 ContentType
CT_ALERT = 21
CT_HANDSHAKE = 22

# RFC 5246 7.4 HandshakeType
HT_CLIENT_HELLO = 1
HT_SERVER_HELLO = 2
HT_CERTIFICATE = 11
HT_CERTIFICATE_REQUEST = 13
HT_SERVER_HELLO_DONE = 14

# RFC 5246 7.2 AlertDescription (+ RFC 7507 inappropriate_fallback)
ALERT_UNEXPECTED_MESSAGE = 10
ALERT_RECORD_OVERFLOW = 22
ALERT_HANDSHAKE_FAILURE = 40
ALERT_ILLEGAL_PARAMETER = 47
ALERT_DECODE_ERROR = 50
ALERT_PROTOCOL_VERSION = 70
ALERT_INAPPROPRIATE_FALLBACK = 86

EXT_RENEGOTIATION_INFO = 0xFF01           # RFC 5746 3.2
SCSV_EMPTY_RENEGOTIATION_INFO = 0x00FF    # RFC 5746 3.3
SCSV_FALLBACK = 0x5600                    # RFC 7507 2

# Suites that only exist in TLS 1.2 (RFC 5246 A.5, RFC 5288): not selected
# for an older negotiated version, as a real server would not.
TLS12_ONLY_SUITES = {0x003B, 0x003C, 0x003D, 0x009C, 0x009D}

# Suites whose key exchange is plain RSA (no ServerKeyExchange needed, modulo
# the RSA_EXPORT remark in the module docstring).  Used only for a warning.
RSA_KX_SUITES = {
    0x0001, 0x0002, 0x0003, 0x0004, 0x0005, 0x0006, 0x0007, 0x0008, 0x0009,
    0x000A, 0x002F, 0x0035, 0x003B, 0x003C, 0x003D, 0x0041, 0x0084, 0x0096,
    0x009C, 0x009D, 0x0060, 0x0061, 0x0062, 0x0064,
}

MAX_RECORD_FRAGMENT = 16384 + 2048   # RFC 5246 6.2.3 (TLSCiphertext bound)
MAX_CLIENT_HELLO = 1 << 16           # our bound on the reassembled message
READ_TIMEOUT = 10.0                  # waiting for the client's first flight
LINGER_AFTER_FLIGHT = 5.0            # brief: read until close or 5 s

# SSLv2 (draft-hickman-netscape-ssl-00, appendix "Protocol Constant Values")
SSL2_MT_ERROR = 0
SSL2_MT_CLIENT_HELLO = 1
SSL2_MT_SERVER_HELLO = 4
SSL2_PE_NO_CIPHER = 0x0001
SSL2_CT_X509_CERTIFICATE = 1


class DecodeError(Exception):
    pass


# --- small encoders ----------------------------------------------------------

def u8(v: int) -> bytes:
    return struct.pack("!B", v)


def u16(v: int) -> bytes:
    return struct.pack("!H", v)


def u24(v: int) -> bytes:
    return struct.pack("!I", v)[1:]


def vec8(b: bytes) -> bytes:
    return u8(len(b)) + b


def vec16(b: bytes) -> bytes:
    return u16(len(b)) + b


def vec24(b: bytes) -> bytes:
    return u24(len(b)) + b


def records(content_type: int, version: int, payload: bytes) -> bytes:
    """RFC 5246 6.2.1 TLSPlaintext, fragmented to <= 2^14 bytes:
         ContentType type (1) | ProtocolVersion version (2) | uint16 length | fragment
    (identical layout in RFC 6101 5.2.1)."""
    out = bytearray()
    for i in range(0, max(len(payload), 1), 16384):
        frag = payload[i:i + 16384]
        out += u8(content_type) + u16(version) + u16(len(frag)) + frag
    return bytes(out)


def handshake(msg_type: int, body: bytes) -> bytes:
    """RFC 5246 7.4: HandshakeType msg_type (1) | uint24 length | body."""
    return u8(msg_type) + u24(len(body)) + body


def alert_record(version: int, description: int, level: int = 2) -> bytes:
    """RFC 5246 7.2: AlertLevel level (1; fatal=2) | AlertDescription (1)."""
    return records(CT_ALERT, version, u8(level) + u8(description))


# --- minimal DER walker (subject DN of a certificate) ------------------------

def der_tlv(buf: bytes, pos: int) -> tuple[int, int, int]:
    """Parse one DER TLV at pos -> (tag, content_start, content_end)."""
    try:
        return _common.ber_tlv(buf, pos)
    except _common.BerError as exc:
        raise DecodeError(f"DER: {exc}") from exc


def cert_subject_der(cert: bytes) -> bytes:
    """RFC 5280 4.1:
         Certificate ::= SEQUENCE { tbsCertificate TBSCertificate, ... }
         TBSCertificate ::= SEQUENCE { version [0] EXPLICIT OPTIONAL,
             serialNumber, signature, issuer, validity, subject, ... }
    Returns the full DER encoding (tag+length+content) of `subject`."""
    tag, s, _ = der_tlv(cert, 0)
    if tag != 0x30:
        raise DecodeError("certificate is not a SEQUENCE")
    tag, pos, tbs_end = der_tlv(cert, s)
    if tag != 0x30:
        raise DecodeError("tbsCertificate is not a SEQUENCE")
    fields = []
    while pos < tbs_end and len(fields) < 7:
        t, cs, ce = der_tlv(cert, pos)
        fields.append((t, pos, ce))
        pos = ce
    if fields and fields[0][0] == 0xA0:  # explicit version present
        fields = fields[1:]
    # serialNumber, signature, issuer, validity, subject
    if len(fields) < 5 or fields[4][0] != 0x30:
        raise DecodeError("cannot locate subject Name")
    _, start, end = fields[4]
    return cert[start:end]


# --- ClientHello parsing -----------------------------------------------------

class Reader:
    def __init__(self, data: bytes):
        self.d = data
        self.p = 0

    def take(self, n: int) -> bytes:
        if self.p + n > len(self.d):
            raise DecodeError(f"need {n} bytes at offset {self.p}, have {len(self.d) - self.p}")
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack("!H", self.take(2))[0]

    def u24(self) -> int:
        return int.from_bytes(self.take(3), "big")

    def left(self) -> int:
        return len(self.d) - self.p


class ClientHello:
    def __init__(self):
        self.record_version = 0x0301
        self.client_version = 0
        self.session_id = b""
        self.suites: list[int] = []
        self.compressions: list[int] = [0]
        self.extensions: dict[int, bytes] = {}


def parse_client_hello_body(body: bytes, ch: ClientHello) -> None:
    """RFC 5246 7.4.1.2 (same as RFC 6101 5.6.1.2 minus extensions):
         ProtocolVersion client_version;               2
         Random random;                                32
         SessionID session_id;                         <0..32>
         CipherSuite cipher_suites<2..2^16-2>;         2-byte length
         CompressionMethod compression_methods<1..2^8-1>;
         select (extensions_present) { case true:
             Extension extensions<0..2^16-1>; };
       Extension = ExtensionType (2) | opaque extension_data<0..2^16-1>."""
    r = Reader(body)
    ch.client_version = r.u16()
    r.take(32)
    sid_len = r.u8()
    if sid_len > 32:
        raise DecodeError("session_id longer than 32")
    ch.session_id = r.take(sid_len)
    cs_len = r.u16()
    if cs_len < 2 or cs_len % 2:
        raise DecodeError("bad cipher_suites length")
    cs = r.take(cs_len)
    ch.suites = [struct.unpack("!H", cs[i:i + 2])[0] for i in range(0, cs_len, 2)]
    cm_len = r.u8()
    if cm_len < 1:
        raise DecodeError("empty compression_methods")
    ch.compressions = list(r.take(cm_len))
    if r.left() == 0:
        return
    start = r.p
    try:
        ext_len = r.u16()
        if ext_len != r.left():
            raise DecodeError("extensions length does not match message")
        seen = {}
        while r.left():
            etype = r.u16()
            edata = r.take(r.u16())
            if etype in seen:
                raise DecodeError(f"duplicate extension 0x{etype:04x}")
            seen[etype] = edata
        ch.extensions = seen
    except DecodeError:
        # RFC 6101 5.6.1.2 / RFC 2246 7.4.1.2 forward compatibility: an SSL 3.0
        # server ignores whatever follows the compression methods.
        if ch.client_version <= 0x0300:
            ch.extensions = {}
            r.p = start
            return
        raise


# --- the server --------------------------------------------------------------

class Config:
    def __init__(self, args: argparse.Namespace):
        names = [v.strip().lower() for v in args.versions.split(",") if v.strip()]
        for n in names:
            if n not in VERSIONS:
                raise SystemExit(f"unknown version {n!r}; choose from {','.join(VERSIONS)}")
        if not names:
            raise SystemExit("--versions must name at least one version")
        self.ssl2 = "ssl2" in names
        self.tls_versions = sorted(VERSIONS[n] for n in names if n != "ssl2")
        self.ciphers = _common.parse_int_list(args.ciphers, "cipher")
        self.ssl2_ciphers = _common.parse_int_list(args.ssl2_ciphers, "SSLv2 cipher")
        self.chain = _common.load_pem_certs(args.chain)
        self.client_order = args.client_order
        self.max_hello_bytes = args.max_hello_bytes
        self.secure_reneg = args.secure_renegotiation
        self.fallback_scsv = args.fallback_scsv
        self.client_auth = args.client_auth
        self.client_sigalgs = _common.parse_int_list(args.client_sigalgs, "sigalg")
        self.client_cert_types = _common.parse_int_list(args.client_cert_types, "cert type")
        self.client_cas = []
        if args.client_ca:
            self.client_cas = [cert_subject_der(c) for c in _common.load_pem_certs(args.client_ca)]
        for c in self.ciphers:
            if not 0 <= c <= 0xFFFF:
                raise SystemExit(f"cipher 0x{c:x} out of range")
            if c not in RSA_KX_SUITES:
                sys.stderr.write(f"warning: suite 0x{c:04X} is not a known RSA-key-exchange "
                                 "suite; this server sends no ServerKeyExchange\n")
        for c in self.ssl2_ciphers:
            if not 0 <= c <= 0xFFFFFF:
                raise SystemExit(f"SSLv2 cipher 0x{c:x} out of range")
        if len(self.chain[0]) > 32767 - 64:
            sys.stderr.write("warning: leaf certificate too large for an SSLv2 record\n")


CFG: Config


def pick(server_pref: list[int], client_list: list[int], client_order: bool) -> list[int]:
    """Common items, ordered by the server's preference or by the client's."""
    if client_order:
        s = set(server_pref)
        return [c for c in client_list if c in s]
    c = set(client_list)
    return [s for s in server_pref if s in c]


def send_alert_and_close(conn: Conn, version: int, desc: int) -> None:
    log(f"{conn.peer}: fatal alert {desc} (record version 0x{version:04x})")
    conn.sendall(alert_record(version, desc))
    conn.graceful_close()


def answer_tls(conn: Conn, ch: ClientHello) -> None:
    cfg = CFG
    # Version: client_version if we have it, else the highest we have below it.
    below = [v for v in cfg.tls_versions if v <= ch.client_version]
    if not below:
        send_alert_and_close(conn, ch.record_version, ALERT_PROTOCOL_VERSION)
        return
    version = below[-1]
    # RFC 7507 3: fallback SCSV and a version below our highest -> alert.
    if (cfg.fallback_scsv and SCSV_FALLBACK in ch.suites
            and version < cfg.tls_versions[-1]):
        send_alert_and_close(conn, version, ALERT_INAPPROPRIATE_FALLBACK)
        return
    usable = [c for c in cfg.ciphers if version >= 0x0303 or c not in TLS12_ONLY_SUITES]
    common = pick(usable, ch.suites, cfg.client_order)
    if not common:
        send_alert_and_close(conn, version, ALERT_HANDSHAKE_FAILURE)
        return
    if 0 not in ch.compressions:  # RFC 5246 7.4.1.2: null MUST be offered
        send_alert_and_close(conn, version, ALERT_ILLEGAL_PARAMETER)
        return
    suite = common[0]

    # ServerHello, RFC 5246 7.4.1.3 / RFC 6101 5.6.1.3:
    #   ProtocolVersion server_version (2) | Random random (32) |
    #   SessionID session_id<0..32> | CipherSuite cipher_suite (2) |
    #   CompressionMethod compression_method (1) |
    #   [ Extension extensions<0..2^16-1> ]   (only if non-empty)
    exts = b""
    if cfg.secure_reneg and (EXT_RENEGOTIATION_INFO in ch.extensions
                             or SCSV_EMPTY_RENEGOTIATION_INFO in ch.suites):
        # RFC 5746 3.2: extension_data = opaque renegotiated_connection<0..255>,
        # empty on the initial handshake -> the single byte 0x00.
        exts += u16(EXT_RENEGOTIATION_INFO) + vec16(vec8(b""))
    sh = u16(version) + os.urandom(32) + vec8(b"") + u16(suite) + u8(0)
    if exts:
        sh += vec16(exts)
    flight = handshake(HT_SERVER_HELLO, sh)

    # Certificate, RFC 5246 7.4.2 / RFC 6101 5.6.2:
    #   ASN.1Cert certificate_list<0..2^24-1>;  ASN.1Cert = opaque <1..2^24-1>
    flight += handshake(HT_CERTIFICATE, vec24(b"".join(vec24(c) for c in cfg.chain)))

    if cfg.client_auth:
        # CertificateRequest
        #  TLS 1.2 (RFC 5246 7.4.4):
        #    ClientCertificateType certificate_types<1..2^8-1>;
        #    SignatureAndHashAlgorithm supported_signature_algorithms<2..2^16-2>;
        #    DistinguishedName certificate_authorities<0..2^16-1>;
        #  TLS 1.0/1.1 (RFC 2246/4346 7.4.4), SSL 3.0 (RFC 6101 5.6.4): no sigalgs.
        #  DistinguishedName = opaque <1..2^16-1> (DER of the X.501 Name).
        types = cfg.client_cert_types
        if version == 0x0300:
            types = [t for t in types if t < 64] or [1]  # SSL 3.0 knows 1..6 only
        body = vec8(bytes(types))
        if version >= 0x0303:
            body += vec16(b"".join(u16(s) for s in cfg.client_sigalgs))
        body += vec16(b"".join(vec16(dn) for dn in cfg.client_cas))
        flight += handshake(HT_CERTIFICATE_REQUEST, body)

    # ServerHelloDone, RFC 5246 7.4.5: empty body.
    flight += handshake(HT_SERVER_HELLO_DONE, b"")

    log(f"{conn.peer}: ServerHello version 0x{version:04x} suite 0x{suite:04x}"
        f"{' +reneg_info' if exts else ''}{' +CertificateRequest' if cfg.client_auth else ''}")
    if not conn.sendall(records(CT_HANDSHAKE, version, flight)):
        return
    conn.drain(LINGER_AFTER_FLIGHT)


def read_tls_client_hello(conn: Conn, first: bytes) -> None:
    """Reassemble a ClientHello from one or more handshake records."""
    hs = bytearray()
    record_version = None
    header = first
    while True:
        rest = conn.recv_exact(5 - len(header), READ_TIMEOUT) if len(header) < 5 else b""
        if rest is None:
            log(f"{conn.peer}: closed/timeout in record header")
            return
        header += rest
        ctype, rver, rlen = header[0], struct.unpack("!H", header[1:3])[0], struct.unpack("!H", header[3:5])[0]
        alert_ver = rver if (rver >> 8) == 3 else 0x0301
        if record_version is None:
            record_version = rver
        if ctype != CT_HANDSHAKE:
            send_alert_and_close(conn, alert_ver, ALERT_UNEXPECTED_MESSAGE)
            return
        if (rver >> 8) != 3:
            send_alert_and_close(conn, 0x0301, ALERT_DECODE_ERROR)
            return
        if rlen > MAX_RECORD_FRAGMENT:
            send_alert_and_close(conn, alert_ver, ALERT_RECORD_OVERFLOW)
            return
        if rlen == 0:  # RFC 5246 6.2.1: no zero-length handshake fragments
            send_alert_and_close(conn, alert_ver, ALERT_DECODE_ERROR)
            return
        frag = conn.recv_exact(rlen, READ_TIMEOUT)
        if frag is None:
            log(f"{conn.peer}: closed/timeout in record body")
            return
        hs += frag
        if len(hs) >= 4:
            if hs[0] != HT_CLIENT_HELLO:
                send_alert_and_close(conn, alert_ver, ALERT_UNEXPECTED_MESSAGE)
                return
            mlen = int.from_bytes(hs[1:4], "big")
            if mlen > MAX_CLIENT_HELLO:
                send_alert_and_close(conn, alert_ver, ALERT_DECODE_ERROR)
                return
            if len(hs) >= 4 + mlen:
                break
        if len(hs) > MAX_CLIENT_HELLO + 4:
            send_alert_and_close(conn, alert_ver, ALERT_DECODE_ERROR)
            return
        header = b""
    ch = ClientHello()
    ch.record_version = record_version
    mlen = int.from_bytes(hs[1:4], "big")
    if CFG.max_hello_bytes and 4 + mlen > CFG.max_hello_bytes:
        # Emulates embedded stacks that fall over on large hellos: no alert, just gone.
        log(f"{conn.peer}: ClientHello of {4 + mlen} bytes > --max-hello-bytes; dropping")
        return
    try:
        parse_client_hello_body(bytes(hs[4:4 + mlen]), ch)
    except DecodeError as exc:
        log(f"{conn.peer}: malformed ClientHello: {exc}")
        send_alert_and_close(conn, record_version, ALERT_DECODE_ERROR)
        return
    log(f"{conn.peer}: TLS ClientHello version 0x{ch.client_version:04x}, "
        f"{len(ch.suites)} suites, extensions {sorted(hex(e) for e in ch.extensions)}")
    answer_tls(conn, ch)


def handle_ssl2(conn: Conn, first: bytes) -> None:
    """SSLv2 record with 2-byte header (draft-hickman, "SSL Record Header"):
         length = ((byte[0] & 0x7f) << 8) | byte[1]; no padding.
       CLIENT-HELLO (draft-hickman, "Client Only Protocol Messages"):
         char MSG-CLIENT-HELLO (1)
         char CLIENT-VERSION-MSB, CLIENT-VERSION-LSB
         char CIPHER-SPECS-LENGTH-MSB, -LSB      (multiple of 3)
         char SESSION-ID-LENGTH-MSB, -LSB        (0 or 16; 0..32 accepted)
         char CHALLENGE-LENGTH-MSB, -LSB         (16..32)
         char CIPHER-SPECS-DATA[], SESSION-ID-DATA[], CHALLENGE-DATA[]
       The SSLv3/TLS-compatible variant (RFC 6101 App. E, RFC 5246 App. E.2)
       has the same layout, version >= 0x0300 and 3-byte specs whose first
       byte 0x00 carries a TLS cipher suite."""
    second = conn.recv_exact(1, READ_TIMEOUT)
    if second is None:
        return
    hdr = first + second
    rlen = ((hdr[0] & 0x7F) << 8) | hdr[1]
    body = conn.recv_exact(rlen, READ_TIMEOUT) if rlen else b""
    if body is None:
        return
    try:
        r = Reader(body)
        if r.u8() != SSL2_MT_CLIENT_HELLO:
            raise DecodeError("not a CLIENT-HELLO")
        version = r.u16()
        cs_len, sid_len, ch_len = r.u16(), r.u16(), r.u16()
        if cs_len == 0 or cs_len % 3:
            raise DecodeError("bad CIPHER-SPECS-LENGTH")
        if sid_len > 32 or not 16 <= ch_len <= 32:
            raise DecodeError("bad SESSION-ID/CHALLENGE length")
        specs_raw = r.take(cs_len)
        r.take(sid_len)
        r.take(ch_len)
        if r.left():
            raise DecodeError("trailing bytes")
    except DecodeError as exc:
        log(f"{conn.peer}: malformed SSLv2 CLIENT-HELLO: {exc}")
        if len(body) >= 3 and body[1] == 3:
            send_alert_and_close(conn, 0x0301, ALERT_DECODE_ERROR)
        else:
            conn.graceful_close()
        return
    specs = [int.from_bytes(specs_raw[i:i + 3], "big") for i in range(0, cs_len, 3)]
    log(f"{conn.peer}: SSLv2 CLIENT-HELLO version 0x{version:04x}, {len(specs)} specs")

    if version >= 0x0300:
        ch = ClientHello()
        ch.client_version = version
        # No record version exists on this path; alerts use the hello's version
        # (capped at TLS 1.2).
        ch.record_version = min(version, 0x0303)
        ch.suites = [s & 0xFFFF for s in specs if s >> 16 == 0]
        ch.compressions = [0]
        answer_tls(conn, ch)
        return
    if version != 0x0002 or not CFG.ssl2:
        log(f"{conn.peer}: SSLv2 not enabled (or version 0x{version:04x}); closing")
        return

    common = pick(CFG.ssl2_ciphers, specs, CFG.client_order)
    if not common:
        # ERROR (draft-hickman): char MSG-ERROR (0) | ERROR-CODE-MSB, -LSB
        msg = u8(SSL2_MT_ERROR) + u16(SSL2_PE_NO_CIPHER)
        log(f"{conn.peer}: SSLv2 ERROR NO-CIPHER")
    else:
        cert = CFG.chain[0]
        conn_id = os.urandom(16)
        spec_bytes = b"".join(c.to_bytes(3, "big") for c in common)
        # SERVER-HELLO (draft-hickman, "Server Only Protocol Messages"):
        #   char MSG-SERVER-HELLO (4) | char SESSION-ID-HIT | char CERTIFICATE-TYPE
        #   char SERVER-VERSION-MSB, -LSB
        #   char CERTIFICATE-LENGTH-MSB, -LSB
        #   char CIPHER-SPECS-LENGTH-MSB, -LSB
        #   char CONNECTION-ID-LENGTH-MSB, -LSB
        #   char CERTIFICATE-DATA[] | CIPHER-SPECS-DATA[] | CONNECTION-ID-DATA[]
        msg = (u8(SSL2_MT_SERVER_HELLO) + u8(0) + u8(SSL2_CT_X509_CERTIFICATE)
               + u16(0x0002) + u16(len(cert)) + u16(len(spec_bytes)) + u16(len(conn_id))
               + cert + spec_bytes + conn_id)
        log(f"{conn.peer}: SSLv2 SERVER-HELLO with {len(common)} specs")
    if len(msg) > 0x7FFF:
        log(f"{conn.peer}: SSLv2 message too large ({len(msg)} bytes)")
        return
    # 2-byte record header: high bit set, 15-bit length.
    if conn.sendall(u16(0x8000 | len(msg)) + msg):
        conn.drain(LINGER_AFTER_FLIGHT)


def handle(conn: Conn) -> None:
    first = conn.recv_some(1, READ_TIMEOUT)
    if not first:
        return
    if first[0] & 0x80:
        handle_ssl2(conn, first)
    else:
        read_tls_client_hello(conn, first)


def main() -> None:
    p = _common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--chain", required=True,
                   help="PEM file with the certificate chain, leaf first")
    p.add_argument("--versions", default="ssl2,ssl3,tls1.0",
                   help="comma-separated subset of ssl2,ssl3,tls1.0,tls1.1,tls1.2 "
                        "(default %(default)s)")
    p.add_argument("--ciphers", default="0x000A,0x0005,0x0004,0x0009,0x0003,0x0006,0x0008",
                   help="TLS cipher suite codes in server preference order; RSA key "
                        "exchange only (default %(default)s)")
    p.add_argument("--ssl2-ciphers",
                   default="0x010080,0x020080,0x030080,0x040080,0x050080,0x060040,0x0700C0",
                   help="SSLv2 cipher kinds in server preference order (default %(default)s)")
    p.add_argument("--max-hello-bytes", type=int, default=0,
                   help="close without an alert when a ClientHello is larger than this "
                        "(emulates stacks that crash on big hellos; 0 = no limit)")
    p.add_argument("--client-order", action="store_true",
                   help="choose the first of the client's suites we support")
    p.add_argument("--secure-renegotiation", action="store_true",
                   help="answer renegotiation_info (0xff01) when the client sent it or "
                        "the SCSV 0x00FF")
    p.add_argument("--fallback-scsv", action="store_true",
                   help="honour TLS_FALLBACK_SCSV (0x5600): alert inappropriate_fallback")
    p.add_argument("--client-auth", action="store_true",
                   help="send a CertificateRequest")
    p.add_argument("--client-sigalgs", default="0x0401,0x0201",
                   help="TLS 1.2 CertificateRequest signature algorithms (default %(default)s)")
    p.add_argument("--client-cert-types", default="1,2,64",
                   help="CertificateRequest certificate_types (default %(default)s: "
                        "rsa_sign, dss_sign, ecdsa_sign)")
    p.add_argument("--client-ca", default=None,
                   help="PEM file; the subject DN of each certificate is listed in "
                        "the CertificateRequest")
    args = p.parse_args()
    global CFG
    CFG = Config(args)
    _common.serve(args, handle)


if __name__ == "__main__":
    main()
