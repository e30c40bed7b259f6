// Interop (issue 4 test 3, issue 6 presence): chatstate and presence between zapd's engine, a stock
// Baileys client and a wasim phone. Typing (composing), recording and paused go both ways between the
// engine and Baileys, and between Baileys and the phone; presence subscriptions report available and
// unavailable (with last seen) to the engine (from a wasim phone) and to Baileys (from the engine).
// usage: node engine_presence.mjs --which b6|b7 --wasim path/to/wasim --engine path/to/wa-engine
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadBaileys, args, report } from '../oracle/lib.mjs';
import { startWasim } from './wasim.mjs';
import { startEngine, engineFlags, pairEngine } from './engine.mjs';
import { linkClient, waitFor } from './clients.mjs';

const opt = args({ which: 'b6' });
const { B } = await loadBaileys(opt.which);
const name = `presence and chatstate between the engine, baileys ${opt.which} and a wasim phone`;
const failures = [];
let checks = 0;
const check = (ok, what) => { checks++; if (!ok) failures.push({ step: what }); };
const wasim = await startWasim(opt.wasim);
if (B.WA_CERT_DETAILS?.PUBLIC_KEY) B.WA_CERT_DETAILS.PUBLIC_KEY.set(Buffer.from(wasim.root, 'hex'));
const dir = mkdtempSync(path.join(tmpdir(), 'zapd-engine-presence-'));
const A = '15550011111', E = '15550022222', P = '15550033333';
const jid = (p) => `${p}@s.whatsapp.net`;
let engine, alice;
try {
  alice = await linkClient(B, wasim, A, 'Alice');
  const updates = [];
  alice.sock.ev.on('presence.update', (u) => updates.push(u));
  const seenByAlice = (who, state) => updates.some((u) => u.id === jid(who) && u.presences?.[jid(who)]?.lastKnownPresence === state);
  await wasim.call('POST', '/accounts', { phone: E, name: 'Engine' });
  await wasim.call('POST', '/accounts', { phone: P, name: 'Phone' });
  engine = startEngine(opt.engine, engineFlags(opt, wasim, path.join(dir, 'zapd.db')));
  await engine.wait('ready', (e) => e.event === 'ready');
  await pairEngine(engine, wasim, 'e', E);

  // Engine -> Baileys. (Baileys reports "paused" as "available".)
  for (const [state, shown] of [['composing', 'composing'], ['recording', 'recording'], ['paused', 'available']]) {
    engine.send(`chatstate e ${A} ${state}`);
    await waitFor(`baileys sees the engine ${state}`, () => seenByAlice(E, shown), 5000);
    check(true, `baileys saw ${state}`);
    updates.length = 0;
  }
  // Baileys -> engine.
  for (const state of ['composing', 'recording', 'paused']) {
    const mark = engine.events.length;
    await alice.sock.sendPresenceUpdate(state, jid(E));
    const ev = await engine.wait(`engine sees ${state}`, (e) => e.event === 'chatstate' && e.type === state, 5000, mark);
    check(ev.from === jid(A) && ev.chat === jid(A), `chatstate ${state} from Baileys' account (${JSON.stringify(ev)})`);
  }
  // Presence, engine subscribed to the wasim phone's account. (Stock Baileys announces its presence only
  // once it knows its own push name from app-state sync, which wasim does not serve yet.)
  {
    const mark = engine.events.length;
    engine.send(`subscribe e ${P}`);
    await engine.wait('current presence on subscribe', (e) => e.event === 'presence' && e.from === jid(P), 5000, mark);
    const m1 = engine.events.length;
    await wasim.call('POST', `/accounts/${P}/presence`, { type: 'available' });
    await engine.wait('available', (e) => e.event === 'presence' && e.type === 'available' && e.from === jid(P), 5000, m1);
    const m2 = engine.events.length;
    await wasim.call('POST', `/accounts/${P}/presence`, { type: 'unavailable' });
    const off = await engine.wait('unavailable', (e) => e.event === 'presence' && e.type === 'unavailable', 5000, m2);
    check(off.from === jid(P) && off.timestamp > 1700000000, `unavailable with last seen (${JSON.stringify(off)})`);
  }
  // Presence, Baileys subscribed to the engine.
  {
    await alice.sock.presenceSubscribe(jid(E));
    updates.length = 0;
    engine.send('presence e available');
    await waitFor('baileys sees the engine available', () => seenByAlice(E, 'available'), 5000);
    engine.send('presence e unavailable');
    await waitFor('baileys sees the engine unavailable', () => seenByAlice(E, 'unavailable'), 5000);
    check(true, 'baileys saw the engine go available and unavailable');
  }
  // wasim phone <-> Baileys and phone -> engine.
  {
    updates.length = 0;
    const r = await wasim.call('POST', `/accounts/${P}/chatstate`, { to: A, state: 'composing' });
    check(r.status === 200, `phone chatstate accepted (${JSON.stringify(r.body)})`);
    await waitFor('baileys sees the phone composing', () => seenByAlice(P, 'composing'), 5000);
    await wasim.call('POST', `/accounts/${P}/chatstate`, { to: A, state: 'paused' });
    await waitFor('baileys sees the phone paused', () => seenByAlice(P, 'available'), 5000);
    await alice.sock.sendPresenceUpdate('composing', jid(P));
    const cs = await (async () => {
      for (let i = 0; i < 50; i++) {
        const l = (await wasim.call('GET', `/accounts/${P}/chatstates`)).body.chatstates;
        if (l.some((c) => c.from === jid(A) && c.state === 'composing')) return l;
        await new Promise((res) => setTimeout(res, 100));
      }
      return [];
    })();
    check(cs.length > 0, 'the phone saw Baileys composing');
    const mark = engine.events.length;
    await wasim.call('POST', `/accounts/${P}/chatstate`, { to: E, state: 'recording' });
    const ev = await engine.wait('engine sees the phone recording', (e) => e.event === 'chatstate' && e.type === 'recording', 5000, mark);
    check(ev.from === jid(P), `from the phone's account (${ev.from})`);
    const bad = await wasim.call('POST', `/accounts/${P}/chatstate`, { to: E, state: 'dancing' });
    check(bad.status === 400, `an unknown chatstate is refused (${bad.status})`);
  }
  const rejected = (await wasim.log()).filter((e) => e.text.startsWith('rejected'));
  check(rejected.length === 0, `wasim rejected nothing (${JSON.stringify(rejected)})`);
  check(!engine.events.some((e) => e.event === 'error'), 'no engine errors');
  await engine.quit();
} catch (e) {
  failures.push({ step: 'exception', err: String(e && e.stack || e) });
  try { console.error(JSON.stringify((await wasim.log()).slice(-12), null, 1)); } catch {}
  if (engine) await engine.kill();
}
try { alice?.sock?.end(undefined); } catch {}
wasim.stop();
report(name, failures, checks);
process.exit(0);
