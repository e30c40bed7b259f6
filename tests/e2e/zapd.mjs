// Helpers of the e2e tests: run zapd as a user runs it, call its API, and a local webhook sink.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { createHmac } from 'node:crypto';
import { sleep } from '../interop/clients.mjs';

// What went wrong inside any zapd process of this test run: sanitizer reports on its stderr, or an exit other
// than a clean one after SIGTERM. Every e2e test adds these to its failures (zapdProblems()).
const problems = [];
export const zapdProblems = () => problems.map((p) => ({ step: 'zapd process', error: p }));

// Starts zapd on a free loopback port against wasim; resolves once it listens.
export async function startZapd(binary, { dataDir, wasim, extra = [], admin = 'admin-secret' }) {
  const flags = ['--listen', '127.0.0.1:0', '--data-dir', dataDir, '--wa-url', wasim.url, '--wa-root-key', wasim.root,
    '--admin-token', admin, '--send-spacing', 'off', '--webhook-allow-http', 'on',
    ...(wasim.caFile ? ['--wa-tls-ca', wasim.caFile] : []), ...extra];
  const child = spawn(binary, flags, { stdio: ['ignore', 'pipe', 'pipe'] });
  process.on('exit', () => child.kill('SIGKILL'));
  const log = [];
  const exited = new Promise((r) => child.on('exit', (code, sig) => r({ code, sig })));
  const rl = createInterface({ input: child.stdout });
  createInterface({ input: child.stderr }).on('line', (l) => {
    log.push(l);
    if (process.env.ZLOG) console.error('zapd!', l);
    if (/AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:/.test(l)) { problems.push(l); console.error('zapd!', l); }
  });
  const port = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`zapd did not start: ${log.join('\n')}`)), 15000);
    rl.on('line', (l) => {
      log.push(l);
      if (process.env.ZLOG) console.error('zapd:', l);
      const m = l.match(/^listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) { clearTimeout(t); resolve(Number(m[1])); }
    });
    exited.then((e) => { clearTimeout(t); reject(new Error(`zapd exited ${JSON.stringify(e)}: ${log.join('\n')}`)); });
  });
  const base = `http://127.0.0.1:${port}`;
  const call = async (method, path, body, headers = {}) => {
    const h = { ...headers };
    if (body !== undefined && !('content-type' in h)) h['content-type'] = 'application/json';
    const r = await fetch(base + path, { method, headers: h, body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)) });
    const text = await r.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { json = { unparsable: text }; }
    return { status: r.status, body: json, headers: r.headers };
  };
  return {
    base, port, log, call, exited, pid: child.pid, admin,
    partner: (method, path, body) => call(method, path, body, { authorization: `Bearer ${admin}` }),
    stop: async () => {
      child.kill('SIGTERM');
      const r = await Promise.race([exited, sleep(15000).then(() => { child.kill('SIGKILL'); return 'hung'; })]);
      if (r === 'hung' || r.code !== 0) problems.push(`zapd did not stop cleanly after SIGTERM: ${JSON.stringify(r)}; last lines: ${log.slice(-5).join(' | ')}`);
      return r;
    },
    kill: async () => { child.kill('SIGKILL'); return exited; },
  };
}

// An instance's API: i.call('POST', 'send-text', {...}).
export function instanceApi(zapd, inst, headers = {}) {
  const prefix = `/instances/${inst.id}/token/${inst.token}/`;
  return { ...inst, call: (method, route, body, h = {}) => zapd.call(method, prefix + route, body, { ...headers, ...h }) };
}

// A webhook sink: records every POST (JSON body, headers); `refuse` makes it answer 503.
export async function startSink(secret) {
  const events = [];
  const state = { refuse: false, refused: 0, badSignatures: 0 };
  const files = new Map();  // path -> { body, type } served to GET (media sources); { redirect } answers 302
  const server = createServer((req, res) => {
    if (req.method === 'GET') {
      const f = files.get(req.url);
      if (!f) { res.writeHead(404); res.end(); return; }
      if (f.redirect) { res.writeHead(302, { location: f.redirect }); res.end(); return; }
      res.writeHead(200, { 'content-type': f.type, 'content-length': f.body.length });
      res.end(f.body);
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (state.refuse) { state.refused++; res.writeHead(503); res.end(); return; }
      const raw = Buffer.concat(chunks);
      if (secret) {
        const want = 'sha256=' + createHmac('sha256', secret).update(raw).digest('hex');
        if (req.headers['x-zapd-signature'] !== want) state.badSignatures++;
      }
      let body = null;
      try { body = JSON.parse(raw.toString('utf8')); } catch { body = { unparsable: raw.toString('utf8') }; }
      events.push({ at: Date.now(), path: req.url, id: req.headers['x-zapd-event-id'], body });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url, events, state,
    serve: (p, body, type) => files.set(p, { body, type }),
    redirect: (p, to) => files.set(p, { redirect: to }),
    of: (type, pred = () => true) => events.filter((e) => e.body?.type === type && pred(e.body)),
    wait: async (what, pred, ms = 15000) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const hit = events.find((e) => pred(e.body));
        if (hit) return hit.body;
        await sleep(25);
      }
      throw new Error(`timeout (${ms} ms) waiting for webhook: ${what}; last: ${JSON.stringify(events.slice(-3).map((e) => e.body))}`);
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

// Creates an instance, points every webhook at the sink, pairs it with wasim phone `phone` by scanning the
// QR PNG that zapd serves, and resolves once ConnectedCallback arrived.
export async function pairInstance(zapd, wasim, sink, phone, name = 'test') {
  await wasim.call('POST', '/accounts', { phone, name });
  const created = await zapd.partner('POST', '/instances/integrator/on-demand', { name });
  if (created.status !== 200) throw new Error(`create instance: ${JSON.stringify(created)}`);
  const inst = instanceApi(zapd, created.body);
  const hooks = await inst.call('PUT', 'update-every-webhooks', { value: `${sink.url}/hook`, notifySentByMe: true });
  if (hooks.status !== 200) throw new Error(`update-every-webhooks: ${JSON.stringify(hooks)}`);
  const img = await inst.call('GET', 'qr-code/image');
  if (img.status !== 200 || !img.body.value?.startsWith('data:image/png;base64,')) throw new Error(`qr image: ${JSON.stringify(img.body)}`);
  const scan = await wasim.call('POST', `/accounts/${phone}/scan`, { png: img.body.value.slice('data:image/png;base64,'.length) });
  if (scan.status !== 200) throw new Error(`scan refused: ${JSON.stringify(scan.body)}`);
  await sink.wait(`ConnectedCallback of ${inst.id}`, (b) => b.type === 'ConnectedCallback' && b.instanceId === inst.id, 20000);
  return inst;
}

// --db pg: zapd stores everything in the PostgreSQL server that tests/pg/with_postgres.sh started.
export function dbFlags(opt) {
  if (opt.db !== 'pg') return [];
  if (!process.env.ZAPD_TEST_PG_URL) throw new Error('--db pg needs ZAPD_TEST_PG_URL (run through tests/pg/with_postgres.sh)');
  return ['--database', process.env.ZAPD_TEST_PG_URL];
}
