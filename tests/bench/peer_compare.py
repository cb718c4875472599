#!/usr/bin/env python3
"""Peer benchmark: `tlsaudit scan` against sslscan and testssl.sh on loopback endpoints.

Python 3.11, standard library only.  Normally started by run_peers.sh, which puts this
process into a fresh network namespace that holds nothing but a loopback interface; `run`
refuses to start anywhere else, so no probe can leave the machine.

    peer_compare.py run [--quick] [--endpoints a,b] [--tools t,u] [--results DIR]
    peer_compare.py render RESULTS.json          # reprint the tables of a saved run

What `run` does, per endpoint and per tool (tools run one after another, each against a
freshly started server so that no tool inherits another's leftovers):

  * wall time of the tool process (time.monotonic around the whole process);
  * TCP connections it opened: the namespace's Tcp ActiveOpens counter (/proc/net/snmp)
    before and after the run.  The servers only accept, so the difference is the tool's;
  * the facts it reported: supported versions, accepted cipher suites per version (by IANA
    code), the signature hash of the leaf certificate and, where the tool reports them, of
    the rest of the presented chain;
  * those facts compared with what the endpoint is configured to do (the reference) and
    with each other, with the concrete differences and, for a peer, the reason when it is a
    known limitation of the peer.

Every tool run is capped (`timeout -k 10 CAP`, and the whole process group is killed after
CAP + 30 s), every server has --max-seconds, and every wait has a deadline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SERVERS = REPO / "tests" / "integration" / "servers"
MAKE_PKI = REPO / "tests" / "fixtures" / "make_pki.sh"
DEFAULT_TLSAUDIT = REPO / "build" / "scanner" / "tlsaudit"
DEFAULT_RESULTS = HERE / "results"

TOOLS = ("tlsaudit", "sslscan", "testssl")
TLSAUDIT_TIMEOUT_S = 5          # tlsaudit --timeout: its per-connect/per-answer deadline
CAP_S = {"tlsaudit": 120, "sslscan": 600, "testssl": 600}
SILENT_CAP_S = 400              # peers against the silent endpoint (tarpit)
SERVER_MAX_S = 1800             # Python servers exit by themselves after this
READY_WAIT_S = 15.0
REPEAT_MAX_S = 20.0             # runs slower than this are not repeated

VERSIONS = ("SSL2", "SSL3", "TLS1_0", "TLS1_1", "TLS1_2", "TLS1_3")
VERSION_LABEL = {"SSL2": "SSLv2", "SSL3": "SSLv3", "TLS1_0": "TLS1.0", "TLS1_1": "TLS1.1",
                 "TLS1_2": "TLS1.2", "TLS1_3": "TLS1.3"}


# --- small helpers -------------------------------------------------------------------------------

def log(msg: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def tcp_active_opens() -> int:
    """Tcp ActiveOpens of this network namespace (RFC 1213 tcpActiveOpens; v4 and v6)."""
    lines = [l.split() for l in Path("/proc/net/snmp").read_text().splitlines()
             if l.startswith("Tcp:")]
    header, values = lines[0], lines[1]
    return int(values[header.index("ActiveOpens")])


def listening(port: int) -> bool:
    """True when something listens on 127.0.0.1:port (read from /proc, opens no connection)."""
    want = f"0100007F:{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if f[1] == want and f[3] == "0A":  # 0A = TCP_LISTEN
            return True
    return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hash_of(text: Optional[str]) -> Optional[str]:
    """MD5/SHA1/SHA256... from a signature algorithm name as any of the tools prints it."""
    if not text:
        return None
    t = text.upper().replace("-", "")
    for h in ("MD5", "MD2", "MD4", "SHA1", "SHA224", "SHA256", "SHA384", "SHA512"):
        if h in t:
            return h
    if "ED25519" in t or "ED448" in t:
        return "INTRINSIC"
    return "UNKNOWN:" + text


def code_str(code: int) -> str:
    return f"0x{code:06X}" if code > 0xFFFF else f"0x{code:04X}"


# --- the local OpenSSL as a cipher-suite oracle ---------------------------------------------------

@dataclass
class OpensslSuite:
    code: int
    iana: str
    openssl: str
    kx: str
    au: str


def openssl_suites(args: list[str]) -> list[OpensslSuite]:
    """`openssl ciphers -V -stdname ARGS` parsed: what the local OpenSSL implements."""
    out = subprocess.run(["openssl", "ciphers", "-V", "-stdname", *args], check=True,
                         capture_output=True, text=True, timeout=30).stdout
    suites = []
    for line in out.splitlines():
        m = re.match(r"\s*0x([0-9A-F]{2}),0x([0-9A-F]{2}) - (\S+)\s+- (\S+)\s+\S+\s+Kx=(\S+)\s+"
                     r"Au=(\S+)", line)
        if m:
            suites.append(OpensslSuite((int(m[1], 16) << 8) | int(m[2], 16), m[3], m[4], m[5],
                                       m[6]))
    return suites


class CipherNames:
    """IANA names by code and codes by OpenSSL or IANA name (the local OpenSSL's table, plus
    whatever names the tools themselves reported)."""

    def __init__(self) -> None:
        self.by_code: dict[int, str] = {}
        self.by_name: dict[str, int] = {}
        for s in openssl_suites(["ALL:COMPLEMENTOFALL:@SECLEVEL=0"]):
            self.add(s.code, s.iana, s.openssl)
        self.local_codes = set(self.by_code)

    def add(self, code: int, iana: Optional[str], other: Optional[str] = None) -> None:
        if iana and iana != "(NONE)":
            self.by_code.setdefault(code, iana)
            self.by_name.setdefault(iana, code)
        if other:
            self.by_name.setdefault(other, code)

    def name(self, code: int) -> str:
        return self.by_code.get(code, "?")


def expected_openssl_suites(version: str, cipher_string: Optional[str], auth: str) -> list[int]:
    """Suites an `openssl s_server` of this OpenSSL accepts in VERSION with CIPHER_STRING and a
    certificate of kind AUTH (RSA or ECDSA), as the library itself lists them (`openssl
    ciphers -s -<version>`): the server's own cipher list, minus the suites its certificate
    cannot serve and the PSK/SRP suites s_server has no credentials for."""
    flag = {"TLS1_0": "-tls1", "TLS1_1": "-tls1_1", "TLS1_2": "-tls1_2",
            "TLS1_3": "-tls1_3"}[version]
    args = ["-s", flag] + ([cipher_string] if cipher_string else [])
    out = []
    for s in openssl_suites(args):
        if version == "TLS1_3":
            out.append(s.code)
        elif s.au in (auth, "None") and "PSK" not in s.kx and "SRP" not in s.kx:
            out.append(s.code)
    return out


# --- endpoints -----------------------------------------------------------------------------------

@dataclass
class Expected:
    versions: list[str]
    ciphers: dict[str, list[int]]   # per version; a version missing here means "not known"
    leaf_hash: Optional[str]
    chain_hashes: Optional[list[str]]
    # Per version: "client" (the server follows the client's order) or the server's
    # preference order; a version missing here is not assessed.
    order: dict[str, Any] = field(default_factory=dict)


@dataclass
class Endpoint:
    name: str
    title: str
    config: str                      # how the server is started, for the report
    start: Callable[["Bench", str], "Server"]   # (bench, log tag)
    expected: Callable[["Bench"], Expected]
    quick: bool = False              # part of --quick
    testssl_in_quick: bool = False   # the one endpoint --quick also runs testssl on
    silent: bool = False             # never answers: the peers get SILENT_CAP_S
    # Why a handshake never completes here (None: it completes).  Peers that read the
    # certificate, or count a suite, only after a completed OpenSSL handshake miss it.
    no_full_handshake: Optional[str] = None


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    log_path: Path


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path, raw: Path) -> None:
        self.args = args
        self.work = workdir
        self.pki = workdir / "pki"
        self.raw = raw
        self.names = CipherNames()

    def p(self, name: str) -> str:
        return str(self.pki / name)

    # -- servers --

    def s_server(self, tag: str, cert: str, key: str, extra: list[str]) -> Server:
        port = free_port()  # the namespace is ours alone: nothing else can take it meanwhile
        log_path = self.raw / f"{tag}.server.log"
        argv = ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-www",
                "-cert", self.p(cert), "-key", self.p(key), *extra]
        with open(log_path, "w") as lf:
            lf.write("$ " + " ".join(argv) + "\n")
            lf.flush()
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=lf,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + READY_WAIT_S
        while not listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_server(Server(proc, port, log_path))
                raise RuntimeError(f"s_server for {tag} did not start; see {log_path}")
            time.sleep(0.05)
        return Server(proc, port, log_path)

    def py_server(self, tag: str, script: str, extra: list[str]) -> Server:
        log_path = self.raw / f"{tag}.server.log"
        argv = [sys.executable, str(SERVERS / script), "--host", "127.0.0.1", "--port", "0",
                "--max-seconds", str(SERVER_MAX_S), *extra]
        with open(log_path, "w") as lf:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=lf,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + READY_WAIT_S
        while True:
            m = re.search(r"^READY (\d+)$", log_path.read_text(), re.M)
            if m:
                return Server(proc, int(m[1]), log_path)
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_server(Server(proc, 0, log_path))
                raise RuntimeError(f"{script} for {tag} did not start; see {log_path}")
            time.sleep(0.05)


def stop_server(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=5)


LEGACY_CIPHERS = [0x000A, 0x0005, 0x0004, 0x0009, 0x0003, 0x0006, 0x0008]      # server defaults
LEGACY_SSL2_KINDS = [0x010080, 0x020080, 0x030080, 0x040080, 0x050080, 0x060040, 0x0700C0]
LEGACY_BROAD = "ALL:@SECLEVEL=0"
PHONE_CIPHERS = "AES128-SHA:AES256-SHA:@SECLEVEL=0"


def endpoints() -> list[Endpoint]:
    def os_exp(versions: list[str], cipher_string: Optional[str], auth: str, leaf: str,
               chain: list[str], server_order: bool = False) -> Callable[[Bench], Expected]:
        def f(_b: Bench) -> Expected:
            suites = {v: expected_openssl_suites(v, cipher_string, auth) for v in versions}
            # -serverpref: OpenSSL picks by its own list, which `openssl ciphers` prints in
            # order; otherwise it follows the client.
            order = {v: (list(cs) if server_order else "client") for v, cs in suites.items()}
            return Expected(versions, suites, leaf, chain, order)
        return f

    return [
        Endpoint(
            "modern", "RSA-2048 SHA-256, TLS 1.2+1.3 (OpenSSL defaults)",
            "openssl s_server -www -cert rsa-leaf.crt -key rsa-leaf.key",
            lambda b, tag: b.s_server(tag, "rsa-leaf.crt", "rsa-leaf.key", []),
            os_exp(["TLS1_2", "TLS1_3"], None, "RSA", "SHA256", ["SHA256"]),
            quick=True),
        Endpoint(
            "phone", "legacy phone: TLS 1.0 only, AES128-SHA/AES256-SHA, MD5 RSA-1024 chain",
            f"openssl s_server -www -tls1 -cipher '{PHONE_CIPHERS}' -cert md5-leaf.crt "
            "-key md5-leaf.key -cert_chain md5-root.crt",
            lambda b, tag: b.s_server(tag, "md5-leaf.crt", "md5-leaf.key",
                                      ["-tls1", "-cipher", PHONE_CIPHERS,
                                       "-cert_chain", b.p("md5-root.crt")]),
            os_exp(["TLS1_0"], PHONE_CIPHERS, "RSA", "MD5", ["MD5", "MD5"]),
            quick=True, testssl_in_quick=True),
        Endpoint(
            "broad", "TLS 1.0-1.2, SHA-1 chain, server order, ALL:@SECLEVEL=0",
            "openssl s_server -www -min_protocol TLSv1 -max_protocol TLSv1.2 -serverpref "
            f"-cipher '{LEGACY_BROAD}' -cert sha1-leaf.crt -key sha1-leaf.key "
            "-cert_chain sha1-intermediate.crt",
            lambda b, tag: b.s_server(tag, "sha1-leaf.crt", "sha1-leaf.key",
                                      ["-min_protocol", "TLSv1", "-max_protocol", "TLSv1.2",
                                       "-serverpref", "-cipher", LEGACY_BROAD,
                                       "-cert_chain", b.p("sha1-intermediate.crt")]),
            os_exp(["TLS1_0", "TLS1_1", "TLS1_2"], LEGACY_BROAD, "RSA", "SHA1", ["SHA1", "SHA1"],
                   server_order=True)),
        Endpoint(
            "tls13-ecdsa", "TLS 1.3 only, ECDSA P-256 (ecdsa-with-SHA256)",
            "openssl s_server -www -tls1_3 -cert ecdsa-leaf.crt -key ecdsa-leaf.key",
            lambda b, tag: b.s_server(tag, "ecdsa-leaf.crt", "ecdsa-leaf.key", ["-tls1_3"]),
            os_exp(["TLS1_3"], None, "ECDSA", "SHA256", ["SHA256"])),
        Endpoint(
            "client-auth", "TLS 1.2, client certificate required",
            "openssl s_server -www -tls1_2 -Verify 1 -CAfile clientca-root.crt "
            "-cert rsa-leaf.crt -key rsa-leaf.key",
            lambda b, tag: b.s_server(tag, "rsa-leaf.crt", "rsa-leaf.key",
                                      ["-tls1_2", "-Verify", "1",
                                       "-CAfile", b.p("clientca-root.crt")]),
            os_exp(["TLS1_2"], None, "RSA", "SHA256", ["SHA256"]),
            quick=True,
            no_full_handshake="the server aborts the handshake when the client sends no "
                              "certificate (-Verify 1)"),
        Endpoint(
            "legacy-raw", "SSLv2+SSLv3+TLS 1.0 device (RC4/DES/EXPORT), MD5 chain",
            "legacy_tls_server.py --versions ssl2,ssl3,tls1.0 --secure-renegotiation "
            "--chain md5-chain.pem",
            lambda b, tag: b.py_server(tag, "legacy_tls_server.py",
                                       ["--versions", "ssl2,ssl3,tls1.0",
                                        "--secure-renegotiation",
                                        "--chain", b.p("md5-chain.pem")]),
            # The responder picks by its --ciphers order (no --client-order); SSLv2 has no
            # choice to observe (the SERVER-HELLO lists every kind).
            lambda b: Expected(["SSL2", "SSL3", "TLS1_0"],
                               {"SSL2": LEGACY_SSL2_KINDS, "SSL3": LEGACY_CIPHERS,
                                "TLS1_0": LEGACY_CIPHERS}, "MD5", ["MD5", "MD5"],
                               {"SSL3": LEGACY_CIPHERS, "TLS1_0": LEGACY_CIPHERS}),
            no_full_handshake="the responder answers with ServerHello..ServerHelloDone and "
                              "never finishes a handshake"),
        Endpoint(
            "tarpit", "silent: accepts TCP, never answers",
            "tarpit_server.py",
            lambda b, tag: b.py_server(tag, "tarpit_server.py", []),
            lambda b: Expected([], {}, None, None, {}),
            quick=True, silent=True),
    ]


# --- running the tools ---------------------------------------------------------------------------

@dataclass
class Run:
    tool: str
    argv: list[str]
    wall_s: float
    connections: int
    rc: int
    capped: bool
    cap_s: int
    facts: Optional[dict[str, Any]] = None
    raw_files: list[str] = field(default_factory=list)
    walls: list[float] = field(default_factory=list)       # every repetition
    binaries: list[str] = field(default_factory=list)      # tlsaudit: sha256 prefix per run
    connections_all: list[int] = field(default_factory=list)


def run_capped(argv: list[str], cap: int, stdout: Path, stderr: Path,
               cwd: Path) -> tuple[int, float, int, bool]:
    """Runs ARGV under `timeout`, returns (rc, wall seconds, TCP connections opened, capped)."""
    cmd = ["timeout", "-k", "10", str(cap), *argv]
    before = tcp_active_opens()
    t0 = time.monotonic()
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=cwd,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=cap + 30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rc = proc.wait(timeout=30)
    wall = time.monotonic() - t0
    try:  # helpers the tool left behind in its own process group (testssl's openssl children)
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    after = tcp_active_opens()
    return rc, wall, after - before, rc in (124, 137)


def tool_argv(b: Bench, tool: str, port: int, out_base: str) -> tuple[list[str], list[Path]]:
    target = f"127.0.0.1:{port}"
    if tool == "tlsaudit":
        return ([str(b.args.tlsaudit), "scan", target, "--no-progress", "--format", "json",
                 "--timeout", str(TLSAUDIT_TIMEOUT_S)], [])
    if tool == "sslscan":
        xml = b.raw / f"{out_base}.xml"
        return (["sslscan", "--no-colour", f"--xml={xml}", target], [xml])
    if tool == "testssl":
        js = b.raw / f"{out_base}.json"
        # Protocols (-p), each cipher per protocol (-E) and server defaults with the
        # certificate (-S): the facts compared here, in testssl's normal (not --fast) mode.
        return (["testssl", "--quiet", "--warnings", "off", "--nodns", "none", "--color", "0",
                 "-p", "-E", "-S", "--jsonfile", str(js), target], [js])
    raise ValueError(tool)


def run_tool(b: Bench, ep: Endpoint, tool: str) -> Run:
    base = f"{ep.name}.{tool}"
    # A build running in parallel may replace the binary between runs: note which one ran.
    binary = binary_identity(Path(b.args.tlsaudit))["sha256"] if tool == "tlsaudit" else ""
    server = ep.start(b, base)
    try:
        argv, files = tool_argv(b, tool, server.port, base)
        for f in files:
            f.unlink(missing_ok=True)  # testssl refuses to overwrite its output file
        cap = SILENT_CAP_S if ep.silent and tool != "tlsaudit" else CAP_S[tool]
        stdout = b.raw / f"{base}.stdout"
        rc, wall, conns, capped = run_capped(argv, cap, stdout, b.raw / f"{base}.stderr", b.raw)
    finally:
        stop_server(server)
    run = Run(tool, argv, wall, conns, rc, capped, cap,
              raw_files=[p.name for p in [stdout, *files] if p.exists()],
              binaries=[binary] if binary else [])
    try:
        if tool == "tlsaudit":
            run.facts = parse_tlsaudit(stdout.read_text(), b.names)
        elif tool == "sslscan":
            run.facts = parse_sslscan(files[0], b.names)
        else:
            run.facts = parse_testssl(files[0], b.names)
    except (OSError, ValueError, ET.ParseError, KeyError, IndexError) as exc:
        run.facts = {"error": f"no parseable output ({exc.__class__.__name__}: {exc})"}
    return run


FACT_KEYS = ("versions", "ciphers", "order", "leaf_hash", "chain_hashes", "error")


def measure(b: Bench, ep: Endpoint, tool: str) -> Run:
    """One run, repeated (--repeat) when the tool is quick, so that a sub-second wall time is
    the median of several rather than one sample of a busy host's scheduler.  testssl.sh runs
    once (tens of seconds each), as does anything against the silent endpoint or slower than
    REPEAT_MAX_S.  Facts and connections come from the first run; repetitions that see
    different facts or open a different number of connections are noted."""
    first = run_tool(b, ep, tool)
    first.walls, first.connections_all = [first.wall_s], [first.connections]
    if tool != "testssl" and not ep.silent and first.wall_s < REPEAT_MAX_S:
        for _ in range(max(0, min(b.args.repeat, 9) - 1)):
            r = run_tool(b, ep, tool)
            first.walls.append(r.wall_s)
            first.binaries += r.binaries
            first.connections_all.append(r.connections)
            if first.facts is not None and r.facts is not None and any(
                    first.facts.get(k) != r.facts.get(k) for k in FACT_KEYS):
                first.facts.setdefault("notes", []).append(
                    "a repetition reported different facts: " + ", ".join(
                        k for k in FACT_KEYS if first.facts.get(k) != r.facts.get(k)))
    first.wall_s = statistics.median(first.walls)
    if len(set(first.connections_all)) > 1 and first.facts is not None:
        first.facts.setdefault("notes", []).append(
            f"connections per repetition: {first.connections_all}")
    return first


# --- parsers -------------------------------------------------------------------------------------

def empty_facts() -> dict[str, Any]:
    return {"versions": [], "ciphers": {}, "order": {}, "leaf_hash": None, "chain_hashes": None,
            "notes": []}


def parse_tlsaudit(text: str, names: CipherNames) -> dict[str, Any]:
    doc = json.loads(text)
    reports = doc.get("reports", [])
    if len(reports) != 1:
        raise ValueError(f"{len(reports)} reports")
    r = reports[0]
    f = empty_facts()
    for v in r.get("versions", []):
        if not v.get("supported"):
            continue
        ver = v["version"]
        f["versions"].append(ver)
        codes = []
        for c in v.get("cipherSuites", []):
            names.add(int(c["code"]), c.get("name"))
            codes.append(int(c["code"]))
        f["ciphers"][ver] = codes
        f["order"][ver] = {"kind": v.get("cipherOrder", "CIPHER_ORDER_UNSPECIFIED")
                           .replace("CIPHER_ORDER_", ""), "list": codes}
    chains = r.get("chains", [])
    if chains:
        presented = [[c.get("signatureHash") for c in ch.get("certificates", [])
                      if c.get("source", "CERTIFICATE_SOURCE_PRESENTED")
                      == "CERTIFICATE_SOURCE_PRESENTED"] for ch in chains]
        f["leaf_hash"] = presented[0][0] if presented[0] else None
        f["chain_hashes"] = presented[0]
        if len(chains) > 1:
            f["notes"].append(f"{len(chains)} chains: " + "; ".join(
                f"{ch.get('keyType')}: {','.join(p)}" for ch, p in zip(chains, presented)))
    f["self_reported_connections"] = r.get("connections")
    f["duration_ms"] = int(r.get("durationMs", 0))
    for e in r.get("errors", []):
        f["notes"].append(f"error {e.get('stage')}/{e.get('kind')}: {e.get('message')}")
    ca = r.get("clientAuth") or {}
    if ca.get("requested"):
        f["notes"].append(f"client certificate requested ({ca.get('version')})")
    return f


SSLSCAN_VERSIONS = {("ssl", "2"): "SSL2", ("ssl", "3"): "SSL3", ("tls", "1.0"): "TLS1_0",
                    ("tls", "1.1"): "TLS1_1", ("tls", "1.2"): "TLS1_2", ("tls", "1.3"): "TLS1_3"}
SSLSCAN_CIPHER_VERSIONS = {"SSLv2": "SSL2", "SSLv3": "SSL3", "TLSv1.0": "TLS1_0",
                           "TLSv1.1": "TLS1_1", "TLSv1.2": "TLS1_2", "TLSv1.3": "TLS1_3"}


def parse_sslscan(path: Path, names: CipherNames) -> dict[str, Any]:
    root = ET.parse(path).getroot()
    test = root.find("ssltest")
    if test is None:
        err = root.find("error")
        raise ValueError(err.text if err is not None else "no <ssltest>")
    f = empty_facts()
    for p in test.findall("protocol"):
        ver = SSLSCAN_VERSIONS.get((p.get("type"), p.get("version")))
        if ver and p.get("enabled") == "1":
            f["versions"].append(ver)
    for c in test.findall("cipher"):
        ver = SSLSCAN_CIPHER_VERSIONS.get(c.get("sslversion", ""))
        if not ver:
            f["notes"].append(f"cipher in unknown version {c.get('sslversion')}")
            continue
        name = c.get("cipher", "")
        code = int(c.get("id"), 16) if c.get("id") else names.by_name.get(name)
        if code is None:
            f["notes"].append(f"unmapped cipher name {name}")
            continue
        names.add(code, name if name.startswith(("TLS_", "SSL_")) else None, name)
        f["ciphers"].setdefault(ver, [])
        if code not in f["ciphers"][ver]:
            f["ciphers"][ver].append(code)
    # sslscan offers OpenSSL's whole list and drops each suite the server picks, so the
    # listing order is the server's preference when the server imposes one.
    f["order"] = {v: {"kind": None, "list": list(cs)} for v, cs in f["ciphers"].items()}
    certs = test.findall("certificates/certificate")
    if certs:
        f["leaf_hash"] = hash_of(certs[0].findtext("signature-algorithm"))
    for ver in f["ciphers"]:
        if ver not in f["versions"]:
            f["notes"].append(f"ciphers listed for {VERSION_LABEL[ver]}, protocol not enabled")
    return f


TESTSSL_VERSIONS = {"SSLv2": "SSL2", "SSLv3": "SSL3", "TLS1": "TLS1_0", "TLS1_1": "TLS1_1",
                    "TLS1_2": "TLS1_2", "TLS1_3": "TLS1_3"}
TESTSSL_CIPHER_VERSIONS = {"ssl2": "SSL2", "ssl3": "SSL3", "tls1": "TLS1_0", "tls1_1": "TLS1_1",
                           "tls1_2": "TLS1_2", "tls1_3": "TLS1_3"}


def parse_testssl(path: Path, names: CipherNames) -> dict[str, Any]:
    items = json.loads(path.read_text())
    if not isinstance(items, list):
        raise ValueError("not a flat JSON list")
    f = empty_facts()
    for it in items:
        ident, finding = it.get("id", ""), it.get("finding", "")
        base = ident.split(" ")[0]  # "cert_signatureAlgorithm <cert#1>" with several certs
        if base in TESTSSL_VERSIONS:
            low = finding.lower()
            if "not offered" in low:
                continue
            # "offered", "offered (deprecated)", "offered with final", "offered, no cipher",
            # SSLv2's "vulnerable with N ciphers", "supported but couldn't detect a cipher..."
            if low.startswith(("offered", "vulnerable")) or "supported but" in low:
                f["versions"].append(TESTSSL_VERSIONS[base])
            else:
                f["notes"].append(f"{base}: {finding}")
            continue
        m = re.match(r"cipher-(ssl2|ssl3|tls1|tls1_1|tls1_2|tls1_3)_x([0-9a-f]+)$", base)
        if m:
            ver = TESTSSL_CIPHER_VERSIONS[m[1]]
            code = int(m[2], 16)
            iana = finding.split()[-1] if finding.split() else None
            names.add(code, iana if iana and iana.startswith(("TLS_", "SSL_")) else None)
            f["ciphers"].setdefault(ver, [])
            if code not in f["ciphers"][ver]:
                f["ciphers"][ver].append(code)
            continue
        if base == "cert_signatureAlgorithm" and f["leaf_hash"] is None:
            f["leaf_hash"] = hash_of(finding)
        elif base == "certs_countServer":
            f["notes"].append(f"{finding} certificate(s) presented (hashes of the leaf only)")
        elif it.get("severity") in ("WARN", "FATAL") or base in ("scanProblem", "engine_problem"):
            f["notes"].append(f"{ident} {it.get('severity')}: {finding}")
    for ver in f["ciphers"]:
        if ver not in f["versions"]:
            f["notes"].append(f"ciphers listed for {VERSION_LABEL[ver]}, protocol not offered")
    return f


# --- comparison ----------------------------------------------------------------------------------

def explain(b: Bench, ep: Endpoint, tool: str, kind: str, version: Optional[str] = None,
            codes: Optional[list[int]] = None) -> str:
    """Why a PEER missed something, when it is a known limitation; "" when not explained.
    tlsaudit is never excused: its differences are reported as its mistakes."""
    if tool == "tlsaudit":
        return ""
    reasons = []
    if kind == "cert" and ep.no_full_handshake:
        reasons.append(f"{ep.no_full_handshake}; {tool} takes the certificate from a completed "
                       "OpenSSL handshake")
    if kind == "ciphers" and tool == "sslscan":
        if version in ("SSL2", "SSL3"):
            reasons.append("sslscan detects SSLv2/SSLv3 only as protocols; it lists ciphers "
                           "through OpenSSL 3.0, which has neither protocol")
        elif ep.no_full_handshake:
            reasons.append(f"{ep.no_full_handshake}; sslscan counts a suite only after a "
                           "completed OpenSSL handshake")
    if kind == "ciphers" and tool == "testssl" and ep.no_full_handshake and version not in (
            "SSL2",):
        reasons.append(f"{ep.no_full_handshake}; testssl's OpenSSL-based checks need a "
                       "completed handshake")
    if kind == "ciphers" and codes:
        missing_local = [c for c in codes if c not in b.names.local_codes and c <= 0xFFFF]
        if missing_local and tool == "sslscan" and version not in ("SSL2", "SSL3"):
            reasons.append("not implemented by the local OpenSSL 3.0: "
                           + ", ".join(code_str(c) for c in missing_local))
    return "; ".join(reasons)


def compare_order(b: Bench, exp: Expected, tool: str, f: dict[str, Any]) -> dict[str, Any]:
    """Server preference order (or the absence of one) against the configuration."""
    if tool == "testssl":
        return {"ok": None, "diff": "not reported (-E lists suites by strength)", "reason": ""}
    diffs, compared = [], 0
    for ver, want in exp.order.items():
        got = f.get("order", {}).get(ver)
        if not got or not got["list"]:
            continue  # the version or its suites are missing: counted under ciphers
        if want == "client":
            if got["kind"] is None:
                continue  # sslscan does not say whether the server imposes its order
            compared += 1
            if got["kind"] != "CLIENT":
                diffs.append(f"{VERSION_LABEL[ver]}: {got['kind'].lower()} order, expected "
                             "client order")
            continue
        compared += 1
        if got["kind"] not in (None, "SERVER"):
            diffs.append(f"{VERSION_LABEL[ver]}: {got['kind'].lower()} order, expected server "
                         "order")
            continue
        want_l = [c for c in want if c in got["list"]]  # missing suites: counted under ciphers
        got_l = [c for c in got["list"] if c in want]
        if got_l != want_l:
            i = next(i for i, (x, y) in enumerate(zip(got_l, want_l)) if x != y)
            diffs.append(f"{VERSION_LABEL[ver]}: order differs from position {i + 1}: "
                         f"{code_str(got_l[i])} {b.names.name(got_l[i])}, expected "
                         f"{code_str(want_l[i])} {b.names.name(want_l[i])}")
    if not compared:
        return {"ok": None, "diff": "not reported", "reason": ""}
    return {"ok": not diffs, "diff": "; ".join(diffs), "reason": ""}


def compare_endpoint(b: Bench, ep: Endpoint, exp: Expected, runs: dict[str, Run]) -> dict[str, Any]:
    """Per tool: differences from the reference; across tools: agree / differs."""
    out: dict[str, Any] = {"per_tool": {}, "verdict": {}}
    facts = {t: r.facts for t, r in runs.items() if r.facts is not None}
    for tool, f in facts.items():
        d: dict[str, Any] = {}
        if "error" in f:
            msg = f["error"] + (f" (killed by the {runs[tool].cap_s} s cap)"
                                if runs[tool].capped else "")
            d = {k: {"ok": False, "diff": msg, "reason": ""}
                 for k in ("versions", "ciphers", "leaf_hash", "chain_hashes", "order")}
            out["per_tool"][tool] = d
            continue
        # versions
        got, want = set(f["versions"]), set(exp.versions)
        diffs, why = [], []
        if want - got:
            diffs.append("missing " + ",".join(VERSION_LABEL[v] for v in sorted(want - got)))
        if got - want:
            diffs.append("extra " + ",".join(VERSION_LABEL[v] for v in sorted(got - want)))
        d["versions"] = {"ok": not diffs, "diff": "; ".join(diffs),
                         "reason": explain(b, ep, tool, "versions")}
        # ciphers per version
        diffs, reasons = [], []
        for ver in VERSIONS:
            if ver not in exp.ciphers and ver not in f["ciphers"]:
                continue
            got_c = set(f["ciphers"].get(ver, []))
            want_c = set(exp.ciphers.get(ver, []))
            miss, extra = sorted(want_c - got_c), sorted(got_c - want_c)
            if miss:
                diffs.append(f"{VERSION_LABEL[ver]} missing {len(miss)}: "
                             + ", ".join(f"{code_str(c)} {b.names.name(c)}" for c in miss))
                r = explain(b, ep, tool, "ciphers", ver, miss)
                if r:
                    reasons.append(f"{VERSION_LABEL[ver]}: {r}")
            if extra:
                diffs.append(f"{VERSION_LABEL[ver]} extra {len(extra)}: "
                             + ", ".join(f"{code_str(c)} {b.names.name(c)}" for c in extra))
        d["ciphers"] = {"ok": not diffs, "diff": "; ".join(diffs), "reason": " | ".join(reasons)}
        # certificate signature hashes
        if f["leaf_hash"] == exp.leaf_hash:
            d["leaf_hash"] = {"ok": True, "diff": "", "reason": ""}
        else:
            d["leaf_hash"] = {"ok": False,
                              "diff": f"leaf {f['leaf_hash'] or 'not reported'}, expected "
                                      f"{exp.leaf_hash or 'none'}",
                              "reason": explain(b, ep, tool, "cert")}
        if f["chain_hashes"] is None and tool != "tlsaudit":
            d["chain_hashes"] = {"ok": None, "diff": "not reported (leaf only)", "reason": ""}
        elif (f["chain_hashes"] or None) == (exp.chain_hashes or None):
            d["chain_hashes"] = {"ok": True, "diff": "", "reason": ""}
        else:
            d["chain_hashes"] = {"ok": False,
                                 "diff": f"chain {f['chain_hashes']}, expected {exp.chain_hashes}",
                                 "reason": explain(b, ep, tool, "cert")}
        d["order"] = compare_order(b, exp, tool, f)
        out["per_tool"][tool] = d
    # cross-tool verdicts: the same value from every tool that reported one?
    for key in ("versions", "ciphers", "leaf_hash"):
        values = {}
        for tool, f in facts.items():
            if "error" in f:
                continue
            if key == "versions":
                values[tool] = tuple(sorted(f["versions"], key=VERSIONS.index))
            elif key == "ciphers":
                values[tool] = tuple(sorted((v, tuple(sorted(c))) for v, c in f["ciphers"].items()
                                            if c))
            else:
                values[tool] = f["leaf_hash"]
        if len(set(values.values())) <= 1 and len(values) == len(facts):
            off = [t for t in facts if not out["per_tool"][t][key]["ok"]]
            out["verdict"][key] = "agree" if not off else (
                "agree with each other, not with the configuration: "
                + " || ".join(f"{t}: {out['per_tool'][t][key]['diff']}" for t in off))
        else:
            parts = []
            for tool in facts:
                d = out["per_tool"][tool][key]
                if not d["ok"]:
                    parts.append(f"{tool}: {d['diff']}" + (f" [why: {d['reason']}]"
                                                          if d["reason"] else ""))
            out["verdict"][key] = "differs: " + " || ".join(parts) if parts else \
                "differs (each tool matches the configuration where it reports)"
    return out


# --- the run -------------------------------------------------------------------------------------

def in_loopback_only_namespace() -> tuple[bool, str]:
    """True in a network namespace whose only interface is an up loopback.  Read from
    /proc/net/dev and netlink (`ip`), which follow the caller's namespace; /sys/class/net shows
    the namespace sysfs was mounted in."""
    ifaces = sorted(line.split(":")[0].strip()
                    for line in Path("/proc/net/dev").read_text().splitlines()[2:])
    if ifaces != ["lo"]:
        return False, f"network interfaces present: {', '.join(ifaces)}"
    link = subprocess.run(["ip", "-o", "link", "show", "lo"], capture_output=True, text=True,
                          timeout=10).stdout
    if not re.search(r"<[^>]*\bUP\b", link):
        return False, "lo is down"
    return True, ""


def cmd_run(args: argparse.Namespace) -> int:
    ok, why = in_loopback_only_namespace()
    if not ok:
        log(f"refusing to run outside a loopback-only network namespace ({why}); "
            "use tests/bench/run_peers.sh")
        return 2
    if not Path(args.tlsaudit).is_file():
        log(f"{args.tlsaudit} is missing: build it with ./scripts/build.sh")
        return 2
    for t in ("sslscan", "testssl", "openssl", "timeout"):
        if shutil.which(t) is None:
            log(f"{t} is not installed (./scripts/setup.sh installs it)")
            return 2

    eps = endpoints()
    if args.endpoints:
        wanted = args.endpoints.split(",")
        unknown = set(wanted) - {e.name for e in eps}
        if unknown:
            log(f"unknown endpoint(s) {', '.join(sorted(unknown))}; known: "
                + ", ".join(e.name for e in eps))
            return 2
        eps = [e for e in eps if e.name in wanted]
    elif args.quick:
        eps = [e for e in eps if e.quick]
    tools = args.tools.split(",") if args.tools else list(TOOLS)
    if set(tools) - set(TOOLS):
        log(f"--tools takes {','.join(TOOLS)}")
        return 2

    results_dir = Path(args.results).resolve()
    raw = results_dir / "raw"
    if raw.exists():
        shutil.rmtree(raw)
    raw.mkdir(parents=True)

    started = dt.datetime.now(dt.timezone.utc)
    with tempfile.TemporaryDirectory(prefix="tlsaudit-bench-") as tmp:
        work = Path(tmp)
        log("generating the test PKI")
        subprocess.run([str(MAKE_PKI), str(work / "pki")], check=True, timeout=300)
        b = Bench(args, work, raw)
        tool_versions = collect_versions(args)
        binary_start = binary_identity(Path(args.tlsaudit))
        doc: dict[str, Any] = {
            "started_at": started.isoformat(timespec="seconds"),
            "mode": "quick" if args.quick and not args.endpoints else "full",
            "repeat": min(args.repeat, 9),
            "tool_versions": tool_versions,
            "host": {"cpus": os.cpu_count(), "loadavg_start": os.getloadavg()},
            "endpoints": [],
        }
        for ep in eps:
            exp = ep.expected(b)
            runs: dict[str, Run] = {}
            for tool in tools:
                if tool == "testssl" and args.quick and not args.endpoints \
                        and not ep.testssl_in_quick:
                    continue
                log(f"{ep.name}: {tool} ...")
                r = measure(b, ep, tool)
                runs[tool] = r
                log(f"{ep.name}: {tool} {r.wall_s:.2f} s (median of "
                    f"{', '.join(f'{w:.2f}' for w in r.walls)}), {r.connections} connections, "
                    f"rc {r.rc}{' (capped)' if r.capped else ''}")
            cmp = compare_endpoint(b, ep, exp, runs)
            doc["endpoints"].append({
                "name": ep.name, "title": ep.title, "config": ep.config, "silent": ep.silent,
                "expected": {"versions": exp.versions,
                             "ciphers": {v: [code_str(c) for c in cs]
                                         for v, cs in exp.ciphers.items()},
                             "leaf_hash": exp.leaf_hash, "chain_hashes": exp.chain_hashes,
                             "order": {v: (o if o == "client" else [code_str(c) for c in o])
                                       for v, o in exp.order.items()}},
                "runs": {t: run_json(r) for t, r in runs.items()},
                "comparison": cmp,
            })
        doc["host"]["loadavg_end"] = os.getloadavg()
        doc["tlsaudit_binary"] = binary_start
        used = sorted({sha for e in doc["endpoints"] for sha in
                       e["runs"].get("tlsaudit", {}).get("binaries", [])})
        if used and used != [binary_start["sha256"]]:
            doc["tlsaudit_binary_changed"] = used
            log(f"WARNING: the tlsaudit binary changed during the run ({', '.join(used)}); "
                "results mix builds")
        doc["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        doc["cipher_names"] = {code_str(c): n for c, n in sorted(b.names.by_code.items())}

    (results_dir / "latest.json").write_text(json.dumps(doc, indent=1) + "\n")
    md = render(doc)
    (results_dir / "latest.md").write_text(md)
    sys.stdout.write(md)
    log(f"results: {results_dir / 'latest.md'}, {results_dir / 'latest.json'}, raw output in {raw}")
    return 0


def run_json(r: Run) -> dict[str, Any]:
    facts = None
    if r.facts is not None:
        facts = dict(r.facts)
        if "ciphers" in facts:
            facts["ciphers"] = {v: [code_str(c) for c in cs] for v, cs in facts["ciphers"].items()}
        if "order" in facts:
            facts["order"] = {v: {"kind": o["kind"], "list": [code_str(c) for c in o["list"]]}
                              for v, o in facts["order"].items()}
    return {"argv": r.argv, "wall_s": round(r.wall_s, 3), "connections": r.connections,
            "walls": [round(w, 3) for w in r.walls], "connections_all": r.connections_all,
            "rc": r.rc, "capped": r.capped, "cap_s": r.cap_s, "facts": facts,
            "binaries": r.binaries,
            "raw_files": r.raw_files}


def binary_identity(path: Path) -> dict[str, str]:
    """Which tlsaudit was measured: its hash and mtime, and the checkout's commit (a build
    running in parallel can replace the binary mid-run; the report then says so)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        head = ""
    mtime = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)
    return {"sha256": h.hexdigest()[:16], "mtime": mtime.isoformat(timespec="seconds"),
            "git_head": head or "?"}


