/**
 * Benchmark of issue 21 (run by hand, not in CI): MD speed of the two exploration engines on the
 * same 1,000-atom cell with the same potential and active set, through autopipe's own run files:
 *   ase     python/autopipe_explore.py run (ASE Langevin with python-ace's calculator and γ)
 *   lammps  templates/explore.lammps.hbs in the LAMMPS that scripts/install-lammps.sh builds
 *           (pair_style pace/extrapolation, γ every dump_every steps), serial and with 2 MPI ranks
 * NVT at 600 K, 2 fs, γ checked every 20 steps, nothing collected and no stop (thresholds of
 * 1e300: a short fit extrapolates wildly in a cell 30 times its training cells, and a run that
 * stopped early would time fewer steps; each run is checked to have run them all).
 * Each engine runs 0 steps (start-up: reading the potential, the first γ) and N steps; the speed
 * is N over the difference, so start-up is reported apart. The potentials are fitted here by the
 * venv's pacemaker to EMT energies and forces of rattled and strained fcc Al (ASE's EMT, no DFT:
 * only the basis matters for speed, not the fit's quality), in two sizes: the quickstart's basis
 * (8 functions per element, cutoff 4 Å) and a production-sized one (300 functions, cutoff 6 Å).
 * The anchor is the ase engine on the same basis in the same run: the ratio is lammps / ase.
 *
 *   node dist/bench/explore-engines.js [steps (default 200)] [work folder]
 */
import { existsSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { makeAtoms, type Atoms } from '../lib/atoms/atoms.js';
import { writeExtxyz } from '../lib/formats/extxyz.js';
import { writeLammpsData } from '../lib/formats/lammps-data.js';
import { loadTemplate } from '../lib/templates/render.js';
import { lammpsContext, type RunSettings } from '../lib/stages/explore/engines.js';

const ROOT = join(new URL('.', import.meta.url).pathname, '..', '..');
const VENV = process.env.AUTOPIPE_VENV ?? '/opt/autopipe/venv';
const PY = join(VENV, 'bin', 'python');
const LMP = join(process.env.AUTOPIPE_LAMMPS ?? '/opt/autopipe/lammps', 'bin', 'lmp');
const STEPS = Number(process.argv[2] ?? 200);
const WORK = process.argv[3] ?? '/tmp/autopipe-bench-engines';
const ENV = { ...process.env, OMP_NUM_THREADS: '1', TF_CPP_MIN_LOG_LEVEL: '3' };

const BASES = [
  { name: 'quickstart basis (8 functions, 4 Å)', functions: 8, cutoff: 4.0 },
  { name: 'production-sized basis (300 functions, 6 Å)', functions: 300, cutoff: 6.0 },
];

function run(cmd: string, args: string[], cwd: string): { seconds: number; out: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: ENV, maxBuffer: 1 << 28 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd} (exit ${r.status}):\n${(r.stderr ?? '').slice(-3000)}\n${(r.stdout ?? '').slice(-2000)}`);
  return { seconds, out: r.stdout };
}

/** fcc Al, nx × ny × nz conventional cells (4 atoms each). */
function fcc(nx: number, ny: number, nz: number, a = 4.05): Atoms {
  const positions: number[] = [];
  for (let i = 0; i < nx; i++) for (let j = 0; j < ny; j++) for (let k = 0; k < nz; k++) {
    for (const [x, y, z] of [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]) positions.push((i + x) * a, (j + y) * a, (k + z) * a);
  }
  return makeAtoms({ numbers: new Array(positions.length / 3).fill(13), positions, cell: [nx * a, 0, 0, 0, ny * a, 0, 0, 0, nz * a], pbc: [true, true, true] });
}

/** EMT training data (rattled, strained 32-atom cells) and a pacemaker fit with its active set. */
function fitPotential(dir: string, functions: number, cutoff: number): { yaml: string; asi: string } {
  const yaml = join(dir, 'output_potential.yaml');
  const asi = join(dir, 'output_potential.asi');
  if (existsSync(asi)) return { yaml, asi };
  mkdirSync(dir, { recursive: true });
  run(PY, ['-c', [
    'import numpy as np, pandas as pd',
    'from ase.build import bulk',
    'from ase.calculators.emt import EMT',
    'rng = np.random.default_rng(21); rows = []',
    'for k in range(16):',
    '    a = bulk("Al", "fcc", a=3.95 + 0.015 * k, cubic=True).repeat(2)',
    '    a.rattle(0.1, rng=rng); a.calc = EMT()',
    '    rows.append({"ase_atoms": a.copy(), "energy_corrected": a.get_potential_energy(), "forces": a.get_forces()})',
    'pd.DataFrame(rows).to_pickle("data.pckl.gzip", compression="gzip")',
  ].join('\n')], dir);
  writeFileSync(join(dir, 'input.yaml'), [
    'seed: 1', 'data: {filename: data.pckl.gzip}',
    'potential:', '  deltaSplineBins: 0.001', '  elements: [Al]',
    '  embeddings: {ALL: {npot: FinnisSinclairShiftedScaled, fs_parameters: [1, 1, 1, 0.5], ndensity: 2}}',
    `  bonds: {ALL: {radbase: SBessel, radparameters: [5.25], rcut: ${cutoff}, dcut: 0.01}}`,
    `  functions: {number_of_functions_per_element: ${functions}, ALL: {nradmax_by_orders: [15, 3, 2, 1], lmax_by_orders: [0, 3, 2, 1]}}`,
    'fit: {loss: {kappa: 0.3, L1_coeffs: 1e-8, L2_coeffs: 1e-8}, optimizer: BFGS, maxiter: 50}',
    'backend: {evaluator: tensorpot, batch_size: 16, display_step: 10}', '',
  ].join('\n'));
  run(join(VENV, 'bin', 'pacemaker'), ['input.yaml', '--no-predict'], dir);
  run(join(VENV, 'bin', 'pace_activeset'), ['-d', 'fitting_data_info.pckl.gzip', 'output_potential.yaml'], dir);
  return { yaml, asi };
}

function settings(steps: number): RunSettings {
  return {
    temperature: 600, temperature_end: 600, ensemble: 'nvt', pressure: null, seed: 11, steps, timestep: 2, dump_every: 20,
    gamma_collect: 1e300, gamma_stop: 1e301, types: ['Al'], friction: 0.01, tdamp: 100, pdamp: 1000, keep_velocities: false,
  };
}

/** One engine's run of `steps` in a fresh task folder laid out as autopipe's (../../inputs). */
function engineRun(engine: 'ase' | 'lammps', ranks: number, pot: { yaml: string; asi: string }, start: Atoms, steps: number, dir: string): number {
  const task = join(dir, 'explore', `${engine}-${ranks}-${steps}`);
  const inputs = join(dir, 'inputs');
  mkdirSync(task, { recursive: true });
  mkdirSync(inputs, { recursive: true });
  writeFileSync(join(inputs, 'potential.yaml'), readFileSync(pot.yaml));
  writeFileSync(join(inputs, 'potential.asi'), readFileSync(pot.asi));
  const s = settings(steps);
  writeFileSync(join(task, 'task.json'), JSON.stringify(s));
  if (engine === 'ase') {
    writeFileSync(join(task, 'start.extxyz'), writeExtxyz([start]));
    const seconds = run(PY, ['-W', 'ignore', join(ROOT, 'python', 'autopipe_explore.py'), 'run', 'task.json', 'start.extxyz', '../../inputs/potential.yaml', '../../inputs/potential.asi'], task).seconds;
    ranAll(engine, steps, (JSON.parse(readFileSync(join(task, 'summary.json'), 'utf8')) as { steps_run: number }).steps_run);
    return seconds;
  }
  writeFileSync(join(task, 'structure.data'), writeLammpsData(start, { types: ['Al'] }).text);
  writeFileSync(join(task, 'explore.in'), loadTemplate('explore.lammps.hbs')(lammpsContext(s)));
  const cmd = ranks === 1 ? [LMP] : ['mpirun', '--allow-run-as-root', '--oversubscribe', '-np', String(ranks), LMP];
  const seconds = run(cmd[0], [...cmd.slice(1), '-in', 'explore.in', '-log', 'explore.log', '-screen', 'none'], task).seconds;
  ranAll(engine, steps, Number([...readFileSync(join(task, 'explore.log'), 'utf8').matchAll(/^autopipe: check (\d+) /gm)].at(-1)?.[1]));
  return seconds;
}

function ranAll(engine: string, want: number, ran: number): void {
  if (ran !== want) throw new Error(`the ${engine} run stopped at step ${ran} of ${want}: its speed would not be comparable`);
}

const cell = fcc(5, 5, 10);
if (STEPS % 20 !== 0) throw new Error('steps must be a multiple of 20 (dump_every), so that the last step is checked');
console.log(`MD speed of the exploration engines: ${cell.numbers.length} atoms of fcc Al, NVT 600 K, 2 fs, γ every 20 steps; ${STEPS} steps after a 0-step start-up run; one core each (OMP_NUM_THREADS=1) unless MPI ranks say otherwise\n`);
const rows: string[] = ['| basis | engine | start-up, s | steps/s | ratio to ase |', '|---|---|---:|---:|---:|'];
for (const b of BASES) {
  const dir = join(WORK, `basis-${b.functions}`);
  const pot = fitPotential(dir, b.functions, b.cutoff);
  const speeds: Array<{ engine: string; startup: number; speed: number }> = [];
  for (const [engine, ranks] of [['ase', 1], ['lammps', 1], ['lammps', 2]] as const) {
    const t0 = engineRun(engine, ranks, pot, cell, 0, dir);
    const tN = engineRun(engine, ranks, pot, cell, STEPS, dir);
    speeds.push({ engine: ranks === 1 ? engine : `${engine}, ${ranks} MPI ranks`, startup: t0, speed: STEPS / Math.max(1e-9, tN - t0) });
  }
  const anchor = speeds[0].speed;
  for (const s of speeds) rows.push(`| ${b.name} | ${s.engine} | ${s.startup.toFixed(1)} | ${s.speed.toPrecision(3)} | ${(s.speed / anchor).toFixed(1)} |`);
}
console.log(rows.join('\n'));
writeFileSync(join(WORK, 'results.md'), rows.join('\n') + '\n');
