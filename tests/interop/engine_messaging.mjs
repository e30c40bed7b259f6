// Interop (issue 6, tests 1, 4, 5 in part): texts between zapd's engine and a stock Baileys client
// through wasim, byte-exact both ways (emoji, 64 KiB); typed content from Baileys (quoted reply, mention,
// location, contact, reaction, edit, revoke); receipts both ways (delivery and read); the
// engine's own phone gets the deviceSentMessage copy; a message redelivered by the server is
// acknowledged without a second decryption or a second event; a message persisted but not yet taken
// by the consumer is emitted again after a restart; a message the engine cannot decrypt is asked again by a
// retry receipt and the resend is decrypted (issue 6, test 6).
// usage: node engine_messaging.mjs --which b6|b7 --wasim path/to/wasim --engine path/to/wa-engine
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadBaileys, args, report } from '../oracle/lib.mjs';
import { startWasim } from './wasim.mjs';
import { startEngine, engineFlags, pairEngine } from './engine.mjs';
import { linkClient, waitFor, textOf, sleep } from './clients.mjs';

const opt = args({ which: 'b6' });
const { B } = await loadBaileys(opt.which);
const name = `engine and baileys ${opt.which} exchange texts and receipts`;
const failures = [];
let checks = 0;
const check = (ok, what) => { checks++; if (!ok) failures.push({ step: what }); };
const b64 = (s) => Buffer.from(s, 'utf8').toString('base64');
const wasim = await startWasim(opt.wasim);
if (B.WA_CERT_DETAILS?.PUBLIC_KEY) B.WA_CERT_DETAILS.PUBLIC_KEY.set(Buffer.from(wasim.root, 'hex'));
const dir = mkdtempSync(path.join(tmpdir(), 'zapd-engine-msg-'));
const db = path.join(dir, 'zapd.db');
const A = '15550006666';  // Baileys
const E = '15550007777';  // the engine
const texts = ['hello from baileys', 'olá 👋🏽 — ✓ 中文 \u0000 end', 'x'.repeat(65536 - 7) + '\n🙂end'];
let engine;
let alice;
try {
  alice = await linkClient(B, wasim, A, 'Alice');
  await wasim.call('POST', '/accounts', { phone: E, name: 'Engine' });
  engine = startEngine(opt.engine, engineFlags(opt, wasim, db, ['--keep-inbox']));
  await engine.wait('ready', (e) => e.event === 'ready');
  await pairEngine(engine, wasim, 'e', E);

  // 1. Baileys -> engine, byte-exact, with the delivery receipt back to Baileys.
  for (const t of texts) {
    const sent = await alice.sock.sendMessage(`${E}@s.whatsapp.net`, { text: t });
    const got = await engine.wait(`message ${sent.key.id}`, (e) => e.event === 'message' && e.id === sent.key.id, 20000);
    check(Buffer.from(got.text_b64, 'base64').equals(Buffer.from(t, 'utf8')), `engine got the text byte-exact (${t.length} chars)`);
    check(got.type === 'text' && got.from?.startsWith(`${A}:`) && got.chat === `${A}@s.whatsapp.net` && !got.from_me,
      `message metadata (${JSON.stringify({ ...got, text: undefined, text_b64: undefined })})`);
    check(got.push_name === 'Alice', `push name (${got.push_name})`);
    await waitFor(`delivery receipt at baileys for ${sent.key.id}`,
      () => alice.events.updates.some((u) => u.key.id === sent.key.id && u.update.status >= 3), 10000);
    engine.send(`inbox-done e ${got.inbox_key}`);
  }

  // 1. Typed content from Baileys: a quoted reply, a mention, a location, a contact, a reaction, an edit and
  // a revoke, each with its references.
  {
    const first = await alice.sock.sendMessage(`${E}@s.whatsapp.net`, { text: 'original' });
    const typed = async (what, content, opts) => {
      const s = await alice.sock.sendMessage(`${E}@s.whatsapp.net`, content, opts);
      const ev = await engine.wait(what, (e) => e.event === 'message' && e.id === s.key.id, 20000);
      engine.send(`inbox-done e ${ev.inbox_key}`);
      return ev;
    };
    const reply = await typed('quoted reply', { text: 'a reply' }, { quoted: first });
    check(reply.type === 'text' && reply.fields?.quoted_id === first.key.id, `quoted reply references the original (${JSON.stringify(reply.fields)})`);
    const mention = await typed('mention', { text: `hi @${E}`, mentions: [`${E}@s.whatsapp.net`] });
    check(mention.fields?.mentions === `${E}@s.whatsapp.net`, `mention (${JSON.stringify(mention.fields)})`);
    const loc = await typed('location', { location: { degreesLatitude: -23.5505, degreesLongitude: -46.6333, name: 'Sé', address: 'Praça da Sé' } });
    check(loc.type === 'location' && loc.fields?.latitude === '-23.5505000' && loc.fields?.longitude === '-46.6333000' &&
      loc.fields?.name === 'Sé' && loc.fields?.address === 'Praça da Sé', `location (${JSON.stringify(loc.fields)})`);
    const vcard = 'BEGIN:VCARD\nVERSION:3.0\nFN:Bob\nTEL;type=CELL;waid=15550001234:+1 555 000 1234\nEND:VCARD';
    const contact = await typed('contact', { contacts: { displayName: 'Bob', contacts: [{ displayName: 'Bob', vcard }] } });
    check(contact.type === 'contact' && contact.fields?.display_name === 'Bob' && contact.fields?.vcard === vcard, `contact (${JSON.stringify(contact.fields)})`);
    const react = await typed('reaction', { react: { text: '👍', key: first.key } });
    check(react.type === 'reaction' && react.fields?.target_id === first.key.id && react.fields?.emoji === '👍', `reaction (${JSON.stringify(react.fields)})`);
    const edited = await typed('edit', { text: 'original, edited', edit: first.key });
    check(edited.type === 'edit' && edited.fields?.target_id === first.key.id && Buffer.from(edited.text_b64, 'base64').toString() === 'original, edited',
      `edit (${JSON.stringify({ f: edited.fields, t: edited.text })})`);
    const revoked = await typed('revoke', { delete: first.key });
    check(revoked.type === 'revoke' && revoked.fields?.target_id === first.key.id, `revoke (${JSON.stringify(revoked.fields)})`);
    const orig = engine.events.find((e) => e.event === 'message' && e.id === first.key.id);
    if (orig) engine.send(`inbox-done e ${orig.inbox_key}`);
  }

  // 4. Engine -> Baileys, byte-exact; the engine sees the server ack, Baileys' delivery and read receipts.
  for (const [i, t] of ['hi from zapd', 'emoji 👍🏾 and ünïcödé', 'y'.repeat(65536)].entries()) {
    const id = `3EB0ZAPD${String(i).padStart(14, '0')}`;
    const mark = engine.events.length;
    engine.send(`send e ${A} ${id} ${b64(t)}`);
    await engine.wait(`sent ${id}`, (e) => e.event === 'sent' && e.id === id, 20000, mark);
    const up = await waitFor(`baileys receives ${id}`, () => alice.events.upserts.find((u) => u.m.key.id === id), 20000);
    check(textOf(up.m) === t, `baileys got the text byte-exact (${t.length} chars)`);
    check(up.m.key.remoteJid === `${E}@s.whatsapp.net`, `from the engine's account (${up.m.key.remoteJid})`);
    const dr = await engine.wait(`delivery receipt ${id}`, (e) => e.event === 'receipt' && e.ids?.includes?.(id) !== false && e.id === id && e.type === 'delivery', 10000, mark);
    check(dr.chat === `${A}@s.whatsapp.net`, `receipt chat (${dr.chat})`);
    await alice.sock.readMessages([up.m.key]);
    await engine.wait(`read receipt ${id}`, (e) => e.event === 'receipt' && e.id === id && e.type === 'read', 10000, mark);
  }
  // The engine's own phone got the deviceSentMessage copy.
  const phoneMsgs = (await wasim.call('GET', `/accounts/${E}/messages`)).body.messages;
  check(phoneMsgs.some((m) => m.kind.startsWith('deviceSentMessage') && m.text === 'hi from zapd'), 'own phone got the deviceSentMessage');
  // A wrong recipient is refused with a clear failure, and later sends still work.
  engine.send(`send e not-a-number 3EB0BAD ${b64('x')}`);
  await engine.wait('send_failed', (e) => e.event === 'send_failed' && e.id === '3EB0BAD');

  // 4. The engine marks Baileys' message read: Baileys sees status 4.
  {
    const sent = await alice.sock.sendMessage(`${E}@s.whatsapp.net`, { text: 'please read' });
    const got = await engine.wait('message to read', (e) => e.event === 'message' && e.id === sent.key.id, 20000);
    engine.send(`inbox-done e ${got.inbox_key}`);
    engine.send(`receipt e ${A}@s.whatsapp.net ${got.from} read ${sent.key.id}`);
    await waitFor('read status at baileys', () => alice.events.updates.some((u) => u.key.id === sent.key.id && u.update.status === 4), 10000);
  }

  // 6 (the other way). Baileys loses its session with the engine (its session files deleted): it cannot
  // decrypt the engine's next message and sends a retry receipt; the engine answers with a fresh session
  // and the same content under the same id, which Baileys decrypts.
  {
    const lid = (await wasim.call('GET', `/accounts/${E}`)).body.lid;
    const lost = readdirSync(alice.dir).filter((f) => f.startsWith(`session-${E}`) || f.startsWith(`session-${lid}`));
    check(lost.length >= 1, `baileys has a session file with the engine (${lost})`);
    for (const f of lost) unlinkSync(path.join(alice.dir, f));
    const id = '3EB0RETRY000000000000000'.slice(0, 22);
    const mark = engine.events.length;
    engine.send(`send e ${A} ${id} ${b64('after a lost session')}`);
    await engine.wait('sent before retry', (e) => e.event === 'sent' && e.id === id, 10000, mark);
    const up = await waitFor('baileys decrypts the resend', () => alice.events.upserts.find((u) => u.m.key.id === id && textOf(u.m)), 20000);
    check(textOf(up.m) === 'after a lost session', 'resent text arrives intact');
    const routed = (await wasim.call('GET', `/accounts/${E}/devices/1/received`)).body.received;
    check(routed.some((r) => r.startsWith(`receipt ${id} `) && r.endsWith(' retry')), `the engine got Baileys' retry receipt (${routed.slice(-3)})`);
  }

  // 6. A message the engine cannot decrypt (a forged ciphertext under Baileys' id) makes the engine send a
  // retry receipt; Baileys answers it by re-sending that id's content in a fresh session, which the engine
  // decrypts and emits.
  {
    const id = '3EB0BADC1PHER000000000';
    alice.sent.set(id, { conversation: 'after a retry' });
    const mark = engine.events.length;
    await alice.sock.sendNode({ tag: 'message', attrs: { id, to: `${E}@s.whatsapp.net`, type: 'text' },
      content: [{ tag: 'participants', attrs: {}, content: [{ tag: 'to', attrs: { jid: `${E}:1@s.whatsapp.net` },
        content: [{ tag: 'enc', attrs: { v: '2', type: 'msg' }, content: randomBytes(90) }] }] }] });
    const err = await engine.wait('the decrypt failure', (e) => e.event === 'error' && e.text?.includes(id), 10000, mark).catch(() => null);
    check(!!err, 'the engine reports the message it cannot decrypt');
    const got = await engine.wait('the resent message', (e) => e.event === 'message' && e.id === id, 20000, mark).catch(() => null);
    check(got?.text === 'after a retry', `after the retry receipt the engine decrypts Baileys' resend (${JSON.stringify(got)})`);
    if (got) engine.send(`inbox-done e ${got.inbox_key}`);
    const atAlice = (await wasim.call('GET', `/accounts/${A}/devices/1/received`)).body.received;
    check(atAlice.some((r) => r.startsWith(`receipt ${id} `) && r.endsWith(' retry')), `Baileys got the engine's retry receipt (${atAlice.slice(-3)})`);
  }

  // 5. Redelivery: wasim sends the last acknowledged message again; no second decryption, no second event.
  {
    const sent = await alice.sock.sendMessage(`${E}@s.whatsapp.net`, { text: 'only once' });
    const got = await engine.wait('message once', (e) => e.event === 'message' && e.id === sent.key.id, 20000);
    engine.send(`inbox-done e ${got.inbox_key}`);
    await sleep(300);
    const mark = engine.events.length;
    const r = await wasim.call('POST', `/accounts/${E}/devices/1/fault`, { kind: 'redeliver' });
    check(r.status === 200, `redeliver accepted (${JSON.stringify(r.body)})`);
    await sleep(800);
    check(!engine.events.slice(mark).some((e) => e.event === 'message' || e.event === 'error'), 'no second event and no error for the redelivered message');
    const dev = (await wasim.call('GET', `/accounts/${E}`)).body.devices[0];
    check(dev.unacked === 0, `the redelivered message was acknowledged (unacked ${dev.unacked})`);
  }

  // A message persisted but not taken by the consumer (no inbox-done) is emitted again after a restart.
  {
    const sent = await alice.sock.sendMessage(`${E}@s.whatsapp.net`, { text: 'survives a restart' });
    await engine.wait('message before restart', (e) => e.event === 'message' && e.id === sent.key.id, 20000);
    await engine.quit();
    engine = startEngine(opt.engine, [...engineFlags(opt, wasim, db), '--all']);
    const again = await engine.wait('message again after restart', (e) => e.event === 'message' && e.id === sent.key.id, 10000);
    check(Buffer.from(again.text_b64, 'base64').toString('utf8') === 'survives a restart', 'same content after the restart');
    await engine.wait('connected after restart', (e) => e.event === 'connected');
    await sleep(500);
    check(engine.events.filter((e) => e.event === 'message' && e.id === sent.key.id).length === 1, 'emitted once after the restart');
  }
  const rejected = (await wasim.log()).filter((e) => e.text.startsWith('rejected'));
  check(rejected.length === 0, `wasim rejected nothing (${JSON.stringify(rejected)})`);
  const errors = engine.events.filter((e) => e.event === 'error');
  check(errors.length === 0, `no engine errors (${JSON.stringify(errors)})`);
  const q = await engine.quit();
  check(q.code === 0, `engine exits cleanly (${JSON.stringify(q)})`);
} catch (e) {
  failures.push({ step: 'exception', err: String(e && e.stack || e) });
  try { console.error(JSON.stringify((await wasim.log()).slice(-25), null, 1)); } catch {}
  if (engine) await engine.kill();
}
try { alice?.sock?.end(undefined); } catch {}
wasim.stop();
report(name, failures, checks);
process.exit(0);
