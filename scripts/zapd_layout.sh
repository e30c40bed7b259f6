#!/usr/bin/env bash
# Regenerates apps/zapd/layout.txt, the functions a running gateway executes (docs/architecture.md, "Code layout").
# Runs the system benchmark at a small N with zapd under callgrind (pairing, sends, receipts, webhooks, the accept
# run, a restart) and lists every function of the zapd binary that executed (ours and the static libraries'),
# the symbols whose sections the link places first. Needs valgrind and a built release tree; takes a few minutes. Run it after large changes to the
# engine, the service or the HTTP server (unit.zapd_layout says when most names have gone stale).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
command -v valgrind >/dev/null || { echo "zapd_layout: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/zapd" <<WRAP
#!/bin/sh
exec valgrind --tool=callgrind --demangle=no --dump-instr=no --callgrind-out-file=$work/cg.%p $PWD/$build/apps/zapd/zapd "\$@" 2>>$work/valgrind.log
WRAP
chmod +x "$work/zapd"
node bench/system_vs_baileys.mjs --wasim "$build/apps/wasim/wasim" --zapd "$work/zapd" --load "$build/bench/wa_bench_load" \
     --n 20 --m 200 --accept 400 --baileys 0
python3 scripts/layout_names.py "$work"/cg.* > apps/zapd/layout.txt
echo "zapd_layout: $(wc -l < apps/zapd/layout.txt) functions in apps/zapd/layout.txt"
