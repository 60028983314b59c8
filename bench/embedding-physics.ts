/**
 * Benchmark 2 of issue 3 (run by hand, not in CI): does periodic embedding make DFT cheaper
 * while the core forces stay right? A rattled fcc Al parent of 4×4×4 cells with a vacancy
 * (255 atoms) and sub-cells cut around a few centres are labelled with real pw.x at Gamma;
 * the forces of each sub-cell atom are compared with the parent's forces on the same atom,
 * by distance from the centre. Writes a Markdown table to stdout (and docs/ by hand).
 *
 *   node dist/bench/embedding-physics.js [rcut] [buffer[:min_distance],…] [work folder]   (default 3 3)
 *
 * Given the work folder of an earlier run, finished pw.x runs there are reused (their wall
 * time read from the output), so the 6-minute parent need not run again.
 */
import { writeFileSync, readFileSync, mkdtempSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeAtoms, type Atoms } from '../lib/atoms/atoms.js';
import { writePwInput } from '../lib/formats/espresso-in.js';
import { parsePwOutput } from '../lib/formats/espresso-out.js';
import { embedAtom, indexFrame, type EmbedParams } from '../lib/embed/extract.js';

const rcut = Number(process.argv[2] ?? 3);
const cases = (process.argv[3] ?? '3').split(',').map((c) => {
  const [buffer, min] = c.split(':').map(Number);
  return { buffer, minDistance: min ?? 1.5 };
});
const A = 4.05;
const dir = process.argv[4] ?? mkdtempSync(join(tmpdir(), 'autopipe-physics-'));
const PARAMS = { ecutwfc: 15, occupations: 'smearing', smearing: 'mv', degauss: 0.05, conv_thr: 1e-7, mixing_beta: 0.3 };

let seed = 2024;
const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);

function parent(): Atoms {
  const pos: number[] = [];
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) for (let k = 0; k < 4; k++) {
    for (const [x, y, z] of [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]) {
      pos.push((i + x) * A + 0.1 * (rand() - 0.5), (j + y) * A + 0.1 * (rand() - 0.5), (k + z) * A + 0.1 * (rand() - 0.5));
    }
  }
  pos.splice(0, 3); // the vacancy: the atom at the origin
  return makeAtoms({ numbers: new Array(pos.length / 3).fill(13), positions: pos, cell: [4 * A, 0, 0, 0, 4 * A, 0, 0, 0, 4 * A], pbc: [true, true, true] });
}

/** pw.x's own wall time: `     PWSCF        :      0.21s CPU      0.16s WALL` (also `1m 2.3s`). */
function wallSeconds(text: string): number {
  const m = /PWSCF\s+:.*CPU\s+(?:(\d+)h)?\s*(?:(\d+)m)?\s*([\d.]+)s WALL/.exec(text);
  return m === null ? NaN : 3600 * Number(m[1] ?? 0) + 60 * Number(m[2] ?? 0) + Number(m[3]);
}

function runPw(name: string, atoms: Atoms): { forces: Float64Array; seconds: number; energy: number } {
  if (existsSync(join(dir, `${name}.out`))) {
    const text = readFileSync(join(dir, `${name}.out`), 'utf8');
    const old = parsePwOutput(text);
    if (old.status === 'ok' && old.forces !== undefined && old.atoms?.numbers.length === atoms.numbers.length) {
      console.error(`${name}: reused (${atoms.numbers.length} atoms, ${wallSeconds(text).toFixed(1)} s)`);
      return { forces: old.forces, seconds: wallSeconds(text), energy: old.energy as number };
    }
  }
  writeFileSync(join(dir, `${name}.in`), writePwInput(atoms, {
    parameters: PARAMS, pseudopotentials: { Al: 'Al.pz-vbc.UPF' }, pseudoDir: '/usr/share/espresso/pseudo', kpoints: { kind: 'gamma' }, prefix: name,
  }));
  const t = process.hrtime.bigint();
  const r = spawnSync('sh', ['-c', 'cd "$1" && OMP_NUM_THREADS=1 pw.x -in "$2.in" > "$2.out" 2> "$2.err"', 'sh', dir, name]);
  const text = readFileSync(join(dir, `${name}.out`), 'utf8');
  const seconds = Number.isNaN(wallSeconds(text)) ? Number(process.hrtime.bigint() - t) / 1e9 : wallSeconds(text);
  const out = parsePwOutput(text);
  if (r.status !== 0 || out.status !== 'ok' || out.forces === undefined) throw new Error(`${name}: pw.x ${out.status}: ${out.message}`);
  console.error(`${name}: ${atoms.numbers.length} atoms, ${seconds.toFixed(1)} s`);
  return { forces: out.forces, seconds, energy: out.energy as number };
}

