// Encrypt-and-send throughput of zapd's engine against a stock Baileys client, over the same wasim, in the
// same script (issue 6, test 7). Each sender sends N texts to the same wasim account's phone (which
// decrypts every one, the same work for both), one after another as each is accepted by the server:
// the engine from its queue (`sent` = server ack), Baileys with `await sendMessage` (resolves once
// relayed). Sessions exist beforehand (one warm-up message each). Prints messages/s, CPU ms per message
// of the sending process, and the engine/Baileys ratios. See docs/benchmarks.md.
// usage: node bench/send_vs_baileys.mjs --wasim build/release/apps/wasim/wasim \
//          --engine build/release/tools/wa-engine/wa-engine [--which b6] [--n 1000]
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadBaileys, args } from '../tests/oracle/lib.mjs';
import { startWasim } from '../tests/interop/wasim.mjs';
import { startEngine, engineFlags, pairEngine } from '../tests/interop/engine.mjs';
import { linkClient, waitFor } from '../tests/interop/clients.mjs';

const opt = args({ which: 'b6', n: '1000' });
const N = Number(opt.n);
const { B } = await loadBaileys(opt.which);
const wasim = await startWasim(opt.wasim);
if (B.WA_CERT_DETAILS?.PUBLIC_KEY) B.WA_CERT_DETAILS.PUBLIC_KEY.set(Buffer.from(wasim.root, 'hex'));
const R = '15550100000', A = '15550100001', E = '15550100002';
const ticks = 100;  // USER_HZ: clock ticks per second in /proc/<pid>/stat on Linux
const cpuMsOf = (pid) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return ((Number(f[11]) + Number(f[12])) * 1000) / ticks; };
let engine;
try {
  await wasim.call('POST', '/accounts', { phone: R, name: 'Receiver' });
  const alice = await linkClient(B, wasim, A, 'Alice');
  await wasim.call('POST', '/accounts', { phone: E, name: 'Engine' });
  const dir = mkdtempSync(path.join(tmpdir(), 'zapd-bench-send-'));
  engine = startEngine(opt.engine, engineFlags(opt, wasim, path.join(dir, 'zapd.db')));
  await engine.wait('ready', (e) => e.event === 'ready');
  await pairEngine(engine, wasim, 'e', E);
  // Warm-up: sessions with the receiver's devices.
  await alice.sock.sendMessage(`${R}@s.whatsapp.net`, { text: 'warm-up' });
  engine.send(`send e ${R} 3EB0BENCHWARMUP0000000 ${Buffer.from('warm-up').toString('base64')}`);
  await engine.wait('warm-up sent', (e) => e.event === 'sent', 20000);

  const text = (i) => Buffer.from(`benchmark message ${i} `.padEnd(100, '.')).toString('base64');
  // Engine.
  const cpu0 = cpuMsOf(engine.pid);
  const t0 = process.hrtime.bigint();
  const mark = engine.events.length;
  for (let i = 0; i < N; i++) engine.send(`send e ${R} 3EB0BENCH${String(i).padStart(13, '0')} ${text(i)}`);
  await waitFor('engine sent all', () => engine.events.slice(mark).filter((e) => e.event === 'sent').length >= N, 600000);
  const engineMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const engineCpu = cpuMsOf(engine.pid) - cpu0;
  // Baileys.
  const c0 = process.cpuUsage();
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await alice.sock.sendMessage(`${R}@s.whatsapp.net`, { text: Buffer.from(text(i), 'base64').toString() });
  const baileysMs = Number(process.hrtime.bigint() - t1) / 1e6;
  const cu = process.cpuUsage(c0);
  const baileysCpu = (cu.user + cu.system) / 1000;
  const rate = (ms) => (N / (ms / 1000)).toFixed(0);
  console.log(`send_vs_baileys (baileys ${opt.which}, N=${N}, 100-byte texts to one account's phone, sequential):`);
  console.log(`  engine : ${rate(engineMs)} msg/s, ${(engineCpu / N).toFixed(3)} CPU ms/msg`);
  console.log(`  baileys: ${rate(baileysMs)} msg/s, ${(baileysCpu / N).toFixed(3)} CPU ms/msg (driver script included)`);
  console.log(`  ratio  : throughput ${(baileysMs / engineMs).toFixed(1)}x, CPU per message ${(baileysCpu / engineCpu).toFixed(1)}x in the engine's favour`);
  try { alice.sock.end(undefined); } catch {}
  await engine.quit();
} catch (e) {
  console.error(e);
  if (engine) await engine.kill();
  process.exitCode = 1;
}
wasim.stop();
process.exit(process.exitCode ?? 0);
