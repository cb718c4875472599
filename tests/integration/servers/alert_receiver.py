#!/usr/bin/env python3
"""Alert receivers for the alert delivery tests: an HTTP(S) endpoint (webhook, Alertmanager)
that records every request and can be told to fail, and syslog collectors over UDP and TCP
(RFC 6587 octet counting).

Test code only.  Standard library only (Python 3.11, Debian 12).

Every request or message is printed to stdout as one line, flushed at once:
  REQUEST {"method", "path", "headers": [[name, value]...], "body_b64", "arrived_ns", "answer"}
      answer: the status sent (200, 503...), "close" (the request was read and the connection
      closed without an answer) or "hang" (no answer until the client gave up)
  SYSLOG {"transport": "udp" | "tcp", "msg_b64"}
  BADFRAME {"transport": "tcp", "reason"}

--control FILE (http) is read at every request; its first line says how to answer:
  "ok [MS]" (or no file): 200, after MS milliseconds; "status N": N; "close"; "hang";
  "huge-body": 503 announcing 100 MiB of body and sending it until the client goes away;
  "huge-header": a status line followed by header lines without end.
"""

from __future__ import annotations

import base64
import json
import os
import select
import socket
import sys
import threading
import time

import _common

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 1 << 20
MAX_FRAME_BYTES = 1 << 20
IO_TIMEOUT = 10.0

_out_lock = threading.Lock()


def emit(kind: str, record: dict) -> None:
    with _out_lock:
        sys.stdout.write(kind + " " + json.dumps(record, separators=(",", ":")) + "\n")
        sys.stdout.flush()


def control_mode(path: str | None) -> tuple[str, int, float]:
    """(mode, status, delay_s): ("answer", status, delay) | (special mode, 0, 0)."""
    words: list[str] = []
    if path:
        try:
            with open(path, "r", encoding="ascii") as f:
                words = f.readline().split()
        except OSError:
            words = []
    if not words or words[0] == "ok":
        delay = int(words[1]) / 1000.0 if len(words) == 2 and words[1].isdigit() else 0.0
        return "answer", 200, delay
    if words[0] == "status" and len(words) == 2 and words[1].isdigit():
        return "answer", int(words[1]), 0.0
    if words[0] in ("close", "hang", "huge-body", "huge-header"):
        return words[0], 0, 0.0
    return "answer", 200, 0.0


REASONS = {200: "OK", 202: "Accepted", 204: "No Content", 400: "Bad Request",
           404: "Not Found", 409: "Conflict", 500: "Internal Server Error",
           503: "Service Unavailable"}


def handle_http(conn: _common.Conn, args) -> None:
    if args.cert and not _common.tls_accept(conn, args.tls_context):
        return
    reader = _common.LineReader(conn, max_line=8192)
    head = reader.read_until(b"\r\n\r\n", MAX_HEADER_BYTES, IO_TIMEOUT)
    if head is None:
        return
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        return
    method, path = parts[0], parts[1]
    headers = []
    length = 0
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers.append([name.strip(), value.strip()])
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length < 0 or length > MAX_BODY_BYTES:
        return
    body = reader.read_exact(length, IO_TIMEOUT) if length else b""
    if body is None:
        return
    mode, status, delay = control_mode(args.control)
    # When the request was complete: a record is written after its answer has been sent, so a
    # client's next request (on another thread) can be written first; tests order by this.
    # CLOCK_MONOTONIC is system-wide, so the order holds across restarts of the receiver too.
    record = {"method": method, "path": path, "headers": headers,
              "body_b64": base64.b64encode(body).decode("ascii"),
              "arrived_ns": time.monotonic_ns()}
    if mode in ("huge-body", "huge-header"):
        record["answer"] = mode
        emit("REQUEST", record)
        if mode == "huge-body":
            head = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 104857600\r\n\r\n"
            chunk = b"x" * 65536
        else:
            head = b"HTTP/1.1 200 OK\r\n"
            chunk = b"X-Filler: " + b"y" * 1000 + b"\r\n"
        if not conn.sendall(head):
            return
        sent = 0
        while sent < (100 << 20) and not conn.expired() and conn.sendall(chunk, timeout=2.0):
            sent += len(chunk)
        return
    if delay > 0:
        time.sleep(delay)
    if mode == "close":
        record["answer"] = "close"
        emit("REQUEST", record)
        return  # serve() closes the socket
    if mode == "hang":
        record["answer"] = "hang"
        emit("REQUEST", record)
        conn.drain(IO_TIMEOUT)  # until the client gives up and closes
        return
    payload = b'{"status":"success"}' if status < 300 else b"receiver told to fail"
    response = (f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                "Connection: close\r\n\r\n").encode("ascii") + payload
    if conn.sendall(response):
        record["answer"] = status
        emit("REQUEST", record)
    conn.graceful_close(linger=0.5)


def handle_syslog_tcp(conn: _common.Conn, args) -> None:
    reader = _common.LineReader(conn, max_line=MAX_FRAME_BYTES)
    while not conn.expired():
        # RFC 6587 §3.4.1: MSG-LEN SP SYSLOG-MSG, MSG-LEN = NONZERO-DIGIT *DIGIT.
        try:
            prefix = reader.read_until(b" ", 12, 3600.0)
        except ValueError:
            emit("BADFRAME", {"transport": "tcp", "reason": "no length within 11 octets"})
            return
        if prefix is None:
            return  # closed
        digits = prefix[:-1]
        if not digits.isdigit() or digits.startswith(b"0"):
            emit("BADFRAME", {"transport": "tcp", "reason": "bad length " + repr(digits)})
            return
        n = int(digits)
        if n > MAX_FRAME_BYTES:
            emit("BADFRAME", {"transport": "tcp", "reason": "frame too large"})
            return
        msg = reader.read_exact(n, IO_TIMEOUT)
        if msg is None:
            emit("BADFRAME", {"transport": "tcp", "reason": "truncated frame"})
            return
        emit("SYSLOG", {"transport": "tcp", "msg_b64": base64.b64encode(msg).decode("ascii")})


def serve_udp(args) -> None:
    family = _common.check_loopback(args.host)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sys.stdout.write(f"READY {sock.getsockname()[1]}\n")
    sys.stdout.flush()
    stop = threading.Event()
    import signal
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    deadline = time.monotonic() + args.max_seconds
    while not stop.is_set() and time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], _common.ACCEPT_POLL)
        if not ready:
            continue
        try:
            data, _peer = sock.recvfrom(65535)
        except OSError:
            continue
        emit("SYSLOG", {"transport": "udp", "msg_b64": base64.b64encode(data).decode("ascii")})
    sock.close()
    os._exit(0)


def main() -> None:
    p = _common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--mode", required=True, choices=["http", "syslog-tcp", "syslog-udp"])
    p.add_argument("--control", default=None, help="file telling the HTTP receiver how to answer")
    p.add_argument("--cert", default=None, help="serve HTTPS with this PEM chain")
    p.add_argument("--key", default=None, help="the chain's key (default: in --cert)")
    args = p.parse_args()
    if args.mode == "syslog-udp":
        serve_udp(args)
        return
    if args.cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        args.tls_context = ctx
    handler = handle_http if args.mode == "http" else handle_syslog_tcp
    _common.serve(args, lambda conn: handler(conn, args))


if __name__ == "__main__":
    main()
