// e2e (issue 7, tests 1 and 2 in part): zapd as a user runs it, wasim, a webhook sink and a stock Baileys
// client as the other person.
//  1. create an instance, fetch the QR (string and PNG), a wasim phone scans the PNG, ConnectedCallback
//     arrives and status says connected; a second instance pairs by phone code; GET restart reconnects;
//     after a zapd restart the instance reconnects by itself; GET disconnect unlinks it (DisconnectedCallback,
//     status) and a new QR links it again.
//  2. every non-media P0 send route (text, reply, mention, edit, link, location, contact, reaction, remove
//     reaction, DELETE /messages) reaches Baileys with the right content; DeliveryCallback and
//     MessageStatusCallback SENT/RECEIVED/READ/PLAYED arrive with the right ids; what Baileys sends (text,
//     reply, location, contact, reaction, edit, revoke, typing) arrives as the documented callbacks,
//     signed with the configured secret.
// usage: node gateway_flow.mjs --which b6|b7 --wasim path/to/wasim --zapd path/to/zapd
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadBaileys, args, report } from '../oracle/lib.mjs';
import { startWasim } from '../interop/wasim.mjs';
import { linkClient, waitFor, textOf, sleep, waitForAsync } from '../interop/clients.mjs';
import { startZapd, startSink, pairInstance, instanceApi, dbFlags, zapdProblems } from './zapd.mjs';

