// Interop (issue 3, test 3 and the first half of test 4): two stock Baileys clients of the same version,
// on two wasim accounts, exchange texts both ways, byte-exact (emoji, 4 KiB); each sender sees delivered
// (status 3) and read (status 4) receipts. Each account's phone (real Signal in wasim) decrypts the copies
// addressed to it: the recipient's phone gets the text, the sender's phone a deviceSentMessage.
// usage: node messaging.mjs --which b6|b7 --wasim path/to/wasim
import { loadBaileys, args, report } from '../oracle/lib.mjs';
import { startWasim } from './wasim.mjs';
import { linkClient, waitFor, sleep, textOf } from './clients.mjs';

const opt = args({ which: 'b6' });
const { B } = await loadBaileys(opt.which);
const name = `messaging between two baileys ${opt.which} clients`;
const failures = [];
let checks = 0;
const check = (ok, what, extra) => { checks++; if (!ok) failures.push({ step: what, ...extra }); };
const wasim = await startWasim(opt.wasim);
try {
  if (B.WA_CERT_DETAILS.PUBLIC_KEY) B.WA_CERT_DETAILS.PUBLIC_KEY.set(Buffer.from(wasim.root, 'hex'));
  const alice = await linkClient(B, wasim, '15550001111', 'Alice');
  const bob = await linkClient(B, wasim, '15550002222', 'Bob');
  await sleep(500);
  // "Is this number on WhatsApp?" (usync contact query).
  const [known] = await alice.sock.onWhatsApp(bob.phone);
  check(known?.exists === true && known.jid === bob.jid, 'onWhatsApp finds a wasim account', { known });
  const unknown = await alice.sock.onWhatsApp('15559999999');
  check(!unknown?.length || unknown.every((r) => !r.exists), 'onWhatsApp does not find an unknown number', { unknown });
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
  // A retry receipt (the recipient could not decrypt) is passed through to the sending device.
  const retried = [];
  alice.sock.ws.on('CB:receipt', (node) => { if (node.attrs.type === 'retry') retried.push(node); });
  await bob.sock.sendNode({ tag: 'receipt', attrs: { id: dupId, to: `${alice.phone}:1@s.whatsapp.net`, type: 'retry' },
    content: [{ tag: 'retry', attrs: { count: '1', id: dupId, t: String(Math.floor(Date.now() / 1000)), v: '1' } },
      { tag: 'registration', attrs: {}, content: Buffer.from([0, 0, 0, 1]) }] });
  const rr = await waitFor('retry receipt at alice', () => retried[0]);
  check(rr.attrs.from === `${bob.phone}:1@s.whatsapp.net` && rr.attrs.id === dupId && rr.content?.[0]?.tag === 'retry',
    'the retry receipt reaches the sender device with its retry node', { attrs: rr.attrs });
  const got = (await wasim.call('GET', `/accounts/${bob.phone}/devices/1/received`)).body.received;
  check(got.some((r) => r.startsWith(`message ${dupId} from ${alice.phone}:1@s.whatsapp.net`)), 'wasim lists what the device received', { got });
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
