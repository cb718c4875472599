#!/usr/bin/env bash
# Discovery benchmark (not part of the default test run). Everything happens inside a private
# network namespace with only the loopback interface up, so no packet can leave the machine:
#   1. TCP connect sweep of 127.1.0.0/20 and 127.1.0.0/16 x 3 ports with `tlsaudit discover`
#      and with `nmap -n -Pn -sT -T5` (no DNS, no ping): probes per second and peak RSS.
#   2. SNMP sweep of 1,000 agent addresses (one snmpd listening on 127.2.0.1..127.2.3.232):
#      agents inventoried per second, system group only and with every table walked.
# Usage: tests/bench/run_discovery.sh [BUILD_DIR]   (as root: unshare -n needs it)
set -euo pipefail

if [[ "${TLSAUDIT_BENCH_IN_NS:-}" != 1 ]]; then
  exec unshare -n env TLSAUDIT_BENCH_IN_NS=1 "$0" "$@"
fi
ip link set lo up
if ip -o link show | grep -qv ' lo:'; then
  echo "run_discovery: refusing to run with interfaces other than lo" >&2
  exit 1
fi

here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build}
bin=$build/scanner/tlsaudit
ports=22,80,443
work=$(mktemp -d)
cleanup() {
  local pid=""
  [[ -s $work/snmpd.pid ]] && pid=$(cat "$work/snmpd.pid")
  if [[ -n $pid ]]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# "%e %M": elapsed seconds, peak RSS in KiB.
measure() {
  local out=$1
  shift
  /usr/bin/time -f "%e %M" -o "$out" "$@"
}

# Three tlsaudit settings. "default": the comparison with nmap as documented (nmap -T5 has no
# per-subnet limit and probes the three ports of an address at once, so --per-host 3
# --per-subnet 0; retries are moot when every port answers) with the default concurrency and
# threads. "1thread": one thread, 32 addresses in flight (the best setting for loopback before
# connects answered at once stopped going through epoll). "shipped": nothing but the ports, i.e.
# what `tlsaudit discover RANGE` does out of the box (--per-host 2 --per-subnet 64 --retries 1).
settings=("default:--per-host 3 --per-subnet 0 --timeout 1 --retries 0 --concurrency 256 --threads 0"
  "1thread:--per-host 3 --per-subnet 0 --timeout 1 --retries 0 --concurrency 32 --threads 1"
  "shipped:")
echo "== TCP sweep: ports $ports, loopback namespace, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
printf '%-6s %-18s %10s %9s %12s %9s %8s\n' range tool probes seconds probes/s vs_nmap peak_MB
for range in 127.1.0.0/20 127.1.0.0/16; do
  prefix=${range#*/}
  probes=$(((1 << (32 - prefix)) * 3))
  measure "$work/n.time" nmap -n -Pn -sT -T5 -p "$ports" "$range" -oG "$work/n.gnmap" >/dev/null
  read -r ns nk <"$work/n.time"
  printf '%-6s %-18s %10d %9.2f %12.0f %9s %8.1f\n' "/$prefix" nmap "$probes" "$ns" \
    "$(echo "$probes / $ns" | bc -l)" "1.00" "$(echo "$nk / 1024" | bc -l)"
  for setting in "${settings[@]}"; do
    name=${setting%%:*}
    # shellcheck disable=SC2086
    measure "$work/t.time" "$bin" discover "$range" --ports "$ports" --no-sip-udp --no-identify \
      ${setting#*:} --format json --stats >"$work/t.json" 2>"$work/t.err"
    read -r ts tk <"$work/t.time"
    n=$(grep -o 'tcp probes [0-9]*' "$work/t.err" | head -1 | grep -o '[0-9]*$')
    [[ $n == "$probes" ]] || { echo "tlsaudit made $n probes, expected $probes" >&2; exit 1; }
    printf '%-6s %-18s %10d %9.2f %12.0f %9.2f %8.1f\n' "/$prefix" "tlsaudit-$name" "$probes" \
      "$ts" "$(echo "$probes / $ts" | bc -l)" "$(echo "$ns / $ts" | bc -l)" \
      "$(echo "$tk / 1024" | bc -l)"
  done
done

echo "   load average after the TCP sweep: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== SNMP sweep: 1000 agent addresses on one snmpd"
agents=""
: >"$work/agents.txt"
for i in $(seq 0 999); do
  a=$((i / 250)) b=$((i % 250 + 1))
  agents+="${agents:+,}udp:127.2.$a.$b:161"
  echo "127.2.$a.$b" >>"$work/agents.txt"
done
cat >"$work/snmpd.conf" <<CONF
rocommunity public default
sysDescr Yealink SIP-T46S bench agent
sysObjectID .1.3.6.1.4.1.8072.3.2.10
sysName bench
CONF
SNMP_PERSISTENT_DIR=$work/persist snmpd -f -Lo -C -c "$work/snmpd.conf" -p "$work/snmpd.pid" \
  -M /dev/null -m "" "$agents" >"$work/snmpd.log" 2>&1 &
for _ in $(seq 1 100); do
  grep -q "NET-SNMP version" "$work/snmpd.log" 2>/dev/null && break
  sleep 0.1
done
for mode in --no-snmp-tables --snmp-tables; do
  [[ $mode == --snmp-tables ]] && mode=""
  measure "$work/s.time" "$bin" discover "@$work/agents.txt" --ports none --no-sip-udp \
    --snmp-community public --snmp-port 161 --udp-timeout 2 --retries 1 --concurrency 256 \
    --per-subnet 0 $mode --format json --stats >"$work/s.json" 2>"$work/s.err" || {
    echo "tlsaudit discover failed:" >&2
    tail -5 "$work/s.err" >&2
    exit 1
  }
  read -r ss sk <"$work/s.time"
  n=$(grep -o 'snmp agents [0-9]*' "$work/s.err" | grep -o '[0-9]*$')
  printf 'snmp %-18s agents %5d in %6.2f s: %7.1f agents/s, peak %.1f MB\n' \
    "${mode:-(all tables)}" "$n" "$ss" "$(echo "$n / $ss" | bc -l)" "$(echo "$sk / 1024" | bc -l)"
done
