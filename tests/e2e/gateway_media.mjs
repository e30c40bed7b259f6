// e2e (issue 7, media; issue 6 media through the engine; issue 4 media on wasim): zapd as a user runs it,
// wasim with its HTTPS media server, a webhook sink that also serves source files, and a stock Baileys client.
//  - send-image (data: URI, URL with a 72 px JPEG thumbnail made from the PNG, URL behind a redirect, a reply), send-audio, send-video, send-document/{ext},
//    send-sticker reach Baileys as the right message type with caption, mimetype, file name and dimensions,
//    and Baileys' own downloadMediaMessage gives back the same bytes; DeliveryCallback and SENT arrive;
//  - a source that answers 404 fails that message (DeliveryCallback with an error) and the next one still goes;
//  - an image, document, voice note, video and sticker sent by Baileys arrive as ReceivedCallbacks whose
//    URLs zapd serves with the same bytes, in order with the texts around them; other names are 404;
//  - while a download is slow (wasim POST /media-delay), another chat's message is not held behind it, and the
//    same chat's next message is.
// usage: node gateway_media.mjs --which b6|b7 --wasim path/to/wasim --zapd path/to/zapd
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadBaileys, args, report } from '../oracle/lib.mjs';
import { startWasim, trustWasimTls } from '../interop/wasim.mjs';
import { linkClient, waitFor, textOf } from '../interop/clients.mjs';
import { startZapd, startSink, pairInstance, dbFlags, zapdProblems } from './zapd.mjs';

const opt = args({ which: 'b6' });
trustWasimTls(opt.wasim);  // re-runs this script trusting wasim's certificate (exits here the first time)
const { B } = await loadBaileys(opt.which);
const name = `zapd media with baileys ${opt.which}${opt.db === 'pg' ? ' on PostgreSQL' : ''}`;
const failures = [];
let checks = 0;
const check = (ok, what) => { checks++; if (!ok) failures.push({ step: what }); };
const sha = (b) => createHash('sha256').update(b).digest('hex');

// Files whose headers are real (so zapd's sniffing and dimensions have something to read) and whose
// bodies are random (so equal hashes mean the very bytes went through).
const jpeg = Buffer.concat([Buffer.from([0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0,
  0xFF, 0xC0, 0x00, 0x11, 0x08, 0x01, 0xE0, 0x02, 0x80, 0x03, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]), randomBytes(30000)]);
// A valid 320x200 RGB PNG of random pixels (so zapd can also make its thumbnail).
const crcTable = Array.from({ length: 256 }, (_, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1; return c >>> 0; });
const crc32 = (b) => { let c = 0xFFFFFFFF; for (const x of b) c = crcTable[(c ^ x) & 0xFF] ^ (c >>> 8); return (c ^ 0xFFFFFFFF) >>> 0; };
const chunk = (type, data) => {
  const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type), data]);
  const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
};
const png = (() => {
  const [w, h] = [320, 200];
  const ihdr = Buffer.alloc(13); ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 2;
  const raw = Buffer.alloc((w * 3 + 1) * h);
  randomBytes(raw.length).copy(raw);
  for (let y = 0; y < h; y++) raw[y * (w * 3 + 1)] = 0;  // filter type none
  return Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
})();
// The size a JPEG announces in its first frame header.
const jpegSize = (b) => {
  for (let i = 2; i + 9 < b.length;) {
    if (b[i] !== 0xFF) return null;
    const m = b[i + 1];
    if (m >= 0xC0 && m <= 0xCF && m !== 0xC4 && m !== 0xC8 && m !== 0xCC) return [b.readUInt16BE(i + 7), b.readUInt16BE(i + 5)];
    i += 2 + b.readUInt16BE(i + 2);
  }
  return null;
};
const ogg = Buffer.concat([Buffer.from('OggS'), Buffer.from([0, 2]), randomBytes(9000)]);
// An MP4 as a camera lays it out: ftyp, mdat (random), then moov with mvhd (12.5 s) and a 1280x720 track.
const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32BE(v >>> 0); return b; };
const box = (type, ...body) => { const b = Buffer.concat(body); return Buffer.concat([u32(b.length + 8), Buffer.from(type), b]); };
const clip = readFileSync(new URL('./fixtures/two-colours.mp4', import.meta.url));  // a real video (fixtures/README.md)
const mp4 = Buffer.concat([
  box('ftyp', Buffer.from('isom'), u32(512), Buffer.from('isomiso2mp41')),
  box('mdat', randomBytes(70000)),
  box('moov', box('mvhd', Buffer.alloc(12), u32(1000), u32(12500), Buffer.alloc(80)),
    box('trak', box('tkhd', Buffer.alloc(76), u32(1280 << 16), u32(720 << 16)))),
]);
const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(12000)]);
const webp = Buffer.concat([Buffer.from('RIFF'), Buffer.from([0, 0, 0, 0]), Buffer.from('WEBPVP8X'),
  Buffer.from([10, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0x01, 0x00, 0xFF, 0x01, 0x00]), randomBytes(5000)]);

