// Node codec speed against stock Baileys on the same corpus (driven by bench/codec_vs_baileys.sh).
//
//   node codec_vs_baileys.mjs measure --which b6|b7 --tool wa-oracle --bench wa_bench_codec --work DIR
//        [--count 2000] [--seed 42] [--max-hex 100000] [--warmup 2] [--rounds 10] [--reps 5]
//     generates the corpus with `wa-oracle gen-nodes` (our encoder's output), keeps the `exact` nodes whose hex
//     is at most --max-hex characters, writes them to DIR/corpus-dictN.jsonl, times Baileys' encodeBinaryNode
//     and decodeDecompressedBinaryNode over it, then runs `wa_bench_codec --corpus` on the same file, and prints
//     one JSON line with both sides (ns per node: median of --reps timed runs of --rounds passes each).
//   node codec_vs_baileys.mjs table FILE
//     prints the comparison table from the JSON lines in FILE.
//
// Everything is local: no network, bounded loops.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBaileys, args, toBaileys, runTool } from '../tests/oracle/lib.mjs';

const oracleDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'tests', 'oracle');
const baileysVersion = (which) =>
  JSON.parse(readFileSync(path.join(oracleDir, which, 'node_modules', 'baileys', 'package.json'), 'utf-8')).version;

const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// Times one pass over the corpus: warm-up passes, then reps x rounds passes; returns ns per node per rep.
function time(pass, nodes, { warmup, rounds, reps }) {
  for (let w = 0; w < warmup; w++) pass();
  const perNode = [];
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < rounds; k++) pass();
    const ns = Number(process.hrtime.bigint() - t0);
    perNode.push(ns / rounds / nodes);
  }
  return perNode;
}

async function measure() {
  const opt = args({ which: 'b6', count: '2000', seed: '42', 'max-hex': '100000', warmup: '2', rounds: '10', reps: '5' });
  for (const k of ['tool', 'bench', 'work']) if (!opt[k]) throw new Error(`--${k} is required`);
  const loops = { warmup: Number(opt.warmup), rounds: Number(opt.rounds), reps: Number(opt.reps) };
  if (!(loops.warmup >= 0 && loops.rounds >= 1 && loops.reps >= 1 && loops.rounds * loops.reps <= 10000)) {
    throw new Error('need --warmup >= 0, --rounds >= 1, --reps >= 1, rounds*reps <= 10000');
  }
  const { B, C, dict } = await loadBaileys(opt.which);

  // The corpus: our encoder's output for seeded random nodes; only nodes Baileys encodes byte-identically.
  const gen = runTool(opt.tool, ['gen-nodes', '--dict', String(dict), '--count', opt.count, '--seed', opt.seed]);
  const all = gen.trim().split('\n');
  const kept = all.filter((l) => {
    const g = JSON.parse(l);
    return g.exact && g.hex.length <= Number(opt['max-hex']);
  });
  const file = path.join(opt.work, `corpus-dict${dict}.jsonl`);
  writeFileSync(file, kept.join('\n') + '\n');

  const parsed = kept.map((l) => JSON.parse(l));
  const nodes = parsed.map((g) => toBaileys(g.node));
  const bufs = parsed.map((g) => Buffer.from(g.hex, 'hex'));
  const bytes = bufs.reduce((s, b) => s + b.length, 0);

  // Both sides must do the same work: Baileys' bytes equal ours, and it reads every byte back.
  for (const [i, n] of nodes.entries()) {
    if (!B.encodeBinaryNode(n, C, []).equals(bufs[i])) throw new Error(`corpus node ${i}: Baileys encodes differently`);
    const ref = { index: 0 };
    B.decodeDecompressedBinaryNode(bufs[i], C, ref);
    if (ref.index !== bufs[i].length) throw new Error(`corpus node ${i}: Baileys left bytes unread`);
  }

  let sink = 0;  // keeps the results alive
  const encodePass = () => { for (const n of nodes) sink += B.encodeBinaryNode(n, C, []).length; };
  const decodePass = () => {
    for (const b of bufs) sink += B.decodeDecompressedBinaryNode(b, C, { index: 0 }).tag.length;
  };
  const enc = time(encodePass, nodes.length, loops);
  const dec = time(decodePass, nodes.length, loops);
  if (sink === 0) throw new Error('nothing measured');

  const ours = JSON.parse(runTool(opt.bench, ['--corpus', file, '--dict', String(dict), '--warmup', opt.warmup,
    '--rounds', opt.rounds, '--reps', opt.reps]).trim());
  if (ours.nodes !== nodes.length || ours.bytes !== bytes) throw new Error('the two sides read different corpora');

  console.log(JSON.stringify({
    dict, baileys: opt.which, baileys_version: baileysVersion(opt.which), generated: all.length, nodes: nodes.length, bytes,
    ...loops,
    baileys_encode_ns_per_node: median(enc), baileys_decode_ns_per_node: median(dec),
    baileys_encode_ns_per_node_min: Math.min(...enc), baileys_decode_ns_per_node_min: Math.min(...dec),
    ours_encode_ns_per_node: ours.encode_ns_per_node, ours_decode_ns_per_node: ours.decode_ns_per_node,
    ours_encode_ns_per_node_min: ours.encode_ns_per_node_min, ours_decode_ns_per_node_min: ours.decode_ns_per_node_min,
  }));
}

function table(file) {
  const rows = readFileSync(file, 'utf-8').trim().split('\n').map((l) => JSON.parse(l));
  const f = (x) => x.toFixed(0);
  const r = (a, b) => `${(a / b).toFixed(1)}x`;
  const head = ['dict', 'Baileys', 'nodes', 'avg bytes', 'Baileys enc ns/node', 'ours enc ns/node', 'enc ratio',
    'Baileys dec ns/node', 'ours dec ns/node', 'dec ratio'];
  const lines = rows.map((x) => [String(x.dict), x.baileys_version, String(x.nodes), f(x.bytes / x.nodes),
    f(x.baileys_encode_ns_per_node), f(x.ours_encode_ns_per_node), r(x.baileys_encode_ns_per_node, x.ours_encode_ns_per_node),
    f(x.baileys_decode_ns_per_node), f(x.ours_decode_ns_per_node), r(x.baileys_decode_ns_per_node, x.ours_decode_ns_per_node)]);
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const row = (cells) => `| ${cells.map((c, i) => c.padStart(w[i])).join(' | ')} |`;
  console.log(row(head));
  console.log(`|${w.map((n) => '-'.repeat(n + 1) + ':').join('|')}|`);
  for (const l of lines) console.log(row(l));
  console.log('ratio = Baileys ns/node / ours ns/node (higher: ours faster); medians of the timed runs');
}

const mode = process.argv[2];
process.argv.splice(2, 1);
if (mode === 'measure') await measure();
else if (mode === 'table') table(process.argv[2]);
else {
  console.error('usage: codec_vs_baileys.mjs measure ... | table FILE');
  process.exit(2);
}
