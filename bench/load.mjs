// A load process for the system benchmark: POSTs `count` send-text requests over keep-alive connections with
// `conc` in flight, spread round-robin over the given instance paths and recipients, and prints one JSON line:
// accepted, failed, seconds, requests/s, p50/p99 latency (ms), and each request's send time by messageId.
// usage: node load.mjs BASE COUNT CONC PATHS_JSON|@FILE RECIPIENTS_JSON
import http from 'node:http';
import { readFileSync } from 'node:fs';

const [base, countS, concS, pathsJ, recipientsJ] = process.argv.slice(2);
const count = Number(countS), conc = Number(concS);
const paths = JSON.parse(pathsJ.startsWith('@') ? readFileSync(pathsJ.slice(1), 'utf8') : pathsJ), recipients = JSON.parse(recipientsJ);
const agent = new http.Agent({ keepAlive: true, maxSockets: conc });
const url = new URL(base);
const lat = [];
const sentAt = {};
let next = 0, failed = 0;
const one = (i) => new Promise((resolve) => {
  const body = JSON.stringify({ phone: recipients[i % recipients.length], message: `load ${i} `.padEnd(100, '.') });
  const t = process.hrtime.bigint();
  const req = http.request({ host: url.hostname, port: url.port, agent, method: 'POST', path: `${paths[i % paths.length]}send-text`,
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
    let d = '';
    res.on('data', (c) => { d += c; });
    res.on('end', () => {
      const ms = Number(process.hrtime.bigint() - t) / 1e6;
      if (res.statusCode === 200) { lat.push(ms); sentAt[JSON.parse(d).messageId] = Date.now() - ms; } else failed++;
      resolve();
    });
  });
  req.on('error', () => { failed++; resolve(); });
  req.end(body);
});
const t0 = process.hrtime.bigint();
await Promise.all(Array.from({ length: conc }, async () => { while (next < count) await one(next++); }));
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
lat.sort((a, b) => a - b);
const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : 0);
process.stdout.write(JSON.stringify({ accepted: lat.length, failed, secs, rps: lat.length / secs, p50: q(0.5), p99: q(0.99), cpuMs: cpuMs(), sentAt }) + '\n');
agent.destroy();
