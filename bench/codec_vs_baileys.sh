#!/usr/bin/env bash
# Node encode/decode time per node, ours against stock Baileys, on the same corpus and the same machine.
# Dictionary 2 is compared with Baileys 6.17.16 (tests/oracle/b6), dictionary 3 with 7.0.0-rc14 (tests/oracle/b7).
# The corpus is `wa-oracle gen-nodes --count 2000 --seed 42`, keeping the nodes Baileys encodes byte-identically
# ("exact") whose hex is at most 100 000 characters. See docs/benchmarks.md.
#
# usage: bench/codec_vs_baileys.sh [BUILD_DIR]        (default build/release; needs wa_bench_codec and wa-oracle)
# environment: COUNT (2000) SEED (42) MAX_HEX (100000) WARMUP (2) ROUNDS (10) REPS (5)
#              JSON_OUT=file also keeps the raw JSON lines.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
build="${1:-$root/build/release}"
tool="$build/tools/wa-oracle/wa-oracle"
bench="$build/bench/wa_bench_codec"
for f in "$tool" "$bench"; do
  [[ -x "$f" ]] || { echo "missing $f: ninja -C $build wa_bench_codec wa-oracle" >&2; exit 2; }
done
for b in b6 b7; do
  [[ -d "$root/tests/oracle/$b/node_modules/baileys" ]] || { echo "missing tests/oracle/$b: run scripts/setup.sh" >&2; exit 2; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for pair in "2 b6" "3 b7"; do
  read -r dict which <<<"$pair"
  echo "dict $dict vs baileys $which ..." >&2
  node "$here/codec_vs_baileys.mjs" measure --which "$which" --tool "$tool" --bench "$bench" --work "$work" \
    --count "${COUNT:-2000}" --seed "${SEED:-42}" --max-hex "${MAX_HEX:-100000}" \
    --warmup "${WARMUP:-2}" --rounds "${ROUNDS:-10}" --reps "${REPS:-5}" >>"$work/results.jsonl"
done

node "$here/codec_vs_baileys.mjs" table "$work/results.jsonl"
if [[ -n "${JSON_OUT:-}" ]]; then cp "$work/results.jsonl" "$JSON_OUT"; fi
