// Interop (issue 3, test 3 and the first half of test 4): two stock Baileys clients of the same version,
// on two wasim accounts, exchange texts both ways, byte-exact (emoji, 4 KiB); each sender sees delivered
// (status 3) and read (status 4) receipts. Each account's phone (real Signal in wasim) decrypts the copies
// addressed to it: the recipient's phone gets the text, the sender's phone a deviceSentMessage.
// usage: node messaging.mjs --which b6|b7 --wasim path/to/wasim
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadBaileys, args, silentLogger, report } from '../oracle/lib.mjs';
import { startWasim, deadline } from './wasim.mjs';

const opt = args({ which: 'b6' });
const { B } = await loadBaileys(opt.which);
const name = `messaging between two baileys ${opt.which} clients`;
const makeWASocket = B.makeWASocket || B.default;
const failures = [];
let checks = 0;
const check = (ok, what, extra) => { checks++; if (!ok) failures.push({ step: what, ...extra }); };
const wasim = await startWasim(opt.wasim);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
import { appendFileSync } from 'node:fs';
const debugLogger = (tag) => {
  if (!process.env.BLOG) return silentLogger;
  const out = (lvl) => (o, m) => appendFileSync(process.env.BLOG, `${tag} ${lvl} ${typeof o === 'string' ? o : JSON.stringify(o).slice(0, 300)} ${m || ''}\n`);
  const l = { level: 'trace', trace: out('trace'), debug: out('debug'), info: out('info'), warn: out('warn'), error: out('error'), fatal: out('fatal') };
  l.child = () => l;
  return l;
};

// Pairs a new Baileys client with the account's phone and returns the open socket and its event log.
async function linked(phone, pushName) {
  await wasim.call('POST', '/accounts', { phone, name: pushName });
  const dir = mkdtempSync(path.join(tmpdir(), `zapd-msg-${opt.which}-`));
  const { state, saveCreds } = await B.useMultiFileAuthState(dir);
  const events = { upserts: [], updates: [] };
  const open = new Promise((resolve, reject) => {
    let restarts = 0;
    const start = () => {
      const sock = makeWASocket({ auth: state, logger: debugLogger(phone), waWebSocketUrl: wasim.url, printQRInTerminal: false,
        markOnlineOnConnect: true, syncFullHistory: false,
        // wasim's phones send no history-sync notification yet (docs/wasim.md): baileys 7 would wait 20 s for one
        shouldSyncHistoryMessage: () => false });
      sock.ev.on('creds.update', saveCreds);
      sock.ev.on('messages.upsert', (u) => { for (const m of u.messages) events.upserts.push({ type: u.type, m }); });
      sock.ev.on('messages.update', (us) => { for (const u of us) events.updates.push(u); });
      sock.ev.on('connection.update', async (u) => {
        if (u.qr) await wasim.call('POST', `/accounts/${phone}/scan`, { qr: u.qr });
        if (u.connection === 'open') resolve(sock);
        if (u.connection === 'close') {
          const code = u.lastDisconnect?.error?.output?.statusCode;
          if (code === 515 && restarts++ < 2) start(); else reject(new Error(`closed ${code}`));
        }
      });
    };
    start();
  });
  const d = deadline(30000, `linking ${phone}`);
  const sock = await Promise.race([open, d.promise]);
  d.clear();
  return { phone, jid: `${phone}@s.whatsapp.net`, sock, events };
}

const waitFor = async (what, pred, ms = 15000) => {
  const end = Date.now() + ms;
  while (Date.now() < end) { const v = pred(); if (v) return v; await sleep(50); }
  throw new Error(`timeout waiting for ${what}`);
};
const textOf = (m) => m.message?.extendedTextMessage?.text ?? m.message?.conversation;

try {
  if (B.WA_CERT_DETAILS.PUBLIC_KEY) B.WA_CERT_DETAILS.PUBLIC_KEY.set(Buffer.from(wasim.root, 'hex'));
  const alice = await linked('15550001111', 'Alice');
  const bob = await linked('15550002222', 'Bob');
  await sleep(500);
  const texts = ['hello bob 👋', 'olá, ação ✓ — ünïcödé 中文 🇧🇷', 'x'.repeat(4096)];
  for (const [i, text] of texts.entries()) {
    const [from, to] = i % 2 === 0 ? [alice, bob] : [bob, alice];
    const sent = await from.sock.sendMessage(to.jid, { text });
    const got = await waitFor(`message ${i} at ${to.phone}`,
      () => to.events.upserts.find((u) => u.m.key.id === sent.key.id));
    check(textOf(got.m) === text, `text ${i} arrives byte-exact`, { got: textOf(got.m)?.slice(0, 80) });
    check(got.type === 'notify', `text ${i} is a live notify`);
    check(got.m.key.remoteJid === from.jid && !got.m.key.fromMe, `text ${i} comes from ${from.jid}`, { key: got.m.key });
    await waitFor(`delivery receipt ${i}`, () => from.events.updates.find((u) => u.key.id === sent.key.id && u.update.status >= 3));
    await to.sock.readMessages([got.m.key]);
    await waitFor(`read receipt ${i}`, () => from.events.updates.find((u) => u.key.id === sent.key.id && u.update.status === 4));
    checks++;
  }
  // A resend of an id the server already routed is acked but not delivered again.
  const dupId = bob.events.upserts.find((u) => textOf(u.m) === texts[0]).m.key.id;
  await alice.sock.relayMessage(bob.jid, { extendedTextMessage: { text: texts[0] } }, { messageId: dupId });
  await sleep(1000);
  check(bob.events.upserts.filter((u) => u.m.key.id === dupId).length === 1, 'a duplicate id is not delivered twice');
  check((await wasim.log()).some((e) => e.text.startsWith('duplicate message id ' + dupId)), 'wasim logged the duplicate');
  const bobPhone = (await wasim.call('GET', `/accounts/${bob.phone}/messages`)).body.messages;
  check(bobPhone.some((m) => m.text === texts[0] && m.kind === 'extendedTextMessage'), "bob's phone decrypted alice's text", { bobPhone });
  const alicePhone = (await wasim.call('GET', `/accounts/${alice.phone}/messages`)).body.messages;
  check(alicePhone.some((m) => m.text === texts[0] && m.kind.startsWith('deviceSentMessage')), "alice's phone got her own copy", { alicePhone });
  alice.sock.end(undefined);
  bob.sock.end(undefined);
  const rejected = (await wasim.log()).filter((e) => e.text.startsWith('rejected'));
  check(rejected.length === 0, 'wasim rejected nothing', { rejected });
} catch (e) {
  failures.push({ step: 'exception', err: String(e && e.stack || e) });
  try { console.error(JSON.stringify((await wasim.log()).slice(-40), null, 1)); } catch {}
}
wasim.stop();
report(name, failures, checks);
process.exit(0);
