#!/usr/bin/env bash
# Daemon benchmark (not part of the default test run): `tlsaudit serve` on its embedded
# PostgreSQL scans 1,000 loopback TLS endpoints end to end (discovery -> TLS probes -> rules ->
# storage), served by one nginx listening on 1,000 loopback addresses with a mix of modern
# (TLS 1.2/1.3, ECDSA or RSA-2048 SHA-256 chains) and legacy (TLS 1.0 only, RSA key exchange,
# MD5-signed 1024-bit chain from a vendor root valid to 2035) configurations. It reports hosts
# per minute, the daemon's peak RSS, and ListFindings latency (p50/p99/max) measured by a gRPC
# client calling it in a loop while the scan runs.
#
# Everything runs inside a private network namespace with only the loopback interface up, so no
# packet can leave the machine.
#   tests/bench/run_daemon.sh [BUILD_DIR] [ENDPOINTS]     (as root: unshare -n needs it)
set -euo pipefail

if [[ "${TLSAUDIT_BENCH_IN_NS:-}" != 1 ]]; then
  exec unshare -n env TLSAUDIT_BENCH_IN_NS=1 "$0" "$@"
fi
ip link set lo up
if ip -o link show | grep -qv ' lo:'; then
  echo "run_daemon: refusing to run with interfaces other than lo" >&2
  exit 1
fi

here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build}
endpoints=${2:-1000}
bin=$build/scanner/tlsaudit
client=$build/tests/tlsaudit_daemon_bench_client
for f in "$bin" "$client"; do
  [[ -x $f ]] || { echo "run_daemon: $f missing (cmake --build build)" >&2; exit 2; }
done
(( endpoints >= 1 && endpoints <= 5000 )) || { echo "run_daemon: 1..5000 endpoints" >&2; exit 2; }

# /tmp with 0755: the embedded PostgreSQL runs as `postgres` and must reach its folder.
work=$(mktemp -d /tmp/tlsaudit-daemon-bench-XXXXXX)
chmod 755 "$work"
daemon=""
nginx_pid=""
cleanup() {
  if [[ -n $daemon ]] && kill -0 "$daemon" 2>/dev/null; then
    kill -TERM "$daemon" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.1; done
  fi
  if [[ -n $nginx_pid ]]; then kill -QUIT "$nginx_pid" 2>/dev/null || true; fi
  sleep 0.5
  rm -rf "$work"
}
trap cleanup EXIT

bash "$here/tests/fixtures/make_pki.sh" "$work/pki" >/dev/null
chmod -R a+rX "$work/pki"
cat "$work/pki/md5-leaf.crt" "$work/pki/md5-root.crt" >"$work/pki/md5-chain.crt"

# Address i (0-based) is 127.3.(i / 250).(i % 250 + 1); 30% legacy, 35% ECDSA, 35% RSA.
address() { echo "127.3.$(($1 / 250)).$(($1 % 250 + 1))"; }
mkdir -p "$work/nginx/logs" "$work/nginx/tmp"
{
  echo "user root;"
  echo "worker_processes 2;"
  echo "worker_rlimit_nofile 65536;"
  echo "pid $work/nginx/nginx.pid;"
  echo "error_log $work/nginx/logs/error.log;"
  echo "events { worker_connections 8192; }"
  echo "http {"
  echo "  access_log off;"
  for t in client_body proxy fastcgi uwsgi scgi; do echo "  ${t}_temp_path $work/nginx/tmp;"; done
  for ((i = 0; i < endpoints; i++)); do
    a=$(address "$i")
    case $((i % 20)) in
      0 | 1 | 2 | 3 | 4 | 5)
        echo "  server { listen $a:443 ssl; ssl_certificate $work/pki/md5-chain.crt;" \
          "ssl_certificate_key $work/pki/md5-leaf.key; ssl_protocols TLSv1;" \
          "ssl_ciphers \"AES128-SHA:AES256-SHA:@SECLEVEL=0\"; return 200 \"phone\\n\"; }" ;;
      6 | 7 | 8 | 9 | 10 | 11 | 12)
        echo "  server { listen $a:443 ssl; ssl_certificate $work/pki/ecdsa-leaf.crt;" \
          "ssl_certificate_key $work/pki/ecdsa-leaf.key; ssl_protocols TLSv1.2 TLSv1.3;" \
          "return 200 \"modern\\n\"; }" ;;
      *)
        echo "  server { listen $a:443 ssl; ssl_certificate $work/pki/rsa-leaf.crt;" \
          "ssl_certificate_key $work/pki/rsa-leaf.key; ssl_protocols TLSv1.2 TLSv1.3;" \
          "return 200 \"server\\n\"; }" ;;
    esac
  done
  echo "}"
} >"$work/nginx/nginx.conf"
legacy=$(( (endpoints / 20) * 6 + ( (endpoints % 20) < 6 ? endpoints % 20 : 6 ) ))
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
nginx_pid=$!
last=$(address $((endpoints - 1)))
for _ in $(seq 100); do
  (echo >"/dev/tcp/$last/443") 2>/dev/null && break
  sleep 0.1
