#!/usr/bin/env bash
# The README's run command: installs what is needed, builds, starts two demo endpoints on
# loopback (a legacy phone-like one: TLS 1.0 only, RSA key exchange, MD5-signed 1024-bit chain
# from a vendor root valid to 2035; and a modern one: TLS 1.2/1.3 with an ECDSA chain) and scans
# them. Nothing leaves 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh >/dev/null

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

bash tests/fixtures/make_pki.sh "$work/pki" >/dev/null
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

echo "== tlsaudit scan 127.0.0.1:$legacy (legacy phone-like) 127.0.0.1:$modern (modern)"
./build/scanner/tlsaudit scan "127.0.0.1:$legacy" "127.0.0.1:$modern" \
  --ca-file "$work/pki/md5-root.crt" --ca-file "$work/pki/ecdsa-root.crt" "$@"
