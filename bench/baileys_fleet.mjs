// The Baileys side of the system benchmark: one Node process holding many stock Baileys sockets (their auth
// state on disk), driven by JSON commands on stdin; answers one JSON line per command on stdout.
//   {"cmd":"link","phones":[...]}   create the wasim accounts and pair one socket each (QR scanned by the phone)
//   {"cmd":"open"}                  open a socket for every saved auth directory (a restart); answers once every
//                                   one is open and has had the server's end-of-offline marker
//                                   (receivedPendingNotifications), as zapd's restart is timed
//   {"cmd":"send","to":[...],"m":M} M texts round-robin from every socket, each socket sequentially, up to 1,000
//                                   sockets at once; answers once every one has a delivery receipt (or after
//                                   2 minutes), with latencies and the sends that failed
//   {"cmd":"stats"}                 rss (bytes) and cpu (ms) of this process
// usage: node baileys_fleet.mjs --which b6 --control http://127.0.0.1:P --url ws://... --root HEX --dir DIR
import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { loadBaileys, args, silentLogger } from '../tests/oracle/lib.mjs';

const opt = args({ which: 'b6' });
// stdout carries the answers; libsignal (under Baileys 7) prints "Closing session" chatter with console.log/info.
console.log = console.info = console.debug = () => {};
const { B } = await loadBaileys(opt.which);
if (B.WA_CERT_DETAILS?.PUBLIC_KEY) B.WA_CERT_DETAILS.PUBLIC_KEY.set(Buffer.from(opt.root, 'hex'));
const makeWASocket = B.makeWASocket || B.default;
const call = async (method, p, body) => {
  const r = await fetch(opt.control + p, { method, headers: { 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
  return { status: r.status, body: await r.json() };
};
const socks = new Map();  // phone -> sock
const delivered = new Map();  // message id -> time of the delivery receipt
// drained: resolve once the socket is open and the end-of-offline marker came (in either order), else once open.
const open = (phone, drained = false) => new Promise((resolve, reject) => {
  const dir = path.join(opt.dir, phone);
  mkdirSync(dir, { recursive: true });
  let restarts = 0;
  let opened = null, caughtUp = !drained;
  const settle = () => { if (opened && caughtUp) { clearTimeout(timer); socks.set(phone, opened); resolve(); } };
  const timer = setTimeout(() => reject(new Error(`${phone} did not open`)), 120000);
  const start = async () => {
    const { state, saveCreds } = await B.useMultiFileAuthState(dir);
    const sock = makeWASocket({ auth: state, logger: silentLogger, waWebSocketUrl: opt.url, printQRInTerminal: false,
      markOnlineOnConnect: false, syncFullHistory: false, shouldSyncHistoryMessage: () => false });
    sock.ev.on('creds.update', saveCreds);
    sock.ev.on('messages.update', (us) => { for (const u of us) if (u.update.status >= 3 && !delivered.has(u.key.id)) delivered.set(u.key.id, Date.now()); });
    sock.ev.on('connection.update', async (u) => {
      if (u.qr) await call('POST', `/accounts/${phone}/scan`, { qr: u.qr });
      if (u.receivedPendingNotifications === true) { caughtUp = true; settle(); }
      if (u.connection === 'open') { opened = sock; settle(); }
      if (u.connection === 'close' && socks.get(phone) !== sock) {
        if (u.lastDisconnect?.error?.output?.statusCode === 515 && restarts++ < 2) start();
        else { clearTimeout(timer); reject(new Error(`${phone} closed`)); }
      }
    });
  };
  start();
});
const pool = async (items, conc, f) => { let i = 0; await Promise.all(Array.from({ length: conc }, async () => { while (i < items.length) await f(items[i++]); })); };
const reply = (o) => process.stdout.write(JSON.stringify(o) + '\n');
for await (const line of createInterface({ input: process.stdin })) {
  const c = JSON.parse(line);
  const t0 = Date.now();
  try {
    if (c.cmd === 'link') {
      await pool(c.phones, 10, async (p) => { await call('POST', '/accounts', { phone: p, name: `B${p}` }); await open(p); });
      reply({ ok: true, ms: Date.now() - t0 });
    } else if (c.cmd === 'open') {
      await pool(readdirSync(opt.dir), 50, (p) => open(p, true));
      reply({ ok: true, ms: Date.now() - t0, open: socks.size });
    } else if (c.cmd === 'send') {
      const senders = [...socks.values()];
      const per = Math.ceil(c.m / senders.length);
      const sent = [];
      let failed = 0, firstError;
      // Up to 1,000 sockets send at once (each its messages one after the other): every socket at once was
      // 10,000 usync, prekey and message iqs in one burst at N = 10,000, and Baileys' iqs time out under it.
      await pool(senders.map((s, k) => [s, k]), Math.min(senders.length, 1000), async ([s, k]) => {
        for (let i = 0; i < per && k * per + i < c.m; i++) {
          const n = k * per + i;
          const at = Date.now();
          try {
            const r = await s.sendMessage(`${c.to[n % c.to.length]}@s.whatsapp.net`, { text: `load ${n} `.padEnd(100, '.') });
            sent.push({ id: r.key.id, at });
          } catch (e) {
            failed++;
            firstError ??= String(e?.message ?? e);
          }
        }
      });
      const end = Date.now() + 120000;
      while (Date.now() < end && !sent.every((x) => delivered.has(x.id))) await new Promise((r) => setTimeout(r, 20));
      const lat = sent.filter((x) => delivered.has(x.id)).map((x) => delivered.get(x.id) - x.at).sort((a, b) => a - b);
      const last = Math.max(...sent.map((x) => delivered.get(x.id) ?? 0));
      reply({ ok: true, delivered: lat.length, failed, firstError, secs: (last - t0) / 1000, p50: lat[Math.floor(lat.length / 2)] ?? 0, p99: lat[Math.floor(lat.length * 0.99)] ?? 0 });
    } else if (c.cmd === 'stats') {
      if (global.gc) global.gc();
      const u = process.cpuUsage();
      reply({ ok: true, rss: process.memoryUsage().rss, cpu: (u.user + u.system) / 1000 });
    }
  } catch (e) {
    reply({ ok: false, error: String(e?.stack ?? e) });
  }
}
