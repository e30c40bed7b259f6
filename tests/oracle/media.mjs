// Media crypto against Baileys' media code, both directions, for several media types:
//  ours -> Baileys: wa-oracle media-encrypt, served on loopback, downloaded and decrypted by
//                   downloadContentFromMessage; hashes and MAC recomputed with Baileys' getMediaKeys;
//  Baileys -> ours: encryptedStream output decrypted (MAC and both hashes verified) by wa-oracle media-decrypt;
//  a flipped byte must make ours refuse.
// usage: node media.mjs --which b6|b7 --tool path/to/wa-oracle
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadBaileys, args, runTool, report } from './lib.mjs';
import { spawnSync } from 'node:child_process';

const opt = args({ which: 'b6' });
const { B } = await loadBaileys(opt.which);
const name = `media crypto vs baileys ${opt.which}`;
const dir = mkdtempSync(path.join(tmpdir(), 'zapd-media-'));
const failures = [];
let checks = 0;
const served = new Map();
const server = createServer((req, res) => {
  const body = served.get(req.url);
  if (!body) { res.writeHead(404); res.end(); return; }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
  res.end(body);
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const port = server.address().port;
const sha = (b) => createHash('sha256').update(b).digest('hex');
const toBuffer = async (stream) => { const parts = []; for await (const c of stream) parts.push(c); return Buffer.concat(parts); };

for (const type of ['image', 'video', 'audio', 'document', 'sticker', 'ptt']) {
  for (const size of [0, 1, 15, 16, 17, 4096, 100000]) {
    const plain = randomBytes(size);
    const inFile = path.join(dir, `${type}-${size}.bin`);
    writeFileSync(inFile, plain);
    // ours -> Baileys
    checks++;
    const key = randomBytes(32);
    const encFile = inFile + '.enc';
    const meta = JSON.parse(runTool(opt.tool, ['media-encrypt', type, key.toString('hex'), inFile, encFile]));
    const body = readFileSync(encFile);
    served.set(`/${type}-${size}`, body);
    try {
      const stream = await B.downloadContentFromMessage({ mediaKey: key, url: `http://127.0.0.1:${port}/${type}-${size}` }, type);
      const got = await toBuffer(stream);
      if (!got.equals(plain)) failures.push({ type, size, step: 'baileys decrypted our media differently' });
    } catch (e) {
      failures.push({ type, size, step: 'baileys failed to download ours', err: e.message, cause: String(e.cause) });
    }
    const keys = await B.getMediaKeys(key, type);
    const enc = body.subarray(0, body.length - 10);
    const mac = createHmac('sha256', keys.macKey).update(Buffer.concat([keys.iv, enc])).digest().subarray(0, 10);
    if (!mac.equals(body.subarray(body.length - 10))) failures.push({ type, size, step: 'MAC differs from Baileys keys' });
    if (meta.fileSha256 !== sha(plain) || meta.fileEncSha256 !== sha(body) || meta.fileLength !== size) {
      failures.push({ type, size, step: 'digests', meta });
    }
    // Baileys -> ours
    checks++;
    const r = await B.encryptedStream(plain, type);
    const theirs = r.encFilePath ? readFileSync(r.encFilePath) : await toBuffer(r.encWriteStream);
    const theirFile = inFile + '.baileys';
    writeFileSync(theirFile, theirs);
    const out = inFile + '.out';
    const dec = spawnSync(opt.tool, ['media-decrypt', type, Buffer.from(r.mediaKey).toString('hex'), theirFile, out,
      Buffer.from(r.fileSha256).toString('hex'), Buffer.from(r.fileEncSha256).toString('hex')], { encoding: 'utf-8' });
    if (dec.status !== 0 || !readFileSync(out).equals(plain)) failures.push({ type, size, step: 'we failed on baileys media', out: dec.stdout });
    // A flipped byte must be refused by ours.
    checks++;
    const bad = Buffer.from(theirs);
    bad[Math.floor(bad.length / 2)] ^= 1;
    writeFileSync(theirFile, bad);
    const rej = spawnSync(opt.tool, ['media-decrypt', type, Buffer.from(r.mediaKey).toString('hex'), theirFile, out], { encoding: 'utf-8' });
    if (rej.status === 0) failures.push({ type, size, step: 'we accepted tampered media' });
  }
}
server.close();
report(name, failures, checks);
