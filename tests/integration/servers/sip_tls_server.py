#!/usr/bin/env python3
"""SIP over TLS endpoint emulating a legacy IP phone (test code only).

Python ssl server (OpenSSL cipher string 'ALL:@SECLEVEL=0' by default so
that TLS 1.0/1.1 and weak suites work with Debian's OpenSSL 3).  After the
handshake it reads SIP requests (header block up to CRLFCRLF, capped at
16 KiB; a Content-Length body up to 64 KiB is read and discarded):
  OPTIONS    -> SIP/2.0 200 OK echoing Via/From/To/Call-ID/CSeq (a To tag is
                added when absent, RFC 3261 8.2.6.2), User-Agent, optional
                Server, Allow, Content-Length: 0
  ACK        -> no response (RFC 3261 17.2.1)
  other      -> SIP/2.0 501 Not Implemented (same echoed headers)
  unparsable -> SIP/2.0 400 Bad Request, then close
Several requests per connection are served (up to 100, 30 s idle timeout).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
from _common import Conn, LineReader, log  # noqa: E402

MAX_HEADER = 16 * 1024
MAX_BODY = 64 * 1024
IDLE_TIMEOUT = 30.0
MAX_REQUESTS = 100

# canonical name -> accepted spellings (RFC 3261 7.3.3 compact forms)
ECHO = [("Via", ("via", "v")), ("From", ("from", "f")), ("To", ("to", "t")),
        ("Call-ID", ("call-id", "i")), ("CSeq", ("cseq",))]

ARGS = None
CTX = None


def parse_headers(block: bytes) -> tuple[list[str], list[tuple[str, str]]]:
    text = block.decode("utf-8", errors="replace")
    lines = text.replace("\r\n", "\n").split("\n")
    request_line = lines[0].split()
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t" and headers:  # RFC 3261 7.3.1 header folding
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip())
            continue
        if ":" not in line:
            raise ValueError(f"bad header line {line!r}")
        name, value = line.split(":", 1)
        headers.append((name.strip(), value.strip()))
    return request_line, headers


def response(status: str, headers: list[tuple[str, str]], tag: str) -> bytes:
    out = [f"SIP/2.0 {status}"]
    for canon, names in ECHO:
        for name, value in headers:
            if name.lower() in names:
                if canon == "To" and ";tag=" not in value.replace(" ", "").lower():
                    value += f";tag={tag}"
                out.append(f"{canon}: {value}")
    out.append(f"User-Agent: {ARGS.user_agent}")
    if ARGS.server_header is not None:
        out.append(f"Server: {ARGS.server_header}")
    out.append("Allow: INVITE, ACK, CANCEL, OPTIONS, BYE")
    out.append("Content-Length: 0")
    return ("\r\n".join(out) + "\r\n\r\n").encode("utf-8")


def handle(conn: Conn) -> None:
    if not _common.tls_accept(conn, CTX):
        return
    reader = LineReader(conn, MAX_HEADER)
    tag = os.urandom(4).hex()
    for _ in range(MAX_REQUESTS):
        try:
            block = reader.read_until(b"\r\n\r\n", MAX_HEADER, IDLE_TIMEOUT)
        except ValueError:
            log(f"{conn.peer}: header block over {MAX_HEADER} bytes")
            conn.sendall(response("400 Bad Request", [], tag))
            return
        if block is None:
            return
        block = block.lstrip(b"\r\n")  # RFC 3261 7.5: tolerate keep-alive CRLFs
        if not block.strip():
            continue
        try:
            request_line, headers = parse_headers(block)
            if len(request_line) != 3 or request_line[2].upper() != "SIP/2.0":
                raise ValueError(f"bad request line {request_line!r}")
        except ValueError as exc:
            log(f"{conn.peer}: {exc}")
            conn.sendall(response("400 Bad Request", [], tag))
            return
        method = request_line[0].upper()
        length = 0
        for name, value in headers:
            if name.lower() in ("content-length", "l"):
                try:
                    length = int(value)
                except ValueError:
                    length = -1
        if not 0 <= length <= MAX_BODY:
            conn.sendall(response("400 Bad Request", headers, tag))
            return
        if length and reader.read_exact(length, IDLE_TIMEOUT) is None:
            return
        log(f"{conn.peer}: {method} {request_line[1]}")
        if method == "ACK":
            continue
        status = "200 OK" if method == "OPTIONS" else "501 Not Implemented"
        if not conn.sendall(response(status, headers, tag)):
            return


def main() -> None:
    global ARGS, CTX
    p = _common.base_parser(__doc__.splitlines()[0])
    _common.add_tls_server_options(p, cert_required=True)
    p.add_argument("--user-agent", default="Cisco-CP7960G/8.0",
                   help="User-Agent header of responses (default %(default)s)")
    p.add_argument("--server-header", default=None,
                   help="add 'Server: VALUE' to responses (omitted by default)")
    ARGS = p.parse_args()
    CTX = _common.make_server_context(ARGS)
    _common.serve(ARGS, handle)


if __name__ == "__main__":
    main()
