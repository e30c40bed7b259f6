// Interop (issue 6, test 5): while the engine and a stock Baileys client exchange N texts each way
// (default 1000), wasim drops the engine's connection twice; after reconnection every message has
// arrived exactly once in each direction (by id), none lost, none duplicated, in the sender's order.
// usage: node engine_durability.mjs --which b6|b7 --wasim path/to/wasim --engine path/to/wa-engine [--n 1000]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadBaileys, args, report } from '../oracle/lib.mjs';
import { startWasim } from './wasim.mjs';
import { startEngine, engineFlags, pairEngine } from './engine.mjs';
import { linkClient, waitFor, textOf, sleep } from './clients.mjs';

const opt = args({ which: 'b6', n: '1000', drops: '1' });
const N = Number(opt.n);
const { B } = await loadBaileys(opt.which);
const name = `${N} texts each way between the engine and baileys ${opt.which} survive dropped connections exactly once`;
const failures = [];
let checks = 0;
const check = (ok, what) => { checks++; if (!ok) failures.push({ step: what }); };
const wasim = await startWasim(opt.wasim);
if (B.WA_CERT_DETAILS?.PUBLIC_KEY) B.WA_CERT_DETAILS.PUBLIC_KEY.set(Buffer.from(wasim.root, 'hex'));
const dir = mkdtempSync(path.join(tmpdir(), 'zapd-engine-dur-'));
const db = path.join(dir, 'zapd.db');
const A = '15550008888';
const E = '15550009999';
let engine;
let alice;
try {
  alice = await linkClient(B, wasim, A, 'Alice');
  await wasim.call('POST', '/accounts', { phone: E, name: 'Engine' });
  engine = startEngine(opt.engine, engineFlags(opt, wasim, db, ['--backoff-ms', '100', '--backoff-cap-ms', '500']));
  await engine.wait('ready', (e) => e.event === 'ready');
  await pairEngine(engine, wasim, 'e', E);

  // Sessions first, one message each way in turn. Both sides starting a Signal session with each other at
  // the same instant is the simultaneous-initiation case, which needs retry receipts answered by
  // re-encryption (not done yet, docs/engine.md); this test is about drops and redelivery.
  {
    const s = await alice.sock.sendMessage(`${E}@s.whatsapp.net`, { text: 'warm-up' });
    await engine.wait('warm-up in', (e) => e.event === 'message' && e.id === s.key.id, 20000);
    engine.send(`send e ${A} 3EB0WARMUP0000000000000 ${Buffer.from('warm-up').toString('base64')}`);
    await waitFor('warm-up out', () => alice.events.upserts.some((u) => u.m.key.id === '3EB0WARMUP0000000000000'), 20000);
  }
  const warm = engine.events.filter((e) => e.event === 'message').length;
  const t0 = Date.now();
  const engineIds = [];
  for (let i = 0; i < N; i++) {
    const id = `3EB0D${String(i).padStart(17, '0')}`;
    engineIds.push(id);
    engine.send(`send e ${A} ${id} ${Buffer.from(`e${i}`).toString('base64')}`);
  }
  const drops = (async () => {
    for (const at of opt.drops === '1' ? [Math.floor(N / 3), Math.floor((2 * N) / 3)] : []) {
      await waitFor(`${at} sent`, () => engine.events.filter((e) => e.event === 'sent').length >= at, 60000);
      const r = await wasim.call('POST', `/accounts/${E}/devices/1/fault`, { kind: 'drop' });
      check(r.status === 200, 'drop accepted');
    }
  })();
  const baileysIds = [];
  for (let i = 0; i < N; i++) {
    const s = await alice.sock.sendMessage(`${E}@s.whatsapp.net`, { text: `b${i}` });
    baileysIds.push(s.key.id);
  }
  await drops;
  const got = () => engine.events.filter((e) => e.event === 'message').slice(warm);
  await waitFor(`engine received ${N}`, () => new Set(got().map((e) => e.id)).size >= N, 120000);
  await waitFor(`engine sent ${N}`, () => engine.events.filter((e) => e.event === 'sent').length >= N + 1, 120000);
  const engineToBaileys = () => alice.events.upserts.filter((u) => engineIds.includes(u.m.key.id));
  await waitFor(`baileys received ${N}`, () => new Set(engineToBaileys().map((u) => u.m.key.id)).size >= N, 120000);
  const elapsed = Date.now() - t0;
  await sleep(1500);  // anything duplicated would show up now

  const recv = got();
  check(recv.length === N, `engine got ${N} message events (${recv.length})`);
  check(new Set(recv.map((e) => e.id)).size === N && baileysIds.every((id) => recv.some((e) => e.id === id)), 'every Baileys id exactly once');
  const order = recv.map((e) => Number(Buffer.from(e.text_b64, 'base64').toString().slice(1)));
  check(order.every((v, i) => v === i), 'Baileys messages arrived in order');
  const sent = engine.events.filter((e) => e.event === 'sent' && e.id !== '3EB0WARMUP0000000000000');
  check(sent.length === N && new Set(sent.map((e) => e.id)).size === N, `engine reported ${N} distinct sent (${sent.length})`);
  const atB = engineToBaileys();
  check(atB.length === N, `baileys got ${N} engine messages, no duplicates (${atB.length})`);
  check(atB.every((u, i) => textOf(u.m) === `e${i}`), 'engine messages arrived in order with their text');
  const disconnects = engine.events.filter((e) => e.event === 'disconnected');
  check(disconnects.length === (opt.drops === '1' ? 2 : 0), `disconnects as caused (${JSON.stringify(disconnects)})`);
  check(!engine.events.some((e) => e.event === 'error' || e.event === 'send_failed'), 'no engine errors or failed sends');
  const rejected = (await wasim.log()).filter((e) => e.text.startsWith('rejected'));
  check(rejected.length === 0, `wasim rejected nothing (${JSON.stringify(rejected.slice(0, 3))})`);
  console.log(`engine_durability: ${N} each way with 2 drops in ${elapsed} ms`);
  const q = await engine.quit();
  check(q.code === 0, `engine exits cleanly (${JSON.stringify(q)})`);
} catch (e) {
  failures.push({ step: 'exception', err: String(e && e.stack || e) });
  try { console.error(JSON.stringify((await wasim.log()).filter((x) => !/^(logged in|uploaded)/.test(x.text)).slice(-25), null, 1)); } catch {}
  if (engine) {
    const count = (k) => engine.events.filter((x) => x.event === k).length;
    console.error(`engine: ${count('message')} messages, ${count('sent')} sent, ${count('receipt')} receipts, errors:`,
      JSON.stringify(engine.events.filter((x) => x.event === 'error' || x.event === 'send_failed').slice(0, 5)));
    console.error(`baileys: ${alice?.events.upserts.length} upserts`);
  }
  if (engine) await engine.kill();
}
try { alice?.sock?.end(undefined); } catch {}
wasim.stop();
report(name, failures, checks);
process.exit(0);
