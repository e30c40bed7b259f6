// Interop (issue 3, test 6): a client that completes the Noise handshake with Baileys' own noise handler
// and then sends a malformed binary node is rejected (connection closed) and wasim logs why; clients
// already connected and clients connecting afterwards keep being served (pairing and a message still work).
// usage: node malformed.mjs --which b6|b7 --wasim path/to/wasim
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBaileys, args, silentLogger, report } from '../oracle/lib.mjs';
import { startWasim } from './wasim.mjs';
import { linkClient, waitFor, textOf } from './clients.mjs';

const opt = args({ which: 'b6' });
const { B } = await loadBaileys(opt.which);
const here = path.dirname(fileURLToPath(import.meta.url));
const WebSocket = createRequire(path.join(here, '../oracle', opt.which, 'package.json'))('ws');
const name = `malformed node is rejected, others served, baileys ${opt.which}`;
const failures = [];
let checks = 0;
const check = (ok, what, extra) => { checks++; if (!ok) failures.push({ step: what, ...extra }); };
const wasim = await startWasim(opt.wasim);

// A raw companion: Baileys' noise handler and registration payload, then one malformed node.
async function rawClient() {
  const ws = new WebSocket(wasim.url, { origin: 'https://web.whatsapp.com' });
  await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
  const creds = B.initAuthCreds();
  const ephemeral = B.Curve.generateKeyPair();
  const noise = B.makeNoiseHandler({ keyPair: ephemeral, NOISE_HEADER: B.NOISE_WA_HEADER, logger: silentLogger });
  const frames = [];
  let closed = false;
  ws.on('close', () => { closed = true; });
  ws.on('message', (data) => noise.decodeFrame(data, (f) => frames.push(f)));
  ws.send(noise.encodeFrame(B.proto.HandshakeMessage.encode({ clientHello: { ephemeral: ephemeral.public } }).finish()));
  await waitFor('server hello', () => frames.length === 1, 5000);
  const keyEnc = await noise.processHandshake(B.proto.HandshakeMessage.decode(frames[0]), creds.noiseKey);
  const reg = B.generateRegistrationNode(creds, { ...B.DEFAULT_CONNECTION_CONFIG, version: B.DEFAULT_CONNECTION_CONFIG.version });
  const payload = noise.encrypt(B.proto.ClientPayload.encode(reg).finish());
  ws.send(noise.encodeFrame(B.proto.HandshakeMessage.encode({ clientFinish: { static: keyEnc, payload } }).finish()));
  await noise.finishInit();
  await waitFor('pair-device from wasim', () => frames.length === 2, 5000);
  check(frames[1].tag === 'iq' && frames[1].content?.[0]?.tag === 'pair-device', 'the raw client got pair-device');
  ws.send(noise.encodeFrame(Buffer.from([0x00, 0xf8, 0x05, 0x1e])));  // a list of 5 holding only its tag
  await waitFor('wasim to close the connection', () => closed, 5000);
  checks++;
}

try {
  if (B.WA_CERT_DETAILS.PUBLIC_KEY) B.WA_CERT_DETAILS.PUBLIC_KEY.set(Buffer.from(wasim.root, 'hex'));
  const alice = await linkClient(B, wasim, '15550001111', 'Alice');
  await rawClient();
  const log = await wasim.log();
  check(log.some((e) => e.text.startsWith('rejected: malformed node')), 'wasim logged the malformed node', { log: log.slice(-5) });
  const bob = await linkClient(B, wasim, '15550002222', 'Bob');
  const sent = await alice.sock.sendMessage(bob.jid, { text: 'still here' });
  const got = await waitFor('message after the rejection', () => bob.events.upserts.find((u) => u.m.key.id === sent.key.id));
  check(textOf(got.m) === 'still here', 'the connected client still sends, the new one receives');
  alice.sock.end(undefined);
  bob.sock.end(undefined);
} catch (e) {
  failures.push({ step: 'exception', err: String(e && e.stack || e) });
}
wasim.stop();
report(name, failures, checks);
process.exit(0);
