/**
 * Benchmark of issue 20 (run by hand, not in CI): does the loop with sub-cells learn faster per
 * DFT core-second than labelling whole frames? The quickstart's material and exploration (Al,
 * the 255-atom vacancy cell at 900 K, pw.x at the quickstart's settings), a fixed validation set
 * the loop never sees (three frames of that cell from EMT molecular dynamics at 600, 900 and
 * 1200 K, labelled with pw.x beside iteration 0), and three iterations of each variant:
 *   subcells   sub-cells with force masks (the defaults: lattice box, mask 3.3 Å), gamma, 2 per iteration
 *   whole      the selected frames whole (selection.embed: false), 3 per iteration
 *   unmasked   the same sub-cells with every mask 1 (embedding.mask_radius beyond the box), 2 per iteration
 *   d-optimal  sub-cells with masks, selection.method d-optimal, 2 per iteration
 * (a frame of 255 atoms at Γ costs about 0.6 of a 107-atom sub-cell at 2×2×2 k-points, so the
 * per-iteration DFT is about equal). Iteration 0 (the six starting cells, the validation frames and
 * the first fit) runs once and every variant continues a copy of it, so all start from the same
 * potential. A control refits iteration 0's rows with the same warm-started fits and no new
 * labels: what the extra optimisation alone gives. DFT cost is pw.x's own CPU time of the labels the loop chose (iterations ≥ 1), read
 * from each pw.out, so that what else ran on the machine does not change it.
 *
 *   node dist/bench/learning-curve.js [variants, comma-separated | all] [work folder]
 *
 * A variant already finished in the work folder is read, not run again. Prints a Markdown
 * table, the ratio of DFT time at which `subcells` reaches the final validation error of
 * `whole` (the anchor), and writes results.json and learning-curve.svg into the work folder.
 * About 90 minutes on 2 cores for all four.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync, copyFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { readCursor, writeCursor, type Cursor } from '../lib/state/cursor.js';
import { pwCpuSeconds } from '../lib/formats/espresso-out.js';
import { plotSvg, type Layer } from '../lib/report/svg.js';
import { PALETTE } from '../lib/report/plots.js';
import type { ValidationErrors } from '../lib/stages/kind.js';

const ROOT = join(new URL('.', import.meta.url).pathname, '..', '..');
const QUICKSTART = join(ROOT, 'examples', 'quickstart');
const ITERATIONS = 3;

type Doc = Record<string, Record<string, unknown>> & { name?: string };
interface Variant { name: string; about: string; edit: (c: Doc) => void }

const VARIANTS: Variant[] = [
  { name: 'subcells', about: 'sub-cells with force masks (gamma)', edit: (c) => { c.selection.max_candidates = 2; } },
  { name: 'whole', about: 'whole frames (selection.embed: false)', edit: (c) => { c.selection.max_candidates = 3; c.selection.embed = false; } },
  { name: 'unmasked', about: 'sub-cells, every mask 1', edit: (c) => { c.selection.max_candidates = 2; c.embedding.mask_radius = 100; } },
  { name: 'd-optimal', about: 'sub-cells with force masks (d-optimal)', edit: (c) => { c.selection.max_candidates = 2; c.selection.method = 'd-optimal'; } },
];

/** Three frames of the exploration cell from EMT MD at 600, 900 and 1200 K (2 ps each), written by the venv's ASE. */
const VALIDATION_PY = `
import numpy as np, sys
from ase import units
from ase.io import read, write
from ase.calculators.emt import EMT
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
start = read(sys.argv[1])
frames = []
for k, t in enumerate((600, 900, 1200)):
    a = start.copy(); a.calc = EMT()
    rng = np.random.default_rng(300 + k)
    MaxwellBoltzmannDistribution(a, temperature_K=t, rng=rng)
    Langevin(a, 2 * units.fs, temperature_K=t, friction=0.01, rng=rng).run(1000)
    a.calc = None; del a.arrays["momenta"]; a.info = {"name": f"al255_emt_{t}K"}
    frames.append(a)
write(sys.argv[2], frames, format="extxyz")
`;

