// Interop (issue 5, tests 1-3): zapd's engine (tools/wa-engine) pairs with wasim phones by QR string,
// by QR picture (PNG rendered by the engine, decoded by wasim with zbar) and by phone code; each device
// logs in, uploads its prekeys, and after a process restart logs in again from its SQLite store without
// pairing and without a new identity.
// usage: node engine_pair_login.mjs --wasim path/to/wasim --engine path/to/wa-engine [--tls 1]
import { mkdtempSync } from 'node:fs';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { args, report } from '../oracle/lib.mjs';
import { startWasim } from './wasim.mjs';
import { startEngine, engineFlags } from './engine.mjs';
import { sleep } from './clients.mjs';

const opt = args({ tls: '0' });
const tls = opt.tls === '1';
const name = `engine pairs by QR, QR picture and phone code, and logs in again after a restart${tls ? ' (TLS)' : ''}`;
const failures = [];
let checks = 0;
const check = (ok, what) => { checks++; if (!ok) failures.push({ step: what }); };
const wasim = await startWasim(opt.wasim);
const dir = mkdtempSync(path.join(tmpdir(), 'zapd-engine-'));
const db = path.join(dir, 'zapd.db');
const extra = ['--qr-png'];
if (tls) {
  const { pem } = (await wasim.call('GET', '/tls-cert')).body;
  writeFileSync(path.join(dir, 'ca.pem'), pem);
  extra.push('--tls-ca', path.join(dir, 'ca.pem'));
}
const flags = () => {
  const f = engineFlags(opt, wasim, db, extra);
  if (tls) f[f.indexOf('--url') + 1] = wasim.url.replace('ws://', 'wss://');
  return f;
};
const phones = { qr: '15550001111', png: '15550002222', code: '15550003333' };
let engine;
try {
  for (const [dev, phone] of Object.entries(phones)) await wasim.call('POST', '/accounts', { phone, name: dev });
  engine = startEngine(opt.engine, flags());
  await engine.wait('ready', (e) => e.event === 'ready');

  // 1a. QR string.
  engine.send('start qr');
  const qr = await engine.wait('qr of device qr', (e) => e.device === 'qr' && e.event === 'qr');
  check(/^2@[^,]+,[A-Za-z0-9+/=]{44},[A-Za-z0-9+/=]{44},[A-Za-z0-9+/=]{44}$/.test(qr.text), `QR string form (${qr.text})`);
  const scan = await wasim.call('POST', `/accounts/${phones.qr}/scan`, { qr: qr.text });
  check(scan.status === 200, `scan accepted (${JSON.stringify(scan.body)})`);
  const paired = await engine.wait('paired', (e) => e.device === 'qr' && e.event === 'paired');
  check(paired.text === `${phones.qr}:1@s.whatsapp.net`, `paired JID (${paired.text})`);
  check(/^\d+:1@lid$/.test(paired.lid || ''), `paired LID (${paired.lid})`);
  await engine.wait('connected qr', (e) => e.device === 'qr' && e.event === 'connected');
  const up = await engine.wait('prekeys uploaded', (e) => e.device === 'qr' && e.event === 'prekeys_uploaded');
  check(up.count === 50, `50 prekeys uploaded (${up.count})`);

  // 1b. The PNG rendering of the QR, decoded by the phone's camera (zbar in wasim).
  engine.send('start png');
  const qr2 = await engine.wait('qr of device png', (e) => e.device === 'png' && e.event === 'qr');
  check(typeof qr2.png === 'string' && qr2.png.length > 100, 'QR event carries a PNG');
  const scan2 = await wasim.call('POST', `/accounts/${phones.png}/scan`, { png: qr2.png });
  check(scan2.status === 200, `PNG scan accepted (${JSON.stringify(scan2.body)})`);
  await engine.wait('connected png', (e) => e.device === 'png' && e.event === 'connected');

  // 2. Phone code.
  engine.send('start code');
  await engine.wait('qr of device code', (e) => e.device === 'code' && e.event === 'qr');
  engine.send(`pair-phone code ${phones.code}`);
  const code = await engine.wait('pair code', (e) => e.device === 'code' && e.event === 'pair_code', 20000);
  check(/^[1-9A-HJ-NP-TV-Z]{8}$/.test(code.text), `pairing code form (${code.text})`);
  const typed = await wasim.call('POST', `/accounts/${phones.code}/link-code`, { code: code.text.slice(0, 4) + '-' + code.text.slice(4) });
  check(typed.status === 200, `code accepted by the phone (${JSON.stringify(typed.body)})`);
  const paired3 = await engine.wait('paired by code', (e) => e.device === 'code' && e.event === 'paired', 20000);
  check(paired3.text === `${phones.code}:1@s.whatsapp.net`, `paired by code (${paired3.text})`);
  await engine.wait('connected code', (e) => e.device === 'code' && e.event === 'connected');
  for (const dev of ['png', 'code']) await engine.wait(`prekeys ${dev}`, (e) => e.device === dev && e.event === 'prekeys_uploaded');
  // Every client's wss:// connection shares one TLS context (the trust store is read once, not per number).
  engine.send('devices');
  const devs = await engine.wait('devices', (e) => e.event === 'devices');
  check(devs.count === 3 && devs.tls_contexts === (tls ? 1 : 0), `three clients, ${tls ? 'one TLS context' : 'no TLS context'} (${JSON.stringify(devs)})`);
  // The three clients were started with equal configurations: they share one copy.
  check(devs.config_copies === 1, `three clients, one configuration copy (${JSON.stringify(devs)})`);
  // Paired numbers show no QR codes: the QR loop and its refs went at pair-success, not when its timer fired.
  check(devs.qr_loops === 0, `no QR loop left after pairing (${JSON.stringify(devs)})`);

  // TLS: every connection after the first resumed a session with a ticket the server issued before (no
  // certificate to parse and verify, no signature for the server); the connections came one at a time.
  if (tls) {
    const t = (await wasim.call('GET', '/tls-stats')).body;
    check(t.handshakes >= 4 && t.resumed === t.handshakes - 1, `every TLS handshake after the first resumed (${JSON.stringify(t)})`);
  }
  const before = {};
  for (const [dev, phone] of Object.entries(phones)) {
    const a = (await wasim.call('GET', `/accounts/${phone}`)).body;
    check(a.devices.length === 1, `${dev}: one linked device (${a.devices.length})`);
    // 50 uploaded, one handed out to the phone for its app-state key share message.
    check(a.devices[0]?.prekeys === 49, `${dev}: wasim holds 49 prekeys (${a.devices[0]?.prekeys})`);
    before[dev] = a.devices[0];
  }
  const q = await engine.quit();
  check(q.code === 0, `engine exits cleanly (${JSON.stringify(q)})`);

  // 3. Restart: every device logs in from the store; no pairing, no new identity, no new prekeys.
  const logMark = (await wasim.log()).length;
  engine = startEngine(opt.engine, [...flags(), '--all']);
  const started = await engine.wait('started', (e) => e.event === 'started');
  check(started.count === 3, `three devices in the store (${started.count})`);
  for (const dev of Object.keys(phones)) await engine.wait(`reconnected ${dev}`, (e) => e.device === dev && e.event === 'connected');
  await sleep(500);
  check(engine.events.every((e) => e.event !== 'qr' && e.event !== 'paired'), 'no QR and no pairing after the restart');
  check(engine.events.every((e) => e.event !== 'prekeys_uploaded'), 'no prekey upload after the restart (server has enough)');
  const after = (await wasim.log()).slice(logMark);
  check(!after.some((e) => e.text.startsWith('registration handshake')), 'no registration handshake after the restart');
  check(after.filter((e) => e.text.startsWith('logged in')).length === 3, 'three logins after the restart');
  for (const [dev, phone] of Object.entries(phones)) {
    const a = (await wasim.call('GET', `/accounts/${phone}`)).body;
    check(a.devices.length === 1 && a.devices[0].identity === before[dev].identity, `${dev}: same single device and identity`);
  }
  if (tls) {
    // A server restart: all three reconnect at once, each with a ticket from before (none left for a full handshake).
    const t0 = (await wasim.call('GET', '/tls-stats')).body;
    const mark = engine.events.length;
    await wasim.call('POST', '/restart', { down_ms: 300 });
    for (const dev of Object.keys(phones)) await engine.wait(`back ${dev}`, (e) => e.device === dev && e.event === 'connected', 15000, mark);
    const t1 = (await wasim.call('GET', '/tls-stats')).body;
    check(t1.handshakes - t0.handshakes === 3 && t1.resumed - t0.resumed === 3,
          `three reconnections, three resumed TLS sessions (${JSON.stringify(t0)} -> ${JSON.stringify(t1)})`);
  }
  const rejected = (await wasim.log()).filter((e) => e.text.startsWith('rejected') || e.text.startsWith('iq not implemented'));
  check(rejected.length === 0, `wasim rejected nothing (${JSON.stringify(rejected)})`);
  await engine.quit();
} catch (e) {
  failures.push({ step: 'exception', err: String(e && e.stack || e) });
  try { console.error(JSON.stringify((await wasim.log()).slice(-40), null, 1)); } catch {}
  if (engine) await engine.kill();
}
wasim.stop();
report(name, failures, checks);
process.exit(0);
