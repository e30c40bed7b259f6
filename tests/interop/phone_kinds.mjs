// Interop (issue 4, "simulated phones"): a wasim phone sends every P0 content kind through the control API
// and creates groups, and stock Baileys clients receive them as from WhatsApp's phones:
//  - to a person: location, contact, a reaction to the other's message (and its removal), an edit and a
//    revoke of its own text;
//  - a group the phone creates with two Baileys clients (they learn of it and read its metadata), then a
//    text, a location and a reaction in it; a Baileys member answers and the other member gets it.
// usage: node phone_kinds.mjs --which b6|b7 --wasim path/to/wasim
import { loadBaileys, args, report } from '../oracle/lib.mjs';
import { startWasim } from './wasim.mjs';
import { linkClient, waitFor, sleep, textOf } from './clients.mjs';

const opt = args({ which: 'b6' });
const { B } = await loadBaileys(opt.which);
const name = `wasim phones send every kind, baileys ${opt.which}`;
const failures = [];
let checks = 0;
const check = (ok, what, extra) => { checks++; if (!ok) failures.push({ step: what, ...extra }); };
const wasim = await startWasim(opt.wasim);
const clients = [];
const P = '15550005000';  // a phone-only account
try {
  if (B.WA_CERT_DETAILS.PUBLIC_KEY) B.WA_CERT_DETAILS.PUBLIC_KEY.set(Buffer.from(wasim.root, 'hex'));
  const alice = await linkClient(B, wasim, '15550005001', 'Alice');
  const bob = await linkClient(B, wasim, '15550005002', 'Bob');
  clients.push(alice, bob);
  await wasim.call('POST', '/accounts', { phone: P, name: 'Pat' });
  await sleep(300);
  const phoneSend = async (to, body) => {
    const r = await wasim.call('POST', `/accounts/${P}/send`, { to, ...body });
    check(r.status === 200 && /^3EB0/.test(r.body.id ?? ''), `the phone sends ${body.kind} (${JSON.stringify(r.body)})`);
    return r.body.id;
  };
  const upsert = (c, pred) => c.events.upserts.find((u) => pred(u.m));
  const got = (c, what, pred, ms = 15000) => waitFor(`${what} at ${c.phone}`, () => upsert(c, pred), ms).catch(() => null);

  // ---- to a person ----
  const loc = await phoneSend(alice.phone, { kind: 'location', latitude: -22.9068, longitude: -43.1729, name: 'Cristo', address: 'Rio' });
  const l = await got(alice, 'location', (m) => m.key.id === loc);
  const lm = l?.m.message?.locationMessage;
  check(lm?.degreesLatitude === -22.9068 && lm?.degreesLongitude === -43.1729 && lm?.name === 'Cristo' && lm?.address === 'Rio' &&
    l?.m.key.remoteJid === `${P}@s.whatsapp.net`, 'a location from the phone', { lm, key: l?.m.key });
  const vcard = 'BEGIN:VCARD\nVERSION:3.0\nFN:Zoe\nTEL;type=CELL;waid=15550001234:+1 555 000 1234\nEND:VCARD';
  const con = await phoneSend(alice.phone, { kind: 'contact', name: 'Zoe', vcard });
  const c = await got(alice, 'contact', (m) => m.key.id === con);
  check(c?.m.message?.contactMessage?.displayName === 'Zoe' && c?.m.message?.contactMessage?.vcard === vcard, 'a contact from the phone',
    { message: c?.m.message });
  const mine = await alice.sock.sendMessage(`${P}@s.whatsapp.net`, { text: 'react to this' });
  await sleep(300);
  await phoneSend(alice.phone, { kind: 'reaction', targetId: mine.key.id, targetFromMe: false, text: '❤️' });
  const r = await got(alice, 'reaction', (m) => m.message?.reactionMessage?.key?.id === mine.key.id && m.message.reactionMessage.text === '❤️');
  // Baileys turns the key to its own side: the message reacted to is Alice's.
  check(!!r && r.m.message.reactionMessage.key.fromMe === true, 'a reaction from the phone names Alice\'s message', { r: r?.m.message });
  await phoneSend(alice.phone, { kind: 'reaction', targetId: mine.key.id, text: '' });
  const unr = await got(alice, 'removed reaction', (m) => m.message?.reactionMessage?.key?.id === mine.key.id && m.message.reactionMessage.text === '');
  check(!!unr, 'removing the reaction arrives with an empty text');
  const typo = await phoneSend(alice.phone, { kind: 'text', text: 'helo' });
  await got(alice, 'the typo', (m) => m.key.id === typo);
  await phoneSend(alice.phone, { kind: 'edit', targetId: typo, text: 'hello' });
  const edited = await waitFor('the edit at alice', () =>
    upsert(alice, (m) => m.message?.protocolMessage?.type === 14 && m.message.protocolMessage.key?.id === typo) ||
    alice.events.updates.find((u) => u.key.id === typo && u.update.message?.editedMessage), 15000).catch(() => null);
  const editText = edited?.m?.message?.protocolMessage?.editedMessage ?? edited?.update?.message?.editedMessage?.message;
  check(!!edited && JSON.stringify(editText ?? {}).includes('"hello"'), 'an edit from the phone carries the new text', { edited: JSON.stringify(edited)?.slice(0, 400) });
  await phoneSend(alice.phone, { kind: 'revoke', targetId: typo });
  const revoked = await waitFor('the revoke at alice', () =>
    upsert(alice, (m) => m.message?.protocolMessage?.type === 0 && m.message.protocolMessage.key?.id === typo) ||
    alice.events.updates.find((u) => u.key.id === typo && (u.update.message === null || u.update.messageStubType === 1)), 15000).catch(() => null);
  check(!!revoked, 'a revoke from the phone');
  const bad = await wasim.call('POST', `/accounts/${P}/send`, { to: alice.phone, kind: 'reaction', text: '👍' });
  check(bad.status === 400, `a reaction without targetId is refused (${JSON.stringify(bad.body)})`);

  // ---- a group the phone creates ----
  const Q = '15550005009';  // another phone-only member
  await wasim.call('POST', '/accounts', { phone: Q, name: 'Quinn' });
  const g = await wasim.call('POST', `/accounts/${P}/groups`, { subject: 'Pat\'s group', participants: [alice.phone, bob.phone, Q] });
  check(g.status === 200 && /^1203630\d+@g\.us$/.test(g.body.jid ?? ''), `the phone creates a group (${JSON.stringify(g.body)})`);
  const gid = g.body.jid;
  const meta = await alice.sock.groupMetadata(gid).catch((e) => ({ error: String(e) }));
  check(meta.subject === 'Pat\'s group' && meta.participants?.length === 4 &&
    meta.participants.find((p) => p.id === `${P}@s.whatsapp.net`)?.admin === 'superadmin', 'a member reads the group the phone made', { meta });
  const all = await bob.sock.groupFetchAllParticipating();
  check(Object.keys(all).includes(gid), 'the group is among Bob\'s');
  await wasim.call('POST', `/accounts/${Q}/offline`);
  const gt = await phoneSend(gid, { kind: 'text', text: 'welcome' });
  for (const cl of [alice, bob]) {
    const m = await got(cl, 'group text', (x) => x.key.id === gt && x.key.remoteJid === gid);
    check(textOf(m?.m ?? {}) === 'welcome' && m?.m.key.participant === `${P}@s.whatsapp.net`, `the phone's group text reaches ${cl.phone}`, { key: m?.m.key });
  }
  // The other phone-only member's phone, offline, keeps it; back online it decrypts it (the distribution
  // from phone to phone, then the skmsg).
  const early = (await wasim.call('GET', `/accounts/${Q}/messages`)).body.messages.find((m) => m.id === gt);
  check(!early, 'an offline phone has not read the group text yet');
  await wasim.call('POST', `/accounts/${Q}/online`);
  let qmsg = null;
  for (let i = 0; i < 50 && !qmsg; i++) {
    qmsg = (await wasim.call('GET', `/accounts/${Q}/messages`)).body.messages.find((m) => m.id === gt);
    if (!qmsg) await sleep(100);
  }
  check(qmsg?.text === 'welcome' && qmsg?.chat === gid, 'the phone\'s group text reaches another member\'s phone', { qmsg });
  const gl = await phoneSend(gid, { kind: 'location', latitude: 1.5, longitude: 2.5 });
  const glm = await got(bob, 'group location', (x) => x.key.id === gl && x.key.remoteJid === gid);
  check(glm?.m.message?.locationMessage?.degreesLatitude === 1.5, 'the phone\'s location reaches the group', { message: glm?.m.message });
  const fromAlice = await alice.sock.sendMessage(gid, { text: 'thanks Pat' });
  const atBob = await got(bob, 'alice in the group', (x) => x.key.id === fromAlice.key.id);
  check(textOf(atBob?.m ?? {}) === 'thanks Pat', 'a member answers in the phone\'s group');
  await phoneSend(gid, { kind: 'reaction', targetId: fromAlice.key.id, targetParticipant: alice.phone, text: '👍' });
  const gr = await got(alice, 'group reaction', (x) => x.key.remoteJid === gid && x.message?.reactionMessage?.key?.id === fromAlice.key.id);
  check(gr?.m.message.reactionMessage.text === '👍', 'the phone reacts in the group', { message: gr?.m.message });
} catch (e) {
  failures.push({ step: 'run', error: String(e?.stack ?? e) });
} finally {
  for (const cl of clients) { try { await cl.close(); } catch {} }
  wasim.stop();
}
report(name, failures, checks);
