// e2e (issue 6 groups through the engine, issue 7 and Z-API §7 through the API): zapd, wasim, a webhook sink,
// two stock Baileys clients and a wasim account with only its phone.
//  - create-group makes a group with both Baileys clients (they see it, zapd's number as superadmin) and
//    answers its id and invitation link;
//  - send-text and send-image to the group reach both members (sender keys: SKDM, then skmsg; the image
//    downloads with the same bytes); DeliveryCallback, SENT and the members' RECEIVED/READ arrive as group
//    statuses;
//  - what a member writes arrives as ReceivedCallback with isGroup, the group id and participantPhone;
//  - add-participant adds the phone-only account, whose phone then reads zapd's messages; add-admin lets a
//    member remove another, which zapd reports (GROUP_PARTICIPANT_REMOVE) and after which the removed member
//    no longer receives zapd's messages (zapd's sender key is renewed);
//  - update-group-name/-description/-settings show in the members' metadata; group-metadata,
//    light-group-metadata, group-invitation-link and redefine-invitation-link answer Z-API's shapes;
//    accept-invite-group with an unknown code answers success false; leave-group leaves.
// usage: node gateway_groups.mjs --which b6|b7 --wasim path/to/wasim --zapd path/to/zapd
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadBaileys, args, report } from '../oracle/lib.mjs';
import { startWasim, trustWasimTls } from '../interop/wasim.mjs';
import { linkClient, waitFor, waitForAsync, textOf, sleep } from '../interop/clients.mjs';
import { startZapd, startSink, pairInstance, dbFlags, zapdProblems } from './zapd.mjs';

