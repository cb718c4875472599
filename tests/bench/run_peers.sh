#!/usr/bin/env bash
# Peer benchmark: tlsaudit scan vs sslscan vs testssl.sh on loopback endpoints.
#
#   tests/bench/run_peers.sh [--quick] [--endpoints a,b] [--tools t,u] [--results DIR]
#
# Runs as root. Re-executes itself under `unshare -n`: a fresh network namespace whose only
# interface is a loopback, so the servers and the three scanners cannot reach anything but
# 127.0.0.1 (testssl.sh and nmap resolve names even when told not to). Everything else is done
# by peer_compare.py (which refuses to run when it sees any interface besides lo): generate the
# test PKI, start each endpoint, run the tools one after another, stop everything, print the
# tables and write tests/bench/results/latest.{md,json} plus the tools' raw output in
# tests/bench/results/raw/. See tests/bench/README.md.
#
# Full run: about 13 minutes (7 of them testssl.sh on the silent endpoint, up to its 400 s cap).
# --quick: about 1 minute.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ "${TLSAUDIT_BENCH_NETNS:-}" != 1 ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "$0: needs root (unshare -n)" >&2
    exit 2
  fi
  command -v unshare >/dev/null || { echo "$0: unshare (util-linux) is missing" >&2; exit 2; }
  command -v ip >/dev/null || { echo "$0: ip (iproute2) is missing" >&2; exit 2; }
  export TLSAUDIT_BENCH_NETNS=1
  exec unshare --net -- "$0" "$@"
fi

# Inside the new namespace: only lo exists, and it starts down.
ip link set lo up
exec python3 "$HERE/peer_compare.py" run "$@"
