// Node codec parity with stock Baileys, in both directions, on a seeded random corpus:
//  1. Baileys decodes our encoding to the same node;
//  2. Baileys' encoding of that node is byte-identical to ours (where both are deterministic: "exact");
//  3. our decoder decodes Baileys' encoding to the same node;
//  4. every token of Baileys' dictionary decodes in ours to the same string.
// usage: node node_codec.mjs --which b6|b7 --tool path/to/wa-oracle [--count 10000] [--seed 1]
import { loadBaileys, args, canonFromBaileys, canonFromOurs, toBaileys, same, runTool, report } from './lib.mjs';

const opt = args({ which: 'b6', count: '10000', seed: '1' });
const { B, C, dict } = await loadBaileys(opt.which);
const name = `node codec dict ${dict} vs baileys ${opt.which}`;
const gen = runTool(opt.tool, ['gen-nodes', '--dict', String(dict), '--count', opt.count, '--seed', opt.seed]);
const corpus = gen.trim().split('\n').map((l) => JSON.parse(l));
if (corpus.length !== Number(opt.count)) throw new Error(`expected ${opt.count} nodes, got ${corpus.length}`);

const failures = [];
const theirs = [];
let checks = 0;
for (const [i, g] of corpus.entries()) {
  const ours = Buffer.from(g.hex, 'hex');
  const want = canonFromOurs(g.node);
  checks++;
  try {
    const ref = { index: 0 };
    const decoded = B.decodeDecompressedBinaryNode(ours, C, ref);
    if (ref.index !== ours.length) failures.push({ i, step: 'baileys left bytes unread', at: ref.index });
    else if (!same(canonFromBaileys(decoded), want)) {
      failures.push({ i, step: 'baileys decodes ours differently', got: canonFromBaileys(decoded), want });
    }
  } catch (e) {
    failures.push({ i, step: 'baileys cannot decode ours', err: e.message });
  }
  if (!g.exact) continue;
  checks++;
  const enc = B.encodeBinaryNode(toBaileys(g.node), C, []).toString('hex');
  if (enc !== g.hex) failures.push({ i, step: 'bytes differ', ours: g.hex.slice(0, 400), theirs: enc.slice(0, 400) });
  theirs.push({ i, hex: enc, want });
}
const exactShare = theirs.length / corpus.length;
if (exactShare < 0.8) failures.push({ step: 'too few exact nodes', exactShare });

const back = runTool(opt.tool, ['decode-nodes', '--dict', String(dict)], theirs.map((t) => t.hex).join('\n') + '\n')
  .trim().split('\n').map((l) => JSON.parse(l));
for (const [k, t] of theirs.entries()) {
  checks++;
  const r = back[k];
  if (!r || r.error) failures.push({ i: t.i, step: 'we cannot decode baileys', err: r && r.error });
  else if (!same(canonFromOurs(r.node), t.want)) failures.push({ i: t.i, step: 'we decode baileys differently', got: canonFromOurs(r.node), want: t.want });
}

// Every token: Baileys writes a node whose children are tagged with each token; we must read the same strings.
const tokens = [...C.SINGLE_BYTE_TOKENS.slice(1).filter((t) => t), ...C.DOUBLE_BYTE_TOKENS.flat()];
const chunks = [];
for (let i = 0; i < tokens.length; i += 200) chunks.push(tokens.slice(i, i + 200));
const tokHex = chunks.map((c) => B.encodeBinaryNode({ tag: 'x', attrs: {}, content: c.map((t) => ({ tag: t, attrs: {} })) }, C, []).toString('hex'));
const tokBack = runTool(opt.tool, ['decode-nodes', '--dict', String(dict)], tokHex.join('\n') + '\n').trim().split('\n').map((l) => JSON.parse(l));
chunks.forEach((c, k) => {
  checks++;
  const got = tokBack[k].node ? tokBack[k].node.content.list.map((n) => n.tag) : [];
  if (!same(got, c)) failures.push({ step: 'token table differs', chunk: k });
});
const encodedSingle = tokHex.join('').length / 2;
if (encodedSingle > tokens.length * 4 + 100) failures.push({ step: 'tokens were not written as tokens', bytes: encodedSingle });

console.log(`${name}: ${corpus.length} nodes, ${theirs.length} byte-compared, ${tokens.length} tokens`);
report(name, failures, checks);
