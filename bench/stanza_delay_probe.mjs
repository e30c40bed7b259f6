// How short wasim's pause before a connection's first stanza may be for stock Baileys (docs/benchmarks.md,
// "the restart's pause"): pairs N Baileys sockets with one pause, then reopens them R times, each from a new
// process, with another, and prints how each reopening went. Baileys 6 derives its transport keys after it has
// sent ClientFinish, and a stanza that comes before they are ready breaks the socket (the process exits with
// "Unsupported state or unable to authenticate data").
// usage: node bench/stanza_delay_probe.mjs --wasim build/release/apps/wasim/wasim [--which b6] [--n 100]
//          [--pair-delay 150] [--restart-delay 10] [--restarts 5]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { args } from '../tests/oracle/lib.mjs';
import { startWasim } from '../tests/interop/wasim.mjs';
import { sleep } from '../tests/interop/clients.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const opt = args({ which: 'b6', n: '100', 'pair-delay': '150', 'restart-delay': '10', restarts: '5' });
const wasim = await startWasim(opt.wasim, ['--first-stanza-delay-ms', opt['pair-delay']]);
const dir = mkdtempSync(path.join(tmpdir(), 'zapd-stanza-probe-'));
const fleet = () => {
  const c = spawn(process.execPath, [path.join(here, 'baileys_fleet.mjs'), '--which', opt.which, '--control', `http://127.0.0.1:${wasim.port}`,
    '--url', wasim.url, '--root', wasim.root, '--dir', dir], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  c.stderr.on('data', (d) => { err += d; });
  const waiters = [];
  createInterface({ input: c.stdout }).on('line', (l) => waiters.shift()?.(JSON.parse(l)));
  c.on('exit', (code) => { for (const w of waiters.splice(0)) w({ ok: false, error: `exited ${code}: ${err.split('\n').find((l) => /Error/.test(l)) ?? err.slice(0, 200)}` }); });
  c.stdin.on('error', () => {});
  return { c, cmd: (o) => new Promise((r) => { waiters.push(r); c.stdin.write(JSON.stringify(o) + '\n'); }) };
};
let failures = 0;
try {
  let f = fleet();
  const phones = Array.from({ length: Number(opt.n) }, (_, i) => `1555070${String(i).padStart(4, '0')}`);
  const linked = await f.cmd({ cmd: 'link', phones });
  console.log(`pairing ${opt.n} with a pause of ${opt['pair-delay']} ms: ${linked.ok ? `ok in ${linked.ms} ms` : linked.error}`);
  f.c.kill('SIGKILL');
  if (!linked.ok) throw new Error('pairing failed');
  await wasim.call('POST', '/first-stanza-delay', { ms: Number(opt['restart-delay']) });
  for (let i = 0; i < Number(opt.restarts); i++) {
    await sleep(500);
    f = fleet();
    const t0 = Date.now();
    const r = await f.cmd({ cmd: 'open' });
    if (!r.ok || r.open !== phones.length) failures++;
    console.log(`reopening with a pause of ${opt['restart-delay']} ms: ${r.ok ? `${r.open} open in ${Date.now() - t0} ms` : r.error}`);
    f.c.kill('SIGKILL');
  }
} catch (e) {
  console.error(String(e));
  failures++;
}
wasim.stop();
rmSync(dir, { recursive: true, force: true });
console.log(`failed: ${failures}`);
process.exit(failures ? 1 : 0);
