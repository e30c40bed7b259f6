// Signal sessions and sender keys (wa_signal over libsignal-protocol-c) against Baileys' own Signal
// repository (libsignal-node), both directions:
//  peer 1: Baileys starts the session from our bundle (pkmsg to us), then 20 messages alternate;
//  peer 2: we start the session from Baileys' bundle (pkmsg to Baileys), then 20 messages alternate;
//  groups: our sender key distribution + skmsg decrypted by Baileys, and Baileys' decrypted by us.
// Also: a replayed ciphertext and a tampered one are refused by ours.
// usage: node signal.mjs --which b6|b7 --tool path/to/wa-oracle
import { randomBytes } from 'node:crypto';
import { loadBaileys, args, lineTool, silentLogger, report } from './lib.mjs';

const opt = args({ which: 'b6' });
const { B, signalModule } = await loadBaileys(opt.which);
const { makeLibSignalRepository } = await signalModule();
const name = `signal vs baileys ${opt.which}`;
const failures = [];
let checks = 0;
const check = (ok, what, extra) => { checks++; if (!ok) failures.push({ step: what, ...extra }); };
const hex = (b) => Buffer.from(b).toString('hex');
const djb = (k) => Buffer.concat([Buffer.from([5]), Buffer.from(k)]);
const OUR = { user: '15550009999', jid: '15550009999@s.whatsapp.net' };

function memoryKeys() {
  const data = {};
  return {
    // baileys 7 wraps its key access in transactions; an in-memory store can run them directly.
    async transaction(fn) { return fn(); },
    isInTransaction() { return false; },
    async get(type, ids) {
      const out = {};
      for (const id of ids) if (data[type] && data[type][id] !== undefined) out[id] = data[type][id];
      return out;
    },
    async set(d) {
      for (const type of Object.keys(d)) {
        data[type] = data[type] || {};
        for (const id of Object.keys(d[type])) {
          const v = d[type][id];
          if (v === null || v === undefined) delete data[type][id]; else data[type][id] = v;
        }
      }
    },
  };
}

function baileysPeer(user) {
  const creds = B.initAuthCreds();
  const keys = memoryKeys();
  const repo = makeLibSignalRepository({ creds, keys }, silentLogger);
  return { user, jid: `${user}@s.whatsapp.net`, creds, keys, repo };
}