const opt = args({ which: 'b6' });
const { B } = await loadBaileys(opt.which);
const name = `zapd gateway flow with baileys ${opt.which}${opt.db === 'pg' ? ' on PostgreSQL' : ''}`;
const failures = [];
let checks = 0;
const check = (ok, what) => { checks++; if (!ok) failures.push({ step: what }); };
const secret = 'sink-secret';
const wasim = await startWasim(opt.wasim);
if (B.WA_CERT_DETAILS?.PUBLIC_KEY) B.WA_CERT_DETAILS.PUBLIC_KEY.set(Buffer.from(wasim.root, 'hex'));
const sink = await startSink(secret);
const dataDir = mkdtempSync(path.join(tmpdir(), 'zapd-e2e-flow-'));
const zapdOpts = { dataDir, wasim, extra: [...dbFlags(opt), '--webhook-secret', secret] };
const A = '15550008001';  // Baileys (Alice)
const E = '15550008002';  // the zapd instance's number
let zapd;
let alice;
const upsertWith = (pred) => alice.events.upserts.find((u) => pred(u.m));
try {
  zapd = await startZapd(opt.zapd, zapdOpts);
  // 1. Pairing: the QR string first (it is what the PNG encodes), then the PNG is scanned.
  await wasim.call('POST', '/accounts', { phone: E, name: 'Zed' });
  const created = await zapd.partner('POST', '/instances/integrator/on-demand', { name: 'flow' });
  check(created.status === 200 && /^[0-9A-F]{32}$/.test(created.body.id) && created.body.token?.length >= 24, `instance created (${JSON.stringify(created.body)})`);
  let inst = instanceApi(zapd, created.body);
  // The partner list pages as Z-API's does (page from 1, pageSize); without pageSize, everything on page 1.
  {
    const second = await zapd.partner('POST', '/instances/integrator/on-demand', { name: 'second "one"' });
    const all = await zapd.partner('GET', '/instances');
    check(all.status === 200 && all.body.total === 2 && all.body.content.length === 2 && all.body.totalPage === 1 &&
          all.body.content[0].id === created.body.id && all.body.content[1].name === 'second "one"', `list of two (${JSON.stringify(all.body)})`);
    const p2 = await zapd.partner('GET', '/instances?page=2&pageSize=1');
    check(p2.status === 200 && p2.body.total === 2 && p2.body.totalPage === 2 && p2.body.page === 2 && p2.body.pageSize === 1 &&
          p2.body.content.length === 1 && p2.body.content[0].id === second.body.id, `page 2 of size 1 (${JSON.stringify(p2.body)})`);
    const p3 = await zapd.partner('GET', '/instances?page=3&pageSize=1');
    check(p3.status === 200 && p3.body.content.length === 0 && p3.body.total === 2, `past the last page (${JSON.stringify(p3.body)})`);
    const me = await instanceApi(zapd, created.body).call('GET', 'me');
    check(me.status === 200 && me.body.id === created.body.id && me.body.name === 'flow' && me.body.due === null, `me (${JSON.stringify(me.body)})`);
    const sum2 = await zapd.partner('GET', '/instances/summary');
    check(sum2.status === 200 && sum2.body.total === 2 && sum2.body.paired === 0 && sum2.body.connected === 0, `summary of two unpaired (${JSON.stringify(sum2.body)})`);
    check((await zapd.call('GET', '/instances/summary')).status === 401, 'the summary needs the admin token');
    check((await zapd.partner('DELETE', `/instances/${second.body.id}`)).status === 200, 'second instance deleted');
  }
  check((await inst.call('GET', 'status')).body.connected === false, 'status: not connected before pairing');
  await inst.call('PUT', 'update-every-webhooks', { value: `${sink.url}/hook`, notifySentByMe: true });
  const me0 = await inst.call('GET', 'me');
  check(me0.body.receivedCallbackUrl === `${sink.url}/hook` && me0.body.receiveCallbackSentByMe === true, `me shows the webhooks (${JSON.stringify(me0.body)})`);
  const qr = await inst.call('GET', 'qr-code');
  check(qr.status === 200 && /^2@/.test(qr.body.value ?? ''), `qr-code string (${JSON.stringify(qr.body)})`);
  const img = await inst.call('GET', 'qr-code/image');
  check(img.status === 200 && img.body.value?.startsWith('data:image/png;base64,iVBOR'), 'qr-code/image is a PNG data URI');
  const scan = await wasim.call('POST', `/accounts/${E}/scan`, { png: img.body.value.slice(22) });
  check(scan.status === 200, `the wasim phone scanned the PNG (${JSON.stringify(scan.body)})`);
  const connected = await sink.wait('ConnectedCallback', (b) => b.type === 'ConnectedCallback', 20000);
  check(connected.instanceId === inst.id && connected.phone === E && connected.connected === true && connected.momment > 1e12,
    `ConnectedCallback (${JSON.stringify(connected)})`);
  const st = await inst.call('GET', 'status');
  check(st.body.connected === true && st.body.smartphoneConnected === true, `status connected (${JSON.stringify(st.body)})`);
  const sum1 = await zapd.partner('GET', '/instances/summary');
  check(sum1.body.total === 1 && sum1.body.paired === 1 && sum1.body.connected === 1, `summary: one paired and connected (${JSON.stringify(sum1.body)})`);
  // The end-of-offline marker follows the phone's key share on a first login (wasim waits for its ack).
  const summary = () => zapd.partner('GET', '/instances/summary').then((r) => r.body);
  const reached = (p) => p.then(() => true, () => false);
  check(await reached(waitForAsync('the offline queue drained after pairing', async () => (await summary()).offlineDrained === 1, 20000)),
    'summary.offlineDrained reaches 1 after pairing');
  const dev = await inst.call('GET', 'device');
  check(dev.status === 200 && dev.body.phone === E, `device (${JSON.stringify(dev.body)})`);
  check((await inst.call('GET', 'qr-code')).body.connected === true, 'qr-code when connected says so');

  // Pairing by phone code, on a second instance: the code zapd shows is typed on the wasim phone.
  {
    const P2 = '15550008003';
    await wasim.call('POST', '/accounts', { phone: P2, name: 'Coded' });
    const c2 = await zapd.partner('POST', '/instances/integrator/on-demand', { name: 'by code' });
    const i2 = instanceApi(zapd, c2.body);
    await i2.call('PUT', 'update-webhook-connected', { value: `${sink.url}/hook` });
    const code = await i2.call('GET', `phone-code/${P2}`);
    check(code.status === 200 && /^[A-Z0-9]{8}$/.test(code.body.value ?? ''), `phone-code answers a code (${JSON.stringify(code.body)})`);
    const typed = await wasim.call('POST', `/accounts/${P2}/link-code`, { code: code.body.value });
    check(typed.status === 200, `the phone took the code (${JSON.stringify(typed.body)})`);
    const c = await sink.wait('ConnectedCallback by code', (b) => b.type === 'ConnectedCallback' && b.instanceId === c2.body.id, 30000);
    check(c.phone === P2, `paired by phone code (${JSON.stringify(c)})`);
  }

  alice = await linkClient(B, wasim, A, 'Alice');

  // 2. send-text, then the statuses: SENT (and DeliveryCallback), RECEIVED, READ, PLAYED.
  const text = 'olá from zapd 👋🏽 *bold*\nline 2';
  const sent = await inst.call('POST', 'send-text', { phone: A, message: text });
  check(sent.status === 200 && sent.body.zaapId && sent.body.messageId && sent.body.id === sent.body.messageId, `send-text answer (${JSON.stringify(sent.body)})`);
  const mid = sent.body.messageId;
  const got = await waitFor('text at alice', () => upsertWith((m) => m.key.id === mid), 20000);
  check(textOf(got.m) === text && !got.m.key.fromMe && got.m.key.remoteJid === `${E}@s.whatsapp.net`, `alice got the text (${textOf(got.m)})`);
  const delivery = await sink.wait('DeliveryCallback', (b) => b.type === 'DeliveryCallback' && b.messageId === mid);
  check(delivery.zaapId === sent.body.zaapId && delivery.phone === A && delivery.instanceId === inst.id, `DeliveryCallback (${JSON.stringify(delivery)})`);
  const status = (s) => sink.wait(`status ${s}`, (b) => b.type === 'MessageStatusCallback' && b.status === s && b.ids?.includes(mid));
  const sentSt = await status('SENT');
  check(sentSt.phone === A && sentSt.isGroup === false && sentSt.phoneDevice === 0, `SENT (${JSON.stringify(sentSt)})`);
  const recvSt = await status('RECEIVED');
  check(recvSt.phone === A, `RECEIVED (${JSON.stringify(recvSt)})`);
  await alice.sock.readMessages([got.m.key]);
  const readSt = await status('READ');
  check(readSt.phone === A, `READ (${JSON.stringify(readSt)})`);
  await alice.sock.sendReceipt(`${E}@s.whatsapp.net`, undefined, [mid], 'played');
  await status('PLAYED');
  // A status may repeat (each of Alice's devices confirms delivery); first appearances must be in order.
  const order = [...new Set(sink.events.filter((e) => e.body.type === 'MessageStatusCallback' && e.body.ids.includes(mid)).map((e) => e.body.status))];
  check(JSON.stringify(order) === JSON.stringify(['SENT', 'RECEIVED', 'READ', 'PLAYED']), `statuses in order (${order})`);
  check(sink.state.badSignatures === 0, `every webhook carried a valid X-Zapd-Signature (${sink.state.badSignatures} bad)`);

  // Typed sends. Alice first writes something to reply and react to.
  const fromAlice = await alice.sock.sendMessage(`${E}@s.whatsapp.net`, { text: 'hello zapd' });
  const rcv = await sink.wait('ReceivedCallback text', (b) => b.type === 'ReceivedCallback' && b.messageId === fromAlice.key.id);
  check(rcv.text?.message === 'hello zapd' && rcv.phone === A && rcv.fromMe === false && rcv.fromApi === false &&
    rcv.senderName === 'Alice' && rcv.connectedPhone === E && rcv.isGroup === false && rcv.momment > 1e12 && rcv.status === 'RECEIVED',
    `ReceivedCallback text (${JSON.stringify(rcv)})`);
  // The LIDs wasim names on the stanza (sender_lid), as the real server does.
  const aliceLid = (await wasim.call('GET', `/accounts/${A}`)).body.lid_jid;
  const zedLid = (await wasim.call('GET', `/accounts/${E}`)).body.lid_jid;
  check(/^\d+@lid$/.test(aliceLid) && rcv.senderLid === aliceLid && rcv.chatLid === aliceLid && rcv.participantLid === null,
    `ReceivedCallback carries Alice's LID as senderLid and chatLid (${aliceLid}: ${rcv.senderLid}, ${rcv.chatLid}, ${rcv.participantLid})`);
  // What the number's own phone writes (notifySentByMe): fromMe, the peer's LID as chatLid, our own as senderLid.
  {
    const ph = await wasim.call('POST', `/accounts/${E}/send`, { to: A, kind: 'text', text: 'from the phone' });
    check(ph.status === 200, `the number's phone writes to Alice (${JSON.stringify(ph.body)})`);
    const own = await sink.wait('ReceivedCallback of the phone', (b) => b.type === 'ReceivedCallback' && b.messageId === ph.body.id, 20000)
      .catch((e) => ({ error: String(e) }));
    check(own.fromMe === true && own.phone === A && own.text?.message === 'from the phone' && own.chatLid === aliceLid && own.senderLid === zedLid,
      `the phone's message arrives fromMe with both LIDs (${JSON.stringify(own)})`);
  }
  const sendAndGet = async (route, body, pred, what) => {
    const r = await inst.call('POST', route, body);
    check(r.status === 200 && r.body.messageId, `${route} answer (${JSON.stringify(r.body)})`);
    const u = await waitFor(`${what} at alice`, () => upsertWith((m) => m.key.id === r.body.messageId), 20000);
    check(pred(u.m.message ?? {}), `${what} content (${JSON.stringify(u.m.message)})`);
    return { r, m: u.m };
  };
  const reply = await sendAndGet('send-text', { phone: A, message: 'a reply', messageId: fromAlice.key.id },
    (m) => m.extendedTextMessage?.text === 'a reply' && m.extendedTextMessage?.contextInfo?.stanzaId === fromAlice.key.id &&
      m.extendedTextMessage?.contextInfo?.participant === `${A}@s.whatsapp.net`, 'reply');
  await sendAndGet('send-text', { phone: A, message: `hi @${A}`, mentioned: [A] },
    (m) => m.extendedTextMessage?.contextInfo?.mentionedJid?.[0] === `${A}@s.whatsapp.net`, 'mention');
  await sendAndGet('send-location', { phone: A, title: 'Google Brasil', address: 'Av. Brg. Faria Lima, 3477', latitude: '-23.0696347', longitude: -50.4357913 },
    (m) => Math.abs(m.locationMessage?.degreesLatitude + 23.0696347) < 1e-9 && Math.abs(m.locationMessage?.degreesLongitude + 50.4357913) < 1e-9 &&
      m.locationMessage?.name === 'Google Brasil' && m.locationMessage?.address === 'Av. Brg. Faria Lima, 3477', 'location');
  await sendAndGet('send-link', { phone: A, message: 'see https://example.com/page', image: `${sink.url}/no-such.png`, linkUrl: 'https://example.com/page', title: 'Example', linkDescription: 'A page' },
    (m) => m.extendedTextMessage?.text === 'see https://example.com/page' && m.extendedTextMessage?.matchedText === 'https://example.com/page' &&
      m.extendedTextMessage?.title === 'Example' && m.extendedTextMessage?.description === 'A page', 'link');
  await sendAndGet('send-contact', { phone: A, contactName: 'Bob Builder', contactPhone: '5511999999999' },
    (m) => m.contactMessage?.displayName === 'Bob Builder' && /waid=5511999999999/.test(m.contactMessage?.vcard ?? ''), 'contact');
  await sendAndGet('send-reaction', { phone: A, reaction: '❤️', messageId: fromAlice.key.id },
    (m) => m.reactionMessage?.text === '❤️' && m.reactionMessage?.key?.id === fromAlice.key.id && m.reactionMessage?.key?.fromMe === true, 'reaction');
  await sendAndGet('send-remove-reaction', { phone: A, messageId: fromAlice.key.id },
    (m) => m.reactionMessage?.text === '' && m.reactionMessage?.key?.id === fromAlice.key.id, 'remove reaction');
  const edit = await inst.call('POST', 'send-text', { phone: A, message: 'a reply, edited', editMessageId: reply.r.body.messageId });
  check(edit.status === 200, `edit answer (${JSON.stringify(edit.body)})`);
  await waitFor('edit at alice', () => upsertWith((m) => m.key.id === edit.body.messageId || JSON.stringify(m.message ?? {}).includes('a reply, edited')) ||
    alice.events.updates.find((u) => u.key.id === reply.r.body.messageId && JSON.stringify(u.update).includes('a reply, edited')), 20000);
  check(true, 'alice saw the edit');
  const del = await zapd.call('DELETE', `/instances/${inst.id}/token/${inst.token}/messages?messageId=${mid}&phone=${A}&owner=true`);
  check(del.status === 204, `DELETE /messages answers 204 (${del.status})`);
  await waitFor('revoke at alice', () => upsertWith((m) => m.message?.protocolMessage?.type === 0 && m.message.protocolMessage.key?.id === mid) ||
    alice.events.updates.find((u) => u.key.id === mid && (u.update.message === null || u.update.messageStubType === 1)), 20000);
  check(true, 'alice saw the revoke');

  // What Baileys sends arrives as the documented ReceivedCallback variants.
  const recv = async (content, what, opts) => {
    const s = await alice.sock.sendMessage(`${E}@s.whatsapp.net`, content, opts);
    return sink.wait(what, (b) => b.type === 'ReceivedCallback' && (b.messageId === s.key.id || b.reaction?.referencedMessage?.messageId === content.react?.key?.id && content.react), 20000);
  };
  const rr = await recv({ text: 'quoting you' }, 'reply from alice', { quoted: reply.m });
  check(rr.referenceMessageId === reply.r.body.messageId && rr.text?.message === 'quoting you', `reply's referenceMessageId (${JSON.stringify(rr)})`);
  const loc = await recv({ location: { degreesLatitude: -23.5505, degreesLongitude: -46.6333, name: 'Sé', address: 'Praça da Sé' } }, 'location from alice');
  check(loc.location?.latitude === -23.5505 && loc.location?.longitude === -46.6333 && loc.location?.name === 'Sé' && loc.location?.address === 'Praça da Sé',
    `location callback (${JSON.stringify(loc.location)})`);
  const vcard = 'BEGIN:VCARD\nVERSION:3.0\nFN:Bob\nTEL;type=CELL;waid=15550001234:+1 555 000 1234\nEND:VCARD';
  const con = await recv({ contacts: { displayName: 'Bob', contacts: [{ displayName: 'Bob', vcard }] } }, 'contact from alice');
  check(con.contact?.displayName === 'Bob' && con.contact?.vCard === vcard && con.contact?.phones?.[0] === '15550001234', `contact callback (${JSON.stringify(con.contact)})`);
  const rea = await recv({ react: { text: '👍', key: reply.m.key } }, 'reaction from alice');
  check(rea.reaction?.value === '👍' && rea.reaction?.referencedMessage?.messageId === reply.r.body.messageId && rea.reaction?.referencedMessage?.fromMe === true,
    `reaction callback (${JSON.stringify(rea.reaction)})`);
  const aliceMsg = await alice.sock.sendMessage(`${E}@s.whatsapp.net`, { text: 'typo' });
  await sink.wait('typo', (b) => b.messageId === aliceMsg.key.id);
  await alice.sock.sendMessage(`${E}@s.whatsapp.net`, { text: 'fixed', edit: aliceMsg.key });
  const ed = await sink.wait('edit from alice', (b) => b.type === 'ReceivedCallback' && b.isEdit === true);
  check(ed.messageId === aliceMsg.key.id && ed.text?.message === 'fixed', `edit callback (${JSON.stringify(ed)})`);
  await alice.sock.sendMessage(`${E}@s.whatsapp.net`, { delete: aliceMsg.key });
  const rv = await sink.wait('revoke from alice', (b) => b.type === 'ReceivedCallback' && b.notification === 'REVOKE');
  check(rv.referenceMessageId === aliceMsg.key.id, `revoke callback (${JSON.stringify(rv)})`);
  await alice.sock.sendPresenceUpdate('composing', `${E}@s.whatsapp.net`);
  const pres = await sink.wait('PresenceChatCallback', (b) => b.type === 'PresenceChatCallback' && b.status === 'COMPOSING');
  check(pres.phone === A && pres.instanceId === inst.id, `PresenceChatCallback (${JSON.stringify(pres)})`);

  // GET restart rebuilds the connection from the stored keys: a new ConnectedCallback, no QR.
  {
    const before = sink.of('ConnectedCallback', (b) => b.instanceId === inst.id).length;
    const r = await inst.call('GET', 'restart');
    check(r.status === 200 && r.body.value === true, `restart answers (${JSON.stringify(r.body)})`);
    await waitFor('ConnectedCallback after GET restart', () => sink.of('ConnectedCallback', (b) => b.instanceId === inst.id).length > before, 20000);
    check((await inst.call('GET', 'status')).body.connected === true, 'connected after GET restart');
  }

  // 1 (end). A zapd restart: the instance reconnects by itself and says so; what Alice wrote meanwhile waits
  // in the server's offline queue, and the summary counts the number drained only once it has been handled.
  const before = sink.of('ConnectedCallback').length;
  await zapd.stop();
  const whileAway = await alice.sock.sendMessage(`${E}@s.whatsapp.net`, { text: 'while zapd was down' });
  // A second after the number connected, zapd gave its free heap pages back to the OS (docs/architecture.md).
  {
    const log = zapd.log;
    await waitFor('the stopped line', () => log.some((l) => l.startsWith('stopped')), 5000);
    const line = log.find((l) => l.startsWith('stopped'));
    check(/^stopped \(heap given back to the OS [1-9]\d* times\)$/.test(line), `heap trimmed after connecting (${line})`);
  }
  zapd = await startZapd(opt.zapd, zapdOpts);
  inst = instanceApi(zapd, created.body);
  await waitFor('ConnectedCallback after restart', () => sink.of('ConnectedCallback').length > before, 20000);
  check((await inst.call('GET', 'status')).body.connected === true, 'connected again after the restart');
  // Both numbers (this one and the one paired by code) reconnect; each is counted once its queue drained.
  check(await reached(waitForAsync('the offline queues drained after the restart', async () => { const c = await summary(); return c.connected === 2 && c.offlineDrained === 2; }, 20000)),
    `summary.offlineDrained reaches 2 after the restart (${JSON.stringify(await summary())})`);
  // Drained means stored with its webhook in the outbox: the POST follows at once.
  check(await reached(waitFor('the message sent while zapd was down', () => sink.of('ReceivedCallback', (b) => b.messageId === whileAway.key.id).length > 0, 5000)),
    'the message Alice sent while zapd was down reaches the received webhook once the queue drained');
  const after = await inst.call('POST', 'send-text', { phone: A, message: 'after restart' });
  await waitFor('text after restart', () => upsertWith((m) => m.key.id === after.body.messageId && textOf(m) === 'after restart'), 20000);
  check(true, 'sends work after the restart');
  check(sink.state.badSignatures === 0, `signatures (${sink.state.badSignatures} bad)`);

  // GET disconnect unlinks the number: DisconnectedCallback, status says so, and a new QR pairs it again.
  {
    const d = await inst.call('GET', 'disconnect');
    check(d.status === 200 && d.body.value === true, `disconnect answers (${JSON.stringify(d.body)})`);
    const gone = await sink.wait('DisconnectedCallback after disconnect', (b) => b.type === 'DisconnectedCallback' && /logged out/.test(b.error ?? ''), 20000);
    check(gone.instanceId === inst.id && gone.disconnected === true, `DisconnectedCallback (${JSON.stringify(gone)})`);
    const acct = await wasim.call('GET', `/accounts/${E}`);
    check(Array.isArray(acct.body.devices) && acct.body.devices.length === 0, `the phone no longer lists zapd's device (${JSON.stringify(acct.body.devices)})`);
    const st2 = await inst.call('GET', 'status');
    check(st2.body.connected === false && st2.body.session === false && st2.body.error === 'You are not connected.', `status after disconnect (${JSON.stringify(st2.body)})`);
    const c0 = await summary();
    check(c0.connected === 1 && c0.offlineDrained === 1, `a disconnected number is not counted drained (${JSON.stringify(c0)})`);
    const before = sink.of('ConnectedCallback', (b) => b.instanceId === inst.id).length;
    const qr2 = await inst.call('GET', 'qr-code');
    check(qr2.status === 200 && /^2@/.test(qr2.body.value ?? ''), `a new QR after disconnect (${JSON.stringify(qr2.body)})`);
    const again = await wasim.call('POST', `/accounts/${E}/scan`, { qr: qr2.body.value });
    check(again.status === 200, `the phone links zapd again (${JSON.stringify(again.body)})`);
    await waitFor('ConnectedCallback after relinking', () => sink.of('ConnectedCallback', (b) => b.instanceId === inst.id).length > before, 20000);
    check((await inst.call('GET', 'status')).body.connected === true, 'connected again after relinking');
  }
} catch (e) {
  failures.push({ step: 'exception', error: String(e?.stack ?? e) });
} finally {
  try { await alice?.close(); } catch {}
  try { await zapd?.stop(); } catch {}
  wasim.stop();
  await sink.close();
}
failures.push(...zapdProblems());
report(name, failures, checks);
process.exit(0);
