// Helpers of the interop tests: start a wasim process on a free loopback port and call its control API.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export async function startWasim(binary, extra = []) {
  const child = spawn(binary, ['--listen', '127.0.0.1:0', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
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
  return {
    ...info,
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
