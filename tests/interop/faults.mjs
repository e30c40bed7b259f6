// Interop (issue 4, test 4): each wasim fault, triggered through the control API, as a stock Baileys client
// sees it from the real server:
//  - drop: the connection closes (428 connectionClosed); the client reconnects and messages flow again;
//  - stall: nothing more arrives; Baileys' keepalive gives up (408 connectionLost);
//  - stream:error 515 (restartRequired), 503, conflict (440 connectionReplaced): closes with that reason;
//  - prekeys-low: the client uploads new one-time prekeys;
//  - redeliver: the newest message the client acknowledged comes again;
//  - fail-iq: the next w:g2 iq fails with the code; the one after works;
//  - delay-acks: a message is routed at once but its server ack comes late (Baileys' own ack callback);
//  - stream:error 401: logged out (401), and the device is gone from the account.
// usage: node faults.mjs --which b6|b7 --wasim path/to/wasim
import { loadBaileys, args, report } from '../oracle/lib.mjs';
import { startWasim } from './wasim.mjs';
import { linkClient, waitFor, waitForAsync, sleep, textOf } from './clients.mjs';

const opt = args({ which: 'b6' });
const { B } = await loadBaileys(opt.which);
const name = `wasim faults seen by baileys ${opt.which}`;
const failures = [];
let checks = 0;
const check = (ok, what, extra) => { checks++; if (!ok) failures.push({ step: what, ...extra }); };
const wasim = await startWasim(opt.wasim);
const A = '15550004001';
const Bo = '15550004002';
try {
  if (B.WA_CERT_DETAILS.PUBLIC_KEY) B.WA_CERT_DETAILS.PUBLIC_KEY.set(Buffer.from(wasim.root, 'hex'));
  const closes = [];  // { code } of every close of Alice's sockets, in order
  const acks = new Map();  // message id -> when Alice's socket got the server's ack
  const stanzas = [];  // ids of the <message> stanzas Alice's sockets decoded
  const aliceOpts = { keepAliveIntervalMs: 1000 };
  const alice = await linkClient(B, wasim, A, 'Alice', undefined, aliceOpts);
  const watch = (sock) => {
    sock.ev.on('connection.update', (u) => { if (u.connection === 'close') closes.push({ code: u.lastDisconnect?.error?.output?.statusCode }); });
    sock.ws.on('CB:ack,class:message', (n) => { if (!acks.has(n.attrs.id)) acks.set(n.attrs.id, Date.now()); });
    sock.ws.on('CB:message', (n) => stanzas.push(n.attrs.id));
  };
  watch(alice.sock);
  alice.onSocket = watch;
  const bob = await linkClient(B, wasim, Bo, 'Bob');
  await sleep(500);
  const fault = async (body) => {
    const r = await wasim.call('POST', `/accounts/${A}/devices/1/fault`, body);
    check(r.status === 200, `fault ${JSON.stringify(body)} accepted`, { answer: r.body });
  };
  // Bob writes; Alice must get it (the connection works).
  let n = 0;
  const flows = async (what) => {
    const text = `after ${what} ${n++}`;
    const s = await bob.sock.sendMessage(alice.jid, { text });
    const got = await waitFor(`${text} at alice`, () => alice.events.upserts.find((u) => u.m.key.id === s.key.id && textOf(u.m) === text), 20000)
      .catch(() => null);
    check(!!got, `messages reach alice ${what}`);
  };
  const closesWith = async (body, want, what, ms = 15000) => {
    const before = closes.length;
    await fault(body);
    const c = await waitFor(`${what}: alice's connection closes`, () => closes[before], ms).catch(() => null);
    check(c !== null && c.code === want, `${what}: the connection closes with ${want}`, { got: c });
  };

  await flows('linking');
  for (const [body, want, what] of [
    [{ kind: 'drop' }, 428, 'drop'],
    [{ kind: 'stream-error', code: 515 }, 515, 'stream:error 515'],
    [{ kind: 'stream-error', code: 503 }, 503, 'stream:error 503'],
    [{ kind: 'stream-error', arg: 'conflict' }, 440, 'stream:error conflict'],
    [{ kind: 'stall' }, 408, 'stall'],
  ]) {
    await closesWith(body, want, what);
    await alice.reconnect();
    await flows(`${what} and a reconnect`);
  }

  // prekeys-low: the server keeps 2 and says so; Baileys uploads more.
  await fault({ kind: 'prekeys-low', count: 2 });
  let keys = 0;
  for (let i = 0; i < 50 && keys <= 2; i++) {
    await sleep(200);
    keys = (await wasim.call('GET', `/accounts/${A}`)).body.devices.find((d) => d.device === 1)?.prekeys ?? 0;
  }
  check(keys > 2, `prekeys-low: Baileys uploads new prekeys (${keys} on the server)`);

  // redeliver: the newest message Alice acknowledged comes again.
  {
    const s = await bob.sock.sendMessage(alice.jid, { text: 'say it twice' });
    await waitFor('the original at alice', () => alice.events.upserts.find((u) => u.m.key.id === s.key.id));
    const unacked = async () => (await wasim.call('GET', `/accounts/${A}`)).body.devices.find((d) => d.device === 1)?.unacked;
    const settled = await waitForAsync('alice acks it', async () => (await unacked()) === 0, 10000).then(() => true, () => false);
    check(settled, `alice acknowledges what she received (${await unacked()} unacked)`);
    await fault({ kind: 'redeliver' });
    // Baileys decodes the stanza again (its own ws callback), acks it, and does not show it as a new message.
    const again = await waitFor('the redelivered stanza at alice', () => stanzas.filter((id) => id === s.key.id).length >= 2, 10000)
      .catch(() => false);
    check(again, 'redeliver: the stanza reaches alice a second time (same id)', { stanzas: stanzas.filter((id) => id === s.key.id).length });
    await sleep(500);
    const dev = (await wasim.call('GET', `/accounts/${A}`)).body.devices.find((d) => d.device === 1);
    check(dev?.unacked === 0, 'redeliver: alice acknowledges the redelivered stanza', { dev, received: (await wasim.call('GET', `/accounts/${A}/devices/1/received`)).body.received.slice(-6) });
  }

  // fail-iq: the next group iq fails with the code; then it works.
  {
    await fault({ kind: 'fail-iq', arg: 'w:g2', code: 500, count: 1 });
    const err = await alice.sock.groupCreate('doomed', [bob.jid]).then(() => null, (e) => e);
    check(err !== null && (err.output?.statusCode === 500 || err.data?.attrs?.code === '500' || /500|wasim-fault/.test(String(err?.message))),
      'fail-iq: the group iq fails with 500', { err: String(err), status: err?.output?.statusCode });
    const ok = await alice.sock.groupCreate('fine', [bob.jid]).catch((e) => ({ error: String(e) }));
    check(/@g\.us$/.test(ok?.id ?? ''), 'fail-iq: the next group iq works', { ok });
  }

  // delay-acks: routed at once, acked late; the next message is acked promptly.
  {
    await fault({ kind: 'delay-acks', ms: 2000, count: 1 });
    const t0 = Date.now();
    const late = await alice.sock.sendMessage(bob.jid, { text: 'slow ack' });
    const got = await waitFor('the slow-ack message at bob', () => bob.events.upserts.find((u) => u.m.key.id === late.key.id), 10000).catch(() => null);
    const routed = Date.now() - t0;
    check(!!got && routed < 1800, `delay-acks: the message reaches bob before its ack is due (${routed} ms)`);
    await waitFor('the late ack', () => acks.has(late.key.id), 10000).catch(() => null);
    const lateAck = (acks.get(late.key.id) ?? Infinity) - t0;
    check(lateAck >= 1900 && lateAck < 6000, `delay-acks: the server's ack comes after the delay (${lateAck} ms)`);
    const t1 = Date.now();
    const prompt = await alice.sock.sendMessage(bob.jid, { text: 'quick ack' });
    await waitFor('the prompt ack', () => acks.has(prompt.key.id), 10000).catch(() => null);
    const promptAck = (acks.get(prompt.key.id) ?? Infinity) - t1;
    check(promptAck < 1500, `delay-acks: only the counted messages wait (${promptAck} ms)`);
  }

  // stream:error 401: logged out, and wasim forgets the device.
  await closesWith({ kind: 'stream-error', code: 401 }, 401, 'stream:error 401');
  const acct = (await wasim.call('GET', `/accounts/${A}`)).body;
  check(!acct.devices.some((d) => d.device === 1), 'after 401 the device is no longer linked', { devices: acct.devices });
  await bob.close();
} catch (e) {
  failures.push({ step: 'exception', error: String(e?.stack ?? e) });
} finally {
  wasim.stop();
}
report(name, failures, checks);