const opt = args({ which: 'b6' });
trustWasimTls(opt.wasim);
const { B } = await loadBaileys(opt.which);
const name = `zapd groups with baileys ${opt.which}${opt.db === 'pg' ? ' on PostgreSQL' : ''}`;
const failures = [];
let checks = 0;
const check = (ok, what) => { checks++; if (!ok) failures.push({ step: what }); };
const sha = (b) => createHash('sha256').update(b).digest('hex');
const wasim = await startWasim(opt.wasim);
if (B.WA_CERT_DETAILS?.PUBLIC_KEY) B.WA_CERT_DETAILS.PUBLIC_KEY.set(Buffer.from(wasim.root, 'hex'));
const sink = await startSink();
const dataDir = mkdtempSync(path.join(tmpdir(), 'zapd-e2e-groups-'));
const E = '15550006001';  // the zapd instance's number
const A = '15550006002';  // Baileys (Alice)
const Bo = '15550006003'; // Baileys (Bob)
const P = '15550006004';  // a phone-only account (Pam)
let zapd;
const clients = [];
try {
  zapd = await startZapd(opt.zapd, { dataDir, wasim, extra: dbFlags(opt) });
  const inst = await pairInstance(zapd, wasim, sink, E, 'groups');
  const alice = await linkClient(B, wasim, A, 'Alice');
  const bob = await linkClient(B, wasim, Bo, 'Bob');
  clients.push(alice, bob);
  await wasim.call('POST', '/accounts', { phone: P, name: 'Pam' });

  // Create.
  const created = await inst.call('POST', 'create-group', { groupName: 'Team', phones: [A, Bo], autoInvite: false });
  check(created.status === 200 && /^1203630\d+-group$/.test(created.body.phone ?? '') && /^https:\/\/chat\.whatsapp\.com\/\S+$/.test(created.body.invitationLink ?? ''),
    `create-group answers the group id and its invitation link (${JSON.stringify(created.body)})`);
  const gid = created.body.phone;
  const gjid = `${gid.slice(0, -6)}@g.us`;
  const meta = await alice.sock.groupMetadata(gjid);
  check(meta.subject === 'Team' && meta.participants.length === 3 && meta.participants.find((p) => p.id.startsWith(E))?.admin === 'superadmin',
    `Alice sees the group with zapd's number as superadmin (${JSON.stringify(meta.participants)})`);

  // zapd writes to the group.
  const inGroup = (c, id) => c.events.upserts.find((u) => u.m.key.id === id && u.m.key.remoteJid === gjid && u.m.message);
  const t1 = await inst.call('POST', 'send-text', { phone: gid, message: 'hello team 👋' });
  check(t1.status === 200 && t1.body.messageId, `send-text to a group accepted (${JSON.stringify(t1.body)})`);
  for (const c of [alice, bob]) {
    const got = await waitFor(`zapd's text at ${c.phone}`, () => inGroup(c, t1.body.messageId), 20000).catch(() => null);
    check(textOf(got?.m ?? {}) === 'hello team 👋' && got?.m.key.participant?.startsWith(E), `the group text reaches ${c.phone} from zapd's number (${JSON.stringify(got?.m.key)})`);
  }
  const d1 = await sink.wait('DeliveryCallback of the group text', (b) => b.type === 'DeliveryCallback' && b.messageId === t1.body.messageId, 20000);
  check(d1.error === undefined && d1.phone === gid, `DeliveryCallback for the group text (${JSON.stringify(d1)})`);
  const sent = await sink.wait('SENT of the group text', (b) => b.type === 'MessageStatusCallback' && b.status === 'SENT' && b.ids?.includes(t1.body.messageId));
  check(sent.isGroup === true && sent.phone === gid, `SENT is a group status (${JSON.stringify(sent)})`);
  const atAlice = inGroup(alice, t1.body.messageId);
  if (atAlice) await alice.sock.readMessages([atAlice.m.key]);
  const read = await sink.wait('READ of the group text', (b) => b.type === 'MessageStatusCallback' && b.status === 'READ' && b.ids?.includes(t1.body.messageId), 20000)
    .catch((e) => ({ error: String(e) }));
  check(read.isGroup === true && read.phone === gid && read.participantPhone === A, `READ names the group and the reader (${JSON.stringify(read)})`);

  // An image to the group.
  const image = Buffer.concat([Buffer.from([0xFF, 0xD8, 0xFF, 0xE0]), randomBytes(20000)]);
  const im = await inst.call('POST', 'send-image', { phone: gid, image: `data:image/jpeg;base64,${image.toString('base64')}`, caption: 'team photo' });
  const gotImage = await waitFor('the group image at bob', () => inGroup(bob, im.body.messageId), 30000).catch(() => null);
  check(gotImage?.m.message?.imageMessage?.caption === 'team photo', 'the group image reaches Bob with its caption');
  if (gotImage) {
    const bytes = await B.downloadMediaMessage(gotImage.m, 'buffer', {});
    check(sha(bytes) === sha(image), 'Bob downloads the group image with the same bytes');
  }

  // A member writes.
  const fromAlice = await alice.sock.sendMessage(gjid, { text: 'hi from alice' });
  const rc = await sink.wait('ReceivedCallback of alice in the group', (b) => b.type === 'ReceivedCallback' && b.messageId === fromAlice.key.id, 20000)
    .catch((e) => ({ error: String(e) }));
  check(rc.isGroup === true && rc.phone === gid && rc.participantPhone === A && rc.text?.message === 'hi from alice' && rc.fromMe === false,
    `a member's message arrives as a group ReceivedCallback (${JSON.stringify(rc)})`);
  const aliceLid = (await wasim.call('GET', `/accounts/${A}`)).body.lid_jid;
  check(rc.participantLid === aliceLid && rc.senderLid === aliceLid && rc.chatLid === null,
    `the group message names the author's LID (${aliceLid}: participantLid ${rc.participantLid}, senderLid ${rc.senderLid}, chatLid ${rc.chatLid})`);

  // Participants.
  const add = await inst.call('POST', 'add-participant', { groupId: gid, phones: [P], autoInvite: false });
  check(add.status === 200 && add.body.value === true, `add-participant (${JSON.stringify(add.body)})`);
  const addEvent = await sink.wait('GROUP_PARTICIPANT_ADD', (b) => b.notification === 'GROUP_PARTICIPANT_ADD' && b.phone === gid, 10000)
    .catch((e) => ({ error: String(e) }));
  check(JSON.stringify(addEvent.notificationParameters) === JSON.stringify([P]) && addEvent.isGroup === true,
    `the addition is reported (${JSON.stringify(addEvent)})`);
  const t2 = await inst.call('POST', 'send-text', { phone: gid, message: 'welcome pam' });
  const pamGot = await waitForAsync('welcome at pam\'s phone', async () => (await wasim.call('GET', `/accounts/${P}/messages`)).body.messages.find((x) => x.id === t2.body.messageId), 20000)
    .catch(() => null);
  const pamMsgs = (await wasim.call('GET', `/accounts/${P}/messages`)).body.messages;
  const pm = pamMsgs.find((x) => x.id === t2.body.messageId);
  const wlog = pm ? [] : (await wasim.log()).filter((e) => e.text.includes(t2.body.messageId) || e.connection.startsWith(P)).slice(-5);
  check(pm?.text === 'welcome pam' && pm?.chat === gjid, `the added member's phone reads zapd's group message (${JSON.stringify(pm ?? pamMsgs.slice(-2))}, ${!!pamGot}, wasim: ${JSON.stringify(wlog)})`);
  const bad = await inst.call('POST', 'add-participant', { groupId: gid, phones: ['15559990000'] });
  check(bad.status === 200 && bad.body.value === false && bad.body.participants?.[0]?.status === '403', `adding an unknown number answers value false with its status (${JSON.stringify(bad.body)})`);
  const promote = await inst.call('POST', 'add-admin', { groupId: gid, phones: [A] });
  check(promote.body.value === true, `add-admin (${JSON.stringify(promote.body)})`);
  await sleep(300);
  const removed = await alice.sock.groupParticipantsUpdate(gjid, [bob.jid], 'remove');
  check(removed[0]?.status === '200', 'the new admin removes Bob');
  const remEvent = await sink.wait('GROUP_PARTICIPANT_REMOVE', (b) => b.notification === 'GROUP_PARTICIPANT_REMOVE' && b.phone === gid, 10000)
    .catch((e) => ({ error: String(e) }));
  check(remEvent.participantPhone === A && JSON.stringify(remEvent.notificationParameters) === JSON.stringify([Bo]),
    `the removal is reported with who did it (${JSON.stringify(remEvent)})`);
  await sleep(300);
  const t3 = await inst.call('POST', 'send-text', { phone: gid, message: 'after bob left' });
  const aliceT3 = await waitFor('after-bob at alice', () => inGroup(alice, t3.body.messageId), 20000).catch(() => null);
  check(textOf(aliceT3?.m ?? {}) === 'after bob left', 'Alice still receives zapd\'s messages');
  await sleep(1000);
  check(!inGroup(bob, t3.body.messageId), 'Bob, removed, does not');

  // Name, description, settings.
  check((await inst.call('POST', 'update-group-name', { groupId: gid, groupName: 'Team (final)' })).body.value === true, 'update-group-name');
  check((await inst.call('POST', 'update-group-description', { groupId: gid, groupDescription: 'ship it' })).body.value === true, 'update-group-description');
  const st = await inst.call('POST', 'update-group-settings', { phone: gid, adminOnlyMessage: true, adminOnlySettings: true });
  check(st.body.value === true, `update-group-settings (${JSON.stringify(st.body)})`);
  await sleep(300);
  const m2 = await alice.sock.groupMetadata(gjid);
  check(m2.subject === 'Team (final)' && m2.desc === 'ship it' && m2.announce === true && m2.restrict === true,
    `the changes show in a member's metadata (${JSON.stringify({ s: m2.subject, d: m2.desc, a: m2.announce, r: m2.restrict })})`);
  const md = await inst.call('GET', `group-metadata/${gid}`);
  const mdOk = md.status === 200 && md.body.phone === gid && md.body.subject === 'Team (final)' && md.body.description === 'ship it' &&
    md.body.owner === E && md.body.adminOnlyMessage === true && md.body.adminOnlySettings === true &&
    /^https:\/\/chat\.whatsapp\.com\//.test(md.body.invitationLink ?? '') &&
    md.body.participants.some((p) => p.phone === A && p.isAdmin && !p.isSuperAdmin) && md.body.participants.some((p) => p.phone === E && p.isSuperAdmin) &&
    !md.body.participants.some((p) => p.phone === Bo);
  check(mdOk, `group-metadata (${JSON.stringify(md.body)})`);
  const light = await inst.call('GET', `light-group-metadata/${gid}`);
  check(light.status === 200 && light.body.invitationLink === null && light.body.subject === 'Team (final)', `light-group-metadata (${JSON.stringify(light.body)})`);
  const link1 = await inst.call('GET', `group-invitation-link/${gid}`);
  const link2 = await inst.call('POST', `redefine-invitation-link/${gid}`);
  check(link1.body.phone === gid && link1.body.invitationLink === md.body.invitationLink && link2.body.invitationLink && link2.body.invitationLink !== link1.body.invitationLink,
    `invitation link and its renewal (${JSON.stringify([link1.body, link2.body])})`);
  const join = await inst.call('GET', 'accept-invite-group?url=https://chat.whatsapp.com/NOSUCHCODE');
  check(join.status === 200 && join.body.success === false, `accept-invite-group with an unknown code (${JSON.stringify(join.body)})`);
  const badGroup = await inst.call('GET', 'group-metadata/12-group');
  check(badGroup.status === 400 && badGroup.body.error === 'INVALID_FIELD', 'a malformed group id is 400');
  const noPhones = await inst.call('POST', 'create-group', { groupName: 'x', phones: [] });
  check(noPhones.status === 400 && noPhones.body.error === 'MISSING_FIELD', 'create-group without participants is 400');
  const unknown = await inst.call('GET', 'group-metadata/120363099999999999-group');
  check(unknown.status === 409 && unknown.body.error === 'WHATSAPP_REFUSED', `an unknown group is refused by WhatsApp (${JSON.stringify(unknown.body)})`);

  // Leave.
  const leave = await inst.call('POST', 'leave-group', { groupId: gid });
  check(leave.body.value === true, `leave-group (${JSON.stringify(leave.body)})`);
  await sleep(300);
  const m3 = await alice.sock.groupMetadata(gjid);
  check(!m3.participants.some((p) => p.id.startsWith(E)), 'zapd\'s number has left the group');
  check(sink.state.badSignatures === 0, 'no bad signatures');
} catch (e) {
  failures.push({ step: 'run', error: String(e?.stack ?? e) });
} finally {
  for (const c of clients) { try { await c.close(); } catch {} }
  if (zapd) await zapd.stop();
  wasim.stop();
  await sink.close();
}
failures.push(...zapdProblems());
report(name, failures, checks);
