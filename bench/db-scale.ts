/**
 * Benchmark of issue 9: the database's cost against its size, autopipe against ASE 3.22 in the
 * same run. For databases of 10³, 10⁴, 5·10⁴ and 2·10⁵ rows of 32-atom sub-cells (results, and
 * force_mask, parent_id, image and gamma in data: about 3.7 KiB a row),
 * each a fresh copy of one generated file:
 *   - add 100 new rows (an extxyz of 100 labelled frames): `autopipe db add` against ASE
 *     reading the same extxyz and writing it in one transaction (`with db:`, its faster way);
 *   - a selective listing (100 matching rows): `autopipe db ls DB iteration=K` against
 *     `ase db DB iteration=K`;
 *   - an export of those 100 rows to extxyz: `autopipe db export` against
 *     `ase.io.write(out, ase.io.read('DB@iteration=K'))`.
 * Every figure is a whole process (start-up included), wall time and peak memory (maximum
 * resident set, from /usr/bin/time), the median of `REPEAT` runs. Not part of the test suite.
 *
 *   node dist/bench/db-scale.js [1000,10000,50000,200000] [repeat=3]
 */
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabaseFile } from '../lib/db/db-file.js';
import { labelledFrames } from '../test/support/frames.js';
import { writeExtxyz } from '../lib/formats/extxyz.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const sizes = (process.argv[2] ?? '1000,10000,50000,200000').split(',').map(Number);
const REPEAT = Number(process.argv[3] ?? 3);
const dir = join(ROOT, 'bench', 'out', 'db-scale');
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const PY = '/usr/bin/python3';

/** A database of n rows, written by autopipe in one transaction; rows carry iteration = ⌊i/100⌋. */
function generate(n: number, path: string): void {
  const db = openDatabaseFile(path, { create: true });
  const batch = 1000;
  for (let start = 0; start < n; start += batch) {
    const frames = labelledFrames(Math.min(batch, n - start), 1 + start, {}, true);
    db.transaction(() => frames.forEach((a, k) => db.write(a, { kvp: { iteration: Math.floor((start + k) / 100), source: 'bench' }, now: 1795000000 + start + k, user: 'bench' })));
  }
  db.close();
}

interface Run { seconds: number; mib: number }

/** One whole process under /usr/bin/time: wall seconds and peak resident MiB. */
function timed(cmd: string, args: string[]): Run {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ').slice(0, 200)} failed: ${r.stderr.slice(-2000)}`);
  const [s, kb] = r.stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
  return { seconds: s, mib: kb / 1024 };
}

function median(runs: Run[]): Run {
  const m = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return { seconds: m(runs.map((r) => r.seconds)), mib: m(runs.map((r) => r.mib)) };
}

/** REPEAT runs, each on a fresh copy of the database when the command writes it. */
function repeat(base: string, fresh: boolean, run: (db: string) => Run): Run {
  const out: Run[] = [];
  for (let i = 0; i < REPEAT; i++) {
    const db = fresh ? join(dir, 'work.db') : base;
    if (fresh) {
      copyFileSync(base, db);
      spawnSync('sync'); // the copy's write-back must not land in the measured commit's fsync
    }
    out.push(run(db));
  }
  return median(out);
}

const autopipe = (args: string[]) => timed(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), ...args]);
const ASE_ADD = `
import sys, ase.io, ase.db
frames = ase.io.read(sys.argv[2], ':')
db = ase.db.connect(sys.argv[1])
with db:
    for a in frames:
        db.write(a, run='added')
`;
const ASE_EXPORT = 'import sys, ase.io; ase.io.write(sys.argv[2], ase.io.read(sys.argv[1] + "@" + sys.argv[3]))';

const input = join(dir, 'add.extxyz');
writeFileSync(input, writeExtxyz(labelledFrames(100, 424242, { run: 'added' }, true)));

const fmt = (r: Run) => `${r.seconds.toFixed(2)} s ${r.mib.toFixed(0).padStart(4)} MiB`;
console.log(`database rows | file MiB           | add 100: autopipe | ASE | ratio | ls 100 of N: autopipe | ASE | ratio | export 100: autopipe | ASE | ratio`);
for (const n of sizes) {
  const base = join(dir, `rows-${n}.db`);
  generate(n, base);
  const bytes = Number(spawnSync('stat', ['-c', '%s', base], { encoding: 'utf8' }).stdout);
  const fileMib = `${(bytes / 2 ** 20).toFixed(0)} (${(bytes / n / 1024).toFixed(1)} KiB/row)`;
  const query = `iteration=${Math.floor(n / 200)}`; // 100 rows in the middle of the file
  const addOurs = repeat(base, true, (db) => autopipe(['db', 'add', '--level', 'none', db, input]));
  const addAse = repeat(base, true, (db) => timed(PY, ['-c', ASE_ADD, db, input]));
  const lsOurs = repeat(base, false, (db) => autopipe(['db', 'ls', db, query]));
  const lsAse = repeat(base, false, (db) => timed(PY, ['-m', 'ase', 'db', db, query]));
  const expOurs = repeat(base, false, (db) => autopipe(['db', 'export', db, query, '-o', join(dir, 'ours.extxyz')]));
  const expAse = repeat(base, false, (db) => timed(PY, ['-c', ASE_EXPORT, db, join(dir, 'ase.extxyz'), query]));
  const ratio = (ase: Run, ours: Run) => `${(ase.seconds / ours.seconds).toFixed(2)}×`;
  console.log([
    String(n).padStart(13), fileMib.padStart(18),
    fmt(addOurs), fmt(addAse), ratio(addAse, addOurs),
    fmt(lsOurs), fmt(lsAse), ratio(lsAse, lsOurs),
    fmt(expOurs), fmt(expAse), ratio(expAse, expOurs),
  ].join(' | '));
  rmSync(base);
}
console.log(`(ratio: ASE's time over autopipe's, above 1 means autopipe is faster; medians of ${REPEAT} runs; whole processes)`);
rmSync(dir, { recursive: true, force: true });
