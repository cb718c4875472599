"""Shared plumbing for the tlsaudit integration-test servers.

Test code only.  Standard library only (Python 3.11, Debian 12).

Every server built on this module:
  * binds to a loopback address only (127.0.0.1 / ::1; anything else is refused),
  * prints exactly ``READY <port>`` on its own line to stdout once listening,
  * runs one daemon thread per connection (at most --max-conns at a time),
  * exits with status 0 on SIGTERM/SIGINT or after --max-seconds.

Handlers receive a ``Conn`` object that carries the socket plus a ``stop``
event and a per-connection ``deadline`` (monotonic clock) they must honour.
Nothing is logged unless --verbose is given (a test that never drains our
stderr must not be able to block us on a full pipe).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import socket
import ssl
import sys
import threading
import time
import warnings
from typing import Callable, Optional

DEFAULT_MAX_SECONDS = 600.0
DEFAULT_MAX_CONNS = 64
ACCEPT_POLL = 0.2  # seconds; how quickly the accept loop notices stop/deadline

_verbose = False
_log_lock = threading.Lock()


def log(msg: str) -> None:
    if not _verbose:
        return
    with _log_lock:
        try:
            sys.stderr.write(f"[{os.path.basename(sys.argv[0])}] {msg}\n")
            sys.stderr.flush()
        except Exception:
            pass


def base_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default="127.0.0.1",
                   help="loopback address to bind: 127.0.0.1 (default) or ::1")
    p.add_argument("--port", type=int, default=0,
                   help="TCP port to bind (default 0: the OS picks; see the READY line)")
    p.add_argument("--max-seconds", type=float, default=DEFAULT_MAX_SECONDS,
                   help="exit by itself after this many seconds (default %(default)s)")
    p.add_argument("--max-conns", type=int, default=DEFAULT_MAX_CONNS,
                   help="concurrent connections; extra ones are closed at once "
                        "(default %(default)s)")
    p.add_argument("--verbose", action="store_true",
                   help="log connections and errors to stderr")
    return p


def add_tls_server_options(p: argparse.ArgumentParser, cert_required: bool = True) -> None:
    """Options shared by the Python-ssl based servers (SIP over TLS, STARTTLS)."""
    p.add_argument("--cert", required=cert_required,
                   help="PEM file: server certificate chain, leaf first "
                        "(may also hold the private key)")
    p.add_argument("--key", default=None,
                   help="PEM private key (default: taken from --cert)")
    p.add_argument("--min-version", default="TLSv1", choices=TLS_VERSION_NAMES,
                   help="lowest protocol version (default %(default)s)")
    p.add_argument("--max-version", default="TLSv1_2", choices=TLS_VERSION_NAMES,
                   help="highest protocol version (default %(default)s)")
    p.add_argument("--ciphers", default="ALL:@SECLEVEL=0",
                   help="OpenSSL cipher string for TLS <= 1.2 (default %(default)s)")


TLS_VERSION_NAMES = ["TLSv1", "TLSv1_1", "TLSv1_2", "TLSv1_3"]


def make_server_context(args: argparse.Namespace) -> ssl.SSLContext:
    """SSLContext for a deliberately permissive legacy server.

    OpenSSL 3 refuses TLS 1.0/1.1 at the default security level 1+ (their
    handshake signatures use MD5/SHA-1), so the cipher string carries
    @SECLEVEL=0; minimum_version must also be lowered explicitly.
    """
    with warnings.catch_warnings():
        # ssl.TLSVersion.TLSv1 / TLSv1_1 raise DeprecationWarning on 3.10+.
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.set_ciphers(args.ciphers)
        ctx.minimum_version = getattr(ssl.TLSVersion, args.min_version)
        ctx.maximum_version = getattr(ssl.TLSVersion, args.max_version)
    ctx.load_cert_chain(args.cert, args.key)
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def check_loopback(host: str) -> socket.AddressFamily:
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise SystemExit(f"--host must be a numeric loopback address, got {host!r}")
    if not addr.is_loopback:
        raise SystemExit(f"--host must be a loopback address (127.0.0.1 or ::1), got {host!r}")
    return socket.AF_INET6 if addr.version == 6 else socket.AF_INET


class Conn:
    """One accepted connection, handed to a handler in its own thread."""

    def __init__(self, sock: socket.socket, peer, stop: threading.Event, deadline: float):
        self.sock = sock
        self.peer = peer
        self.stop = stop
        self.deadline = deadline  # time.monotonic() value; global --max-seconds end

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def expired(self) -> bool:
        return self.stop.is_set() or self.remaining() <= 0

    # -- bounded I/O helpers -------------------------------------------------

    def recv_some(self, n: int, timeout: float) -> Optional[bytes]:
        """recv() at most n bytes, waiting at most `timeout` s (and never past the
        deadline or a stop request).  b'' means the peer closed; None means
        nothing arrived in time."""
        end = time.monotonic() + timeout
        while True:
            if self.expired():
                return None
            left = min(end, self.deadline) - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(min(left, 0.5))
            try:
                return self.sock.recv(n)
            except socket.timeout:
                continue
            except (ConnectionError, OSError):
                return b""

    def recv_exact(self, n: int, timeout: float) -> Optional[bytes]:
        """Exactly n bytes within `timeout` s overall, else None (closed/timeout)."""
        end = time.monotonic() + timeout
        buf = bytearray()
        while len(buf) < n:
            left = end - time.monotonic()
            if left <= 0:
                return None
            chunk = self.recv_some(n - len(buf), left)
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    def sendall(self, data: bytes, timeout: float = 10.0) -> bool:
        self.sock.settimeout(timeout)
        try:
            self.sock.sendall(data)
            return True
        except (OSError, socket.timeout):
            return False

    def drain(self, timeout: float, max_bytes: int = 1 << 20) -> None:
        """Read and discard until the peer closes, `timeout` s pass, `max_bytes`
        have been read, or we are told to stop."""
        end = time.monotonic() + timeout
        total = 0
        while total < max_bytes:
            left = end - time.monotonic()
            if left <= 0:
                return
            chunk = self.recv_some(65536, left)
            if not chunk:
                return
            total += len(chunk)

    def graceful_close(self, linger: float = 2.0) -> None:
        """Send FIN, then drain what the peer still sends for a moment before
        close(): closing with unread data queued would turn our FIN into an RST
        and could destroy the bytes we just sent before the client reads them."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.drain(linger)
        close_quietly(self.sock)


