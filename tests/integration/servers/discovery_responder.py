#!/usr/bin/env python3
"""Loopback device emulator for discovery tests (test code only).

Listens on one address with any mix of:
  --sip-udp PORT   SIP over UDP: answers OPTIONS with 200 OK (User-Agent, Server)
  --sip-tcp PORT   SIP over TCP: same, one request per connection
  --http PORT      HTTP: answers any request with Server header and <title>
  --https PORT     HTTPS (--cert/--key): TLS handshake, then as --http
  --tcp PORT       plain TCP listener: accepts and closes (an "open port")
  --udp PORT       UDP socket that never answers (a "silent" port)
PORT 0 lets the OS pick.  Prints "LISTEN KIND PORT" per socket, then
"READY".  Every contact is logged as "CONTACT KIND PORT FROM" so tests can
assert that an address was (or was never) probed.  Single-threaded
(selectors); exits after --max-seconds.
"""

from __future__ import annotations

import argparse
import selectors
import socket
import ssl
import sys
import time


def log(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def sip_response(request: bytes, user_agent: str, server: str) -> bytes | None:
    text = request.decode("utf-8", errors="replace")
    if "\r\n\r\n" not in text and "\n\n" not in text:
        return None
    lines = text.replace("\r\n", "\n").split("\n")
    echo = []
    for line in lines[1:]:
        if not line:
            break
        name = line.split(":", 1)[0].strip().lower()
        if name in ("via", "v", "from", "f", "to", "t", "call-id", "i", "cseq"):
            echo.append(line)
    out = ["SIP/2.0 200 OK"] + echo
    if user_agent:
        out.append(f"User-Agent: {user_agent}")
    if server:
        out.append(f"Server: {server}")
    out += ["Allow: INVITE, ACK, CANCEL, BYE, OPTIONS", "Content-Length: 0", "", ""]
    return "\r\n".join(out).encode()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--sip-udp", type=int, action="append", default=[])
    p.add_argument("--sip-tcp", type=int, action="append", default=[])
    p.add_argument("--http", type=int, action="append", default=[])
    p.add_argument("--https", type=int, action="append", default=[])
    p.add_argument("--cert", default="")
    p.add_argument("--key", default="")
    p.add_argument("--tcp", type=int, action="append", default=[])
    p.add_argument("--udp", type=int, action="append", default=[])
    p.add_argument("--user-agent", default="")
    p.add_argument("--server", default="")
    p.add_argument("--http-server", default="")
    p.add_argument("--http-title", default="")
    p.add_argument("--max-seconds", type=float, default=120.0)
    args = p.parse_args()

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sel = selectors.DefaultSelector()

    def bind(kind: str, port: int, tcp: bool) -> None:
        s = socket.socket(family, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((args.host, port))
        if tcp:
            s.listen(64)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, (kind, "listen" if tcp else "udp"))
        log(f"LISTEN {kind} {s.getsockname()[1]}")

    for port in args.sip_udp:
        bind("sip-udp", port, False)
    for port in args.udp:
        bind("udp", port, False)
    for port in args.sip_tcp:
        bind("sip-tcp", port, True)
    for port in args.http:
        bind("http", port, True)
    for port in args.https:
        bind("https", port, True)
    for port in args.tcp:
        bind("tcp", port, True)
    tls = None
    if args.https:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.cert, args.key or None)
    log("READY")

    def http_reply() -> bytes:
        body = f"<html><head><title>{args.http_title}</title></head><body>ok</body></html>"
        head = "HTTP/1.0 200 OK\r\n"
        if args.http_server:
            head += f"Server: {args.http_server}\r\n"
        head += f"Content-Type: text/html\r\nContent-Length: {len(body)}\r\n\r\n"
        return (head + body).encode()

    buffers: dict[socket.socket, bytes] = {}
    deadline = time.monotonic() + args.max_seconds
    while time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            kind, role = key.data
            port = s.getsockname()[1] if role != "conn" else 0
            if role == "udp":
                try:
                    data, peer = s.recvfrom(65535)
                except OSError:
                    continue
                log(f"CONTACT {kind} {port} {peer[0]}")
                if kind == "sip-udp":
                    resp = sip_response(data, args.user_agent, args.server)
                    if resp:
                        s.sendto(resp, peer)
            elif role == "listen":
                try:
                    conn, peer = s.accept()
                except OSError:
                    continue
                log(f"CONTACT {kind} {port} {peer[0]}")
                if kind == "tcp":
                    conn.close()
                    continue
                if kind == "https":
                    # Test code: one blocking TLS exchange per connection, bounded by a timeout.
                    try:
                        conn.settimeout(5)
                        with tls.wrap_socket(conn, server_side=True) as t:
                            buf = b""
                            while b"\r\n\r\n" not in buf and len(buf) < 65536:
                                chunk = t.recv(4096)
                                if not chunk:
                                    break
                                buf += chunk
                            t.sendall(http_reply())
                    except (OSError, ssl.SSLError):
                        conn.close()
                    continue
                conn.setblocking(False)
                buffers[conn] = b""
                sel.register(conn, selectors.EVENT_READ, (kind, "conn"))
            else:
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                buf = buffers.get(s, b"") + data
                reply = None
                if data and kind == "sip-tcp":
                    reply = sip_response(buf, args.user_agent, args.server)
                elif data and kind == "http" and (b"\r\n\r\n" in buf or b"\n\n" in buf):
                    reply = http_reply()
                if reply is not None or not data or len(buf) > 65536:
                    if reply is not None:
                        try:
                            s.setblocking(True)
                            s.settimeout(2)
                            s.sendall(reply)
                        except OSError:
                            pass
                    sel.unregister(s)
                    buffers.pop(s, None)
                    s.close()
                else:
                    buffers[s] = buf
    return 0


if __name__ == "__main__":
    sys.exit(main())
