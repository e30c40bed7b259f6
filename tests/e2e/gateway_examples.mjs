// e2e (issue 7, test 3): Z-API's own request samples (zapi-examples/, copied from the spec; HAR-like JSON), replayed
// against zapd with the instance id, token and admin token substituted. Every P0 sample must get a success
// answer of the documented shape, the media sends (send-image/-audio/-video/-document/-sticker) included.
// usage: node gateway_examples.mjs --wasim path/to/wasim --zapd path/to/zapd [--examples DIR]
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { args, report } from '../oracle/lib.mjs';
import { startWasim } from '../interop/wasim.mjs';
import { startZapd, startSink, pairInstance, instanceApi, zapdProblems } from './zapd.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const opt = args({ examples: path.join(here, 'zapi-examples') });
const failures = [];
let checks = 0;
const check = (ok, what) => { checks++; if (!ok) failures.push({ step: what }); };
const isSend = (b) => typeof b?.zaapId === 'string' && typeof b?.messageId === 'string' && b.id === b.messageId;
const valueTrue = (b) => b?.value === true;
// sample -> [expected status, shape check]. P0 samples only (spec/zapi-api.md tiers).
const P0 = {
  'send-text': [200, isSend], 'reply-message': [200, isSend], 'send-location': [200, isSend], 'send-contact': [200, isSend],
  'send-reaction': [200, isSend], 'remove-reaction': [200, isSend], 'send-link': [200, isSend], 'delete-message': [204, () => true],
  'instance-status': [200, (b) => typeof b.connected === 'boolean' && typeof b.smartphoneConnected === 'boolean' && 'error' in b],
  'instance-me': [200, (b) => b.id && b.token && typeof b.connected === 'boolean' && 'receivedCallbackUrl' in b && 'deliveryCallbackUrl' in b],
  device: [200, (b) => typeof b.phone === 'string' && b.device && 'originalDevice' in b && typeof b.isBusiness === 'boolean'],
  'get-queue': [200, Array.isArray], 'delete-queue-id': [200, valueTrue], 'delete-queue': [200, valueTrue],
  'update-webhook-delivery': [200, valueTrue], 'on-message-send': [200, valueTrue], 'on-message-received': [200, valueTrue],
  'on-whatsapp-disconnected': [200, valueTrue], 'on-whatsapp-message-status-changes': [200, valueTrue], 'on-chat-presence': [200, valueTrue],
  'create-instance': [200, (b) => /^[0-9A-F]{32}$/.test(b.id) && typeof b.token === 'string'],
  'list-instances': [200, (b) => Array.isArray(b.content) && b.content.length >= 1],
  'send-image': [200, isSend], 'send-audio': [200, isSend], 'send-video': [200, isSend], 'send-document': [200, isSend],
  'send-sticker': [200, isSend],
};
const wasim = await startWasim(opt.wasim);
const sink = await startSink();
const dataDir = mkdtempSync(path.join(tmpdir(), 'zapd-e2e-examples-'));
let zapd;
// Sends the sample as it is written (a GET may carry a body, as list-instances does).
const replay = (base, sample, subst) => new Promise((resolve, reject) => {
  const url = new URL(subst(sample.url).replace('{{baseUrl}}', base));
  const headers = {};
  for (const h of sample.headers ?? []) headers[h.name] = subst(h.value);
  const body = sample.postData?.text ? subst(sample.postData.text) : undefined;
  if (body !== undefined) headers['Content-Length'] = Buffer.byteLength(body);
  const req = request(url, { method: sample.method, headers }, (res) => {
    let data = '';
    res.on('data', (c) => { data += c; });
    res.on('end', () => { let j = null; try { j = data ? JSON.parse(data) : null; } catch { j = { unparsable: data }; } resolve({ status: res.statusCode, body: j }); });
  });
  req.on('error', reject);
  if (body !== undefined) req.write(body);
  req.end();
});
try {
  check(existsSync(opt.examples), `examples at ${opt.examples}`);
  zapd = await startZapd(opt.zapd, { dataDir, wasim });
  // U: never paired, so its sends stay queued; P: paired with a wasim phone (for /device).
  const u = instanceApi(zapd, (await zapd.partner('POST', '/instances/integrator/on-demand', { name: 'unpaired' })).body);
  const p = await pairInstance(zapd, wasim, sink, '15550007001', 'paired');
  const queued = await u.call('POST', 'send-text', { phone: '5511999999999', message: 'to be removed by delete-queue-id' });
  let seen = 0;
  for (const [sample, [status, shape]] of Object.entries(P0)) {
    const file = path.join(opt.examples, `${sample}.json`);
    if (!existsSync(file)) { check(false, `sample ${sample} exists`); continue; }
    const s = JSON.parse(readFileSync(file, 'utf8'));
    const inst = sample === 'device' ? p : u;
    const subst = (t) => String(t).replaceAll('SUA_INSTANCIA', inst.id).replaceAll('SEU_TOKEN', inst.token)
      .replaceAll('SEU-TOKEN-AQUI', zapd.admin).replaceAll('{{security-token}}', '')
      .replace(/\/queue\/5511999999999$/, `/queue/${queued.body.zaapId}`);
    const r = await replay(zapd.base, s, subst);
    seen++;
    check(r.status === status && shape(r.body ?? {}), `${sample} (${s.method} ${s.url.replace('{{baseUrl}}', '')}): expected ${status}, got ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  }
  console.log(`replayed ${seen} P0 samples`);
} catch (e) {
  failures.push({ step: 'exception', error: String(e?.stack ?? e) });
} finally {
  try { await zapd?.stop(); } catch {}
  wasim.stop();
  await sink.close();
}
failures.push(...zapdProblems());
report('zapd replays the Z-API P0 samples', failures, checks);
process.exit(0);
