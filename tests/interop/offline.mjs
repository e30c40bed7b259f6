// Interop (issue 3, test 5 and the phone half of test 4): messages sent while the recipient is offline
// arrive when it reconnects, exactly once each (by id), and the sender then sees them delivered; a
// wasim phone sends a text that the other account's Baileys receives and the sender's own Baileys gets
// as its own message (deviceSentMessage).
// usage: node offline.mjs --which b6|b7 --wasim path/to/wasim
import { loadBaileys, args, report } from '../oracle/lib.mjs';
import { startWasim } from './wasim.mjs';
import { linkClient, waitFor, sleep, textOf } from './clients.mjs';

const opt = args({ which: 'b6' });
const { B } = await loadBaileys(opt.which);
const name = `offline delivery and phone messages, baileys ${opt.which}`;
const failures = [];
let checks = 0;
const check = (ok, what, extra) => { checks++; if (!ok) failures.push({ step: what, ...extra }); };
const wasim = await startWasim(opt.wasim);
try {
  if (B.WA_CERT_DETAILS.PUBLIC_KEY) B.WA_CERT_DETAILS.PUBLIC_KEY.set(Buffer.from(wasim.root, 'hex'));
  const alice = await linkClient(B, wasim, '15550001111', 'Alice');
  const bob = await linkClient(B, wasim, '15550002222', 'Bob');
  await sleep(500);
  await bob.close();
  const sent = [];
  for (let i = 0; i < 3; i++) sent.push(await alice.sock.sendMessage(bob.jid, { text: `while you were away ${i} ✉️` }));
  await sleep(800);
  check(sent.every((s) => !bob.events.upserts.some((u) => u.m.key.id === s.key.id)), 'nothing arrives while bob is offline');
  await bob.reconnect();
  for (const [i, s] of sent.entries()) {
    await waitFor(`offline message ${i}`, () => bob.events.upserts.find((u) => u.m.key.id === s.key.id));
    await waitFor(`delivery receipt for offline message ${i}`,
      () => alice.events.updates.find((u) => u.key.id === s.key.id && u.update.status >= 3));
  }
  await sleep(1500);  // room for a duplicate to show up
  for (const [i, s] of sent.entries()) {
    const copies = bob.events.upserts.filter((u) => u.m.key.id === s.key.id);
    check(copies.length === 1, `offline message ${i} arrives exactly once`, { copies: copies.length });
    check(textOf(copies[0].m) === `while you were away ${i} ✉️`, `offline message ${i} text`);
  }
  // A reconnect after everything was acknowledged delivers nothing again.
  await bob.close();
  const before = bob.events.upserts.length;
  await bob.reconnect();
  await sleep(1500);
  check(bob.events.upserts.length === before, 'acknowledged messages are not redelivered', { extra: bob.events.upserts.length - before });

  // The phone of alice sends to bob.
  const r = await wasim.call('POST', `/accounts/${alice.phone}/send`, { to: bob.phone, text: 'from the phone 📱' });
  check(r.status === 200, 'phone send accepted', { body: r.body });
  const atBob = await waitFor('phone message at bob', () => bob.events.upserts.find((u) => u.m.key.id === r.body.id));
  check(textOf(atBob.m) === 'from the phone 📱' && atBob.m.key.remoteJid === alice.jid && !atBob.m.key.fromMe,
    'bob gets the phone text from alice', { key: atBob.m.key });
  const atAlice = await waitFor('own copy at alice', () => alice.events.upserts.find((u) => u.m.key.id === r.body.id));
  check(textOf(atAlice.m) === 'from the phone 📱' && atAlice.m.key.fromMe && atAlice.m.key.remoteJid === bob.jid,
    "alice's companion gets her phone's message as her own", { key: atAlice.m.key });
  // And bob answers the phone: its Signal session decrypts Baileys' reply.
  const reply = await bob.sock.sendMessage(alice.jid, { text: 'got it, phone' });
  await sleep(800);
  const msgs = (await wasim.call('GET', `/accounts/${alice.phone}/messages`)).body.messages;
  check(msgs.some((m) => m.id === reply.key.id && m.text === 'got it, phone'), "alice's phone decrypts bob's reply", { msgs });
  // An offline phone keeps what arrives and processes it when it is back online.
  check((await wasim.call('POST', `/accounts/${alice.phone}/offline`)).status === 200, 'phone goes offline');
  const later = await bob.sock.sendMessage(alice.jid, { text: 'are you there, phone?' });
  await sleep(800);
  const seen = (await wasim.call('GET', `/accounts/${alice.phone}/messages`)).body.messages;
  check(!seen.some((m) => m.id === later.key.id), 'an offline phone does not process messages');
  check((await wasim.call('POST', `/accounts/${alice.phone}/online`)).status === 200, 'phone comes back online');
  const after = (await wasim.call('GET', `/accounts/${alice.phone}/messages`)).body.messages;
  check(after.some((m) => m.id === later.key.id && m.text === 'are you there, phone?'), 'it processes them when back online');
  // The phone confirmed delivery by itself; marking it read sends a read receipt that bob's client sees.
  await waitFor('delivery from the phone', () => bob.events.updates.find((u) => u.key.id === reply.key.id && u.update.status >= 3));
  // Two ids in one receipt (the second as <list><item>), then "played" for one of them.
  const rr = await wasim.call('POST', `/accounts/${alice.phone}/read`, { from: bob.phone, ids: [reply.key.id, later.key.id] });
  check(rr.status === 200, 'phone read accepted', { body: rr.body });
  for (const id of [reply.key.id, later.key.id]) {
    await waitFor(`read from the phone for ${id}`, () => bob.events.updates.find((u) => u.key.id === id && u.update.status === 4));
    checks++;
  }
  const pr = await wasim.call('POST', `/accounts/${alice.phone}/played`, { from: bob.phone, ids: [later.key.id] });
  check(pr.status === 200, 'phone played accepted', { body: pr.body });
  await waitFor('played from the phone', () => bob.events.updates.find((u) => u.key.id === later.key.id && u.update.status === 5));
  checks++;
  alice.sock.end(undefined);
  bob.sock.end(undefined);
  const rejected = (await wasim.log()).filter((e) => e.text.startsWith('rejected'));
  check(rejected.length === 0, 'wasim rejected nothing', { rejected });
} catch (e) {
  failures.push({ step: 'exception', err: String(e && e.stack || e) });
  try { console.error(JSON.stringify((await wasim.log()).slice(-30), null, 1)); } catch {}
}
wasim.stop();
report(name, failures, checks);
process.exit(0);
