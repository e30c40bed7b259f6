// The system benchmark (issue 8, docs/benchmarks.md): zapd and stock Baileys on the same wasim, same script.
//   1. marginal RSS per connected idle instance (zapd, and wasim per linked device); Baileys: per socket
//   2. restart: from process start to all N connected, logged in and their offline queues drained (zapd:
//      GET /instances/summary's offlineDrained; Baileys: connection 'open' and receivedPendingNotifications, the
//      server's end-of-offline marker, on every socket); peak RSS during it
//   3. API accept rate of send-text (spacing off) from a separate load process: requests/s, p50/p99; and again
//      to unpaired instances (nothing drains meanwhile), with zapd's CPU per accept
//   4. end to end: messages/s from the API call to the recipient phone's delivery receipt (as the
//      MessageStatusCallback RECEIVED webhook zapd posts), p50/p99; Baileys: sendMessage to delivery receipt
//   5. CPU time per delivered message (the zapd process; the Baileys process)
// Prints a table with zapd/Baileys ratios. Bounded in count and time; --smoke 1 only checks it completes.
// usage: node bench/system_vs_baileys.mjs --wasim build/release/apps/wasim/wasim --zapd build/release/apps/zapd/zapd
//          [--load build/release/bench/wa_bench_load] [--n 100] [--m 2000] [--accept 5000] [--which b6] [--baileys 1]
// --load: the C++ load process (same contract as bench/load.mjs, a fraction of its CPU); without it, load.mjs.
// --sink: the C++ webhook receiver (bench/sink.cpp, wa_bench_sink); without it, this script's own HTTP server.
// --tls 1: both halves reach wasim over wss:// (as against WhatsApp), trusting wasim's certificate.
// --which b7: Baileys 7.0.0-rc14 instead of 6.17.16. --stanza-delay MS: wasim's pause before a connection's first
// stanza while the numbers pair, for both halves (wasim's default, 150, is there for Baileys 6, which derives its
// transport keys after it sends ClientFinish and loses a stanza that comes sooner; Baileys 7 does not need it).
// --restart-stanza-delay MS: the same pause during the two restarts (POST /first-stanza-delay; default: the pairing
// one). A real server's round trip stands in for it, and both halves pay it once, so a shorter one shows more of
// each side's own cost; how short Baileys 6 allows depends on N (bench/stanza_delay_probe.mjs; at N = 100, 10 ms:
// docs/benchmarks.md). Also printed: the CPU per message of wasim, of the webhook sink and of the load process
// during the end-to-end phase. --baileys-heap MB: the Baileys process's V8 heap limit.
import { spawn } from 'node:child_process';
import { writeFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { args } from '../tests/oracle/lib.mjs';
import { startWasim } from '../tests/interop/wasim.mjs';
import { sleep } from '../tests/interop/clients.mjs';
import { startZapd, startSink } from '../tests/e2e/zapd.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const opt = args({ load: '', sink: '', n: '100', m: '2000', accept: '5000', which: 'b6', baileys: '1', recipients: '10', tls: '0', 'stanza-delay': '', 'restart-stanza-delay': '', 'baileys-heap': '' });
const tls = opt.tls === '1';
const N = Number(opt.n), M = Number(opt.m), K = Number(opt.accept), R = Number(opt.recipients);
const ticks = 100;
const rssOf = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
const cpuMsOf = (pid) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return ((Number(f[11]) + Number(f[12])) * 1000) / ticks; };
// This script's own CPU: during the end-to-end phase it is the webhook sink's (and the polling's).
const selfCpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const MB = (b) => (b / 1048576).toFixed(1);
const KB = (b) => (b / 1024).toFixed(0);
const results = {};
// Every directory this run makes goes at its end (a run at N = 1,000 leaves hundreds of MB: databases, their WAL,
// Baileys' auth files).
const scratch = [];
const tempDir = (prefix) => { const d = mkdtempSync(path.join(tmpdir(), prefix)); scratch.push(d); return d; };
const deadline = Date.now() + 40 * 60 * 1000;
const until = async (what, pred, ms, every = 50) => {
  const end = Math.min(Date.now() + ms, deadline);
  while (Date.now() < end) { if (await pred()) return; await sleep(every); }
  throw new Error(`timeout: ${what}`);
};
// The instance paths go through a file: at N = 10,000 they exceed what a command line may carry.
const runLoad = (base, count, conc, paths, recipients) => new Promise((resolve, reject) => {
  const file = path.join(tempDir('zapd-bench-load-'), 'paths.json');
  writeFileSync(file, JSON.stringify(paths));
  const argv = [base, String(count), String(conc), `@${file}`, JSON.stringify(recipients)];
  const c = opt.load ? spawn(opt.load, argv, { stdio: ['ignore', 'pipe', 'inherit'] })
    : spawn(process.execPath, [path.join(here, 'load.mjs'), ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  c.stdout.on('data', (d) => { out += d; });
  c.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load exited ${code}`))));
});

const wasim = await startWasim(opt.wasim, opt['stanza-delay'] === '' ? [] : ['--first-stanza-delay-ms', opt['stanza-delay']]);
// The pause while pairing (wasim's own unless --stanza-delay) and the one in force during a restart.
const pairDelay = opt['stanza-delay'] === '' ? 150 : Number(opt['stanza-delay']);
const restartDelay = opt['restart-stanza-delay'] === '' ? pairDelay : Number(opt['restart-stanza-delay']);
const stanzaDelay = async (ms) => {
  const r = await wasim.call('POST', '/first-stanza-delay', { ms });
  if (r.status !== 200) throw new Error(`wasim refused the pause ${ms}: ${JSON.stringify(r.body)}`);
};
// wasim's process id, for its memory: the helper keeps the child private, so find it by port.
const { execSync } = await import('node:child_process');
const wpid = Number(execSync(`ss -ltnpH 'sport = :${wasim.port}' | sed -n 's/.*pid=\\([0-9]*\\).*/\\1/p' | head -1`).toString().trim());
// The webhook receiver: zapd POSTs each message's SENT and RECEIVED statuses to it; the RECEIVED ones end the
// end-to-end latency. received: messageId -> the time (unix ms) its RECEIVED status arrived.
const startNativeSink = (bin) => new Promise((resolve, reject) => {
  // stdin stays open for as long as this script lives: the sink exits when it closes.
  const c = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  process.on('exit', () => c.kill('SIGKILL'));
  const received = new Map();
  let rest = '', started = false;
  c.stdout.setEncoding('utf8');
  c.stdout.on('data', (d) => {
    const lines = (rest + d).split('\n');
    rest = lines.pop();
    for (const l of lines) {
      if (l.startsWith('R ')) {
        const [, id, at] = l.split(' ');
        if (!received.has(id)) received.set(id, Number(at));
      } else if (l.startsWith('port ') && !started) {
        started = true;
        resolve({ url: `http://127.0.0.1:${l.slice(5)}`, pid: c.pid, received, update: () => received.size,
          close: async () => { c.stdin.end(); c.kill('SIGTERM'); } });
      }
    }
  });
  c.on('exit', (code) => { if (!started) reject(new Error(`wa_bench_sink exited ${code}`)); });
});
const startScriptSink = async () => {
  const s = await startSink();
  const received = new Map();
  let scanned = 0;  // the sink's events are only appended to: each is looked at once
  const update = () => {
    for (; scanned < s.events.length; scanned++) {
      const e = s.events[scanned];
      if (e.body?.status === 'RECEIVED') for (const id of e.body.ids) if (!received.has(id)) received.set(id, e.at);
    }
    return received.size;
  };
  return { url: s.url, pid: process.pid, received, update, close: () => s.close() };
};
const sink = opt.sink ? await startNativeSink(opt.sink) : await startScriptSink();
// The sink's CPU (this script's when it is the sink, the polling included).
const sinkCpuMs = () => (opt.sink ? cpuMsOf(sink.pid) : selfCpuMs());
const recipients = Array.from({ length: R }, (_, i) => `1555090${String(i).padStart(4, '0')}`);
for (const p of recipients) await wasim.call('POST', '/accounts', { phone: p, name: `R${p}` });
const dataDir = tempDir('zapd-bench-system-');
const waUrl = tls ? wasim.url.replace('ws://', 'wss://') : wasim.url;
const zopts = { dataDir, wasim: { ...wasim, url: waUrl }, extra: [] };
let zapd = await startZapd(opt.zapd, zopts);
try {
  // 1. Memory: zapd with 0 instances, then N paired and idle.
  await sleep(500);
  const z0 = rssOf(zapd.pid), w0 = rssOf(wpid);
  const insts = [];
  const tPair = Date.now();
  let next = 0;
  await Promise.all(Array.from({ length: 10 }, async () => {
    while (next < N) {
      const i = next++;
      const phone = `1555080${String(i).padStart(4, '0')}`;
      await wasim.call('POST', '/accounts', { phone, name: `Z${i}` });
      const c = await zapd.partner('POST', '/instances/integrator/on-demand', { name: `bench ${i}`, messageStatusCallbackUrl: `${sink.url}/s` });
      const qr = await zapd.call('GET', `/instances/${c.body.id}/token/${c.body.token}/qr-code`);
      const s = await wasim.call('POST', `/accounts/${phone}/scan`, { qr: qr.body.value });
      if (s.status !== 200) throw new Error(`scan ${i}: ${JSON.stringify(s.body)}`);
      insts.push({ ...c.body, phone });
    }
  }));
  // The counts, not the list: polled every 50 ms during the restart, the list of 1,000 (about 600 KB of JSON,
  // built by zapd and parsed here) took a quarter of the restart's time and 0.8 MB of its peak.
  const allConnected = async () => (await zapd.partner('GET', '/instances/summary')).body.connected === N;
  await until('all paired instances connected', allConnected, 300000);
  const pairMs = Date.now() - tPair;
  await sleep(3000);
  const z1 = rssOf(zapd.pid), w1 = rssOf(wpid);
  results.zapd = { rss0: z0, rssN: z1, perInstance: (z1 - z0) / N, pairMs };
  results.wasim = { perDevice: (w1 - w0) / N };

  // 2. Restart: SIGTERM, then time from spawn to all N connected, sampling RSS for the peak.
  await zapd.stop();
  await stanzaDelay(restartDelay);
  const tR = Date.now();
  zapd = await startZapd(opt.zapd, zopts);
  let peak = 0;
  const sampler = setInterval(() => { try { peak = Math.max(peak, rssOf(zapd.pid)); } catch {} }, 20);
  // Polled every 5 ms: at 50 the time came out up to 50 ms late (25 on average), while Baileys' fleet answers
  // the moment its last socket opens. A count costs zapd about 50 µs.
  const allDrained = async () => (await zapd.partner('GET', '/instances/summary')).body.offlineDrained === N;
  await until('all instances back and their offline queues drained after the restart', allDrained, 120000, 5);
  clearInterval(sampler);
  results.zapd.restartMs = Date.now() - tR;
  results.zapd.restartPeakRss = peak;
  await stanzaDelay(pairDelay);
  const paths = insts.map((x) => `/instances/${x.id}/token/${x.token}/`);
  const received = sink.received;
  const countReceived = sink.update;
  // Sessions with the recipients first (one message per instance), so that the timed phases do not include them.
  await runLoad(zapd.base, N * R <= 2000 ? N * R : 2000, 32, paths, recipients);
  await until('warm-up delivered', async () => (await Promise.all(insts.slice(0, 20).map((x) => zapd.call('GET', `/instances/${x.id}/token/${x.token}/queue/count`)))).every((r) => r.body.count === 0), 300000);
  await until('warm-up receipts', async () => { const n = countReceived(); await sleep(500); return countReceived() === n; }, 300000);

  // 3. API accept rate (durable answers), fixed concurrency, from a separate process.
  const acc = await runLoad(zapd.base, K, 64, paths, recipients);
  results.accept = acc;
  await until('the accepted messages drained', async () => (await Promise.all(insts.map((x) => zapd.call('GET', `/instances/${x.id}/token/${x.token}/queue/count`)))).every((r) => r.body.count === 0), 600000);
  await until('their receipts', async () => { const n = countReceived(); await sleep(1000); return countReceived() === n; }, 600000);

  // 4 and 5. End to end: M messages as fast as the load process sends them, until every RECEIVED webhook.
  const cpu0 = cpuMsOf(zapd.pid), wcpu0 = cpuMsOf(wpid), scpu0 = sinkCpuMs();
  const t4 = Date.now();
  const e2e = await runLoad(zapd.base, M, 64, paths, recipients);
  const loadCpuMs = e2e.cpuMs ?? 0;
  const ids = Object.keys(e2e.sentAt);
  await until('every RECEIVED webhook', () => ids.every((id) => received.has(id) || (countReceived() && received.has(id))), 600000);
  const last = Math.max(...ids.map((id) => received.get(id)));
  const lat = ids.map((id) => received.get(id) - e2e.sentAt[id]).sort((a, b) => a - b);
  results.e2e = { messages: ids.length, secs: (last - t4) / 1000, p50: lat[Math.floor(lat.length / 2)], p99: lat[Math.floor(lat.length * 0.99)], cpuMsPerMsg: (cpuMsOf(zapd.pid) - cpu0) / ids.length,
    wasimMsPerMsg: (cpuMsOf(wpid) - wcpu0) / ids.length, sinkMsPerMsg: (sinkCpuMs() - scpu0) / ids.length, loadMsPerMsg: loadCpuMs / ids.length };
  results.e2e.rate = ids.length / results.e2e.secs;

  // 3b. The accept path alone: the same requests to instances that are not paired, so nothing drains meanwhile
  // (their queues hold what is accepted); zapd's CPU per accept. Separates the API's own cost from the pipeline's.
  const idle = [];
  for (let i = 0; i < Math.min(N, 100); i++) {
    const c = await zapd.partner('POST', '/instances/integrator/on-demand', { name: `accept-only ${i}` });
    idle.push(`/instances/${c.body.id}/token/${c.body.token}/`);
  }
  const perIdle = Math.max(1, Math.min(K, idle.length * 900));  // under the 1,000 a disconnected queue holds
  results.acceptOnly = [];
  for (const conc of [64, 8]) {
    const c0 = cpuMsOf(zapd.pid);
    const r = await runLoad(zapd.base, Math.floor(perIdle / 2), conc, idle, recipients);
    results.acceptOnly.push({ conc, ...r, cpuUsPerAccept: ((cpuMsOf(zapd.pid) - c0) * 1000) / Math.max(1, r.accepted) });
  }
} catch (e) {
  console.error('zapd half failed:', e);
  process.exitCode = 1;
}
await zapd.stop();

