// e2e (issue 7, tests 4 and 5): nothing is lost across kill -9 and webhook outages.
//  4. 2,000 texts are accepted by send-text and flowing when zapd is killed with SIGKILL; after a restart
//     every accepted message reaches the Baileys recipient exactly once (by id). Every message Baileys
//     sent before the kill reaches the received webhook.
//  5. The webhook sink refuses (503) for a while, zapd is restarted meanwhile, then the sink accepts:
//     every event arrives, each webhook event id at least once, and per chat in order.
// usage: node gateway_durability.mjs --which b6 --wasim path/to/wasim --zapd path/to/zapd [--n 2000]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadBaileys, args, report } from '../oracle/lib.mjs';
import { startWasim } from '../interop/wasim.mjs';
import { linkClient, waitFor, sleep } from '../interop/clients.mjs';
import { startZapd, startSink, pairInstance, instanceApi, dbFlags, zapdProblems } from './zapd.mjs';

// libsignal (inside Baileys) logs every session event on the console: count them instead.
const noise = { closing: 0, badMac: 0 };
for (const k of ['log', 'info', 'warn', 'error']) {
  const orig = console[k].bind(console);
  console[k] = (...a) => {
    const s = typeof a[0] === 'string' ? a[0] : (a[0]?.constructor?.name ?? '');
    if (/^(Closing|Decrypted message|Session error|Failed to decrypt|SessionEntry)/.test(s)) { if (/Bad MAC|Session error/.test(s)) noise.badMac++; else noise.closing++; return; }
    orig(...a);
  };
}
const opt = args({ which: 'b6', n: '2000', inbound: '100', outage: '200' });
const N = Number(opt.n);
const { B } = await loadBaileys(opt.which);
const name = `zapd durability (${N} sends, kill -9, webhook outage) with baileys ${opt.which}${opt.db === 'pg' ? ' on PostgreSQL' : ''}`;
const failures = [];
let checks = 0;
const check = (ok, what) => { checks++; if (!ok) failures.push({ step: what }); };
const wasim = await startWasim(opt.wasim);
if (B.WA_CERT_DETAILS?.PUBLIC_KEY) B.WA_CERT_DETAILS.PUBLIC_KEY.set(Buffer.from(wasim.root, 'hex'));
const sink = await startSink();
const dataDir = mkdtempSync(path.join(tmpdir(), 'zapd-e2e-durable-'));
if (process.env.ZLOG) console.log('data dir', dataDir);
const zapdOpts = { dataDir, wasim, extra: [...dbFlags(opt), '--webhook-backoff-ms', '50'] };
const A = '15550009001';
const E = '15550009002';
let zapd;
let alice;
// How many times Alice received each message id.
const receivedAtAlice = () => {
  const c = new Map();
  for (const u of alice.events.upserts) if (!u.m.key.fromMe) c.set(u.m.key.id, (c.get(u.m.key.id) ?? 0) + 1);
  return c;
};
try {
  zapd = await startZapd(opt.zapd, zapdOpts);
  let inst = await pairInstance(zapd, wasim, sink, E, 'durable');
  alice = await linkClient(B, wasim, A, 'Alice');

  // Sessions first, one message each way in turn: both sides starting a Signal session at the same instant
  // (simultaneous initiation) is settled by retry receipts, which is not what this test is about.
  {
    const s = await alice.sock.sendMessage(`${E}@s.whatsapp.net`, { text: 'warm-up' });
    await sink.wait('warm-up in', (b) => b.type === 'ReceivedCallback' && b.messageId === s.key.id, 20000);
    const r = await inst.call('POST', 'send-text', { phone: A, message: 'warm-up' });
    await waitFor('warm-up out', () => receivedAtAlice().has(r.body.messageId), 20000);
  }
  // 4. N sends accepted, 50 at a time, while Alice writes to us; zapd's connection stalls at a quarter, and
  // zapd is killed with SIGKILL at half, and restarted. A request that got no answer is sent again (as a client would) and counts only
  // once answered: Alice may see such a message twice under two ids, never one accepted id twice.
  const accepted = [];
  let next = 0;
  let unanswered = 0;
  let queueFull = 0;
  let restarted = null;
  const poster = async () => {
    while (next < N) {
      const i = next++;
      for (;;) {
        try {
          const r = await inst.call('POST', 'send-text', { phone: A, message: `m${i}` });
          if (r.status === 429 && r.body?.error === 'QUEUE_FULL') {  // the documented back-pressure: 1,000 queued
            queueFull++;                                            // while disconnected (after the restart)
            await sleep(100);
            continue;
          }
          if (r.status === 200) accepted.push(r.body.messageId);
          else failures.push({ step: `send ${i} refused`, r: r.body });
          break;
        } catch {
          unanswered++;
          await Promise.race([restarted ?? sleep(50), sleep(30000)]);
        }
      }
    }
  };
  const inboundIds = [];
  const inbound = (async () => {
    for (let i = 0; i < Number(opt.inbound); i++) {
      const s = await alice.sock.sendMessage(`${E}@s.whatsapp.net`, { text: `in${i}` });
      inboundIds.push(s.key.id);
    }
  })().catch((e) => failures.push({ step: 'inbound sends', error: String(e?.stack ?? e) }));
  let queuedAtRestart = -1;
  const killer = (async () => {
    // A quarter in, wasim stops answering zapd's connection (open but silent), so sends pile up in the
    // queue; at half, the kill.
    await waitFor('a quarter accepted', () => accepted.length >= N / 4, 60000);
    const stall = await wasim.call('POST', `/accounts/${E}/devices/1/fault`, { kind: 'stall' });
    check(stall.status === 200, `stall accepted (${JSON.stringify(stall.body)})`);
    await waitFor('half accepted', () => accepted.length >= N / 2, 60000);
    let done;
    restarted = new Promise((r) => { done = r; });
    await zapd.kill();
    console.log(`killed with ${accepted.length} accepted, ${receivedAtAlice().size} at Alice`);
    zapd = await startZapd(opt.zapd, zapdOpts);
    inst = instanceApi(zapd, inst);
    queuedAtRestart = (await inst.call('GET', 'queue/count')).body.count;
    restarted = null;
    done();
  })().catch((e) => { failures.push({ step: 'kill and restart', error: String(e?.stack ?? e) }); next = N; });
  await Promise.all(Array.from({ length: 50 }, poster));
  await killer;
  await inbound;
  console.log(`after restart: ${queuedAtRestart} were still queued; ${unanswered} requests went unanswered, ${queueFull} answered QUEUE_FULL and were sent again`);
  check(accepted.length === N, `all ${N} sends accepted (${accepted.length})`);
  check(queuedAtRestart > 0, `the kill happened with messages still queued (${queuedAtRestart}); otherwise this proves nothing`);
  await waitFor(`all ${N} at Alice`, () => accepted.every((id) => receivedAtAlice().has(id)), 120000);
  const counts = receivedAtAlice();
  const dup = accepted.filter((id) => counts.get(id) !== 1);
  check(dup.length === 0, `every accepted message reached Alice exactly once (${dup.length} not: ${dup.slice(0, 3).map((d) => `${d}x${counts.get(d)}`)})`);
  await waitFor('inbound webhooks', () => inboundIds.every((id) => sink.events.some((e) => e.body.type === 'ReceivedCallback' && e.body.messageId === id)), 60000)
    .catch(() => {});
  const missingIn = inboundIds.filter((id) => !sink.events.some((e) => e.body.type === 'ReceivedCallback' && e.body.messageId === id));
  check(missingIn.length === 0, `every message Alice sent reached the received webhook (${missingIn.length} missing)`);
  await waitFor('delivery webhooks', () => accepted.every((id) => sink.events.some((e) => e.body.type === 'DeliveryCallback' && e.body.messageId === id)), 60000)
    .catch(() => {});
  const missingD = accepted.filter((id) => !sink.events.some((e) => e.body.type === 'DeliveryCallback' && e.body.messageId === id));
  check(missingD.length === 0, `a DeliveryCallback for every accepted message (${missingD.length} missing)`);
  check((await inst.call('GET', 'queue/count')).body.count === 0, 'the queue is empty at the end');

  console.log(`phase 4 done; libsignal errors so far ${noise.badMac}`);
  // 5. The sink refuses; zapd restarts meanwhile; then the sink accepts again.
  const M = Number(opt.outage);
  sink.state.refuse = true;
  const from = sink.events.length;
  const ids = [];
  for (let i = 0; i < M; i++) {
    const r = await inst.call('POST', 'send-text', { phone: A, message: `outage ${i}` });
    ids.push(r.body.messageId);
  }
  await waitFor('the sink refused some', () => sink.state.refused > 5, 20000);
  await sleep(500);
  await zapd.stop();
  zapd = await startZapd(opt.zapd, zapdOpts);
  inst = instanceApi(zapd, inst);
  await sleep(1000);
  sink.state.refuse = false;
  // Every DeliveryCallback, and every SENT status (it follows its DeliveryCallback in the outbox).
  const arrived = (type, id) => sink.events.some((e, k) => k >= from && e.body.type === type && (e.body.messageId === id || e.body.ids?.includes(id)));
  await waitFor('every DeliveryCallback and SENT after the outage', () => ids.every((id) => arrived('DeliveryCallback', id) && arrived('MessageStatusCallback', id)), 60000)
    .catch(() => {});
  const later = sink.events.slice(from);
  const deliveries = later.filter((e) => e.body.type === 'DeliveryCallback').map((e) => e.body.messageId);
  const missing = ids.filter((id) => !deliveries.includes(id));
  check(missing.length === 0, `every event arrived after the outage (${missing.length} of ${M} DeliveryCallbacks missing; ${sink.state.refused} refusals)`);
  const firstSeen = [...new Set(deliveries)].filter((id) => ids.includes(id));
  check(JSON.stringify(firstSeen) === JSON.stringify(ids), 'DeliveryCallbacks in send order (per chat order)');
  const statusOrder = new Map();
  for (const e of later) {
    if (e.body.type !== 'MessageStatusCallback') continue;
    for (const id of e.body.ids) { if (!statusOrder.has(id)) statusOrder.set(id, []); statusOrder.get(id).push(e.body.status); }
  }
  const badOrder = ids.filter((id) => (statusOrder.get(id) ?? [])[0] !== 'SENT');
  check(badOrder.length === 0, `each message's first status is SENT (${badOrder.length} not: ${badOrder.slice(0, 3).map((id) => `${id}:${statusOrder.get(id)}`)})`);
  check(later.every((e) => /^[0-9a-f]{32}$/.test(e.id ?? '')), 'every webhook has an X-Zapd-Event-Id');
} catch (e) {
  failures.push({ step: 'exception', error: String(e?.stack ?? e) });
} finally {
  try { await alice?.close(); } catch {}
  try { await zapd?.stop(); } catch {}
  wasim.stop();
  await sink.close();
}
if (noise.badMac) failures.push({ step: `Baileys could not decrypt ${noise.badMac} times (libsignal session errors)` });
failures.push(...zapdProblems());
report(name, failures, checks);
process.exit(0);
