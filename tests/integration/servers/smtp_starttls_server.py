#!/usr/bin/env python3
"""Minimal SMTP server with STARTTLS (RFC 5321 / RFC 3207), test code only.

Greeting "220 <banner>".  Before TLS:
  EHLO x    -> 250-mail.test / 250-STARTTLS / 250 SIZE 1000000
               (no 250-STARTTLS line with --no-starttls)
  HELO x    -> 250 mail.test
  STARTTLS  -> 220 Ready to start TLS, then the TLS handshake (Python ssl;
               same --cert/--key/--min-version/--max-version/--ciphers as
               sip_tls_server.py); with --no-starttls: 502
  NOOP/RSET -> 250 OK;  QUIT -> 221 and close
  other     -> 530 (must STARTTLS first) or, with --no-starttls, 502
After TLS: EHLO -> 250-mail.test / 250 SIZE 1000000, STARTTLS -> 503,
QUIT -> 221, NOOP/RSET -> 250, anything else -> 502.
Bounds: 4 KiB per line, 100 commands, 30 s idle timeout per command.
Plaintext pipelined after STARTTLS is discarded (RFC 3207 4.2).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
from _common import Conn, LineReader, log  # noqa: E402

MAX_LINE = 4096
MAX_COMMANDS = 100
IDLE_TIMEOUT = 30.0
HOSTNAME = "mail.test"

ARGS = None
CTX = None


def reply(conn: Conn, *lines: str) -> bool:
    """Multi-line reply: all but the last line use '-' after the code."""
    out = []
    for i, line in enumerate(lines):
        code, text = line[:3], line[4:]
        sep = " " if i == len(lines) - 1 else "-"
        out.append(f"{code}{sep}{text}\r\n")
    return conn.sendall("".join(out).encode("ascii"))


def handle(conn: Conn) -> None:
    if not reply(conn, f"220 {ARGS.banner}"):
        return
    reader = LineReader(conn, MAX_LINE)
    in_tls = False
    starttls = not ARGS.no_starttls
    for _ in range(MAX_COMMANDS):
        try:
            line = reader.readline(IDLE_TIMEOUT)
        except ValueError:
            reply(conn, "500 5.5.2 Line too long")
            return
        if line is None:
            return
        text = line.decode("ascii", errors="replace").strip()
        verb = text.split(" ", 1)[0].upper()
        log(f"{conn.peer}: {'[tls] ' if in_tls else ''}{text[:80]}")
        if verb == "EHLO":
            ext = ["250 STARTTLS"] if starttls and not in_tls else []
            reply(conn, f"250 {HOSTNAME}", *ext, "250 SIZE 1000000")
        elif verb == "HELO":
            reply(conn, f"250 {HOSTNAME}")
        elif verb in ("NOOP", "RSET"):
            reply(conn, "250 2.0.0 OK")
        elif verb == "QUIT":
            reply(conn, "221 2.0.0 Bye")
            if in_tls:
                _common.tls_close(conn)
            else:
                conn.graceful_close()
            return
        elif verb == "STARTTLS":
            if not starttls:
                reply(conn, "502 5.5.1 Command not implemented")
            elif in_tls:
                reply(conn, "503 5.5.1 TLS already active")
            else:
                if not reply(conn, "220 Ready to start TLS"):
                    return
                reader.buf.clear()  # RFC 3207 4.2: drop pipelined plaintext
                if not _common.tls_accept(conn, CTX):
                    return
                in_tls = True
                reader = LineReader(conn, MAX_LINE)
        elif starttls and not in_tls:
            reply(conn, "530 5.7.0 Must issue a STARTTLS command first")
        else:
            reply(conn, "502 5.5.2 Command not implemented")
    reply(conn, "421 4.7.0 Too many commands, closing connection")


def main() -> None:
    global ARGS, CTX
    p = _common.base_parser(__doc__.splitlines()[0])
    _common.add_tls_server_options(p, cert_required=False)
    p.add_argument("--no-starttls", action="store_true",
                   help="do not advertise STARTTLS; the command answers 502")
    p.add_argument("--banner", default=f"{HOSTNAME} ESMTP tlsaudit-test",
                   help="text after '220 ' in the greeting (default %(default)s)")
    ARGS = p.parse_args()
    if not ARGS.no_starttls:
        if not ARGS.cert:
            p.error("--cert is required unless --no-starttls is given")
        CTX = _common.make_server_context(ARGS)
    _common.serve(ARGS, handle)


if __name__ == "__main__":
    main()