const p = parent();
console.error(`work folder ${dir}`);
const ref = runPw('parent', p);
const fmax = Math.max(...Array.from({ length: ref.forces.length / 3 }, (_, a) => Math.hypot(ref.forces[3 * a], ref.forces[3 * a + 1], ref.forces[3 * a + 2])));
// centres: a neighbour of the vacancy, and two atoms far from it
const centres = [2, 130, 200];
const sections: string[] = [];
for (const { buffer, minDistance } of cases) {
  const params: EmbedParams = { rcut, buffer, minDistance };
  const tag = minDistance === 1.5 ? `b${buffer}` : `b${buffer}m${minDistance}`;
  const index = indexFrame(p, params);
  const times: string[] = [];
  const perBin = new Map<number, number[]>();
  centres.forEach((c, n) => {
    const s = embedAtom(p, c, params, index, { file: 'parent' });
    if (s.kind !== 'subcell') throw new Error(`centre ${c}: ${s.kind}`);
    const run = runPw(`${tag}-c${c}`, s.atoms);
    times.push(`| ${c + 1} | ${s.atoms.numbers.length} | ${s.nCore} | ${s.nRemoved} | ${run.seconds.toFixed(1)} | ${(ref.seconds / run.seconds).toFixed(1)}× |`);
    const ids = s.atoms.arrays.parent_id.values as Float64Array;
    const L = s.atoms.info.L as number;
    for (let k = 0; k < s.atoms.numbers.length; k++) {
      const d = Math.hypot(s.atoms.positions[3 * k] - L / 2, s.atoms.positions[3 * k + 1] - L / 2, s.atoms.positions[3 * k + 2] - L / 2);
      const a = ids[k] - 1;
      const err = Math.hypot(...[0, 1, 2].map((x) => run.forces[3 * k + x] - ref.forces[3 * a + x]));
      const b = Math.floor(d);
      perBin.set(b, [...(perBin.get(b) ?? []), err]);
    }
  });
  const rows: string[] = [];
  for (const b of [...perBin.keys()].sort((x, y) => x - y)) {
    const e = perBin.get(b) as number[];
    const rms = Math.sqrt(e.reduce((sum, x) => sum + x * x, 0) / e.length);
    const where = b + 1 <= rcut ? 'core' : b >= rcut ? 'buffer' : 'core/buffer';
    rows.push(`| ${b}–${b + 1} | ${where} | ${e.length} | ${(1000 * rms).toFixed(1)} | ${(1000 * Math.max(...e)).toFixed(1)} |`);
  }
  sections.push(`### rcut = ${rcut} Å, buffer = ${buffer} Å (L = ${2 * (rcut + buffer)} Å), min_distance = ${minDistance} Å

| centre (parent id) | atoms | core | removed at seam | pw.x s | speed-up |
|---|---|---|---|---|---|
${times.join('\n')}

Force error |F_sub − F_parent| of the same atom, by distance from the centre (all three sub-cells):

| distance Å | | atoms | rms meV/Å | max meV/Å |
|---|---|---|---|---|
${rows.join('\n')}
`);
}
console.log(`## Periodic embedding against the full parent (pw.x, Al, Gamma)

Parent: fcc Al, 4×4×4 conventional cells (a = 4.05 Å), one vacancy, rattled ±0.05 Å: ${p.numbers.length} atoms.
pw.x ${JSON.stringify(PARAMS)}, K_POINTS gamma, serial. mask_radius = rcut.
Largest parent force: ${(1000 * fmax).toFixed(0)} meV/Å. pw.x wall time of the parent: ${ref.seconds.toFixed(1)} s.

${sections.join('\n')}`);