// The same scenarios with stock Baileys: one Node process holding N sockets.
if (opt.baileys === '1' && !process.exitCode) {
  const dir = tempDir('zapd-bench-baileys-');
  const fleet = () => {
    const heap = opt['baileys-heap'] ? [`--max-old-space-size=${opt['baileys-heap']}`] : [];
    const c = spawn(process.execPath, [...heap, path.join(here, 'baileys_fleet.mjs'), '--which', opt.which, '--control', `http://127.0.0.1:${wasim.port}`,
      '--url', waUrl, '--root', wasim.root, '--dir', dir], { stdio: ['pipe', 'pipe', 'inherit'],
      env: tls ? { ...process.env, NODE_EXTRA_CA_CERTS: wasim.caFile } : process.env });
    process.on('exit', () => c.kill('SIGKILL'));
    const lines = [];
    const waiters = [];  // [resolve, reject] of the commands waiting for their answer line
    createInterface({ input: c.stdout }).on('line', (l) => { const w = waiters.shift(); if (w) w[0](JSON.parse(l)); else lines.push(l); });
    // A fleet that dies (Baileys 7 at N = 1,000 outgrows Node's default heap) fails the commands it owed.
    c.on('exit', (code, signal) => { for (const w of waiters.splice(0)) w[1](new Error(`the Baileys process exited (${code ?? signal})`)); });
    c.stdin.on('error', () => {});  // EPIPE once it is gone: the exit handler reports it
    const cmd = (o) => new Promise((resolve, reject) => {
      if (c.exitCode !== null || c.signalCode !== null) return reject(new Error(`the Baileys process exited (${c.exitCode ?? c.signalCode})`));
      waiters.push([resolve, reject]);
      c.stdin.write(JSON.stringify(o) + '\n');
    });
    return { c, cmd };
  };
  try {
    let f = fleet();
    const s0 = await f.cmd({ cmd: 'stats' });
    const phones = Array.from({ length: N }, (_, i) => `1555070${String(i).padStart(4, '0')}`);
    const linked = await f.cmd({ cmd: 'link', phones });
    if (!linked.ok) throw new Error(linked.error);
    await sleep(3000);
    const s1 = await f.cmd({ cmd: 'stats' });
    results.baileys = { rss0: s0.rss, rssN: s1.rss, perInstance: (s1.rss - s0.rss) / N, pairMs: linked.ms };
    f.c.kill('SIGKILL');
    await sleep(500);
    await stanzaDelay(restartDelay);
    const tR = Date.now();
    f = fleet();
    let peak = 0;
    const sampler = setInterval(() => { try { peak = Math.max(peak, rssOf(f.c.pid)); } catch {} }, 20);
    const reopened = await f.cmd({ cmd: 'open' });
    clearInterval(sampler);
    if (!reopened.ok) throw new Error(reopened.error);
    results.baileys.restartMs = Date.now() - tR;
    results.baileys.restartPeakRss = peak;
    await stanzaDelay(pairDelay);
    const warm = await f.cmd({ cmd: 'send', to: recipients, m: Math.min(N * R, 2000) });  // sessions first
    if (!warm.ok) throw new Error(`warm-up sends: ${warm.error}`);
    const c0 = (await f.cmd({ cmd: 'stats' })).cpu, wc0 = cpuMsOf(wpid);
    const sent = await f.cmd({ cmd: 'send', to: recipients, m: M });
    if (!sent.ok || !sent.delivered) throw new Error(`sends: ${sent.error ?? `none of ${M} delivered within the wait (${sent.failed} failed: ${sent.firstError})`}`);
    if (sent.failed || sent.delivered < M) console.error(`baileys: ${sent.delivered} of ${M} delivered, ${sent.failed} sends failed (${sent.firstError ?? 'no error'})`);
    const c1 = (await f.cmd({ cmd: 'stats' })).cpu;
    results.baileys.e2e = { messages: sent.delivered, failed: sent.failed, secs: sent.secs, rate: sent.delivered / sent.secs, p50: sent.p50, p99: sent.p99, cpuMsPerMsg: (c1 - c0) / sent.delivered,
      wasimMsPerMsg: (cpuMsOf(wpid) - wc0) / sent.delivered };
    f.c.kill('SIGKILL');
  } catch (e) {
    console.error('baileys half failed:', e);
    process.exitCode = 1;
  }
}
wasim.stop();
await sink.close();
for (const d of scratch) rmSync(d, { recursive: true, force: true });

