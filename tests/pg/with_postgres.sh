#!/usr/bin/env bash
# with_postgres.sh CMD [ARGS...]: runs CMD with ZAPD_TEST_PG_URL pointing at a private PostgreSQL server
# (initdb in a temporary directory, loopback only, a free port), stopped and deleted afterwards.
# PostgreSQL refuses to run as root: as root, the server runs as the 'postgres' user.
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x $bin/initdb ]] || { echo "with_postgres: PostgreSQL server binaries not found (apt install postgresql)" >&2; exit 1; }
dir=$(mktemp -d /tmp/zapd-pg-XXXXXX)
as=()
if [[ $(id -u) -eq 0 ]]; then chown postgres "$dir"; as=(runuser -u postgres --); fi
cleanup() {
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
"${as[@]}" "$bin/initdb" -D "$dir/data" -U zapd --auth=trust -E UTF8 >/dev/null
port=""
for _ in $(seq 1 20); do
  p=$((20000 + RANDOM % 20000))
  if "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 30 \
       -o "-c listen_addresses=127.0.0.1 -p $p -k $dir -c fsync=off" start >/dev/null 2>&1; then
    port=$p
    break
  fi
done
[[ -n $port ]] || { echo "with_postgres: could not start PostgreSQL" >&2; cat "$dir/log" >&2 || true; exit 1; }
export ZAPD_TEST_PG_URL="postgresql://zapd@127.0.0.1:$port/postgres"
"$@"
