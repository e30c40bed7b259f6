// Stock Baileys clients linked to wasim accounts, for the interop tests.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { silentLogger } from '../oracle/lib.mjs';
import { deadline } from './wasim.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(what, pred, ms = 15000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = pred();
    if (v) return v;
    await sleep(50);
  }
  throw new Error(`timeout waiting for ${what}`);
}

// The same for a predicate that must be awaited (a control API call).
export async function waitForAsync(what, pred, ms = 15000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await pred();
    if (v) return v;
    await sleep(100);
  }
  throw new Error(`timeout waiting for ${what}`);
}

export const textOf = (m) => m.message?.extendedTextMessage?.text ?? m.message?.conversation;

// Creates the account, pairs a new client by QR and resolves once it is open. The returned client keeps
// every messages.upsert / messages.update in `events`, across reconnect().
import { appendFileSync } from 'node:fs';
// BLOG=FILE writes every client's Baileys log lines to FILE (debugging only).
const fileLogger = (tag) => {
  if (!process.env.BLOG) return silentLogger;
  const out = (lvl) => (o, m) => appendFileSync(process.env.BLOG,
    `${tag} ${lvl} ${typeof o === 'string' ? o : JSON.stringify(o).slice(0, 400)} ${m || ''}\n`);
  const l = { level: 'trace', trace: out('trace'), debug: out('debug'), info: out('info'), warn: out('warn'), error: out('error'), fatal: out('fatal') };
  l.child = () => l;
  return l;
};

// sockOpts: more makeWASocket options (e.g. a short keepAliveIntervalMs).
export async function linkClient(B, wasim, phone, pushName, logger = fileLogger(phone), sockOpts = {}) {
  const makeWASocket = B.makeWASocket || B.default;
  await wasim.call('POST', '/accounts', { phone, name: pushName });
  const dir = mkdtempSync(path.join(tmpdir(), `zapd-client-${phone}-`));
  const { state, saveCreds } = await B.useMultiFileAuthState(dir);
  const client = { phone, dir, jid: `${phone}@s.whatsapp.net`, events: { upserts: [], updates: [] }, sent: new Map(), sock: null };
  const connect = () => new Promise((resolve, reject) => {
    let restarts = 0;
    const start = () => {
      const sock = makeWASocket({ auth: state, logger, waWebSocketUrl: wasim.url, printQRInTerminal: false,
        markOnlineOnConnect: true, syncFullHistory: false,
        // wasim's phones send no history-sync notification yet (docs/wasim.md): baileys 7 would wait 20 s for one
        shouldSyncHistoryMessage: () => false,
        // What it sent, to answer retry receipts (Baileys resends only what getMessage returns).
        getMessage: async (key) => client.sent.get(key.id), ...sockOpts });
      sock.ev.on('creds.update', saveCreds);
      client.onSocket?.(sock);
      sock.ev.on('messages.upsert', (u) => {
        for (const m of u.messages) {
          client.events.upserts.push({ type: u.type, m });
          if (m.key.fromMe && m.message) client.sent.set(m.key.id, m.message);
        }
      });
      sock.ev.on('messages.update', (us) => { for (const u of us) client.events.updates.push(u); });
      sock.ev.on('connection.update', async (u) => {
        if (u.qr) await wasim.call('POST', `/accounts/${phone}/scan`, { qr: u.qr });
        if (u.connection === 'open') { client.sock = sock; resolve(client); }
        if (u.connection === 'close' && client.sock !== sock) {
          const code = u.lastDisconnect?.error?.output?.statusCode;
          if (code === 515 && restarts++ < 2) start(); else reject(new Error(`${phone} closed ${code}`));
        }
      });
    };
    start();
  });
  const open = async () => {
    const d = deadline(30000, `connecting ${phone}`);
    try { return await Promise.race([connect(), d.promise]); } finally { d.clear(); }
  };
  client.reconnect = open;
  client.close = async () => { const s = client.sock; client.sock = null; s.end(undefined); await sleep(300); };
  return open();
}
