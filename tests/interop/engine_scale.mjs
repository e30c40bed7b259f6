// Interop (issue 5, test 7): N engine clients (default 200) in one process pair with N wasim phones,
// all stay connected, and all come back after a wasim restart (every connection dropped, none accepted
// for 2 s), connecting at most 16 at a time (--connect-slots: the others wait their turn); a number stopped
// while waiting for its first turn gives its place up. Prints the engine's resident memory and the times taken.
// usage: node engine_scale.mjs --wasim path/to/wasim --engine path/to/wa-engine [--n 200]
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { args, report } from '../oracle/lib.mjs';
import { startWasim } from './wasim.mjs';
import { startEngine, engineFlags } from './engine.mjs';
import { sleep } from './clients.mjs';

const opt = args({ n: '200' });
const N = Number(opt.n);
const name = `${N} engine clients pair, stay connected and survive a wasim restart`;
const failures = [];
let checks = 0;
const check = (ok, what) => { checks++; if (!ok) failures.push({ step: what }); };
const rss = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const wasim = await startWasim(opt.wasim);
const dir = mkdtempSync(path.join(tmpdir(), 'zapd-engine-scale-'));
const db = path.join(dir, 'zapd.db');
const slots = 16;
const timing = ['--keepalive-ms', '5000', '--keepalive-timeout-ms', '5000', '--backoff-ms', '200', '--backoff-cap-ms', '3000', '--iq-timeout-ms', '20000',
  '--connect-slots', String(slots)];
