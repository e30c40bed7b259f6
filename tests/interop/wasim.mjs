// Helpers of the interop tests: start a wasim process on a free loopback port and call its control API.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

// Media goes over HTTPS to wasim (protocol/README.md §9), and Baileys' download path honours no agent option
// (baileys 7 uses fetch): the test process must trust wasim's certificate from its start. So: make wasim's
// identity first (wasim --write-tls), then run this same script again with NODE_EXTRA_CA_CERTS naming it;
// startWasim then serves that identity (--tls-dir). Call before anything else; the first process exits with
// the second one's status.
export function trustWasimTls(binary) {
  if (process.env.WASIM_TLS_DIR) return;
  const dir = mkdtempSync(path.join(tmpdir(), 'wasim-tls-'));
  const made = spawnSync(binary, ['--write-tls', dir], { stdio: 'inherit' });
  if (made.status !== 0) throw new Error(`wasim --write-tls failed: ${made.status}`);
  const r = spawnSync(process.execPath, process.argv.slice(1), {
    stdio: 'inherit', env: { ...process.env, WASIM_TLS_DIR: dir, NODE_EXTRA_CA_CERTS: path.join(dir, 'cert.pem') } });
  process.exit(r.status ?? 1);
}

export async function startWasim(binary, extra = []) {
  const tls = process.env.WASIM_TLS_DIR ? ['--tls-dir', process.env.WASIM_TLS_DIR] : [];
  const child = spawn(binary, ['--listen', '127.0.0.1:0', ...tls, ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  // Never outlive the test (an orphan holding ctest's output pipe would hang the run until its timeout).
  process.on('exit', () => child.kill('SIGKILL'));
  const rl = createInterface({ input: child.stdout });
  const info = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('wasim did not start within 10 s')), 10000);
    const got = {};
    rl.on('line', (l) => {
      if (l.startsWith('root ')) got.root = l.slice(5);
      if (l.startsWith('wasim listening on ')) { got.port = Number(l.slice(19)); clearTimeout(t); resolve(got); }
    });
    child.on('exit', (code) => reject(new Error(`wasim exited ${code}`)));
  });
  const base = `http://127.0.0.1:${info.port}`;
  const call = async (method, path, body) => {
    const r = await fetch(base + path, { method, headers: { 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
    const j = await r.json();
    return { status: r.status, body: j };
  };
  // wasim's certificate as a file, for zapd's --wa-tls-ca (its media server is HTTPS only).
  const caFile = path.join(mkdtempSync(path.join(tmpdir(), 'wasim-ca-')), 'cert.pem');
  writeFileSync(caFile, (await call('GET', '/tls-cert')).body.pem);
  return {
    ...info,
    pid: child.pid,
    caFile,
    url: `ws://127.0.0.1:${info.port}/ws/chat`,
    call,
    log: async () => (await call('GET', '/log')).body.entries,
    stop: () => child.kill('SIGTERM'),
  };
}

export function deadline(ms, what) {
  let timer;
  const p = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timeout: ${what}`)), ms); });
  return { promise: p, clear: () => clearTimeout(timer) };
}
