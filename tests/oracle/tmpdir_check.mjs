// The test processes' temporary files stay in one directory per process, gone when it exits
// (tests/oracle/lib.mjs). A child imports lib.mjs, writes a file and makes a directory where os.tmpdir() says,
// and starts a grandchild that does the same; both report where. After they exit, neither directory is left,
// the grandchild's was inside the child's and the child's inside this process's, which is still there.
// usage: node tests/oracle/tmpdir_check.mjs
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import './lib.mjs';

const self = fileURLToPath(import.meta.url);
const role = process.argv[2];
if (role === '--child' || role === '--grandchild') {
  const dir = tmpdir();
  writeFileSync(path.join(dir, 'probe'), 'x');
  const made = mkdtempSync(path.join(dir, 'made-'));  // what a test script makes for zapd's data, say
  console.log(JSON.stringify({ dir, made, probe: existsSync(path.join(dir, 'probe')) }));
  if (role === '--child') {
    const g = spawnSync(process.execPath, [self, '--grandchild'], { encoding: 'utf8' });
    if (g.status !== 0) process.exit(2);
    process.stdout.write(g.stdout);
  }
  process.exit(0);
}

const mine = tmpdir();
const r = spawnSync(process.execPath, [self, '--child'], { encoding: 'utf8' });
const failures = [];
const check = (ok, what) => { if (!ok) failures.push(what); };
check(r.status === 0, `the child exited ${r.status}: ${r.stderr}`);
const lines = (r.stdout ?? '').trim().split('\n').filter(Boolean);
check(lines.length === 2, `two reports, got ${lines.length}`);
if (lines.length === 2) {
  const [child, grand] = lines.map((l) => JSON.parse(l));
  check(child.probe && grand.probe, 'each wrote its file where os.tmpdir() said');
  check(child.dir.startsWith(mine + path.sep), `the child's directory ${child.dir} is inside ${mine}`);
  check(grand.dir.startsWith(child.dir + path.sep), `the grandchild's directory ${grand.dir} is inside ${child.dir}`);
  check(child.made.startsWith(child.dir + path.sep), 'what the child made is inside its directory');
  for (const d of [child.dir, child.made, grand.dir, grand.made]) check(!existsSync(d), `${d} is gone after the exit`);
}
check(existsSync(mine), 'this process keeps its own directory while it runs');
if (failures.length) {
  for (const f of failures) console.error('FAIL', f);
  process.exit(1);
}
console.log('tmpdir_check: ok (per-process temporary directories, removed at exit, nested for child processes)');
