#!/usr/bin/env python3
"""Minimal SMTP server with STARTTLS (RFC 5321 / RFC 3207), test code only.

The SMTP mode of starttls_server.py (same options, --protocol defaults to
smtp).  Greeting "220 <banner>".  Before TLS:
  EHLO x    -> 250-mail.test / 250-STARTTLS / 250 SIZE 1000000
               (no 250-STARTTLS line with --no-starttls)
  HELO x    -> 250 mail.test
  STARTTLS  -> 220 Ready to start TLS, then the TLS handshake (Python ssl;
               same --cert/--key/--min-version/--max-version/--ciphers as
               sip_tls_server.py); with --no-starttls: 502; with --refuse: 454
  NOOP/RSET -> 250 OK;  QUIT -> 221 and close
  other     -> 530 (must STARTTLS first) or, with --no-starttls, 502
After TLS: EHLO -> 250-mail.test / 250 SIZE 1000000, STARTTLS -> 503,
QUIT -> 221, NOOP/RSET -> 250, anything else -> 502.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import starttls_server  # noqa: E402

if __name__ == "__main__":
    starttls_server.main(default_protocol="smtp")
