#!/usr/bin/env python3
"""Tarpit: accepts connections and never sends a byte (test code only).

Each connection is read and discarded until the client closes, --max-bytes
have been read (then it is closed), or the server stops (--max-seconds,
SIGTERM/SIGINT).  Used to check the scanner's connect/handshake timeouts.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
from _common import Conn, log  # noqa: E402

MAX_BYTES = 1 << 20


def handle(conn: Conn) -> None:
    total = 0
    while total < MAX_BYTES:
        chunk = conn.recv_some(65536, conn.remaining())
        if not chunk:  # closed by the client, or stop/deadline reached
            break
        total += len(chunk)
    log(f"{conn.peer}: discarded {total} bytes")


def main() -> None:
    global MAX_BYTES
    p = _common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--max-bytes", type=int, default=MAX_BYTES,
                   help="close a connection after reading this much (default %(default)s)")
    args = p.parse_args()
    MAX_BYTES = args.max_bytes
    _common.serve(args, handle)


if __name__ == "__main__":
    main()
