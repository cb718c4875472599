#!/usr/bin/env bash
# The README's run command: installs what is needed, builds, and runs the daemon on its embedded
# default against a small demo on loopback:
#   - two TLS endpoints: a legacy phone-like one (TLS 1.0 only, RSA key exchange, MD5-signed
#     1024-bit chain from a vendor root valid to 2035) and a modern one (TLS 1.2/1.3, ECDSA);
#   - `tlsaudit serve` with no database configured: it initdb's and starts its own PostgreSQL
#     under a temporary data directory (as the unprivileged `postgres` user when run as root);
#   - a scan started and followed through the gRPC API with the CLI client, then the findings,
#     the fleet summary and the assets, read back from PostgreSQL the same way.
# Nothing leaves 127.0.0.1; everything started here is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh >/dev/null

bin=$PWD/build/scanner/tlsaudit
# Under /tmp with mode 0755: the embedded PostgreSQL's user must be able to reach its folder.
work=$(mktemp -d /tmp/tlsaudit-demo-XXXXXX)
chmod 755 "$work"
pids=()
daemon=""
cleanup() {
  if [[ -n $daemon ]] && kill -0 "$daemon" 2>/dev/null; then
    kill -TERM "$daemon" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.1; done
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

bash tests/fixtures/make_pki.sh "$work/pki" >/dev/null
chmod -R a+rX "$work/pki"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
legacy=$(free_port)
modern=$(free_port)
openssl s_server -quiet -accept "127.0.0.1:$legacy" -tls1 -cipher 'AES128-SHA:AES256-SHA:@SECLEVEL=0' \
  -cert "$work/pki/md5-leaf.crt" -key "$work/pki/md5-leaf.key" -cert_chain "$work/pki/md5-root.crt" \
  -www </dev/null >/dev/null 2>&1 &
pids+=($!)
openssl s_server -quiet -accept "127.0.0.1:$modern" -cert "$work/pki/ecdsa-leaf.crt" \
  -key "$work/pki/ecdsa-leaf.key" -www </dev/null >/dev/null 2>&1 &
pids+=($!)
for port in "$legacy" "$modern"; do
  for _ in $(seq 50); do
    (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
done

# The demo's roots are trusted so the modern endpoint's chain validates; the legacy one is
# reported for what it is (MD5, 1024-bit RSA, TLS 1.0, RSA key exchange).
cat >"$work/tlsaudit.yaml" <<EOF
trust:
  ca_files: [$work/pki/md5-root.crt, $work/pki/ecdsa-root.crt]
EOF

echo "== tlsaudit serve (embedded PostgreSQL in $work/data)"
"$bin" serve --config "$work/tlsaudit.yaml" --data-dir "$work/data" \
  --grpc-listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --ready-file "$work/ready" \
  2>"$work/daemon.log" &
daemon=$!
for _ in $(seq 600); do
  [[ -s $work/ready ]] && break
  if ! kill -0 "$daemon" 2>/dev/null; then
    echo "the daemon did not start:" >&2
    cat "$work/daemon.log" >&2
    exit 2
  fi
  sleep 0.1
done
[[ -s $work/ready ]] || { echo "the daemon did not become ready" >&2; cat "$work/daemon.log" >&2; exit 2; }
read -r grpc metrics <"$work/ready"
export TLSAUDIT_SERVER=${grpc#grpc=}
echo "   gRPC API on $TLSAUDIT_SERVER, metrics on http://${metrics#metrics=}/metrics"

echo
echo "== tlsaudit scans start 127.0.0.1:$legacy (legacy phone-like) 127.0.0.1:$modern (modern) --wait"
"$bin" scans start "127.0.0.1:$legacy" "127.0.0.1:$modern" --name demo --wait
echo
echo "== tlsaudit findings list"
"$bin" findings list
echo
echo "== tlsaudit waivers add: the TLS 1.0 finding of the phone is an accepted risk until next month"
"$bin" waivers add --rule proto-tls10 --address 127.0.0.1 --port "$legacy" \
  --reason "demo: firmware with TLS 1.2 is due" --owner voice@example.invalid \
  --expires "$(date -u -d '+30 days' +%Y-%m-%d)"
"$bin" findings list --state waived
echo
echo "== tlsaudit summary"
"$bin" summary
echo
echo "== tlsaudit scans list"
"$bin" scans list
echo
echo "== stopping the daemon (SIGTERM: it stops its PostgreSQL too)"
kill -TERM "$daemon"
wait "$daemon" || true
daemon=""
tail -n 3 "$work/daemon.log"
