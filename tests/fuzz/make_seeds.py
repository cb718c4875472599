#!/usr/bin/env python3
"""Records real server flights on loopback as seed inputs for the parser fuzzers.

Starts openssl s_server in a few configurations and the legacy responder, sends each a
hand-built ClientHello (or SSLv2 CLIENT-HELLO), and saves what comes back. Also copies the
test PKI's certificates (DER) as X.509 seeds. Loopback only; every wait is bounded.
Usage: make_seeds.py PKI_DIR CORPUS_DIR
"""
import os
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def client_hello(version, suites, tls13=False):
    # RFC 5246 §7.4.1.2; TLS 1.3 additions per RFC 8446 §4.1.2 (x25519 key share is random
    # bytes: enough to get a ServerHello).
    exts = b""
    groups = struct.pack("!H", 6) + struct.pack("!HHH", 29, 23, 24)
    exts += struct.pack("!HH", 10, len(groups)) + groups
    exts += struct.pack("!HH", 11, 2) + b"\x01\x00"
    sig = struct.pack("!H", 8) + struct.pack("!HHHH", 0x0804, 0x0401, 0x0403, 0x0201)
    exts += struct.pack("!HH", 13, len(sig)) + sig
    exts += struct.pack("!HH", 0xFF01, 1) + b"\x00"
    exts += struct.pack("!HH", 5, 5) + b"\x01\x00\x00\x00\x00"
    if tls13:
        exts += struct.pack("!HH", 43, 3) + b"\x02\x03\x04"
        share = struct.pack("!HH", 29, 32) + os.urandom(32)
        exts += struct.pack("!HH", 51, len(share) + 2) + struct.pack("!H", len(share)) + share
    body = struct.pack("!H", version) + os.urandom(32) + b"\x20" + os.urandom(32)
    body += struct.pack("!H", 2 * len(suites)) + b"".join(struct.pack("!H", s) for s in suites)
    body += b"\x01\x00" + struct.pack("!H", len(exts)) + exts
    hs = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def ssl2_hello():
    specs = bytes.fromhex("010080 020080 030080 040080 050080 060040 0700c0".replace(" ", ""))
    challenge = os.urandom(16)
    msg = b"\x01\x00\x02" + struct.pack("!HHH", len(specs), 0, len(challenge)) + specs + challenge
    return bytes([0x80 | (len(msg) >> 8), len(msg) & 0xFF]) + msg


def record(port, hello, out_path):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    else:
        print("no server on", port)
        return
    s.sendall(hello)
    data = b""
    s.settimeout(1.0)
    try:
        while len(data) < 65536:
            chunk = s.recv(16384)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    s.close()
    if data:
        with open(out_path, "wb") as f:
            f.write(data)


def main():
    pki, corpus = sys.argv[1], sys.argv[2]
    flights = os.path.join(corpus, "server_flight_fuzz")
    ssl2 = os.path.join(corpus, "ssl2_flight_fuzz")
    x509 = os.path.join(corpus, "x509_analysis_fuzz")
    for d in (flights, ssl2, x509):
        os.makedirs(d, exist_ok=True)
    configs = [
        ("tls12-rsa-clientauth", ["-tls1_2", "-Verify", "1", "-CAfile", f"{pki}/clientca-root.crt",
                                  "-cert", f"{pki}/rsa-leaf.crt", "-key", f"{pki}/rsa-leaf.key"],
         client_hello(0x0303, [0xC02F, 0x009C])),
        ("tls12-dhe", ["-tls1_2", "-cipher", "DHE-RSA-AES128-GCM-SHA256", "-cert", f"{pki}/rsa-leaf.crt",
                       "-key", f"{pki}/rsa-leaf.key"], client_hello(0x0303, [0x009E])),
        ("tls10-md5", ["-tls1", "-cipher", "AES128-SHA:@SECLEVEL=0", "-cert", f"{pki}/md5-leaf.crt",
                       "-key", f"{pki}/md5-leaf.key", "-cert_chain", f"{pki}/md5-root.crt"],
         client_hello(0x0301, [0x002F])),
        ("tls13", ["-tls1_3", "-cert", f"{pki}/ecdsa-leaf.crt", "-key", f"{pki}/ecdsa-leaf.key"],
         client_hello(0x0303, [0x1301], tls13=True)),
        ("alert", ["-tls1_2", "-cipher", "AES256-SHA", "-cert", f"{pki}/rsa-leaf.crt", "-key",
                   f"{pki}/rsa-leaf.key"], client_hello(0x0303, [0xC02B])),
    ]
    for name, args, hello in configs:
        port = free_port()
        p = subprocess.Popen(["openssl", "s_server", "-quiet", "-accept", f"127.0.0.1:{port}"] + args,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            record(port, hello, os.path.join(flights, name))
        finally:
            p.terminate()
            p.wait(timeout=5)
    legacy = os.path.join(ROOT, "tests/integration/servers/legacy_tls_server.py")
    p = subprocess.Popen([sys.executable, legacy, "--chain", f"{pki}/md5-chain.pem", "--max-seconds", "30"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(p.stdout.readline().split()[1])
        record(port, ssl2_hello(), os.path.join(ssl2, "sslv2-server-hello"))
        record(port, client_hello(0x0300, [0x0004, 0x000A]), os.path.join(flights, "sslv3-legacy"))
    finally:
        p.terminate()
        p.wait(timeout=5)
    for name in ("md5-leaf", "sha1-leaf", "ecdsa-leaf", "rsa-root", "expired-leaf"):
        der = subprocess.run(["openssl", "x509", "-in", f"{pki}/{name}.crt", "-outform", "DER"],
                             capture_output=True, check=True).stdout
        with open(os.path.join(x509, name), "wb") as f:
            f.write(der)
    print("seeds:", {d: len(os.listdir(os.path.join(corpus, d))) for d in os.listdir(corpus)})


if __name__ == "__main__":
    main()