const tool = lineTool(opt.tool, ['signal-peer']);
const ask = async (cmd) => { tool.sendLine(JSON.stringify(cmd)); return tool.next(); };
try {
  // --- peer 1: Baileys initiates from our bundle ---
  const p1 = baileysPeer('15550002222');
  tool.sendLine(JSON.stringify({ cmd: 'bundle' }));
  const ours = await tool.next();
  await p1.repo.injectE2ESession({ jid: OUR.jid, session: {
    registrationId: ours.registrationId,
    identityKey: djb(Buffer.from(ours.identity, 'hex')),
    signedPreKey: { keyId: ours.signedPreKey.id, publicKey: djb(Buffer.from(ours.signedPreKey.public, 'hex')), signature: Buffer.from(ours.signedPreKey.signature, 'hex') },
    preKey: { keyId: ours.preKey.id, publicKey: djb(Buffer.from(ours.preKey.public, 'hex')) },
  } });
  let firstCipher;
  for (let i = 0; i < 20; i++) {
    const text = randomBytes(1 + (i * 37) % 500);
    if (i % 2 === 0) {
      const enc = await p1.repo.encryptMessage({ jid: OUR.jid, data: text });
      check(i > 0 || enc.type === 'pkmsg', 'baileys starts with pkmsg', { type: enc.type });
      if (i === 0) firstCipher = enc;
      const r = await ask({ cmd: 'decrypt', name: p1.user, device: 0, type: enc.type, data: hex(enc.ciphertext) });
      check(r.plaintext === hex(text), `we decrypt baileys message ${i}`, { err: r.error });
    } else {
      const r = await ask({ cmd: 'encrypt', name: p1.user, device: 0, plaintext: hex(text) });
      check(!r.error, `we encrypt message ${i}`, { err: r.error });
      const plain = await p1.repo.decryptMessage({ jid: OUR.jid, type: r.type, ciphertext: Buffer.from(r.data, 'hex') });
      check(Buffer.from(plain).equals(text), `baileys decrypts our message ${i}`);
    }
  }
  const replay = await ask({ cmd: 'decrypt', name: p1.user, device: 0, type: firstCipher.type, data: hex(firstCipher.ciphertext) });
  check(!!replay.error, 'a replayed pkmsg is refused');
  const enc = await p1.repo.encryptMessage({ jid: OUR.jid, data: Buffer.from('tamper me') });
  const t = Buffer.from(enc.ciphertext); t[t.length - 1] ^= 1;
  const tampered = await ask({ cmd: 'decrypt', name: p1.user, device: 0, type: enc.type, data: hex(t) });
  check(!!tampered.error, 'a tampered message is refused');
  const good = await ask({ cmd: 'decrypt', name: p1.user, device: 0, type: enc.type, data: hex(enc.ciphertext) });
  check(good.plaintext === hex(Buffer.from('tamper me')), 'the untampered one still decrypts after the refusal');

  // --- peer 2: we initiate from Baileys' bundle ---
  const p2 = baileysPeer('15550003333');
  const pre = B.Curve.generateKeyPair();
  await p2.keys.set({ 'pre-key': { 7: pre } });
  const r0 = await ask({ cmd: 'process_bundle', name: p2.user, device: 0, bundle: {
    registrationId: p2.creds.registrationId,
    identity: hex(p2.creds.signedIdentityKey.public),
    signedPreKey: { id: p2.creds.signedPreKey.keyId, public: hex(p2.creds.signedPreKey.keyPair.public), signature: hex(p2.creds.signedPreKey.signature) },
    preKey: { id: 7, public: hex(pre.public) },
  } });
  check(r0.ok === true, 'we process baileys bundle', { err: r0.error });
  for (let i = 0; i < 20; i++) {
    const text = randomBytes(1 + (i * 53) % 700);
    if (i % 2 === 0) {
      const r = await ask({ cmd: 'encrypt', name: p2.user, device: 0, plaintext: hex(text) });
      check(i > 0 || r.type === 'pkmsg', 'we start with pkmsg', { type: r.type });
      const plain = await p2.repo.decryptMessage({ jid: OUR.jid, type: r.type, ciphertext: Buffer.from(r.data, 'hex') });
      check(Buffer.from(plain).equals(text), `baileys decrypts our message ${i}`);
    } else {
      const e = await p2.repo.encryptMessage({ jid: OUR.jid, data: text });
      const r = await ask({ cmd: 'decrypt', name: p2.user, device: 0, type: e.type, data: hex(e.ciphertext) });
      check(r.plaintext === hex(text), `we decrypt baileys message ${i}`, { err: r.error });
    }
  }

  // --- groups ---
  const group = '120363025246125486@g.us';
  const skdm = await ask({ cmd: 'skdm', group, name: OUR.user, device: 0 });
  await p1.repo.processSenderKeyDistributionMessage({ item: { groupId: group, axolotlSenderKeyDistributionMessage: Buffer.from(skdm.data, 'hex') }, authorJid: OUR.jid });
  for (let i = 0; i < 5; i++) {
    const text = randomBytes(10 + i * 100);
    const g = await ask({ cmd: 'group_encrypt', group, name: OUR.user, device: 0, plaintext: hex(text) });
    const plain = await p1.repo.decryptGroupMessage({ group, authorJid: OUR.jid, msg: Buffer.from(g.data, 'hex') });
    check(Buffer.from(plain).equals(text), `baileys decrypts our skmsg ${i}`);
  }
  let processed = false;
  for (let i = 0; i < 5; i++) {
    const text = randomBytes(10 + i * 100);
    const { ciphertext, senderKeyDistributionMessage } = await p1.repo.encryptGroupMessage({ group, meId: p1.jid, data: text });
    if (!processed) {
      const r = await ask({ cmd: 'process_skdm', group, name: p1.user, device: 0, data: hex(senderKeyDistributionMessage) });
      check(r.ok === true, 'we process baileys sender key distribution', { err: r.error });
      processed = true;
    }
    const r = await ask({ cmd: 'group_decrypt', group, name: p1.user, device: 0, data: hex(ciphertext) });
    check(r.plaintext === hex(text), `we decrypt baileys skmsg ${i}`, { err: r.error });
  }
} catch (e) {
  failures.push({ step: 'exception', err: String(e && e.stack || e) });
}
tool.close();
report(name, failures, checks);