const z = results.zapd ?? {}, b = results.baileys;
const ratio = (x, y, inverse) => (b && x && y ? `${(inverse ? y / x : x / y).toFixed(1)}x` : '-');
console.log(`\nsystem_vs_baileys: N=${N} instances, M=${M} messages, ${R} recipient phones, baileys ${opt.which}, load process ${opt.load ? 'wa_bench_load (C++)' : 'load.mjs (Node)'}, ${tls ? 'wss' : 'ws'} to wasim, wasim's first-stanza pause ${pairDelay} ms pairing / ${restartDelay} ms restarting, ${new Date().toISOString()}`);
console.log('| measure | zapd | baileys | zapd advantage |');
console.log('| --- | --- | --- | --- |');
console.log(`| RSS per connected idle instance | ${KB(z.perInstance)} KB | ${b ? KB(b.perInstance) + ' KB' : '-'} | ${ratio(z.perInstance, b?.perInstance, true)} |`);
console.log(`| process RSS with N connected | ${MB(z.rssN)} MB | ${b ? MB(b.rssN) + ' MB' : '-'} | ${ratio(z.rssN, b?.rssN, true)} |`);
console.log(`| pairing N (QR scan to connected) | ${(z.pairMs / 1000).toFixed(1)} s | ${b ? (b.pairMs / 1000).toFixed(1) + ' s' : '-'} | ${ratio(z.pairMs, b?.pairMs, true)} |`);
console.log(`| restart to all N connected | ${(z.restartMs / 1000).toFixed(2)} s | ${b ? (b.restartMs / 1000).toFixed(2) + ' s' : '-'} | ${ratio(z.restartMs, b?.restartMs, true)} |`);
console.log(`| peak RSS during restart | ${MB(z.restartPeakRss)} MB | ${b ? MB(b.restartPeakRss) + ' MB' : '-'} | ${ratio(z.restartPeakRss, b?.restartPeakRss, true)} |`);
console.log(`| API send-text accepts (durable), conc 64 | ${results.accept?.rps.toFixed(0)}/s, p50 ${results.accept?.p50.toFixed(2)} ms, p99 ${results.accept?.p99.toFixed(2)} ms | n/a | |`);
for (const a of results.acceptOnly ?? []) {
  console.log(`| accepts with nothing draining (unpaired instances), conc ${a.conc} | ${a.rps.toFixed(0)}/s, p50 ${a.p50.toFixed(2)} ms, p99 ${a.p99.toFixed(2)} ms, zapd ${a.cpuUsPerAccept.toFixed(0)} µs CPU each | n/a | |`);
}
console.log(`| end to end (call to delivery receipt) | ${results.e2e?.rate.toFixed(0)} msg/s, p50 ${results.e2e?.p50} ms, p99 ${results.e2e?.p99} ms | ${b?.e2e ? `${b.e2e.rate.toFixed(0)} msg/s, p50 ${b.e2e.p50} ms, p99 ${b.e2e.p99} ms` : '-'} | ${ratio(results.e2e?.rate, b?.e2e?.rate)} |`);
console.log(`| CPU per delivered message | ${results.e2e?.cpuMsPerMsg.toFixed(3)} ms | ${b?.e2e ? b.e2e.cpuMsPerMsg.toFixed(3) + ' ms' : '-'} | ${ratio(results.e2e?.cpuMsPerMsg, b?.e2e?.cpuMsPerMsg, true)} |`);
// The rest of the machine during the end-to-end phase: what the 2 cores spend per message outside the two
// measured processes (the rate's ceiling is about 2,000 ms / the sum of every process's CPU per message).
const e = results.e2e;
if (e) console.log(`| CPU per message elsewhere: wasim; webhook sink (${opt.sink ? 'wa_bench_sink' : 'this script'}); load process | ${e.wasimMsPerMsg.toFixed(3)}; ${e.sinkMsPerMsg.toFixed(3)}; ${e.loadMsPerMsg ? e.loadMsPerMsg.toFixed(3) : '-'} ms | ${b?.e2e ? b.e2e.wasimMsPerMsg.toFixed(3) + ' ms (wasim)' : '-'} | |`);
console.log(`| wasim RSS per linked device | ${KB(results.wasim?.perDevice)} KB | | |`);
// Complete means every row has its numbers (the exit status is what the smoke test checks).
if (!results.e2e || !results.accept || results.acceptOnly?.length !== 2 || z.restartMs === undefined || (opt.baileys === '1' && !b?.e2e)) process.exitCode = 1;
process.exit(process.exitCode ?? 0);