const phoneOf = (i) => String(15551000000 + i);
let engine;
try {
  for (let i = 0; i < N; i++) {
    const r = await wasim.call('POST', '/accounts', { phone: phoneOf(i), name: `s${i}` });
    if (r.status !== 201) throw new Error(`account ${i}: ${JSON.stringify(r.body)}`);
  }
  engine = startEngine(opt.engine, engineFlags(opt, wasim, db, timing));
  await engine.wait('ready', (e) => e.event === 'ready');
  const rss0 = rss(engine.pid);
  const t0 = Date.now();
  const scanned = new Set();
  engine.send(`start-range d ${N}`);
  // Scan every QR as it appears (the first one of each device).
  const scanner = (async () => {
    let seen = 0;
    while (scanned.size < N && Date.now() - t0 < 120000) {
      for (; seen < engine.events.length; seen++) {
        const e = engine.events[seen];
        if (e.event === 'qr' && !scanned.has(e.device)) {
          scanned.add(e.device);
          const i = Number(e.device.slice(1));
          wasim.call('POST', `/accounts/${phoneOf(i)}/scan`, { qr: e.text }).then((r) => {
            if (r.status !== 200) failures.push({ step: `scan ${e.device}`, body: r.body });
          });
        }
      }
      await sleep(20);
    }
  })();
  const connectedSet = (from) => new Set(engine.events.slice(from).filter((e) => e.event === 'connected').map((e) => e.device));
  const end1 = Date.now() + 120000;
  while (connectedSet(0).size < N && Date.now() < end1) await sleep(100);
  await scanner;
  const tPaired = Date.now() - t0;
  check(connectedSet(0).size === N, `all ${N} paired and connected (${connectedSet(0).size})`);
  const end2 = Date.now() + 60000;
  while (engine.events.filter((e) => e.event === 'prekeys_uploaded').length < N && Date.now() < end2) await sleep(100);
  check(engine.events.filter((e) => e.event === 'prekeys_uploaded').length === N, 'every device uploaded its prekeys');
  await sleep(1000);
  const rssN = rss(engine.pid);
  const health = (await wasim.call('GET', '/health')).body;
  check(health.connections === N, `wasim sees ${N} connections (${health.connections})`);

  // Restart: every connection drops; none is accepted for 2 s; all come back.
  const mark = engine.events.length;
  const tr = Date.now();
  await wasim.call('POST', '/restart', { down_ms: 2000 });
  const end3 = Date.now() + 90000;
  while (connectedSet(mark).size < N && Date.now() < end3) await sleep(100);
  const tBack = Date.now() - tr;
  check(connectedSet(mark).size === N, `all ${N} reconnected after the restart (${connectedSet(mark).size})`);
  await sleep(500);
  const health2 = (await wasim.call('GET', '/health')).body;
  check(health2.connections === N, `wasim sees ${N} connections again (${health2.connections})`);
  check(!engine.events.slice(mark).some((e) => e.event === 'qr' || e.event === 'logged_out'), 'no re-pairing after the restart');
  engine.send('devices');
  const devs = await engine.wait('devices', (e) => e.event === 'devices');
  check(devs.connect_peak === Math.min(slots, N), `at most ${slots} connecting at once, and that many at the restart (${devs.connect_peak})`);
  // Idle connections hold no coroutine: each waits for its socket with a plain handler ("parked"), also after
  // the keepalive pings (every 5 s here) and their answers.
  let parked = -1;
  for (const endAt = Date.now() + 15000; Date.now() < endAt;) {
    await sleep(6000);
    const from = engine.events.length;
    engine.send('devices');
    const d = await engine.wait('devices', (e) => e.event === 'devices', 15000, from);
    parked = d.parked;
    if (parked === N) break;
  }
  check(parked === N, `all ${N} idle connections parked after keepalives (${parked})`);
  const errors = engine.events.filter((e) => e.event === 'error');
  check(errors.length === 0, `no engine errors (${JSON.stringify(errors.slice(0, 3))})`);
  console.log(`engine_scale: N=${N} paired+connected in ${tPaired} ms; back after restart (2 s down) in ${tBack} ms; ` +
    `engine RSS ${rss0.toFixed(1)} MB idle -> ${rssN.toFixed(1)} MB with ${N} connected ` +
    `(${(((rssN - rss0) * 1024) / N).toFixed(1)} KB per device)`);
  const q = await engine.quit();
  check(q.code === 0, `engine exits cleanly (${JSON.stringify(q)})`);

  // A number stopped while it waits for its first turn: a second engine on the same database, one slot, so
  // every device queues behind the first. The stopped one leaves the queue and never connects; had it kept
  // its place, the slot would pass to it and stop there, and the devices behind it would never connect.
  const one = timing.map((v, i) => (timing[i - 1] === '--connect-slots' ? '1' : v));
  engine = startEngine(opt.engine, engineFlags(opt, wasim, db, one));
  await engine.wait('ready again', (e) => e.event === 'ready');
  // Ten from the middle of the queue, stopped after their start (on their strands): at most one of them
  // can be connecting, the others are waiting.
  const stopped = Array.from({ length: 10 }, (_, k) => `d${Math.floor(N / 2) + k}`);
  engine.send(`start-range d ${N}`);
  for (const d of stopped) engine.send(`stop ${d}`);
  const end4 = Date.now() + 60000;
  while (connectedSet(0).size < N - stopped.length && Date.now() < end4) await sleep(50);
  await sleep(300);
  const back = connectedSet(0);
  check(back.size >= N - stopped.length && stopped.filter((d) => back.has(d)).length <= 1,
    `with one slot, every device but the stopped ones connects (${back.size} of ${N - stopped.length}; stopped ones connected: ${stopped.filter((d) => back.has(d)).length}, at most the one connecting when stopped)`);
  engine.send('devices');
  const d2 = await engine.wait('devices', (e) => e.event === 'devices');
  check(d2.connect_peak === 1, `one connecting at a time (${d2.connect_peak})`);
  const q2 = await engine.quit();
  check(q2.code === 0, `the second engine exits cleanly (${JSON.stringify(q2)})`);

  // Shut down while the devices wait for their first turn: every one winds down (none left unfinished).
  engine = startEngine(opt.engine, engineFlags(opt, wasim, db, one));
  await engine.wait('ready a third time', (e) => e.event === 'ready');
  engine.send(`start-range d ${N}`);
  await engine.wait('the first device connected', (e) => e.event === 'connected', 15000);
  engine.send('quit');
  const bye = await engine.wait('bye', (e) => e.event === 'bye', 15000);
  check(bye.unfinished === 0, `a shutdown with ${N - 1} devices queued leaves none unfinished (${bye.unfinished})`);
  check((await engine.exited).code === 0, 'the third engine exits cleanly');
} catch (e) {
  failures.push({ step: 'exception', err: String(e && e.stack || e) });
  if (engine) await engine.kill();
}
wasim.stop();
report(name, failures, checks);
process.exit(0);