done

# Targets: the address ranges, as an operator would give them; cut into items of 50.
targets=()
for ((b = 0; b * 250 < endpoints; b++)); do
  n=$(( endpoints - b * 250 < 250 ? endpoints - b * 250 : 250 ))
  targets+=("127.3.$b.1-127.3.$b.$n")
done
cat >"$work/tlsaudit.yaml" <<EOF
workers: {count: 4, addresses_per_item: 50, lease: 2m}
politeness: {concurrency: 32, per_host: 2, per_subnet: 0, timeout: 5s, connect_timeout: 2s}
trust:
  ca_files: [$work/pki/md5-root.crt, $work/pki/ecdsa-root.crt, $work/pki/rsa-root.crt]
EOF
"$bin" serve --config "$work/tlsaudit.yaml" --data-dir "$work/data" --grpc-listen 127.0.0.1:0 \
  --ready-file "$work/ready" --log-level warning 2>"$work/daemon.log" &
daemon=$!
for _ in $(seq 600); do [[ -s $work/ready ]] && break; sleep 0.1; done
[[ -s $work/ready ]] || { echo "the daemon did not start" >&2; cat "$work/daemon.log" >&2; exit 2; }
read -r grpc _ <"$work/ready"
export TLSAUDIT_SERVER=${grpc#grpc=}

echo "== daemon benchmark: $endpoints endpoints ($legacy legacy), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
"$client" "$TLSAUDIT_SERVER" "$work/stop" 20 1800 >"$work/latency.json" &
probe=$!
t0=$(date +%s.%N)
"$bin" scans start "${targets[@]}" --ports 443 --name bench --wait --format json >"$work/scan.json"
t1=$(date +%s.%N)
touch "$work/stop"
wait "$probe"
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$daemon/status")
# The embedded cluster only: its postmaster and that postmaster's children.
pm=$(head -1 "$work/data/postgres/postmaster.pid")
pg_kb=$( (ps -o rss= -p "$pm"; ps -o rss= --ppid "$pm") | awk '{s += $1} END {print s + 0}')

read -r state services hosts findings < <(python3 - "$work/scan.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
p = s.get("progress", {})
print(s.get("state"), p.get("services", 0), p.get("hosts", 0), p.get("findings", 0))
PY
)
md5=$("$bin" findings list --rule cert-sig-md5 --all --format json |
  python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("findings", [])))')
secs=$(echo "$t1 - $t0" | bc -l)
printf '%-28s %s\n' "scan state" "$state"
printf '%-28s %s of %s (legacy endpoints with an MD5 finding: %s of %s)\n' "TLS services stored" \
  "$services" "$endpoints" "$md5" "$legacy"
printf '%-28s %s (findings: %s)\n' "hosts stored" "$hosts" "$findings"
printf '%-28s %.1f s\n' "scan wall time" "$secs"
printf '%-28s %.0f\n' "hosts per minute" "$(echo "$hosts * 60 / $secs" | bc -l)"
printf '%-28s %.1f MB\n' "daemon peak RSS" "$(echo "$rss_kb / 1024" | bc -l)"
printf '%-28s %.1f MB (sum of RSS, shared buffers counted per process)\n' "PostgreSQL RSS at the end" \
  "$(echo "$pg_kb / 1024" | bc -l)"
python3 - "$work/latency.json" <<'PY'
import json, sys
l = json.load(open(sys.argv[1]))
print("%-28s %d calls, %d errors: p50 %.2f ms, p99 %.2f ms, max %.2f ms" % (
    "ListFindings during the scan", l["calls"], l["errors"], l["p50_ms"], l["p99_ms"], l["max_ms"]))
PY
if [[ $state != SCAN_DONE || $services != "$endpoints" || $md5 != "$legacy" ]]; then
  echo "run_daemon: the scan did not find what the endpoints serve" >&2
  exit 1
fi
