#!/usr/bin/env python3
"""Misbehaving "TLS" server for robustness tests (test code only).

Modes (--mode):
  random           4096 random bytes, then close.
  oversize-record  a handshake record header claiming length 0xFFFF (over the
                   2^14+2048 limit of RFC 5246 6.2.3) plus 100 bytes, then
                   silence with the connection kept open.
  huge-handshake   a valid record holding a handshake header of type
                   ServerHello (2) claiming length 0xFFFFFF, then 16 KiB of
                   filler in 4 records of 4 KiB, then silence.
  reset            accept and close at once with SO_LINGER 0 (TCP RST).
  http             "HTTP/1.1 400 Bad Request" response, then close.
  truncated        a well-formed ServerHello record cut off mid-message, then
                   close (FIN).
  slow-drip        a valid fatal handshake_failure alert record
                   (15 03 03 00 02 02 28), one byte per --drip-interval
                   seconds, then close.

Except for `reset`, the server first waits up to --wait-first seconds for
the client's first bytes (its ClientHello) and reads them, so that the
client's data is consumed before we answer/close (closing with unread data
queued would make the kernel send RST instead of FIN).  --wait-first 0 sends
immediately.  "Silence" = read and discard (bounded) until the client closes
or the server stops.  Record versions are 0x0303.
"""

from __future__ import annotations

import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
from _common import Conn, log  # noqa: E402

MODES = ["random", "oversize-record", "huge-handshake", "reset", "http",
         "truncated", "slow-drip"]
SILENCE_MAX_BYTES = 1 << 20

ARGS = None


def rec(ctype: int, payload: bytes, length: int | None = None) -> bytes:
    """RFC 5246 6.2.1 record header: type(1) version(2) length(2)."""
    return struct.pack("!BHH", ctype, 0x0303, len(payload) if length is None else length) + payload


def server_hello_body() -> bytes:
    """RFC 5246 7.4.1.3 ServerHello body: version, random, session_id<0..32>,
    cipher_suite, compression_method, extensions (renegotiation_info)."""
    ext = struct.pack("!HH", 0xFF01, 1) + b"\x00"
    return (struct.pack("!H", 0x0303) + os.urandom(32) + b"\x20" + os.urandom(32)
            + struct.pack("!H", 0x002F) + b"\x00" + struct.pack("!H", len(ext)) + ext)


def silence(conn: Conn) -> None:
    conn.drain(max(conn.remaining(), 0), SILENCE_MAX_BYTES)


def handle(conn: Conn) -> None:
    mode = ARGS.mode
    if mode == "reset":
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.sock.close()
        return
    if ARGS.wait_first > 0:
        got = conn.recv_some(65536, ARGS.wait_first)
        log(f"{conn.peer}: first flight {len(got) if got else 0} bytes")
        if got == b"":
            return

    if mode == "random":
        rnd = random.Random(ARGS.seed) if ARGS.seed is not None else random.SystemRandom()
        conn.sendall(bytes(rnd.getrandbits(8) for _ in range(4096)))
        conn.graceful_close()
    elif mode == "oversize-record":
        # handshake header consistent with the (too large) record length
        body = b"\x02" + (0xFFFF - 4).to_bytes(3, "big") + server_hello_body()
        body = (body + bytes(100))[:100]
        conn.sendall(rec(22, body, length=0xFFFF))
        silence(conn)
    elif mode == "huge-handshake":
        conn.sendall(rec(22, b"\x02\xff\xff\xff"))
        filler = server_hello_body() + bytes(16384)
        filler = filler[:16384]
        for i in range(0, 16384, 4096):
            if not conn.sendall(rec(22, filler[i:i + 4096])):
                return
        silence(conn)
    elif mode == "http":
        body = (b"<html><head><title>400 Bad Request</title></head><body>"
                b"<h1>400 Bad Request</h1></body></html>\r\n")
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n"
                     b"Server: nginx\r\n"
                     b"Content-Type: text/html\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n"
                     b"Connection: close\r\n\r\n" + body)
        conn.graceful_close()
    elif mode == "truncated":
        body = server_hello_body()
        full = rec(22, b"\x02" + len(body).to_bytes(3, "big") + body)
        # record header + handshake header + first 20 body bytes (of 77): the
        # record and handshake lengths promise more than ever arrives.
        conn.sendall(full[:5 + 4 + 20])
        conn.graceful_close()
    elif mode == "slow-drip":
        alert = rec(21, b"\x02\x28")
        for i, b in enumerate(alert):
            if i and conn.stop.wait(ARGS.drip_interval):
                return
            if conn.expired() or not conn.sendall(bytes([b])):
                return
        conn.graceful_close()


def main() -> None:
    global ARGS
    p = _common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--mode", required=True, choices=MODES)
    p.add_argument("--wait-first", type=float, default=3.0,
                   help="seconds to wait for the client's first bytes before "
                        "misbehaving; 0 = do not wait (default %(default)s)")
    p.add_argument("--drip-interval", type=float, default=1.0,
                   help="slow-drip: seconds between bytes (default %(default)s)")
    p.add_argument("--seed", type=int, default=None,
                   help="random: seed for reproducible bytes")
    ARGS = p.parse_args()
    _common.serve(ARGS, handle)


if __name__ == "__main__":
    main()
