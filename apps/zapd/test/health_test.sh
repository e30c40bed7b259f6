#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e.zapd_health: runs the zapd binary on a free loopback port with a temp data dir and checks GET /health,
# the 404/405/413 JSON errors, keep-alive, --version, a bad flag (exit 2) and a clean stop on SIGTERM.
# Needs curl and coreutils. Every wait is bounded.
set -u

zapd=${1:?usage: health_test.sh PATH_TO_ZAPD}
command -v curl >/dev/null || { echo "FAIL: curl is not installed (apt-get install curl)" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/zapd_health.XXXXXX")
pid=""
cleanup() {
  exec 3>&- 2>/dev/null || true
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for f in out err; do
    [[ -f $tmp/$f ]] && { echo "--- zapd std$f:" >&2; cat "$tmp/$f" >&2; }
  done
  exit 1
}

# Settings from the caller's environment must not leak into the test.
while read -r name; do unset "$name"; done < <(compgen -e | grep '^ZAPD_' || true)

# --- command line only --------------------------------------------------------------------------------------------
version=$(timeout 5 "$zapd" --version) || fail "zapd --version exited with $?"
[[ $(head -1 <<<"$version") == "zapd 0.1.0" ]] || fail "zapd --version printed '$version'"
# The second line names the OpenSSL and SQLite in use, for operators following security advisories.
grep -Eq '^libraries: OpenSSL 3\.[0-9]+\.[0-9]+.*, SQLite 3\.[0-9]+\.[0-9]+ \((linked in|the system)' <<<"$version" ||
  fail "zapd --version does not name its OpenSSL and SQLite: '$version'"

timeout 5 "$zapd" --listen bogus --data-dir "$tmp/never" >/dev/null 2>"$tmp/bogus.err"
rc=$?
[[ $rc -eq 2 ]] || fail "zapd --listen bogus exited with $rc, expected 2"
grep -q "listen" "$tmp/bogus.err" || fail "zapd --listen bogus gave no useful message: $(cat "$tmp/bogus.err")"
[[ ! -e $tmp/never ]] || fail "zapd created the data dir despite a bad configuration"

timeout 5 "$zapd" --connect-slots 0 --data-dir "$tmp/never" >/dev/null 2>"$tmp/slots.err"
rc=$?
[[ $rc -eq 2 ]] || fail "zapd --connect-slots 0 exited with $rc, expected 2"
grep -q "connect slots" "$tmp/slots.err" || fail "zapd --connect-slots 0 gave no useful message: $(cat "$tmp/slots.err")"

printf '# test config\nlisten = 127.0.0.1:0\nno_such_key = 1\n' >"$tmp/bad.conf"
timeout 5 "$zapd" --config "$tmp/bad.conf" >/dev/null 2>&1
rc=$?
[[ $rc -eq 2 ]] || fail "zapd with an unknown config key exited with $rc, expected 2"

# --- server -------------------------------------------------------------------------------------------------------
"$zapd" serve --listen 127.0.0.1:0 --data-dir "$tmp/data" >"$tmp/out" 2>"$tmp/err" &
pid=$!

port=""
for _ in $(seq 1 100); do  # up to 10 s for the "listening on" line (port 0: the kernel picks a free port)
  port=$(sed -n 's#^listening on http://127\.0\.0\.1:\([0-9][0-9]*\)$#\1#p' "$tmp/out")
  [[ -n $port ]] && break
  kill -0 "$pid" 2>/dev/null || fail "zapd exited during startup"
  sleep 0.1
done
[[ -n $port ]] || fail "zapd did not print 'listening on' within 10 s"
base="http://127.0.0.1:$port"

grep -qx "zapd 0.1.0" "$tmp/out" || fail "startup banner missing"
grep -q "^data_dir: $tmp/data\$" "$tmp/out" || fail "data_dir line missing"
grep -q "^database: sqlite://$tmp/data/zapd.db\$" "$tmp/out" || fail "default database line missing"
grep -Eq '^admin_token: [0-9a-f]{64} ' "$tmp/out" || fail "generated admin token not printed"
grep -qx "connect_slots: 256" "$tmp/out" || fail "default connect_slots line missing"
[[ -d $tmp/data ]] || fail "data directory was not created"

# get URL [curl args...]: sets code, body (file $tmp/body) and headers (file $tmp/headers).
get() {
  local url=$1; shift
  code=$(curl -sS --max-time 5 -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' "$@" "$url") || code="curl-error"
}

code=""
for _ in $(seq 1 100); do  # poll /health, up to 10 s
  get "$base/health"
  [[ $code == 200 ]] && break
  sleep 0.1
done
[[ $code == 200 ]] || fail "GET /health gave $code"
[[ $(cat "$tmp/body") == '{"status":"ok","version":"0.1.0"}' ]] || fail "GET /health body: $(cat "$tmp/body")"
grep -qi '^content-type: application/json' "$tmp/headers" || fail "GET /health is not application/json"

get "$base/nope"
[[ $code == 404 ]] || fail "GET /nope gave $code"
grep -q '"error":"NOT_FOUND"' "$tmp/body" || fail "GET /nope body: $(cat "$tmp/body")"
grep -q '"message":"' "$tmp/body" || fail "GET /nope has no message: $(cat "$tmp/body")"

get "$base/health" -X POST
[[ $code == 405 ]] || fail "POST /health gave $code"
grep -q '"error":"METHOD_NOT_ALLOWED"' "$tmp/body" || fail "POST /health body: $(cat "$tmp/body")"
grep -qi '^allow: GET' "$tmp/headers" || fail "POST /health has no 'Allow: GET' header"

head -c $((1024 * 1024 + 1)) /dev/zero >"$tmp/big"
get "$base/health" --data-binary "@$tmp/big"
[[ $code == 413 ]] || fail "a 1 MiB + 1 body gave $code"
grep -q '"error":"PAYLOAD_TOO_LARGE"' "$tmp/body" || fail "413 body: $(cat "$tmp/body")"

# keep-alive: two requests in one curl run share one connection (the second makes no new connect).
connects=$(curl -sS --max-time 5 -o /dev/null -o /dev/null -w '%{num_connects} ' "$base/health" "$base/health")
[[ $connects == "1 0 " ]] || fail "keep-alive not honoured (connects per request: '$connects')"

# --- footprint: on SQLite, libraries only other configurations need stay unloaded -----------------------------------
# libpq (with Kerberos, LDAP, GnuTLS) is opened only for a PostgreSQL store, zbar (X11, D-Bus) only to read a QR
# picture in the sandbox, FFmpeg at the first video thumbnail; protobuf is its lite runtime (docs/benchmarks.md).
for lib in libpq.so libzbar.so libavcodec.so libgnutls.so libX11.so 'libprotobuf\.so'; do
  if grep -q "/$lib" "/proc/$pid/maps"; then fail "zapd on SQLite has $lib mapped"; fi
done

# --- clean stop, with an idle keep-alive connection open ------------------------------------------------------------
exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "cannot open an idle connection"
kill -TERM "$pid"
stopped=""
for _ in $(seq 1 50); do  # up to 5 s
  if ! kill -0 "$pid" 2>/dev/null; then stopped=yes; break; fi
  sleep 0.1
done
[[ -n $stopped ]] || fail "zapd still running 5 s after SIGTERM"
wait "$pid"
rc=$?
pid=""
[[ $rc -eq 0 ]] || fail "zapd exited with $rc after SIGTERM, expected 0"
grep -qE "^stopped \(heap given back to the OS [0-9]+ times\)$" "$tmp/out" || fail "zapd did not report a clean stop"

echo "PASS: zapd health e2e (port $port)"