def collect_versions(args: argparse.Namespace) -> dict[str, str]:
    def first_line(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"? ({exc})"
        text = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)
        return " ".join(text.split())[:120]

    ver = first_line(["testssl", "--version"])
    m = re.search(r"testssl\s+(\S+)", ver)
    return {"tlsaudit": first_line([str(args.tlsaudit), "--version"]),
            "sslscan": first_line(["sslscan", "--version"]),
            "testssl": m[1] if m else ver,
            "openssl": first_line(["openssl", "version"])}


# --- rendering -----------------------------------------------------------------------------------

def ratio(a: Optional[float], b: Optional[float]) -> str:
    if a is None or b is None or b <= 0:
        return "-"
    return f"{a / b:.1f}x"


def mark(d: Optional[dict[str, Any]]) -> str:
    if d is None:
        return "-"
    if d["ok"] is None:
        return "n/a"
    if d["ok"]:
        return "ok"
    return "WRONG" if not d["reason"] else "missed (peer limit)"


def render(doc: dict[str, Any]) -> str:
    L: list[str] = []
    tv = doc["tool_versions"]
    L.append(f"# tlsaudit vs sslscan vs testssl.sh ({doc['mode']} run, {doc['started_at']})\n")
    L.append(f"tlsaudit: `{tv['tlsaudit']}`; sslscan: `{tv['sslscan']}`; testssl.sh "
             f"`{tv['testssl']}`; `{tv['openssl']}`. Host: {doc['host']['cpus']} CPUs, load "
             f"{doc['host']['loadavg_start'][0]:.2f} at start. Loopback-only network namespace; "
             f"tlsaudit `--timeout {TLSAUDIT_TIMEOUT_S}`, peers with their defaults "
             f"(testssl.sh restricted to `-p -E -S`).\n")
    tb = doc.get("tlsaudit_binary")
    if tb:
        L.append(f"tlsaudit binary sha256 {tb['sha256']}..., built {tb['mtime']}; the "
                 f"checkout was at `{tb['git_head']}` when the run started.\n")
    if doc.get("tlsaudit_binary_changed"):
        L.append("**WARNING: the tlsaudit binary was replaced during this run (builds "
                 f"{', '.join(doc['tlsaudit_binary_changed'])} were measured); the figures mix "
                 "builds. Run again.**\n")
    L.append("## Time and connections per endpoint\n")
    L.append("Wall time of the whole tool process (start-up included): the median of "
             f"{doc.get('repeat', 1)} runs for tlsaudit and sslscan, one run for testssl.sh, "
             f"for the silent endpoint and for runs over {REPEAT_MAX_S:.0f} s. Connections = "
             "TCP ActiveOpens of the namespace during the (first) run; tlsaudit's own count in "
             "brackets. (scan ms) = tlsaudit's own `durationMs` for the endpoint, without "
             "process start-up and exit.\n")
    L.append("| endpoint | tlsaudit s | (scan ms) | conns | sslscan s | conns | testssl s | "
             "conns | sslscan/tlsaudit time | testssl/tlsaudit time | sslscan/tlsaudit conns |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    tot = {t: [0.0, 0] for t in TOOLS}
    tot_both = {t: [0.0, 0.0] for t in ("sslscan", "testssl")}  # peer, tlsaudit on same eps
    for ep in doc["endpoints"]:
        runs = ep["runs"]
        cells = [ep["name"]]
        for t in TOOLS:
            r = runs.get(t)
            if r is None:
                cells += ["-", "-", "-"] if t == "tlsaudit" else ["-", "-"]
                continue
            cap = " (capped)" if r["capped"] else ""
            c = str(r["connections"])
            if t == "tlsaudit" and r["facts"] and r["facts"].get("self_reported_connections") \
                    is not None:
                c += f" [{r['facts']['self_reported_connections']}]"
            cells += [f"{r['wall_s']:.2f}{cap}"]
            if t == "tlsaudit":
                cells.append(str((r["facts"] or {}).get("duration_ms", "-")))
            cells.append(c)
            tot[t][0] += r["wall_s"]
            tot[t][1] += r["connections"]
        ta = runs.get("tlsaudit")
        for t in ("sslscan", "testssl"):
            if ta and runs.get(t):
                tot_both[t][0] += runs[t]["wall_s"]
                tot_both[t][1] += ta["wall_s"]
        ta_s = ta["wall_s"] if ta else None
        cells.append(ratio(runs["sslscan"]["wall_s"] if "sslscan" in runs else None, ta_s))
        cells.append(ratio(runs["testssl"]["wall_s"] if "testssl" in runs else None, ta_s))
        cells.append(ratio(runs["sslscan"]["connections"] if "sslscan" in runs else None,
                           ta["connections"] if ta else None))
        L.append("| " + " | ".join(cells) + " |")
    L.append("")
    for t in ("sslscan", "testssl"):
        if tot_both[t][1] > 0:
            L.append(f"* Sum over the endpoints {t} ran on: {t} {tot_both[t][0]:.1f} s vs "
                     f"tlsaudit {tot_both[t][1]:.2f} s = {tot_both[t][0] / tot_both[t][1]:.0f}x.")
    L.append(f"* Connections, all endpoints: tlsaudit {tot['tlsaudit'][1]}, sslscan "
             f"{tot['sslscan'][1]}, testssl.sh {tot['testssl'][1]} (testssl.sh: only the "
             "endpoints it ran on).")
    L.append("")

    L.append("## Goals\n")
    L.append("At least 5x faster than sslscan and 50x faster than testssl.sh per endpoint, "
             "fewer connections than sslscan, a silent endpoint costs no more than the "
             f"deadline (`--timeout {TLSAUDIT_TIMEOUT_S}`).\n")
    L.append("| endpoint | >=5x sslscan | >=50x testssl.sh | fewer conns than sslscan | "
             "silent: tlsaudit time vs deadline |")
    L.append("|---|---|---|---|---|")
    for ep in doc["endpoints"]:
        runs = ep["runs"]
        ta = runs.get("tlsaudit")
        if not ta:
            continue

        def goal(peer: str, factor: float) -> str:
            r = runs.get(peer)
            if not r:
                return "-"
            x = r["wall_s"] / ta["wall_s"]
            return f"{'yes' if x >= factor else 'NO'} ({x:.1f}x)"

        conns = "-"
        if runs.get("sslscan"):
            c, s = ta["connections"], runs["sslscan"]["connections"]
            conns = f"{'yes' if c < s else 'NO'} ({c} vs {s})"
        silent = "-"
        if ep["silent"]:
            # One deadline: the wait for an answer that never comes. The TCP connect and the
            # process start-up come on top; 10 % of slack is allowed for them, and the excess
            # is printed.
            ms = (ta["facts"] or {}).get("duration_ms")
            limit = TLSAUDIT_TIMEOUT_S * 1000
            ok = ms is not None and ms <= limit * 1.1
            over = f" = deadline + {ms - limit} ms" if ms is not None and ms > limit else ""
            peers = ", ".join(f"{t} {runs[t]['wall_s']:.1f} s"
                              + (" (capped)" if runs[t]["capped"] else "")
                              for t in ("sslscan", "testssl") if t in runs)
            silent = (f"{'yes' if ok else 'NO'}: {ms} ms in the scan{over}, "
                      f"{ta['wall_s']:.2f} s wall with process start"
                      + (f"; peers: {peers}" if peers else ""))
        L.append(f"| {ep['name']} | {goal('sslscan', 5)} | {goal('testssl', 50)} | {conns} | "
                 f"{silent} |")
    L.append("")

    L.append("## Facts against the configuration\n")
    L.append("Reference = what the server is configured to serve (versions, every suite the "
             "server's OpenSSL lists for its cipher string and certificate type via `openssl "
             "ciphers -s`, or the responder's configured suites; certificate signature hashes "
             "of the generated PKI). `ok` = same as the reference, `missed (peer limit)` = "
             "a known limitation of the peer (see details), `WRONG` = a difference nothing "
             "explains, `n/a` = the tool does not report it.\n")
    L.append("| endpoint | tool | versions | cipher sets | leaf sig hash | chain sig hashes | "
             "cipher order |")
    L.append("|---|---|---|---|---|---|---|")
    for ep in doc["endpoints"]:
        pt = ep["comparison"]["per_tool"]
        for t in TOOLS:
            if t not in pt:
                continue
            d = pt[t]
            L.append(f"| {ep['name']} | {t} | {mark(d.get('versions'))} | "
                     f"{mark(d.get('ciphers'))} | {mark(d.get('leaf_hash'))} | "
                     f"{mark(d.get('chain_hashes'))} | {mark(d.get('order'))} |")
    L.append("")

    L.append("## Agreement between the tools, with the differences\n")
    for ep in doc["endpoints"]:
        exp = ep["expected"]
        L.append(f"### {ep['name']}: {ep['title']}\n")
        L.append(f"`{ep['config']}`  ")
        nciph = ", ".join(f"{VERSION_LABEL[v]} {len(c)}" for v, c in exp["ciphers"].items())
        vers = ", ".join(VERSION_LABEL[v] for v in exp["versions"]) or "none"
        L.append(f"Reference: versions {vers}"
                 f"; suites {nciph or 'none'}; leaf {exp['leaf_hash'] or '-'}, chain "
                 f"{'/'.join(exp['chain_hashes']) if exp['chain_hashes'] else '-'}\n")
        for key, label in (("versions", "versions"), ("ciphers", "cipher sets"),
                           ("leaf_hash", "leaf signature hash")):
            L.append(f"* {label}: {ep['comparison']['verdict'].get(key, '-')}")
        if ep["expected"].get("order"):
            L.append("* cipher order (" + ", ".join(
                f"{VERSION_LABEL[v]} {'client' if o == 'client' else 'server'}"
                for v, o in ep["expected"]["order"].items()) + "): " + ", ".join(
                f"{t} {mark(ep['comparison']['per_tool'][t].get('order'))}"
                for t in TOOLS if t in ep["comparison"]["per_tool"]))
        for t in TOOLS:
            d = ep["comparison"]["per_tool"].get(t, {}).get("chain_hashes")
            if d and d["ok"] is False:
                L.append(f"* chain signature hashes, {t}: {d['diff']}"
                         + (f" [why: {d['reason']}]" if d["reason"] else ""))
            d = ep["comparison"]["per_tool"].get(t, {}).get("order")
            if d and d["ok"] is False:
                L.append(f"* cipher order, {t}: {d['diff']}"
                         + (f" [why: {d['reason']}]" if d["reason"] else ""))
        for t in TOOLS:
            r = ep["runs"].get(t)
            if r and r["facts"] and r["facts"].get("notes"):
                L.append(f"* {t} notes: " + "; ".join(r["facts"]["notes"]))
            if r and r["capped"]:
                L.append(f"* {t} was killed by the {r['cap_s']} s cap")
        L.append("")
    return "\n".join(L) + "\n"


def cmd_render(args: argparse.Namespace) -> int:
    sys.stdout.write(render(json.loads(Path(args.results_json).read_text())))
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the benchmark (inside run_peers.sh's namespace)")
    r.add_argument("--quick", action="store_true",
                   help="modern, phone, client-auth and tarpit; testssl.sh only on phone")
    r.add_argument("--endpoints", default="",
                   help="comma-separated endpoint names (all tools on each)")
    r.add_argument("--tools", default="", help="comma-separated subset of "
                   + ",".join(TOOLS))
    r.add_argument("--repeat", type=int, default=3,
                   help="runs of tlsaudit and sslscan per endpoint (median wall time; max 9; "
                        "not for the silent endpoint or runs over %.0f s)" % REPEAT_MAX_S)
    r.add_argument("--results", default=str(DEFAULT_RESULTS), help="results directory")
    r.add_argument("--tlsaudit", default=str(DEFAULT_TLSAUDIT), help="tlsaudit binary")
    r.set_defaults(func=cmd_run)
    s = sub.add_parser("render", help="print the tables of a saved latest.json")
    s.add_argument("results_json")
    s.set_defaults(func=cmd_render)
    args = p.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
