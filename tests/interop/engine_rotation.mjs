// Interop (issue 5): QR refs rotate on the engine's schedule and, once the server's refs run out, a new
// registration brings new ones; the latest QR still pairs. Signed prekey rotation: with a lifetime of 0 s
// the engine rotates at login, the server verifies and keeps the new signed prekey, and the rotation
// survives a restart (the next login rotates from the stored one).
// usage: node engine_rotation.mjs --wasim path/to/wasim --engine path/to/wa-engine
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { args, report } from '../oracle/lib.mjs';
import { startWasim } from './wasim.mjs';
import { startEngine, engineFlags } from './engine.mjs';
import { sleep } from './clients.mjs';

const opt = args({});
const name = 'engine rotates QR refs and signed prekeys';
const failures = [];
let checks = 0;
const check = (ok, what) => { checks++; if (!ok) failures.push({ step: what }); };
const wasim = await startWasim(opt.wasim);
const dir = mkdtempSync(path.join(tmpdir(), 'zapd-engine-rot-'));
const db = path.join(dir, 'zapd.db');
const phone = '15550005555';
let engine;
try {
  await wasim.call('POST', '/accounts', { phone, name: 'rot' });
  engine = startEngine(opt.engine, engineFlags(opt, wasim, db, ['--qr-first-ms', '300', '--qr-next-ms', '150']));
  await engine.wait('ready', (e) => e.event === 'ready');
  engine.send('start r');
  // wasim offers 6 refs per registration: 300 + 5 × 150 ms, then a new registration with 6 new refs.
  await engine.wait('8 QR codes', () => engine.of('r', 'qr').length >= 8, 6000);
  const qrs = engine.of('r', 'qr');
  const refs = qrs.map((e) => e.text.split(',')[0]);
  check(new Set(refs).size === refs.length, `every QR has a new ref (${refs.length} QRs)`);
  const keys = new Set(qrs.map((e) => e.text.split(',').slice(1).join(',')));
  check(keys.size === 1, 'the keys in the QR stay the same across refs and registrations');
  const gaps = qrs.slice(1, 6).map((e, i) => e.at - qrs[i].at);
  check(gaps[0] >= 250 && gaps.slice(1).every((g) => g >= 100 && g < 600), `first ref shown ~300 ms, then ~150 ms (${gaps})`);
  const regs = (await wasim.log()).filter((e) => e.text.startsWith('registration handshake')).length;
  check(regs >= 2, `a new registration after the refs ran out (${regs})`);
  // The QR on screen now pairs.
  const latest = engine.of('r', 'qr').at(-1);
  const scan = await wasim.call('POST', `/accounts/${phone}/scan`, { qr: latest.text });
  check(scan.status === 200, `latest QR scanned (${JSON.stringify(scan.body)})`);
  await engine.wait('connected', (e) => e.device === 'r' && e.event === 'connected');
  check(engine.events.every((e) => e.event !== 'signed_prekey_rotated'), 'no rotation with the default lifetime');
  await engine.quit();

  for (const expected of [2, 3]) {
    engine = startEngine(opt.engine, [...engineFlags(opt, wasim, db), '--all', '--signed-prekey-lifetime-s', '0']);
    await engine.wait('connected', (e) => e.event === 'connected');
    await engine.wait('rotated', (e) => e.event === 'signed_prekey_rotated');
    const a = (await wasim.call('GET', `/accounts/${phone}`)).body;
    check(a.devices[0].signed_prekey_id === expected, `server has signed prekey ${expected} (${a.devices[0].signed_prekey_id})`);
    await engine.quit();
  }
  const rejected = (await wasim.log()).filter((e) => e.text.startsWith('rejected') || e.text.includes('refused'));
  check(rejected.length === 0, `wasim refused nothing (${JSON.stringify(rejected)})`);
} catch (e) {
  failures.push({ step: 'exception', err: String(e && e.stack || e) });
  if (engine) await engine.kill();
}
wasim.stop();
report(name, failures, checks);
process.exit(0);
