// Helpers of the engine interop tests: run tools/wa-engine (zapd's engine) as a process, send it
// commands, and wait for its JSON events.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { sleep } from './clients.mjs';

export function startEngine(binary, flags) {
  const child = spawn(binary, flags, { stdio: ['pipe', 'pipe', 'inherit'] });
  process.on('exit', () => child.kill('SIGKILL'));
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

// Starts engine device `device`, lets the account `phone`'s wasim phone scan its first QR, and resolves
// once the device is connected and has uploaded its prekeys.
export async function pairEngine(engine, wasim, device, phone) {
  const from = engine.events.length;
  engine.send(`start ${device}`);
  const qr = await engine.wait(`qr of ${device}`, (e) => e.device === device && e.event === 'qr', 15000, from);
  const scan = await wasim.call('POST', `/accounts/${phone}/scan`, { qr: qr.text });
  if (scan.status !== 200) throw new Error(`scan for ${device} refused: ${JSON.stringify(scan.body)}`);
  await engine.wait(`${device} connected`, (e) => e.device === device && e.event === 'connected', 15000, from);
  await engine.wait(`${device} prekeys`, (e) => e.device === device && e.event === 'prekeys_uploaded', 20000, from);
}

export const engineFlags = (opt, wasim, db, extra = []) =>
  ['--db', db, '--url', wasim.url, '--root', wasim.root, ...extra];
