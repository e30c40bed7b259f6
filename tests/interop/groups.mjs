// Interop (issue 4, tests 1 and 2): groups and media on wasim, between stock Baileys clients of one version.
//  1. Alice creates a group with Bob, Carol and Pam (a wasim account whose phone is the only device): the
//     others see it (groups.upsert or groupMetadata); texts from Alice, Bob and Carol reach every other
//     member, Pam's phone included (it decrypts the sender-key distribution and the skmsg); Dave, added
//     later, receives later messages; Carol, removed, does not; the metadata, subject, description and
//     settings changes reach the members; a group receipt reaches the author.
//  2. Media: an image and a document sent by Alice are downloaded and decrypted by Bob with equal hashes,
//     over wasim's HTTPS media server; the same for an image and a voice note sent by a wasim phone. A wasim
//     phone also writes to the group (sender keys from the phone).
// usage: node groups.mjs --which b6|b7 --wasim path/to/wasim
import { createHash, randomBytes } from 'node:crypto';
import { loadBaileys, args, report } from '../oracle/lib.mjs';
import { startWasim, trustWasimTls } from './wasim.mjs';
import { linkClient, waitFor, waitForAsync, sleep, textOf } from './clients.mjs';

const opt = args({ which: 'b6' });
trustWasimTls(opt.wasim);
const { B } = await loadBaileys(opt.which);
const name = `groups and media between baileys ${opt.which} clients`;
const failures = [];
let checks = 0;
const check = (ok, what, extra) => { checks++; if (!ok) failures.push({ step: what, ...extra }); };
const sha = (b) => createHash('sha256').update(b).digest('hex');
const wasim = await startWasim(opt.wasim);
const clients = [];
try {
  if (B.WA_CERT_DETAILS.PUBLIC_KEY) B.WA_CERT_DETAILS.PUBLIC_KEY.set(Buffer.from(wasim.root, 'hex'));
  const alice = await linkClient(B, wasim, '15550003001', 'Alice');
  const bob = await linkClient(B, wasim, '15550003002', 'Bob');
  const carol = await linkClient(B, wasim, '15550003003', 'Carol');
  const dave = await linkClient(B, wasim, '15550003004', 'Dave');
  clients.push(alice, bob, carol, dave);
  const pam = '15550003005';
  await wasim.call('POST', '/accounts', { phone: pam, name: 'Pam' });
  await sleep(500);
  const jidOf = (p) => `${p}@s.whatsapp.net`;

  // 1. Create.
  const meta = await alice.sock.groupCreate('Weekend plans', [bob.jid, carol.jid, jidOf(pam)]);
  const gid = meta.id;
  check(/^1203630\d+@g\.us$/.test(gid), 'groupCreate answers a group id', { meta });
  check(meta.subject === 'Weekend plans' && meta.participants.length === 4, 'the creator sees subject and four members', { meta });
  check(meta.participants.find((p) => p.id === alice.jid)?.admin === 'superadmin', 'the creator is superadmin', { participants: meta.participants });
  const bobMeta = await bob.sock.groupMetadata(gid);
  check(bobMeta.subject === 'Weekend plans' && bobMeta.participants.length === 4, 'a member reads the metadata', { bobMeta });
  const groups = await carol.sock.groupFetchAllParticipating();
  check(Object.keys(groups).includes(gid), 'the group is among those Carol participates in', { groups: Object.keys(groups) });

  const inGroup = (c, id) => c.events.upserts.find((u) => u.m.key.id === id && u.m.key.remoteJid === gid && u.m.message);
  const pamHas = async (id) => (await wasim.call('GET', `/accounts/${pam}/messages`)).body.messages.find((m) => m.id === id);
  // 2. Each Baileys member writes; every other member gets it.
  for (const [from, text] of [[alice, 'hi all 👋'], [bob, 'hello from bob'], [carol, 'carol here']]) {
    const sent = await from.sock.sendMessage(gid, { text });
    for (const to of [alice, bob, carol].filter((c) => c !== from)) {
      try {
        const got = await waitFor(`${text} at ${to.phone}`, () => inGroup(to, sent.key.id));
        check(textOf(got.m) === text && got.m.key.participant === from.jid, `"${text}" reaches ${to.phone} from ${from.phone}`, { key: got.m.key });
      } catch (e) { check(false, String(e)); }
    }
    const p = await waitForAsync(`${text} at pam's phone`, () => pamHas(sent.key.id), 10000).catch(() => null);
    const pm = await pamHas(sent.key.id);
    check(pm?.text === text && pm?.chat === gid, `"${text}" decrypted by Pam's phone`, { pm, p: !!p });
  }
  check(!dave.events.upserts.some((u) => u.m.key.remoteJid === gid), 'Dave, not a member, got nothing');
  // Pam's phone writes to the group (control API): the Baileys members read it.
  const ps = await wasim.call('POST', `/accounts/${pam}/send`, { to: gid, text: 'pam from her phone' });
  check(ps.status === 200 && ps.body.id, `the phone sends to the group (${JSON.stringify(ps.body)})`);
  for (const to of [alice, bob, carol]) {
    const got = await waitFor(`pam's text at ${to.phone}`, () => inGroup(to, ps.body.id)).catch(() => null);
    check(textOf(got?.m ?? {}) === 'pam from her phone' && got?.m.key.participant === jidOf(pam), `the phone's group text reaches ${to.phone}`, { key: got?.m.key });
  }
  // A receipt from a member reaches the author (Baileys reports group receipts per reader).
  const receipts = [];
  alice.sock.ev.on('message-receipt.update', (us) => receipts.push(...us));
  const receiptMsg = await alice.sock.sendMessage(gid, { text: 'read me' });
  const atBob = await waitFor('read me at bob', () => inGroup(bob, receiptMsg.key.id));
  await bob.sock.readMessages([atBob.m.key]);
  const rec = await waitFor('a read receipt at alice', () => receipts.find((u) => u.key.id === receiptMsg.key.id && u.receipt?.readTimestamp), 10000)
    .catch(() => null);
  check(rec?.receipt?.userJid?.startsWith(bob.phone), 'a member\'s read receipt reaches the author, naming the reader', { receipts: receipts.slice(-3) });

  // 3. Dave is added: later messages reach him. Carol is removed: they do not reach her.
  const added = await alice.sock.groupParticipantsUpdate(gid, [dave.jid], 'add');
  check(added[0]?.status === '200', 'adding Dave succeeds', { added });
  const removed = await alice.sock.groupParticipantsUpdate(gid, [carol.jid], 'remove');
  check(removed[0]?.status === '200', 'removing Carol succeeds', { removed });
  const notAMember = await alice.sock.groupParticipantsUpdate(gid, ['15550009999@s.whatsapp.net'], 'remove');
  check(notAMember[0]?.status === '404', 'removing a non-member answers 404', { notAMember });
  await sleep(300);
  const after = await alice.sock.sendMessage(gid, { text: 'after the changes' });
  const daveGot = await waitFor('after at dave', () => inGroup(dave, after.key.id)).catch(() => null);
  check(textOf(daveGot?.m ?? {}) === 'after the changes', 'Dave, added later, receives later messages');
  await waitFor('after at bob', () => inGroup(bob, after.key.id)).catch(() => null);
  const fromDave = await dave.sock.sendMessage(gid, { text: 'dave says hi' });
  const aliceGot = await waitFor('dave at alice', () => inGroup(alice, fromDave.key.id)).catch(() => null);
  check(textOf(aliceGot?.m ?? {}) === 'dave says hi', 'the new member writes to the group');
  await sleep(1000);
  check(!inGroup(carol, after.key.id) && !inGroup(carol, fromDave.key.id), 'Carol, removed, receives nothing more');
  const carolSend = await carol.sock.sendMessage(gid, { text: 'still here?' }).catch((e) => ({ error: String(e) }));
  await sleep(800);
  check(!inGroup(alice, carolSend?.key?.id), 'a removed member cannot write to the group');

  // 4. Subject, description, settings reach the members as notifications; metadata follows.
  await alice.sock.groupUpdateSubject(gid, 'Weekend plans (final)');
  await alice.sock.groupUpdateDescription(gid, 'bring snacks');
  await alice.sock.groupSettingUpdate(gid, 'announcement');
  await sleep(500);
  const m2 = await bob.sock.groupMetadata(gid);
  check(m2.subject === 'Weekend plans (final)' && m2.desc === 'bring snacks' && m2.announce === true,
    'subject, description and announcement mode show in the metadata', { subject: m2.subject, desc: m2.desc, announce: m2.announce });
  check(m2.participants.some((p) => p.id === dave.jid) && !m2.participants.some((p) => p.id === carol.jid), 'membership shows in the metadata');
  const blocked = await bob.sock.sendMessage(gid, { text: 'not an admin' });
  await sleep(800);
  check(!inGroup(alice, blocked.key.id), 'in announcement mode a non-admin message is not routed');
  await alice.sock.groupSettingUpdate(gid, 'not_announcement');
  const code = await alice.sock.groupInviteCode(gid);
  check(typeof code === 'string' && code.length > 10, 'the admin gets an invite code', { code });
  const denied = await bob.sock.groupInviteCode(gid).then(() => 'ok', (e) => String(e));
  check(denied !== 'ok', 'a non-admin does not', { denied });
  const joined = await carol.sock.groupAcceptInvite(code).catch((e) => String(e));
  check(joined === gid, 'Carol rejoins by the invite code', { joined });
  await bob.sock.groupLeave(gid);
  const m3 = await alice.sock.groupMetadata(gid);
  check(!m3.participants.some((p) => p.id === bob.jid) && m3.participants.some((p) => p.id === carol.jid), 'leave and join show in the metadata');

  // 5. Media between Baileys clients, over wasim's HTTPS media server.
  const image = Buffer.concat([Buffer.from([0xFF, 0xD8, 0xFF, 0xE0]), randomBytes(40000)]);
  const doc = randomBytes(25000);
  const si = await alice.sock.sendMessage(bob.jid, { image, caption: 'pic', mimetype: 'image/jpeg' });
  const sd = await alice.sock.sendMessage(bob.jid, { document: doc, mimetype: 'application/octet-stream', fileName: 'blob.bin' });
  // A wasim phone sends media to a Baileys client (control API): uploaded and encrypted as WhatsApp does.
  const voice = Buffer.concat([Buffer.from('OggS'), randomBytes(7000)]);
  const pi = await wasim.call('POST', `/accounts/${pam}/send`, { to: bob.phone, kind: 'image', file: image.toString('base64'), caption: 'from the phone', mimetype: 'image/jpeg' });
  const pa = await wasim.call('POST', `/accounts/${pam}/send`, { to: bob.phone, kind: 'audio', file: voice.toString('base64'), mimetype: 'audio/ogg; codecs=opus', ptt: true });
  check(pi.status === 200 && pa.status === 200, `the phone sends an image and a voice note (${JSON.stringify([pi.body, pa.body])})`);
  for (const [sent, file, what] of [[si, image, 'image'], [sd, doc, 'document'], [{ key: { id: pi.body.id } }, image, 'phone image'],
    [{ key: { id: pa.body.id } }, voice, 'phone voice note']]) {
    const got = await waitFor(`${what} at bob`, () => bob.events.upserts.find((u) => u.m.key.id === sent.key.id && u.m.message), 20000).catch(() => null);
    if (!got) { check(false, `${what} reaches bob`); continue; }
    const bytes = await B.downloadMediaMessage(got.m, 'buffer', {}).catch((e) => Buffer.from(String(e)));
    check(sha(bytes) === sha(file), `${what}: Bob downloads and decrypts the same bytes`, { got: bytes.length, want: file.length });
  }
} catch (e) {
  failures.push({ step: 'run', error: String(e?.stack ?? e) });
} finally {
  for (const c of clients) { try { await c.close(); } catch {} }
  wasim.stop();
}
report(name, failures, checks);
