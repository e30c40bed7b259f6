// Interop (issue 3, test 1): a stock Baileys client shows a QR; a wasim phone scans it; pairing completes;
// Baileys reconnects after the 515 restart and reaches connection "open"; a second start with the saved
// credentials logs in without a QR. Also: wasim recorded the linked device and Baileys' prekey upload.
// With --code 1 (issue 3, test 2) the companion links by phone code instead: Baileys' requestPairingCode
// gives an 8-character code, which the user "types" on the wasim phone through the control API.
// With --tls 1 the client connects over wss:// and trusts only wasim's self-signed certificate.
// With --png 1 the phone "scans" a PNG picture of the QR (rendered by the npm qrcode package) instead of its text.
// usage: node pair_login.mjs --which b6|b7 --wasim path/to/wasim [--code 1] [--tls 1] [--png 1]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadBaileys, args, silentLogger, report } from '../oracle/lib.mjs';
import { startWasim, deadline } from './wasim.mjs';

import https from 'node:https';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
const opt = args({ which: 'b6', code: '0', tls: '0', png: '0' });
const QRCode = createRequire(fileURLToPath(new URL('../oracle/b6/package.json', import.meta.url)))('qrcode');
const byCode = opt.code === '1';
const { B } = await loadBaileys(opt.which);
const name = `pair ${byCode ? 'by phone code' : opt.png === '1' ? 'by QR picture' : 'by QR'} and login${opt.tls === '1' ? ' over TLS' : ''}, baileys ${opt.which}`;
const makeWASocket = B.makeWASocket || B.default;
const failures = [];
let checks = 0;
const check = (ok, what) => { checks++; if (!ok) failures.push({ step: what }); };
const wasim = await startWasim(opt.wasim);
const phone = '15550001111';
try {
  if (B.WA_CERT_DETAILS.PUBLIC_KEY) B.WA_CERT_DETAILS.PUBLIC_KEY.set(Buffer.from(wasim.root, 'hex'));
  let url = wasim.url;
  let agent;
  if (opt.tls === '1') {
    const { pem } = (await wasim.call('GET', '/tls-cert')).body;
    check(pem.startsWith('-----BEGIN CERTIFICATE-----'), 'wasim exports its TLS certificate');
    url = url.replace('ws://', 'wss://');
    agent = new https.Agent({ ca: pem });  // trust exactly wasim's certificate
  }
  check((await wasim.call('POST', '/accounts', { phone, name: 'Alice' })).status === 201, 'create account');
  const dir = mkdtempSync(path.join(tmpdir(), `zapd-interop-${opt.which}-`));
  const { state, saveCreds } = await B.useMultiFileAuthState(dir);

  // One socket life: resolves with the events seen until "open" (or rejects on another close).
  const life = (onQr) => new Promise((resolve, reject) => {
    const seen = { qr: 0, restarts: 0 };
    const start = () => {
      const sock = makeWASocket({ auth: state, logger: silentLogger, waWebSocketUrl: url, agent, printQRInTerminal: false,
        markOnlineOnConnect: false, syncFullHistory: false, fireInitQueries: true });
      sock.ev.on('creds.update', saveCreds);
      sock.ev.on('connection.update', async (u) => {
        if (u.qr) { seen.qr++; if (onQr) await onQr(u.qr, sock); }
        if (u.connection === 'open') { seen.sock = sock; resolve(seen); }
        if (u.connection === 'close') {
          const code = u.lastDisconnect?.error?.output?.statusCode;
          if (code === 515 && seen.restarts++ < 2) start();
          else if (!seen.sock) reject(new Error(`closed with ${code}: ${u.lastDisconnect?.error?.message}`));
        }
      });
    };
    start();
  });

  const d1 = deadline(30000, 'first pairing');
  let asked = false;
  const first = await Promise.race([life(async (qr, sock) => {
    if (!byCode && opt.png === '1') {
      const png = await QRCode.toBuffer(qr, { type: 'png', errorCorrectionLevel: 'L', margin: 2, scale: 4 });
      const bad = await wasim.call('POST', `/accounts/${phone}/scan`, { png: Buffer.from('not a png').toString('base64') });
      check(bad.status === 400, 'a picture without a QR code is refused');
      const r = await wasim.call('POST', `/accounts/${phone}/scan`, { png: png.toString('base64') });
      check(r.status === 200, `scan of the PNG accepted (${JSON.stringify(r.body)})`);
      return;
    }
    if (!byCode) {
      const r = await wasim.call('POST', `/accounts/${phone}/scan`, { qr });
      check(r.status === 200, `scan accepted (${JSON.stringify(r.body)})`);
      return;
    }
    if (asked) return;
    asked = true;
    const code = await sock.requestPairingCode(phone);
    check(/^[1-9A-HJ-NP-TV-Z]{8}$/.test(code), `an 8-character pairing code (${code})`);
    await new Promise((r) => setTimeout(r, 300));  // the companion_hello iq reaches wasim first
    const wrong = await wasim.call('POST', `/accounts/${phone}/link-code`, { code: '1111' });
    check(wrong.status === 400, 'a code of the wrong length is refused');
    const r = await wasim.call('POST', `/accounts/${phone}/link-code`, { code: code.slice(0, 4) + '-' + code.slice(4) });
    check(r.status === 200, `code accepted (${JSON.stringify(r.body)})`);
  }), d1.promise]);
  d1.clear();
  check(first.qr >= 1, 'a QR was shown');
  check(first.restarts === 1, 'exactly one 515 restart');
  check(state.creds.me && state.creds.me.id.startsWith(`${phone}:1@`), `creds.me is the linked device (${state.creds.me?.id})`);
  await new Promise((r) => setTimeout(r, 500));
  first.sock.end(undefined);

  const acct = (await wasim.call('GET', `/accounts/${phone}`)).body;
  check(acct.devices.length === 1 && acct.devices[0].device === 1, 'wasim lists the linked device');
  check(acct.devices[0].prekeys >= 5, `baileys uploaded prekeys (${acct.devices[0].prekeys})`);

  const d2 = deadline(20000, 'second login');
  const second = await Promise.race([life(null), d2.promise]);
  d2.clear();
  check(second.qr === 0, 'second start logs in without a QR');
  check(second.restarts === 0, 'second start needs no restart');
  // The phone logs the companion out: Baileys sees 401 (logged out); a later login with those creds fails.
  const closed = new Promise((resolve) => second.sock.ev.on('connection.update', (u) => {
    if (u.connection === 'close') resolve(u.lastDisconnect?.error?.output?.statusCode);
  }));
  const lo = await wasim.call('POST', `/accounts/${phone}/devices/1/logout`);
  check(lo.status === 200, 'logout accepted');
  const d3 = deadline(10000, 'logout close');
  const code = await Promise.race([closed, d3.promise]);
  d3.clear();
  check(code === 401, `baileys sees logged out (401), got ${code}`);
  check((await wasim.call('GET', `/accounts/${phone}`)).body.devices.length === 0, 'wasim forgot the device');
  const third = await Promise.race([life(null).then(() => 'open', (e) => e.message), new Promise((r) => setTimeout(() => r('timeout'), 10000))]);
  check(/closed with 401/.test(third), `a login with the old creds is refused with 401 (${third})`);
  const log = await wasim.log();
  check(log.filter((e) => e.text.startsWith('logged in')).length >= 2, 'wasim logged two logins');
  check(log.some((e) => e.text.startsWith('login refused')), 'wasim logged the refused login');
  const rejected = log.filter((e) => e.text.startsWith('rejected'));
  check(rejected.length === 0, `no rejections (${JSON.stringify(rejected)})`);
  const missing = log.filter((e) => e.text.startsWith('iq not implemented'));
  if (missing.length) console.log('iqs wasim does not implement yet:', missing.map((e) => e.text).join('\n'));
} catch (e) {
  failures.push({ step: 'exception', err: String(e && e.stack || e) });
  try { console.error(JSON.stringify(await wasim.log(), null, 1)); } catch {}
}
wasim.stop();
report(name, failures, checks);
process.exit(0);
