// Our Noise responder (wa-oracle noise-responder) against Baileys' own noise handler as initiator:
// handshake with Baileys' login ClientPayload, then binary nodes encrypted both ways.
// Our certificate chain's XEdDSA signatures are checked with libsignal-node's curve directly, because
// baileys 7.0.0-rc14's Curve.verify ignores the verdict of libsignal's verifySignature (it only catches
// exceptions), so its handshake alone would accept any signature.
// With --bad-issuer 1 the server's chain names issuer serial 5 and Baileys must refuse it.
// usage: node noise.mjs --which b6|b7 --tool path/to/wa-oracle [--bad-issuer 1]
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBaileys, args, canonFromBaileys, canonFromOurs, same, lineTool, silentLogger, report } from './lib.mjs';

const opt = args({ which: 'b6', 'bad-issuer': '0' });
const { B, dict } = await loadBaileys(opt.which);
const name = `noise vs baileys ${opt.which}${opt['bad-issuer'] === '1' ? ' (bad issuer)' : ''}`;
const here = path.dirname(fileURLToPath(import.meta.url));
const curve = createRequire(path.join(here, opt.which, 'package.json'))('libsignal/src/curve.js');
const djb = (k) => Buffer.concat([Buffer.from([5]), Buffer.from(k)]);
const tool = lineTool(opt.tool, ['noise-responder', '--bad-issuer', opt['bad-issuer']]);
const failures = [];
let checks = 0;
const expectRejection = opt['bad-issuer'] === '1';
try {
  const { root, chain } = await tool.next();
  // Independent check of our XEdDSA signatures: libsignal must accept them, and refuse them for another
  // root or tampered details.
  const cc = B.proto.CertChain.decode(Buffer.from(chain, 'hex'));
  const inter = B.proto.CertChain.NoiseCertificate.Details.decode(cc.intermediate.details);
  const tampered = Buffer.from(cc.leaf.details);
  tampered[tampered.length - 1] ^= 1;
  const verdicts = [
    curve.verifySignature(djb(Buffer.from(root, 'hex')), cc.intermediate.details, cc.intermediate.signature) === true,
    curve.verifySignature(djb(inter.key), cc.leaf.details, cc.leaf.signature) === true,
    curve.verifySignature(djb(randomBytes(32)), cc.intermediate.details, cc.intermediate.signature) === false,
    curve.verifySignature(djb(inter.key), tampered, cc.leaf.signature) === false,
  ];
  checks++;
  if (!verdicts.every(Boolean)) failures.push({ step: 'libsignal verdicts on our certificate chain', verdicts });
  if (B.WA_CERT_DETAILS.PUBLIC_KEY) B.WA_CERT_DETAILS.PUBLIC_KEY.set(Buffer.from(root, 'hex'));  // baileys 7: trust our root
  const ephemeral = B.Curve.generateKeyPair();
  const noiseKey = B.Curve.generateKeyPair();
  const noise = B.makeNoiseHandler({ keyPair: ephemeral, NOISE_HEADER: B.NOISE_WA_HEADER, logger: silentLogger });
  tool.send(noise.encodeFrame(B.proto.HandshakeMessage.encode({ clientHello: { ephemeral: ephemeral.public } }).finish()));
  const hello = await tool.next();
  checks++;
  if (hello.dict !== dict) failures.push({ step: 'dictionary byte', got: hello.dict, want: dict });
  let serverHello;
  await noise.decodeFrame(Buffer.from(hello.out, 'hex'), (f) => { serverHello = f; });
  let keyEnc;
  try {
    keyEnc = await noise.processHandshake(B.proto.HandshakeMessage.decode(serverHello), noiseKey);
  } catch (e) {
    checks++;
    if (!expectRejection) failures.push({ step: 'baileys rejected our server hello', err: e.message });
    else console.log(`baileys refused as expected: ${e.message}`);
    tool.close();
    report(name, failures, checks);
    process.exit(0);
  }
  checks++;
  if (expectRejection) failures.push({ step: 'baileys accepted a chain it must refuse' });
  const cfg = { ...B.DEFAULT_CONNECTION_CONFIG, countryCode: 'US' };
  const login = B.generateLoginNode('15550001111:7@s.whatsapp.net', cfg);
  const payloadEnc = noise.encrypt(B.proto.ClientPayload.encode(login).finish());
  tool.send(noise.encodeFrame(B.proto.HandshakeMessage.encode({ clientFinish: { static: keyEnc, payload: payloadEnc } }).finish()));
  await noise.finishInit();
  const fin = await tool.next();
  checks++;
  if (fin.error) failures.push({ step: 'our responder rejected client finish', err: fin.error });
  else {
    const p = fin.client_payload;
    if (String(p.username) !== '15550001111' || p.device !== 7 || !p.pull || !p.userAgent || p.userAgent.platform !== 14) {
      failures.push({ step: 'client payload', p });
    }
    if (fin.client_static !== Buffer.from(noiseKey.public).toString('hex')) failures.push({ step: 'client static key' });
  }
  // Transport: nodes from Baileys to us (we report what we decoded) and our re-encoding back to Baileys.
  const nodes = [
    { tag: 'iq', attrs: { id: '1', to: '@s.whatsapp.net', type: 'get', xmlns: 'w:p' }, content: [{ tag: 'ping', attrs: {} }] },
    { tag: 'message', attrs: { id: '3EB0AB12', to: '15550001111:3@s.whatsapp.net', type: 'text' },
      content: [{ tag: 'enc', attrs: { v: '2', type: 'pkmsg' }, content: randomBytes(900) }] },
    { tag: 'receipt', attrs: { id: 'ABCDEF', to: '120363025246125486@g.us', type: 'read' } },
    { tag: 'presence', attrs: { type: 'available', name: 'zapd ✓' } },
    { tag: 'iq', attrs: { id: 'big', type: 'set' }, content: [{ tag: 'blob', attrs: {}, content: randomBytes(300000) }] },
  ];
  for (let round = 0; round < 20; round++) {
    for (const n of nodes) {
      checks++;
      tool.send(noise.encodeFrame(B.encodeBinaryNode(n)));
      const r = await tool.next();
      if (r.error) { failures.push({ step: 'we could not decrypt/decode', err: r.error }); continue; }
      const want = canonFromBaileys(n);
      if (!same(canonFromOurs(r.node), want)) failures.push({ step: 'we decoded differently', tag: n.tag });
      let echoed;
      await noise.decodeFrame(Buffer.from(r.out, 'hex'), (f) => { echoed = f; });
      if (!echoed || !same(canonFromBaileys(echoed), want)) failures.push({ step: 'baileys read our frame differently', tag: n.tag });
    }
  }
} catch (e) {
  failures.push({ step: 'exception', err: String(e && e.stack || e) });
}
tool.close();
report(name, failures, checks);