const wasim = await startWasim(opt.wasim);
if (B.WA_CERT_DETAILS?.PUBLIC_KEY) B.WA_CERT_DETAILS.PUBLIC_KEY.set(Buffer.from(wasim.root, 'hex'));
const sink = await startSink();
sink.serve('/files/photo.png', png, 'image/png');
sink.serve('/files/clip', mp4, 'application/octet-stream');
sink.redirect('/files/moved.png', `${sink.url}/files/photo.png`);
const dataDir = mkdtempSync(path.join(tmpdir(), 'zapd-e2e-media-'));
const A = '15550009001';  // Baileys (Alice)
const E = '15550009002';  // the zapd instance's number
const C = '15550009003';  // Carol: a wasim phone only
let zapd;
let alice;
try {
  zapd = await startZapd(opt.zapd, { dataDir, wasim, extra: dbFlags(opt) });
  const inst = await pairInstance(zapd, wasim, sink, E, 'media');
  alice = await linkClient(B, wasim, A, 'Alice');
  const download = async (m) => B.downloadMediaMessage(m, 'buffer', {});

  // ---- zapd -> Baileys -------------------------------------------------------------------------------------
  const sends = [
    { route: 'send-image', body: { image: `data:image/jpeg;base64,${jpeg.toString('base64')}`, caption: 'a photo' }, file: jpeg,
      type: 'imageMessage', expect: (x) => x.caption === 'a photo' && x.mimetype === 'image/jpeg' && x.width === 640 && x.height === 480 },
    { route: 'send-image', body: { image: `${sink.url}/files/photo.png` }, file: png,
      type: 'imageMessage', expect: (x) => x.mimetype === 'image/png' && x.width === 320 && x.height === 200 &&
        JSON.stringify(jpegSize(Buffer.from(x.jpegThumbnail ?? []))) === JSON.stringify([72, 45]) },
    { route: 'send-image', body: { image: `${sink.url}/files/moved.png`, caption: 'after a redirect' }, file: png,
      type: 'imageMessage', expect: (x) => x.caption === 'after a redirect' },
    { route: 'send-audio', body: { audio: `data:audio/ogg;base64,${ogg.toString('base64')}` }, file: ogg,
      type: 'audioMessage', expect: (x) => x.ptt === true && x.mimetype === 'audio/ogg; codecs=opus' },
    { route: 'send-video', body: { video: `${sink.url}/files/clip`, caption: 'a clip' }, file: mp4,
      type: 'videoMessage', expect: (x) => x.caption === 'a clip' && x.mimetype === 'video/mp4' && x.width === 1280 && x.height === 720 && x.seconds === 13 },
    { route: 'send-video', body: { video: `data:video/mp4;base64,${clip.toString('base64')}` }, file: clip,
      type: 'videoMessage', expect: (x) => x.width === 320 && x.height === 192 &&
        JSON.stringify(jpegSize(Buffer.from(x.jpegThumbnail ?? []))) === JSON.stringify([72, 43]) },
    { route: 'send-document/pdf', body: { document: `data:application/pdf;base64,${pdf.toString('base64')}`, fileName: 'report' }, file: pdf,
      type: 'documentMessage', expect: (x) => x.fileName === 'report.pdf' && x.mimetype === 'application/pdf' },
    { route: 'send-sticker', body: { sticker: `data:image/webp;base64,${webp.toString('base64')}` }, file: webp,
      type: 'stickerMessage', expect: (x) => x.mimetype === 'image/webp' && x.width === 512 && x.height === 512 },
  ];
  // FFmpeg's libraries are opened at the first video thumbnail, not at start (src/video.cpp).
  const ffmpegMapped = () => readFileSync(`/proc/${zapd.pid}/maps`, 'utf8').includes('libavformat');
  check(!ffmpegMapped(), 'FFmpeg is not loaded before the first video');
  const ids = [];
  for (const s of sends) {
    const r = await inst.call('POST', s.route, { phone: A, ...s.body });
    check(r.status === 200 && r.body.messageId && r.body.zaapId && r.body.id === r.body.messageId, `${s.route} accepted (${JSON.stringify(r.body)})`);
    ids.push(r.body.messageId);
  }
  // A source that is not there fails its message, and the queue goes on.
  const missing = await inst.call('POST', 'send-image', { phone: A, image: `${sink.url}/files/absent.jpg` });
  check(missing.status === 200, `send-image with a missing source is accepted (${JSON.stringify(missing.body)})`);
  const reply = await inst.call('POST', 'send-image', { phone: A, image: `data:image/jpeg;base64,${jpeg.toString('base64')}`, messageId: ids[0] });
  check(reply.status === 200, 'send-image as a reply accepted');

  for (let i = 0; i < sends.length; i++) {
    const s = sends[i];
    try {
      const u = await waitFor(`${s.route} #${i} at Baileys`, () => alice.events.upserts.find((x) => x.m.key.id === ids[i] && x.m.message), 30000);
      const content = u.m.message[s.type];
      check(!!content, `${s.route} #${i} arrives as ${s.type} (${JSON.stringify(Object.keys(u.m.message))})`);
      if (!content) continue;
      check(s.expect(content), `${s.route} #${i} fields (${JSON.stringify({ ...content, mediaKey: undefined, jpegThumbnail: undefined })})`);
      check(Number(content.fileLength) === s.file.length, `${s.route} #${i} fileLength`);
      const got = await download(u.m);
      check(sha(got) === sha(s.file), `${s.route} #${i}: Baileys downloads and decrypts the same bytes (${got.length} vs ${s.file.length})`);
    } catch (e) {
      failures.push({ step: `${s.route} #${i}`, error: String(e) });
    }
    const d = await sink.wait(`DeliveryCallback ${ids[i]}`, (b) => b.type === 'DeliveryCallback' && b.messageId === ids[i], 20000).catch((e) => ({ error: String(e) }));
    check(d.error === undefined, `${s.route} #${i}: DeliveryCallback without error (${JSON.stringify(d)})`);
  }
  check(ffmpegMapped(), 'FFmpeg is loaded once a video thumbnail was made');
  const failed = await sink.wait('DeliveryCallback of the missing source', (b) => b.type === 'DeliveryCallback' && b.messageId === missing.body.messageId, 30000)
    .catch((e) => ({ timeout: String(e) }));
  check(typeof failed.error === 'string' && /404/.test(failed.error), `a 404 source fails its message with the reason (${JSON.stringify(failed)})`);
  check(!alice.events.upserts.some((x) => x.m.key.id === missing.body.messageId), 'nothing reached Baileys for the missing source');
  const replied = await waitFor('the image reply at Baileys', () => alice.events.upserts.find((x) => x.m.key.id === reply.body.messageId && x.m.message), 20000)
    .catch(() => null);
  check(replied?.m.message?.imageMessage?.contextInfo?.stanzaId === ids[0], `an image reply quotes its message (${JSON.stringify(replied?.m.message?.imageMessage?.contextInfo)})`);
  // send-link: the preview image (URL or data: URI) becomes a 192 px thumbnail in the preview; a link whose
  // image cannot be had still goes, without one.
  {
    const links = [
      { image: `${sink.url}/files/photo.png`, size: [192, 120] },
      { image: `data:image/png;base64,${png.toString('base64')}`, size: [192, 120] },
      { image: `${sink.url}/files/absent.png`, size: null },
    ];
    for (const [i, l] of links.entries()) {
      const r = await inst.call('POST', 'send-link', { phone: A, message: `read https://example.com/${i}`, image: l.image,
        linkUrl: `https://example.com/${i}`, title: `Page ${i}`, linkDescription: 'about it', linkType: 'LARGE', messageId: ids[0] });
      check(r.status === 200, `send-link #${i} accepted (${JSON.stringify(r.body)})`);
      const u = await waitFor(`link #${i} at Baileys`, () => alice.events.upserts.find((x) => x.m.key.id === r.body.messageId && x.m.message), 20000)
        .catch(() => null);
      const x = u?.m.message?.extendedTextMessage;
      const thumb = x?.jpegThumbnail?.length ? jpegSize(Buffer.from(x.jpegThumbnail)) : null;
      check(x?.matchedText === `https://example.com/${i}` && x?.title === `Page ${i}` && JSON.stringify(thumb) === JSON.stringify(l.size) &&
        x?.contextInfo?.stanzaId === ids[0], `send-link #${i}: the preview ${l.size ? `has a ${l.size} thumbnail` : 'goes without a thumbnail'} and quotes (${JSON.stringify(thumb)}, ${x?.contextInfo?.stanzaId})`);
    }
    const bad = await inst.call('POST', 'send-link', { phone: A, message: 'x https://e.com', image: 'ftp://e.com/i.png', linkUrl: 'https://e.com', title: 't', linkDescription: 'd' });
    check(bad.status === 400 && bad.body.error === 'INVALID_FIELD', `send-link with an image that is no URL is refused (${JSON.stringify(bad.body)})`);
  }
  const sent = sink.of('MessageStatusCallback', (b) => b.status === 'SENT').flatMap((b) => b.body.ids);
  check(ids.every((id) => sent.includes(id)), 'MessageStatusCallback SENT for every media message');

  // ---- Baileys -> zapd -------------------------------------------------------------------------------------
  const to = `${E}@s.whatsapp.net`;
  const mark = sink.events.length;
  await alice.sock.sendMessage(to, { text: 'before the files' });
  const inbound = [
    { content: { image: jpeg, caption: 'from alice', mimetype: 'image/jpeg' }, key: 'image', url: 'imageUrl', file: jpeg,
      expect: (x) => x.caption === 'from alice' && x.mimeType === 'image/jpeg' },
    { content: { document: pdf, mimetype: 'application/pdf', fileName: 'minutes.pdf' }, key: 'document', url: 'documentUrl', file: pdf,
      expect: (x) => x.fileName === 'minutes.pdf' && x.mimeType === 'application/pdf' },
    { content: { audio: ogg, mimetype: 'audio/ogg; codecs=opus', ptt: true }, key: 'audio', url: 'audioUrl', file: ogg,
      expect: (x) => x.ptt === true && /^audio\/ogg/.test(x.mimeType) },
    { content: { video: mp4, caption: 'her clip', mimetype: 'video/mp4' }, key: 'video', url: 'videoUrl', file: mp4,
      expect: (x) => x.caption === 'her clip' && x.mimeType === 'video/mp4' },
    { content: { sticker: webp, mimetype: 'image/webp' }, key: 'sticker', url: 'stickerUrl', file: webp,
      expect: (x) => x.mimeType === 'image/webp' },
  ];
  const inboundIds = [];
  for (const x of inbound) {
    const m = await alice.sock.sendMessage(to, x.content);
    inboundIds.push(m.key.id);
  }
  await alice.sock.sendMessage(to, { text: 'after the files' });
  await sink.wait('the text after the files', (b) => b.type === 'ReceivedCallback' && b.text?.message === 'after the files', 60000);
  const received = sink.events.slice(mark).filter((e) => e.body.type === 'ReceivedCallback' && !e.body.fromMe).map((e) => e.body);
  const order = received.map((b) => b.messageId);
  const firstText = received.findIndex((b) => b.text?.message === 'before the files');
  const lastText = received.findIndex((b) => b.text?.message === 'after the files');
  check(firstText >= 0 && lastText > firstText && inboundIds.every((id) => { const at = order.indexOf(id); return at > firstText && at < lastText; }),
    `received media keep their order between the texts (${JSON.stringify(received.map((b) => b.text?.message ?? Object.keys(b).find((k) => ['image', 'document', 'audio', 'video', 'sticker'].includes(k))))})`);
  for (let i = 0; i < inbound.length; i++) {
    const x = inbound[i];
    const b = received.find((e) => e.messageId === inboundIds[i]);
    const part = b?.[x.key];
    check(!!part && part.downloadError === false && typeof part[x.url] === 'string', `ReceivedCallback ${x.key} has a URL (${JSON.stringify(part)})`);
    if (!part?.[x.url]) continue;
    check(x.expect(part), `ReceivedCallback ${x.key} fields (${JSON.stringify(part)})`);
    check(part[x.url].startsWith(`${zapd.base}/media/${inst.id}/`), `${x.key} URL is served by zapd (${part[x.url]})`);
    const r = await fetch(part[x.url]);
    const got = Buffer.from(await r.arrayBuffer());
    check(r.status === 200 && sha(got) === sha(x.file), `${x.key}: zapd serves the same bytes Baileys sent (${r.status}, ${got.length} vs ${x.file.length})`);
  }
  // A wasim phone (Alice's own, device 0) sends a document: the same path as WhatsApp's phones.
  const phoneDoc = await wasim.call('POST', `/accounts/${A}/send`, { to: E, kind: 'document', file: pdf.toString('base64'), mimetype: 'application/pdf', fileName: 'phone.pdf' });
  const pd = await sink.wait('the phone document', (b) => b.type === 'ReceivedCallback' && b.messageId === phoneDoc.body.id, 30000).catch((e) => ({ error: String(e) }));
  const pdUrl = pd.document?.documentUrl;
  const pdBytes = pdUrl ? Buffer.from(await (await fetch(pdUrl)).arrayBuffer()) : Buffer.alloc(0);
  check(pd.document?.fileName === 'phone.pdf' && sha(pdBytes) === sha(pdf), `a document from a wasim phone is served with the same bytes (${JSON.stringify(pd.document ?? pd)})`);
  // A slow media host holds back the downloading chat only: Carol's text (another chat) is not kept behind
  // Alice's image, and Alice's text after the image still comes after it.
  await wasim.call('POST', '/accounts', { phone: C, name: 'Carol' });
  check((await wasim.call('POST', '/media-delay', { ms: 3000 })).status === 200, 'wasim serves media 3 s late');
  const mark2 = sink.events.length;
  const slow = await alice.sock.sendMessage(to, { image: jpeg, caption: 'slow', mimetype: 'image/jpeg' });
  const carol = await wasim.call('POST', `/accounts/${C}/send`, { to: E, text: 'from carol' });
  await alice.sock.sendMessage(to, { text: 'after the slow image' });
  await sink.wait('the text after the slow image', (b) => b.type === 'ReceivedCallback' && b.text?.message === 'after the slow image', 30000)
    .catch(() => {});
  await wasim.call('POST', '/media-delay', { ms: 0 });
  const got = sink.events.slice(mark2).filter((e) => e.body.type === 'ReceivedCallback' && !e.body.fromMe).map((e) => e.body);
  const iCarol = got.findIndex((b) => b.messageId === carol.body?.id);
  const iSlow = got.findIndex((b) => b.messageId === slow.key.id);
  const iAfter = got.findIndex((b) => b.text?.message === 'after the slow image');
  const seen = JSON.stringify(got.map((b) => b.text?.message ?? (b.image ? 'image' : b.type)));
  check(iCarol >= 0 && iSlow > iCarol, `another chat's text is not held behind a slow download (${seen})`);
  check(iSlow >= 0 && got[iSlow].image?.downloadError === false, `the slow image still arrives with its file (${JSON.stringify(got[iSlow]?.image)})`);
  check(iAfter > iSlow, `the same chat's text waits for its image (${seen})`);
  const anyUrl = received.find((e) => e.messageId === inboundIds[0])?.image?.imageUrl;
  if (anyUrl) {
    const other = anyUrl.replace(/\/[0-9a-f]{32}\./, `/${'0'.repeat(32)}.`);
    check((await fetch(other)).status === 404, 'a name that was never handed out is 404');
    check((await fetch(`${zapd.base}/media/${inst.id}/..%2f..%2fzapd.db`)).status === 404, 'a path is not a name: 404');
    // A large file is streamed from disk, not read into memory first: zapd's peak RSS grows by far less than
    // the file (before, by about twice its size).
    const bigName = `${'ab'.repeat(16)}.bin`;
    const big = Buffer.alloc(48 << 20);
    for (let i = 0; i < big.length; i += 4096) big[i] = (i >> 12) & 0xff;
    writeFileSync(path.join(dataDir, 'media', inst.id, bigName), big);
    const hwm = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${zapd.pid}/status`, 'utf8'))[1]) * 1024;
    writeFileSync(`/proc/${zapd.pid}/clear_refs`, '5');  // the peak starts again from the current RSS
    const before = hwm();
    const r = await fetch(`${zapd.base}/media/${inst.id}/${bigName}`);
    const got = Buffer.from(await r.arrayBuffer());
    const grew = hwm() - before;
    check(r.status === 200 && r.headers.get('content-length') === String(big.length) && sha(got) === sha(big),
      `a 48 MB file is served whole (${r.status}, ${got.length} bytes)`);
    check(grew < (16 << 20), `serving 48 MB raised zapd's peak RSS by ${(grew / 1048576).toFixed(1)} MB (streamed: < 16)`);
  }
  check(sink.state.badSignatures === 0, 'no bad signatures');
} catch (e) {
  failures.push({ step: 'run', error: String(e?.stack ?? e) });
} finally {
  try { await alice?.close(); } catch {}
  if (zapd) await zapd.stop();
  wasim.stop();
  await sink.close();
}
failures.push(...zapdProblems());
report(name, failures, checks);
