// Helpers of the engine interop tests: run tools/wa-engine (zapd's engine) as a process, send it
// commands, and wait for its JSON events.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { sleep } from './clients.mjs';

export function startEngine(binary, flags) {
  const child = spawn(binary, flags, { stdio: ['pipe', 'pipe', 'inherit'] });
  const events = [];
  const rl = createInterface({ input: child.stdout });
  rl.on('line', (l) => {
    try { events.push({ at: Date.now(), ...JSON.parse(l) }); } catch { events.push({ at: Date.now(), event: 'garbage', text: l }); }
    if (process.env.ELOG) console.error('engine:', l.slice(0, 300));
  });
  const exited = new Promise((r) => child.on('exit', (code, sig) => r({ code, sig })));
  const e = {
    events,
    send: (line) => child.stdin.write(line + '\n'),
    // Resolves with the first event (after index `from`) matching pred.
    wait: async (what, pred, ms = 15000, from = 0) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        for (let i = from; i < events.length; i++) if (pred(events[i])) return events[i];
        await sleep(20);
      }
      throw new Error(`timeout (${ms} ms) waiting for engine event: ${what}; last events: ${JSON.stringify(events.slice(-5))}`);
    },
    of: (device, kind, from = 0) => events.slice(from).filter((x) => x.device === device && x.event === kind),
    quit: async () => { e.send('quit'); const r = await Promise.race([exited, sleep(10000).then(() => 'hung')]); if (r === 'hung') child.kill('SIGKILL'); return r; },
    kill: async () => { child.kill('SIGKILL'); return exited; },
    exited,
    pid: child.pid,
  };
  return e;
}

export const engineFlags = (opt, wasim, db, extra = []) =>
  ['--db', db, '--url', wasim.url, '--root', wasim.root, ...extra];
