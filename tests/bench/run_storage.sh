#!/usr/bin/env bash
# Storage benchmark: starts a private PostgreSQL cluster (the installed server binaries, run as
# the postgres user, unix socket only, data on disk under build/), runs
# build/tests/tlsaudit_storage_bench against it, prints the figures, and removes the cluster.
# Not part of ctest or scripts/test.sh. Run as root after ./scripts/build.sh.
#
#   tests/bench/run_storage.sh [--observations 100000] [--writers 3] [--batch 200] [--via-writer]
#                              [--findings 1000000] [--queries 2000] [--fast-commit]
#
# --batch N: host results per transaction batch (PgFindingStore::ingestBatch); --batch 1 is the
# one-host-per-transaction path (PgFindingStore::ingest). --via-writer: one HostResultWriter, the
# daemon's path, instead of --writers threads.
#
# TLSAUDIT_BENCH_KEEP=1 leaves the cluster running afterwards (to look at plans) and prints how
# to reach and stop it.
# --fast-commit sets synchronous_commit = off (commits are acknowledged before their WAL is
# flushed: a server crash can lose the last few hundred milliseconds of results).
set -euo pipefail
cd "$(dirname "$0")/../.."
BENCH=build/tests/tlsaudit_storage_bench
[[ -x $BENCH ]] || { echo "run_storage.sh: build $BENCH first (cmake --build build --target tlsaudit_storage_bench)" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "run_storage.sh: run as root (postgres is started as the postgres user)" >&2; exit 2; }
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -n $PGBIN ]] || { echo "run_storage.sh: no PostgreSQL server binaries (apt-get install postgresql)" >&2; exit 2; }

sync_commit=on
args=()
for a in "$@"; do
  if [[ $a == --fast-commit ]]; then sync_commit=off; else args+=("$a"); fi
done

mkdir -p build/bench
dir=$(mktemp -d "$PWD/build/bench/pg-XXXXXX")
chown postgres "$dir"
as_pg() { runuser -u postgres -- env -C "$dir" "$@"; }
cleanup() {
  if [[ ${TLSAUDIT_BENCH_KEEP:-0} == 1 ]]; then
    echo "kept: psql -h $dir -U postgres; stop: runuser -u postgres -- $PGBIN/pg_ctl -D $dir/data stop && rm -rf $dir"
    return
  fi
  as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

as_pg "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres --no-locale -E UTF8 >/dev/null
cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
shared_buffers = '1GB'
work_mem = '16MB'
maintenance_work_mem = '256MB'
max_wal_size = '8GB'
checkpoint_timeout = '30min'
synchronous_commit = $sync_commit
CONF
as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null
echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}'), synchronous_commit=$sync_commit, $(nproc) cores, data in $dir"
"$BENCH" --database "host=$dir port=5432 user=postgres dbname=postgres" "${args[@]}"
