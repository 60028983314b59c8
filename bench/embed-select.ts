/**
 * Benchmark 1 of issue 3: a generated 1,000,000-atom LAMMPS dump frame (fcc Al, 63³ cells,
 * thermal noise, a grade column with a few thousand uncertain atoms). Times the whole
 * `autopipe select` command cutting 1,000 sub-cells, and ASE 3.22 reading the same file
 * (`ase.io.read(…, format='lammps-dump-text')`) in the same run; then the time per sub-cell
 * for a 10,000-atom and a 1,000,000-atom parent (index built once per frame, not timed).
 *
 *   node dist/bench/embed-select.js [cells-per-side]     (default 63: 1,000,188 atoms)
 */
import { openSync, writeSync, closeSync, mkdtempSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeAtoms, type Atoms } from '../lib/atoms/atoms.js';
import { embedAtom, indexFrame } from '../lib/embed/extract.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const N = Number(process.argv[2] ?? 63);
const A = 4.05;
const dir = mkdtempSync(join(tmpdir(), 'autopipe-bench-embed-'));
let seed = 12345;
const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);

function fccFrame(n: number): Atoms {
  const count = 4 * n * n * n;
  const pos = new Float64Array(3 * count);
  const g = new Float64Array(count);
  let a = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) {
    for (const [x, y, z] of [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]) {
      pos[3 * a] = (i + x) * A + 0.05 * (rand() - 0.5);
      pos[3 * a + 1] = (j + y) * A + 0.05 * (rand() - 0.5);
      pos[3 * a + 2] = (k + z) * A + 0.05 * (rand() - 0.5);
      // about 1 atom in 200 is uncertain (grade 5–20), the rest below 5
      g[a] = rand() < 0.005 ? 5 + 15 * rand() : 3 * rand();
      a++;
    }
  }
  return makeAtoms({
    numbers: new Int32Array(count).fill(13), positions: pos, cell: [n * A, 0, 0, 0, n * A, 0, 0, 0, n * A], pbc: [true, true, true],
    arrays: { f_pace_gamma: { kind: 'float', width: 1, values: g } },
  });
}

function writeDump(path: string, f: Atoms): void {
  const fd = openSync(path, 'w');
  const n = f.numbers.length;
  const L = f.cell[0];
  writeSync(fd, `ITEM: TIMESTEP\n1000\nITEM: NUMBER OF ATOMS\n${n}\nITEM: BOX BOUNDS pp pp pp\n0 ${L}\n0 ${L}\n0 ${L}\nITEM: ATOMS id type x y z f_pace_gamma\n`);
  const g = f.arrays.f_pace_gamma.values as Float64Array;
  let chunk = '';
  for (let a = 0; a < n; a++) {
    chunk += `${a + 1} 1 ${f.positions[3 * a].toFixed(6)} ${f.positions[3 * a + 1].toFixed(6)} ${f.positions[3 * a + 2].toFixed(6)} ${g[a].toFixed(4)}\n`;
    if (chunk.length > 1 << 20) {
      writeSync(fd, chunk);
      chunk = '';
    }
  }
  writeSync(fd, chunk);
  closeSync(fd);
}

const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;

const big = fccFrame(N);
const dumpPath = join(dir, 'big.dump');
writeDump(dumpPath, big);
console.log(`frame: ${big.numbers.length} atoms (fcc Al ${N}³ cells, ${big.cell[0].toFixed(1)} Å), dump ${dumpPath}`);

// 1. the whole autopipe command
const t1 = process.hrtime.bigint();
const sel = spawnSync(process.execPath, ['--max-old-space-size=8192', join(ROOT, 'bin', 'autopipe.js'), 'select', dumpPath, '--column', 'f_pace_gamma',
  '--lo', '5', '--hi', '25', '--rcut', '5', '--buffer', '5', '--max', '1000', '--types', 'Al', '-o', join(dir, 'cand.extxyz'), '--json'], { encoding: 'utf8', maxBuffer: 1 << 26 });
const ours = seconds(t1);
if (sel.status !== 0) throw new Error(sel.stderr);
const summary = JSON.parse(sel.stdout);

// ASE 3.22 reading the same file
const ase = spawnSync('/usr/bin/python3', ['-c', `
import sys, time, ase.io
t = time.perf_counter()
a = ase.io.read(sys.argv[1], format='lammps-dump-text')
print(time.perf_counter() - t, len(a))`, dumpPath], { encoding: 'utf8', maxBuffer: 1 << 26 });
if (ase.status !== 0) throw new Error(ase.stderr);
const [aseRead, aseAtoms] = ase.stdout.trim().split(' ').map(Number);

// 2. time per sub-cell against the size of the parent (same density, same parameters)
function perSubcell(f: Atoms, count: number): number {
  const p = { rcut: 5, buffer: 5, minDistance: 1.5 };
  const index = indexFrame(f, p);
  const centres = Array.from({ length: count }, (_, k) => Math.floor((k * 7919) % f.numbers.length));
  for (const c of centres.slice(0, 50)) embedAtom(f, c, p, index); // warm-up
  const t = process.hrtime.bigint();
  for (const c of centres) embedAtom(f, c, p, index);
  return seconds(t) / count;
}
const small = fccFrame(14); // 10,976 atoms
const perSmall = perSubcell(small, 1000);
const perBig = perSubcell(big, 1000);

console.log(`\nautopipe select (read ${big.numbers.length} atoms, select, cut ${summary.selected} sub-cells, write): ${ours.toFixed(2)} s`);
console.log(`  ${summary.candidates_in_range} atoms in [5, 25), ${summary.centres_after_suppression} after suppression; ${summary.atoms_per_subcell.min}–${summary.atoms_per_subcell.max} atoms per sub-cell`);
console.log(`ASE 3.22 ase.io.read of the same dump (${aseAtoms} atoms), read alone: ${aseRead.toFixed(2)} s`);
console.log(`ratio ASE read / whole autopipe job: ${(aseRead / ours).toFixed(1)}× (aim ≥ 10×)`);
console.log(`\ntime per sub-cell (L = 20 Å): ${small.numbers.length}-atom parent ${(1e3 * perSmall).toFixed(3)} ms, ${big.numbers.length}-atom parent ${(1e3 * perBig).toFixed(3)} ms, ratio ${(perBig / perSmall).toFixed(2)} (aim within 2×)`);
