// e2e (issue 7, the sandbox): `zapd --sandbox` with no phone and no external simulator, exactly as README's
// walk-through: create an instance, link it with the one sandbox call, add a sandbox contact, send it a text
// (its phone decrypts it), the contact answers, and the webhook gets ReceivedCallback; statuses arrive.
// usage: node sandbox.mjs --zapd path/to/zapd
import { mkdtempSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { args, report } from '../oracle/lib.mjs';
import { waitFor, sleep } from '../interop/clients.mjs';
import { startSink, instanceApi } from './zapd.mjs';

const opt = args({});
const failures = [];
let checks = 0;
const check = (ok, what) => { checks++; if (!ok) failures.push({ step: what }); };
const dataDir = mkdtempSync(path.join(tmpdir(), 'zapd-e2e-sandbox-'));
const admin = 'sandbox-admin';
const child = spawn(opt.zapd, ['--sandbox', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--admin-token', admin,
  '--webhook-allow-http', 'on'], { stdio: ['ignore', 'pipe', 'inherit'] });
process.on('exit', () => child.kill('SIGKILL'));
const lines = [];
createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
const sink = await startSink();
try {
  const listening = await waitFor('zapd listening', () => lines.find((l) => l.startsWith('listening on ')), 15000);
  check(lines.some((l) => l.startsWith('sandbox: a simulated WhatsApp network')), 'zapd says it runs the sandbox');
  const base = listening.slice('listening on '.length);
  const call = async (method, p, body, headers = {}) => {
    const r = await fetch(base + p, { method, headers: { 'content-type': 'application/json', ...headers }, body: body ? JSON.stringify(body) : undefined });
    const t = await r.text();
    return { status: r.status, body: t ? JSON.parse(t) : null };
  };
  const bearer = { authorization: `Bearer ${admin}` };
  const created = await call('POST', '/instances/integrator/on-demand', { name: 'sandbox' }, bearer);
  check(created.status === 200, `instance created (${JSON.stringify(created.body)})`);
  const inst = instanceApi({ call }, created.body);
  await inst.call('PUT', 'update-every-webhooks', { value: `${sink.url}/hook` });
  check((await call('POST', `/sandbox/instances/${created.body.id}/link`, {}, {})).status === 401, 'the sandbox routes need the admin token');
  const link = await call('POST', `/sandbox/instances/${created.body.id}/link`, { phone: '5511900000001' }, bearer);
  check(link.status === 200 && link.body.phone === '5511900000001', `linked with one call (${JSON.stringify(link.body)})`);
  await sink.wait('ConnectedCallback', (b) => b.type === 'ConnectedCallback' && b.phone === '5511900000001', 20000);
  check((await inst.call('GET', 'status')).body.connected === true, 'status: connected');
  const contact = await call('POST', '/sandbox/wasim/accounts', { phone: '5511900000002', name: 'Maria' }, bearer);
  check(contact.status === 201, `sandbox contact created (${JSON.stringify(contact.body)})`);
  const sent = await inst.call('POST', 'send-text', { phone: '5511900000002', message: 'Olá Maria!' });
  check(sent.status === 200, 'send-text accepted');
  let got = null;
  for (let i = 0; i < 150 && !got; i++) {
    const m = await call('GET', '/sandbox/wasim/accounts/5511900000002/messages', undefined, bearer);
    got = (m.body?.messages ?? []).find((x) => x.id === sent.body.messageId && x.text === 'Olá Maria!');
    if (!got) await sleep(100);
  }
  check(got, 'the contact\'s sandbox phone decrypted the message');
  await sink.wait('RECEIVED', (b) => b.type === 'MessageStatusCallback' && b.status === 'RECEIVED' && b.ids.includes(sent.body.messageId), 15000);
  check(true, 'MessageStatusCallback RECEIVED');
  const reply = await call('POST', '/sandbox/wasim/accounts/5511900000002/send', { to: '5511900000001', text: 'Oi! Tudo bem?' }, bearer);
  check(reply.status === 200, `the contact answers (${JSON.stringify(reply.body)})`);
  const rcv = await sink.wait('ReceivedCallback', (b) => b.type === 'ReceivedCallback' && b.text?.message === 'Oi! Tudo bem?', 15000);
  check(rcv.phone === '5511900000002' && rcv.fromMe === false, `ReceivedCallback (${JSON.stringify(rcv)})`);
} catch (e) {
  failures.push({ step: 'exception', error: String(e?.stack ?? e) });
} finally {
  const exited = new Promise((r) => child.on('exit', (code, sig) => r({ code, sig })));
  child.kill('SIGTERM');
  const r = await Promise.race([exited, sleep(15000).then(() => 'hung')]);
  if (r === 'hung' || r.code !== 0) failures.push({ step: `zapd --sandbox did not stop cleanly: ${JSON.stringify(r)}` });
  await sink.close();
}
report('zapd --sandbox walk-through', failures, checks);
process.exit(0);
