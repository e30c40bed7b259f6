// wasim's capacity (issue 4): connections held and messages routed per second on this machine, with the
// load program wa_bench_wasim (bench/wasim_capacity.cpp) as the other side. Prints a table and one JSON line.
//   node bench/wasim_capacity.mjs --wasim build/release/apps/wasim/wasim --bench build/release/bench/wa_bench_wasim
//        [--n 2000] [--seconds 10] [--window 8]
// Nothing is asserted on the numbers; the run fails only when a device could not connect or a message
// went unacknowledged. docs/benchmarks.md has the numbers and how they were taken.
import { spawn } from 'node:child_process';
import { args } from '../tests/oracle/lib.mjs';
import { startWasim } from '../tests/interop/wasim.mjs';

const opt = args({ n: '2000', seconds: '10', window: '8' });
const wasim = await startWasim(opt.wasim, ['--first-stanza-delay-ms', '0']);
let code = 1;
try {
  const child = spawn(opt.bench, ['--port', String(wasim.port), '--pid', String(wasim.pid), '--n', opt.n, '--seconds', opt.seconds,
    '--window', opt.window], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  code = await new Promise((r) => child.on('exit', (c) => r(c ?? 1)));
  const line = out.trim().split('\n').pop();
  const r = JSON.parse(line);
  const mb = (b) => (b / 1048576).toFixed(1);
  console.log(`wasim capacity, ${r.devices} devices (half send to the other half, window ${r.window})`);
  console.log(`  connected            ${r.connected} of ${r.devices} in ${r.connect_s} s (failed ${r.failed}); linking took ${r.link_s} s`);
  console.log(`  wasim RSS            ${mb(r.wasim_rss_connected)} MB connected (${(r.wasim_rss_connected / r.devices / 1024).toFixed(1)} KB/device), ${mb(r.wasim_rss_end)} MB after routing`);
  console.log(`  routed               ${r.routed_in_window} messages in ${r.seconds} s = ${r.routed_per_s} msg/s (sent ${r.sent}, acked ${r.acked}, delivered ${r.routed})`);
  console.log(`  wasim CPU            ${r.wasim_cpu_ms_per_msg.toFixed(4)} ms per routed message; ${(r.wasim_cpu_share * 100).toFixed(0)} % of a core`);
  console.log(line);
} finally {
  wasim.stop();
}
process.exit(code);