function run(cmd: string, args: string[], cwd?: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${(r.stderr ?? '').slice(-3000)}`);
  return r.stdout;
}

const autopipe = (args: string[]) => run(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), ...args]);
const cursorOf = (dir: string): Cursor | undefined => readCursor(join(dir, '.autopipe', 'cursor.json'));

/** Iteration 0 once: the starting cells, the validation frames and the first fit. */
function base(work: string): string {
  const dir = join(work, 'base');
  if (cursorOf(dir)?.stopped?.reason.includes('stop_after') === true) return dir;
  mkdirSync(dir, { recursive: true });
  for (const f of ['structures.extxyz', 'explore.extxyz']) copyFileSync(join(QUICKSTART, f), join(dir, f));
  run('/opt/autopipe/venv/bin/python', ['-c', VALIDATION_PY, join(dir, 'explore.extxyz'), join(dir, 'validation.extxyz')]);
  const c = yaml.load(readFileSync(join(QUICKSTART, 'autopipe.yaml'), 'utf8')) as Doc;
  c.validation = { structures: 'validation.extxyz' };
  (c.embedding as Doc['embedding']).check = { when: 'off' }; // its DFT is no variant's
  c.iterations = { max: ITERATIONS, stop_after: 'train' };
  c.name = 'bench-learning';
  writeFileSync(join(dir, 'autopipe.yaml'), yaml.dump(c));
  autopipe(['run', '-C', dir]);
  return dir;
}

/** A variant: a copy of the base (its checkpoint moved with it) with the variant's settings, run to iterations.max. */
function variant(work: string, from: string, v: Variant): string {
  const dir = join(work, v.name);
  // finished: stopped by a rule of its own (iterations.max, or converged), not the base's stop_after
  const stopped = cursorOf(dir)?.stopped;
  if (stopped?.by === 'rule' && !stopped.reason.includes('stop_after')) return dir;
  if (!existsSync(dir)) {
    cpSync(from, dir, { recursive: true, preserveTimestamps: true });
    const path = join(dir, '.autopipe', 'cursor.json');
    writeCursor(path, { ...(readCursor(path) as Cursor), home: { workdir: join(dir, '.autopipe') } }, 0);
  }
  const c = yaml.load(readFileSync(join(from, 'autopipe.yaml'), 'utf8')) as Doc;
  c.iterations = { max: ITERATIONS };
  v.edit(c);
  writeFileSync(join(dir, 'autopipe.yaml'), yaml.dump(c));
  const t0 = Date.now();
  autopipe(['run', '-C', dir]);
  console.error(`${v.name}: ${((Date.now() - t0) / 60000).toFixed(1)} min`);
  return dir;
}

/**
 * The control: the same fits with no new labels. Each of iterations 1 … ITERATIONS − 1 warm-starts
 * pacemaker from the one before on iteration 0's rows, with the same input: how much of a
 * variant's gain is the extra optimisation a warm start gives, not its data.
 */
function refit(work: string, from: string): Point[] {
  const attempt = join(from, '.autopipe', 'run', 'iter-000', 'train', 't0000');
  const a0 = join(attempt, readdirSync(attempt)[0]);
  const inputs = join(from, '.autopipe', 'run', 'iter-000', 'train', 'inputs');
  const v0 = (JSON.parse(readFileSync(join(a0, 'validation.json'), 'utf8')) as { force_rmse: number; force_max_error: number; energy_rmse_per_atom_shifted: number });
  const points: Point[] = [{ iteration: 0, cpu_s: 0, labels: 0, force_rmse: v0.force_rmse * 1000, energy_shifted: v0.energy_rmse_per_atom_shifted * 1000, force_max: v0.force_max_error * 1000 }];
  let previous = join(a0, 'output_potential.yaml');
  for (let k = 1; k < ITERATIONS; k++) {
    const dir = join(work, 'refit', `iter-${k}`);
    if (!existsSync(join(dir, 'validation.json'))) {
      mkdirSync(dir, { recursive: true });
      for (const f of ['input.yaml', 'data.pckl.gzip', 'reference_energy.json']) copyFileSync(join(a0, f), join(dir, f));
      copyFileSync(previous, join(dir, 'previous.yaml'));
      const env = 'export OMP_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 TF_CPP_MIN_LOG_LEVEL=2';
      run('sh', ['-c', `${env}; /opt/autopipe/venv/bin/pacemaker input.yaml -p previous.yaml > pacemaker.out 2>&1 && /opt/autopipe/venv/bin/python ${join(inputs, 'autopipe_train.py')} validate output_potential.yaml ${join(inputs, 'validation.extxyz')} reference_energy.json > validation.json`], dir);
    }
    const v = JSON.parse(readFileSync(join(dir, 'validation.json'), 'utf8')) as typeof v0;
    points.push({ iteration: k, cpu_s: 0, labels: 0, force_rmse: v.force_rmse * 1000, energy_shifted: v.energy_rmse_per_atom_shifted * 1000, force_max: v.force_max_error * 1000 });
    previous = join(dir, 'output_potential.yaml');
  }
  return points;
}

interface Point { iteration: number; cpu_s: number; labels: number; force_rmse: number | null; energy_shifted: number | null; force_max: number | null }

/** pw.x CPU seconds of every attempt of an iteration's labelling (its pw.out files). */
function labelCpu(dir: string, k: number): { seconds: number; tasks: number } {
  const stage = join(dir, '.autopipe', 'run', `iter-${String(k).padStart(3, '0')}`, 'label');
  if (!existsSync(stage)) return { seconds: 0, tasks: 0 };
  let seconds = 0;
  const tasks = readdirSync(stage).filter((t) => /^t\d+$/.test(t));
  for (const t of tasks) for (const a of readdirSync(join(stage, t))) {
    const out = join(stage, t, a, 'pw.out');
    if (existsSync(out)) seconds += pwCpuSeconds(readFileSync(out, 'utf8')) ?? 0;
  }
  return { seconds, tasks: tasks.length };
}

function curve(dir: string): Point[] {
  const c = cursorOf(dir) as Cursor;
  const fits = [...c.done, ...c.stages].filter((s) => s.kind === 'train').sort((a, b) => a.iteration - b.iteration);
  let cpu = 0;
  let labels = 0;
  return fits.map((s) => {
    if (s.iteration > 0) {
      const l = labelCpu(dir, s.iteration);
      cpu += l.seconds;
      labels += l.tasks;
    }
    const v = (s.data.potential as { validation?: ValidationErrors } | undefined)?.validation;
    return { iteration: s.iteration, cpu_s: cpu, labels, force_rmse: v?.force_rmse ?? null, energy_shifted: v?.energy_shifted ?? null, force_max: v?.force_max ?? null };
  });
}

/** The DFT time at which a curve first reaches `target` (linear between its points), or null. */
function timeToReach(points: readonly Point[], target: number): number | null {
  for (let i = 0; i < points.length; i++) {
    const p = points[i];
    if (p.force_rmse === null || p.force_rmse > target) continue;
    const q = points[i - 1];
    if (q === undefined || q.force_rmse === null) return p.cpu_s;
    return q.cpu_s + ((q.force_rmse - target) / (q.force_rmse - p.force_rmse)) * (p.cpu_s - q.cpu_s);
  }
  return null;
}

function main(): void {
  const which = (process.argv[2] ?? 'all').split(',');
  const work = process.argv[3] ?? '/tmp/autopipe-bench-learning';
  mkdirSync(work, { recursive: true });
  const b = base(work);
  const results: Record<string, Point[]> = {};
  for (const v of VARIANTS) {
    if (!which.includes('all') && !which.includes(v.name)) continue;
    results[v.name] = curve(variant(work, b, v));
  }
  const control = refit(work, b);
  writeFileSync(join(work, 'results.json'), JSON.stringify({ ...results, refit: control }, null, 1));
  const f = (x: number | null, d = 1) => (x === null ? '–' : x.toFixed(d));
  console.log('| variant | iteration | labels chosen | pw.x CPU s (cumulative) | validation force RMSE meV/Å | largest force error meV/Å | energy RMSE less shift meV/atom |');
  console.log('|---|---|---|---|---|---|---|');
  for (const [name, points] of Object.entries(results)) for (const p of points) {
    console.log(`| ${name} | ${p.iteration} | ${p.labels} | ${f(p.cpu_s, 0)} | ${f(p.force_rmse)} | ${f(p.force_max)} | ${f(p.energy_shifted, 2)} |`);
  }
  for (const p of control) console.log(`| refit: no new labels, the same fits | ${p.iteration} | 0 | 0 | ${f(p.force_rmse)} | ${f(p.force_max)} | ${f(p.energy_shifted, 2)} |`);
  const anchor = results.whole?.at(-1);
  if (anchor !== undefined && anchor.force_rmse !== null && results.subcells !== undefined) {
    const t = timeToReach(results.subcells, anchor.force_rmse);
    console.log(`\nwhole frames' final validation force RMSE: ${f(anchor.force_rmse)} meV/Å after ${f(anchor.cpu_s, 0)} s of pw.x CPU`);
    console.log(t === null ? 'sub-cells never reach it in these iterations' : `sub-cells reach it after ${f(t, 0)} s: ratio whole / sub-cells = ${f(anchor.cpu_s / Math.max(t, 1e-9), 2)} (aim: ≥ 3)`);
  }
  const layers: Layer[] = Object.entries(results).map(([name, points], n) => ({
    kind: 'line', name, color: PALETTE[n % PALETTE.length], dash: name === 'whole',
    points: points.filter((p) => p.force_rmse !== null).map((p) => [p.cpu_s, p.force_rmse as number]),
  }));
  const last = control.at(-1);
  if (last?.force_rmse != null) layers.push({ kind: 'rule', name: `no new labels, ${ITERATIONS - 1} more fits: ${f(last.force_rmse)}`, color: '#7f7f7f', y: last.force_rmse });
  writeFileSync(join(work, 'learning-curve.svg'), plotSvg({
    id: 'learning-curve', title: 'Validation force RMSE against the DFT the loop spent (Al, 255-atom cell, 900 K)',
    x: { label: 'pw.x CPU seconds of the labels chosen (iterations ≥ 1)' }, y: { label: 'validation force RMSE, meV/Å', zero: true }, layers,
  }));
  console.log(`\nwrote ${join(work, 'results.json')} and ${join(work, 'learning-curve.svg')}`);
}

main();