def tls_accept(conn: Conn, ctx: ssl.SSLContext, timeout: float = 10.0) -> bool:
    """Server-side TLS handshake on conn.sock; on success conn.sock becomes the
    SSLSocket (the Conn I/O helpers then work on decrypted data)."""
    conn.sock.settimeout(timeout)
    try:
        tls = ctx.wrap_socket(conn.sock, server_side=True, do_handshake_on_connect=False)
        conn.sock = tls
        tls.do_handshake()
    except (ssl.SSLError, OSError) as exc:  # socket.timeout is an OSError
        log(f"{conn.peer}: TLS handshake failed: {exc!r}")
        return False
    log(f"{conn.peer}: TLS {tls.version()} {tls.cipher()[0] if tls.cipher() else '?'}")
    return True


def tls_close(conn: Conn, timeout: float = 1.0) -> None:
    """Send a TLS close_notify (waiting briefly for the peer's), then close."""
    tls = conn.sock
    if isinstance(tls, ssl.SSLSocket):
        tls.settimeout(timeout)
        try:
            conn.sock = tls.unwrap()
        except (ssl.SSLError, OSError):
            pass
    conn.graceful_close(linger=timeout)


class LineReader:
    """CRLF (or bare LF) line reader over a Conn with a per-line byte cap."""

    def __init__(self, conn: Conn, max_line: int):
        self.conn = conn
        self.max_line = max_line
        self.buf = bytearray()

    def readline(self, timeout: float) -> Optional[bytes]:
        """One line without its terminator; None on close/timeout; raises
        ValueError if the line exceeds max_line."""
        end = time.monotonic() + timeout
        while True:
            i = self.buf.find(b"\n")
            if i > self.max_line:
                raise ValueError("line too long")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 1]
                return line[:-1] if line.endswith(b"\r") else line
            if len(self.buf) > self.max_line:
                raise ValueError("line too long")
            left = end - time.monotonic()
            if left <= 0:
                return None
            chunk = self.conn.recv_some(4096, left)
            if not chunk:
                return None
            self.buf += chunk

    def read_until(self, marker: bytes, cap: int, timeout: float) -> Optional[bytes]:
        """Bytes up to and including `marker`; None on close/timeout; raises
        ValueError if `cap` bytes arrive without it."""
        end = time.monotonic() + timeout
        while True:
            i = self.buf.find(marker)
            if i + len(marker) > cap:
                raise ValueError("no terminator within cap")
            if i >= 0:
                out = bytes(self.buf[:i + len(marker)])
                del self.buf[:i + len(marker)]
                return out
            if len(self.buf) >= cap:
                raise ValueError("no terminator within cap")
            left = end - time.monotonic()
            if left <= 0:
                return None
            chunk = self.conn.recv_some(min(4096, cap - len(self.buf) + len(marker)), left)
            if not chunk:
                return None
            self.buf += chunk

    def read_exact(self, n: int, timeout: float) -> Optional[bytes]:
        if len(self.buf) < n:
            more = self.conn.recv_exact(n - len(self.buf), timeout)
            if more is None:
                return None
            self.buf += more
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


