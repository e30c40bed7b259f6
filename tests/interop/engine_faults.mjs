// Interop (issue 5, tests 4-6): zapd's engine under wasim's faults. A dropped connection and a stalled
// one (open but silent: noticed by the keepalive deadline) are reconnected with backoff; stream errors
// 515 (restart at once), 503 (backoff) and conflict (replaced: no reconnect) are handled as specified;
// 401 wipes the credentials and raises logged_out without a reconnect loop; a low prekey count from the
// server triggers a refill.
// usage: node engine_faults.mjs --wasim path/to/wasim --engine path/to/wa-engine
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { args, report } from '../oracle/lib.mjs';
import { startWasim } from './wasim.mjs';
import { startEngine, engineFlags, pairEngine } from './engine.mjs';
import { sleep } from './clients.mjs';

const opt = args({});
const name = 'engine survives drops, stalls and stream errors, stops on conflict and 401, refills prekeys';
const failures = [];
let checks = 0;
const check = (ok, what) => { checks++; if (!ok) failures.push({ step: what }); };
const wasim = await startWasim(opt.wasim);
const dir = mkdtempSync(path.join(tmpdir(), 'zapd-engine-faults-'));
const db = path.join(dir, 'zapd.db');
// Short timers so faults show quickly: ping every 300 ms, dead after 700 ms without an answer.
const timing = ['--keepalive-ms', '300', '--keepalive-timeout-ms', '700', '--backoff-ms', '200', '--backoff-cap-ms', '1600'];
const phone = '15550004444';
let engine;
const fault = async (body) => {
  const r = await wasim.call('POST', `/accounts/${phone}/devices/1/fault`, body);
  check(r.status === 200, `fault ${JSON.stringify(body)} accepted (${JSON.stringify(r.body)})`);
};
const logins = async () => (await wasim.log()).filter((e) => e.text.startsWith('logged in')).length;
try {
  await wasim.call('POST', '/accounts', { phone, name: 'faults' });
  engine = startEngine(opt.engine, engineFlags(opt, wasim, db, timing));
  await engine.wait('ready', (e) => e.event === 'ready');
  await pairEngine(engine, wasim, 'a', phone);

  const cycle = async (what, body, expectCode, ms) => {
    const mark = engine.events.length;
    const t0 = Date.now();
    await fault(body);
    const d = await engine.wait(`disconnected after ${what}`, (e) => e.event === 'disconnected', ms, mark);
    if (expectCode !== undefined) check(d.code === expectCode, `${what}: disconnect code ${expectCode} (${JSON.stringify(d)})`);
    const c = await engine.wait(`reconnected after ${what}`, (e) => e.event === 'connected', 10000, mark);
    return { noticed: d.at - t0, back: c.at - d.at };
  };

  // 4a. Drop.
  const drop = await cycle('drop', { kind: 'drop' }, undefined, 5000);
  check(drop.noticed < 1000, `drop noticed at once (${drop.noticed} ms)`);
  // 4b. Stall: the socket stays open and silent; the keepalive deadline (≤ 300 + 700 ms) finds it dead.
  const stall = await cycle('stall', { kind: 'stall' }, undefined, 5000);
  check(stall.noticed <= 1300, `stall noticed within the keepalive deadline (${stall.noticed} ms)`);
  const stallEvent = engine.events.filter((e) => e.event === 'disconnected').at(-1);
  check(/keepalive/.test(stallEvent.text), `stall reported as a keepalive failure (${stallEvent.text})`);

  // 5. Stream errors.
  const r515 = await cycle('515', { kind: 'stream-error', code: 515 }, 515, 5000);
  check(r515.back < 1000, `515 reconnects at once (${r515.back} ms)`);
  const r503 = await cycle('503', { kind: 'stream-error', code: 503 }, 503, 5000);
  check(r503.back >= 100, `503 reconnects after a backoff (${r503.back} ms)`);

  // Backoff while the server is down: attempts spread out (capped exponential with jitter).
  {
    const mark = engine.events.length;
    const before = (await wasim.log()).length;
    await wasim.call('POST', '/restart', { down_ms: 2500 });
    await engine.wait('disconnected by restart', (e) => e.event === 'disconnected', 5000, mark);
    await engine.wait('back after restart', (e) => e.event === 'connected', 10000, mark);
    const after = (await wasim.log()).slice(before).filter((e) => e.text.startsWith('logged in'));
    check(after.length === 1, `one login after the restart (${after.length})`);
  }

  // 6. Prekey refill when the server reports a low count.
  {
    const mark = engine.events.length;
    await fault({ kind: 'prekeys-low', count: 2 });
    const up = await engine.wait('refill', (e) => e.event === 'prekeys_uploaded', 5000, mark);
    check(up.count === 50, `refill uploads 50 (${up.count})`);
    const a = (await wasim.call('GET', `/accounts/${phone}`)).body;
    check(a.devices[0].prekeys === 52, `wasim holds 2 + 50 prekeys (${a.devices[0].prekeys})`);
  }

  // 5. Conflict: replaced, and no reconnect.
  {
    const mark = engine.events.length;
    const n = await logins();
    await fault({ kind: 'stream-error', arg: 'conflict' });
    await engine.wait('replaced', (e) => e.event === 'replaced', 5000, mark);
    await sleep(1500);
    check(await logins() === n, 'no login after conflict/replaced');
    check(!engine.events.slice(mark).some((e) => e.event === 'connected'), 'no reconnect after replaced');
  }
  // Started again by the user, it logs in with the same credentials.
  {
    const mark = engine.events.length;
    engine.send('start a');
    await engine.wait('connected again', (e) => e.event === 'connected', 5000, mark);
  }
  // 5. 401: logged out, credentials wiped, no reconnect loop.
  {
    const mark = engine.events.length;
    const n = await logins();
    await fault({ kind: 'stream-error', code: 401 });
    const lo = await engine.wait('logged out', (e) => e.event === 'logged_out', 5000, mark);
    check(lo.code === 401, `logged_out code 401 (${JSON.stringify(lo)})`);
    await sleep(1500);
    check(await logins() === n, 'no login attempt after 401');
    const regs = (await wasim.log()).filter((e) => e.text.startsWith('registration handshake')).length;
    // Starting the device again shows a QR: its credentials are gone.
    engine.send('start a');
    await engine.wait('new QR after logout', (e) => e.event === 'qr', 5000, mark);
    check((await wasim.log()).filter((e) => e.text.startsWith('registration handshake')).length === regs + 1,
      'a new registration, not a login, after logout');
  }
  const rejected = (await wasim.log()).filter((e) => e.text.startsWith('rejected') || e.text.startsWith('iq not implemented'));
  check(rejected.length === 0, `wasim rejected nothing (${JSON.stringify(rejected)})`);
  const q = await engine.quit();
  check(q.code === 0, `engine exits cleanly (${JSON.stringify(q)})`);
} catch (e) {
  failures.push({ step: 'exception', err: String(e && e.stack || e) });
  try { console.error(JSON.stringify((await wasim.log()).slice(-30), null, 1)); } catch {}
  if (engine) await engine.kill();
}
wasim.stop();
report(name, failures, checks);
process.exit(0);
