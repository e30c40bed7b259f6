// Shared helpers of the oracle scripts: load a stock Baileys (b6 = 6.17.16, b7 = 7.0.0-rc14), run
// wa-oracle, and compare nodes in one canonical form.
import { createRequire } from 'node:module';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

// Every temporary file of a test or benchmark process goes into one directory of its own, removed when the
// process exits (normally or through process.exit; a killed one leaves that one directory): the scripts' data
// directories, certificates and sessions, the zapd and wasim processes they start (which inherit TMPDIR), and
// the files Baileys writes while it encrypts and decrypts media, which it leaves behind. Every test script
// imports this module first, and os.tmpdir() reads TMPDIR at each call. A process started by another one makes
// its own directory inside its parent's.
const privateTmp = mkdtempSync(path.join(tmpdir(), `zapd-test-${process.pid}-`));
process.env.TMPDIR = privateTmp;
process.on('exit', () => {
  try { rmSync(privateTmp, { recursive: true, force: true }); } catch {}
});

export async function loadBaileys(which) {
  const root = path.join(here, which, 'node_modules', 'baileys');
  if (which === 'b6') {
    const req = createRequire(path.join(here, which, 'package.json'));
    return { B: req('baileys'), C: req(path.join(root, 'lib/WABinary/constants.js')), dict: 2,
      signalModule: () => req(path.join(root, 'lib/Signal/libsignal.js')) };
  }
  const B = await import(path.join(root, 'lib/index.js'));
  const C = await import(path.join(root, 'lib/WABinary/constants.js'));
  return { B, C, dict: 3, signalModule: () => import(path.join(root, 'lib/Signal/libsignal.js')) };
}

export function args(defaults) {
  const out = { ...defaults };
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i += 2) out[a[i].replace(/^--/, '')] = a[i + 1];
  return out;
}

export const silentLogger = {
  level: 'silent', child() { return this; }, trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {},
};

const hexOf = (x) => Buffer.from(x).toString('hex');

// Canonical form: attrs as [key, string]; content null | {d: hex of the bytes} | {l: [children]}.
// Text, bytes and JIDs all become the bytes Baileys would see (a JID as its string form).
export function canonFromBaileys(n) {
  const attrs = Object.entries(n.attrs).map(([k, v]) => [k, String(v)]);
  let content = null;
  if (Array.isArray(n.content)) content = { l: n.content.map(canonFromBaileys) };
  else if (typeof n.content === 'string') content = { d: hexOf(Buffer.from(n.content, 'utf-8')) };
  else if (n.content !== undefined && n.content !== null) content = { d: hexOf(n.content) };
  return { tag: n.tag, attrs, content };
}

export function canonFromOurs(n) {
  const attrs = n.attrs.map(([k, v]) => [k, 's' in v ? v.s : v.j]);
  let content = null;
  const c = n.content;
  if (c === null) content = null;
  else if ('list' in c) content = { l: c.list.map(canonFromOurs) };
  else if ('text' in c) content = { d: hexOf(Buffer.from(c.text, 'utf-8')) };
  else if ('jid' in c) content = { d: hexOf(Buffer.from(c.jid, 'utf-8')) };
  else content = { d: c.bytes };
  return { tag: n.tag, attrs, content };
}

// Our JSON node -> the object Baileys' encoder takes.
export function toBaileys(n) {
  const attrs = {};
  for (const [k, v] of n.attrs) attrs[k] = 's' in v ? v.s : v.j;
  const c = n.content;
  let content;
  if (c === null) content = undefined;
  else if ('list' in c) content = c.list.map(toBaileys);
  else if ('text' in c) content = c.text;
  else if ('jid' in c) content = c.jid;
  else content = Buffer.from(c.bytes, 'hex');
  return { tag: n.tag, attrs, content };
}

export function same(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

export function runTool(tool, argv, input) {
  const r = spawnSync(tool, argv, { input, maxBuffer: 1 << 30, encoding: 'utf-8' });
  if (r.status !== 0) throw new Error(`${tool} ${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

// A long-running tool speaking one JSON line per request.
export function lineTool(tool, argv) {
  const child = spawn(tool, argv, { stdio: ['pipe', 'pipe', 'inherit'] });
  const rl = createInterface({ input: child.stdout });
  const queue = [];
  const waiters = [];
  rl.on('line', (l) => { const j = JSON.parse(l); if (waiters.length) waiters.shift()(j); else queue.push(j); });
  const next = (ms = 10000) => new Promise((resolve, reject) => {
    if (queue.length) return resolve(queue.shift());
    const t = setTimeout(() => reject(new Error('wa-oracle did not answer')), ms);
    waiters.push((j) => { clearTimeout(t); resolve(j); });
  });
  return { next, send: (buf) => child.stdin.write(hexOf(buf) + '\n'), sendLine: (l) => child.stdin.write(l + '\n'), close: () => child.kill() };
}

export function report(name, failures, total) {
  if (failures.length) {
    for (const f of failures.slice(0, 10)) console.error('MISMATCH', JSON.stringify(f).slice(0, 2000));
    console.error(`${name}: ${failures.length} of ${total} failed`);
    process.exit(1);
  }
  console.log(`${name}: ${total} passed, 0 failed`);
}