class BerError(ValueError):
    """A BER/DER element that cannot be read."""


def ber_tlv(buf: bytes, pos: int) -> tuple[int, int, int]:
    """One BER/DER element at pos -> (tag, content_start, content_end).

    Low tag numbers and definite lengths of up to four octets only (X.690
    §8.1.2-8.1.3): enough for certificates and LDAP (RFC 4511 §5.1)."""
    if pos + 2 > len(buf):
        raise BerError("truncated header")
    tag = buf[pos]
    if tag & 0x1F == 0x1F:
        raise BerError("high tag numbers not supported")
    ln = buf[pos + 1]
    pos += 2
    if ln & 0x80:
        n = ln & 0x7F
        if n == 0 or n > 4 or pos + n > len(buf):
            raise BerError("indefinite or oversized length")
        ln = int.from_bytes(buf[pos:pos + n], "big")
        pos += n
    if pos + ln > len(buf):
        raise BerError("content overruns buffer")
    return tag, pos, pos + ln


def close_quietly(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass


def serve(args: argparse.Namespace, handler: Callable[[Conn], None]) -> None:
    """Bind, print READY, accept forever (until signal or --max-seconds)."""
    global _verbose
    _verbose = bool(getattr(args, "verbose", False))
    family = check_loopback(args.host)
    if not (0 <= args.port <= 65535):
        raise SystemExit("--port must be 0..65535")
    if args.max_seconds <= 0:
        raise SystemExit("--max-seconds must be > 0")

    stop = threading.Event()
    deadline = time.monotonic() + args.max_seconds

    def on_signal(signum, _frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    lsock = socket.socket(family, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        lsock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    lsock.bind((args.host, args.port))
    lsock.listen(128)
    lsock.settimeout(ACCEPT_POLL)
    port = lsock.getsockname()[1]
    sys.stdout.write(f"READY {port}\n")
    sys.stdout.flush()
    log(f"listening on {args.host} port {port}")

    slots = threading.BoundedSemaphore(max(1, args.max_conns))
    live: set[socket.socket] = set()
    live_lock = threading.Lock()

    def run(sock: socket.socket, peer) -> None:
        conn = Conn(sock, peer, stop, deadline)
        try:
            handler(conn)
        except Exception as exc:  # a test server must survive any client
            log(f"{peer}: handler error: {exc!r}")
        finally:
            close_quietly(conn.sock)  # the SSLSocket, if the handler wrapped it
            close_quietly(sock)
            with live_lock:
                live.discard(sock)
            slots.release()
            log(f"{peer}: closed")

    while not stop.is_set() and time.monotonic() < deadline:
        try:
            sock, peer = lsock.accept()
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        except OSError as exc:
            log(f"accept failed: {exc!r}")
            time.sleep(ACCEPT_POLL)
            continue
        log(f"{peer}: accepted")
        if not slots.acquire(blocking=False):
            log(f"{peer}: too many connections, closing")
            close_quietly(sock)
            continue
        with live_lock:
            live.add(sock)
        t = threading.Thread(target=run, args=(sock, peer), daemon=True)
        t.start()

    log("stopping" if stop.is_set() else "--max-seconds reached, stopping")
    close_quietly(lsock)
    stop.set()
    with live_lock:
        for s in list(live):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    time.sleep(0.1)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    # Daemon threads may sit in blocking socket/ssl calls; do not let
    # interpreter finalisation race with them.
    os._exit(0)


def parse_int_list(text: str, what: str) -> list[int]:
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            out.append(int(item, 0))
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad {what} value {item!r}")
    return out


def load_pem_certs(path: str) -> list[bytes]:
    """All CERTIFICATE blocks of a PEM file, as DER, in file order."""
    with open(path, "r", encoding="ascii", errors="replace") as f:
        text = f.read()
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    ders = []
    pos = 0
    while True:
        b = text.find(begin, pos)
        if b < 0:
            break
        e = text.find(end, b)
        if e < 0:
            raise SystemExit(f"{path}: unterminated PEM certificate block")
        ders.append(ssl.PEM_cert_to_DER_cert(text[b:e + len(end)] + "\n"))
        pos = e + len(end)
    if not ders:
        raise SystemExit(f"{path}: no PEM certificate found")
    return ders
