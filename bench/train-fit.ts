/**
 * Benchmark (issue 10): what the training stage adds around pacemaker, for 100 and 1,000 rows.
 * The rows are Al cells labelled with ASE's EMT (a stand-in for pw.x labels: only the time of
 * the fit matters here), half of them whole 4-atom cells and half 32-atom "sub-cells" whose
 * first 8 atoms are core (force_mask 1, energy weight 0), added with `autopipe db add`.
 * For each size, in the same run:
 *   - plan: autopipe's training plan (rows → weights → extxyz, the rendered input and job
 *     script), in this process;
 *   - the rendered train.sbatch, run whole by bash as SLURM would (the DataFrame helper,
 *     pacemaker, pace_activeset, pace_yaml2yace, the metrics on core atoms);
 *   - the anchor: pacemaker alone, on the job's own DataFrame and input, in a fresh folder;
 *   - the DataFrame helper alone, and `autopipe train --export` (a whole process).
 * All with one thread (the job script's setting). Not part of the test suite.
 *
 *   node dist/bench/train-fit.js [100,1000] [max_iterations=20]
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfigText } from '../lib/config/load.js';
import { openDatabaseFile } from '../lib/db/db-file.js';
import { planStage } from '../lib/loop/enter.js';
import { trainKind } from '../lib/stages/train/index.js';
import { HELPER } from '../lib/stages/train/plan.js';
import { loadTemplate } from '../lib/templates/render.js';
import { stageLocally } from '../lib/exec/stage-local.js';
import { emptyCursor } from '../lib/state/cursor.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const sizes = (process.argv[2] ?? '100,1000').split(',').map(Number);
const MAXITER = Number(process.argv[3] ?? 20);
const VENV = join(process.env.AUTOPIPE_VENV ?? '/opt/autopipe/venv', 'bin');
const out = join(ROOT, 'bench', 'out', 'train-fit');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const THREADS = { OMP_NUM_THREADS: '1', TF_NUM_INTRAOP_THREADS: '1', TF_NUM_INTEROP_THREADS: '1', TF_CPP_MIN_LOG_LEVEL: '2' };

const EMT_ROWS = `
import sys, numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import write
n, path = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(1)
frames = []
for k in range(n):
    sub = k % 2 == 1
    a = bulk("Al", "fcc", a=3.95 + 0.2 * rng.random(), cubic=True)
    if sub:
        a = a.repeat((2, 2, 2))
    a.rattle(0.08, seed=k)
    a.calc = EMT()
    a.get_forces()
    if sub:
        a.arrays["force_mask"] = np.array([1.0] * 8 + [0.0] * (len(a) - 8))
        a.info["embedded"] = True
    frames.append(a)
write(path, frames, format="extxyz")
`;

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, cwd: opts.cwd, env: { ...process.env, ...THREADS, ...opts.env } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ').slice(0, 200)} failed (exit ${r.status}): ${(r.stderr || r.stdout).slice(-2000)}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** The bench project's autopipe.yaml: written into its folder and parsed for the in-process plan. */
const projectYaml = (n: number) => `name: bench${n}\ndft: {pseudopotentials: {Al: Al.pz-vbc.UPF}}\ntrain: {max_iterations: ${MAXITER}, functions_per_element: 10, cutoff: 5.0, reference_energy: auto}\n`;

console.log(`training stage against pacemaker alone: EMT-labelled Al rows (half whole 4-atom cells, half 32-atom sub-cells with 8 core atoms), ${MAXITER} BFGS steps, 10 functions, TensorFlow backend, one thread`);
console.log('rows  plan s  job s  pacemaker alone s  job-pacemaker s  helper s  export s  around/pacemaker');
for (const n of sizes) {
  const dir = join(out, `n${n}`);
  mkdirSync(dir, { recursive: true });
  // the project: its database from EMT labels, through autopipe's own `db add`
  writeFileSync(join(dir, 'autopipe.yaml'), projectYaml(n));
  run(join(VENV, 'python'), ['-c', EMT_ROWS, String(n), join(dir, 'rows.extxyz')]);
  const db = join(dir, '.autopipe', 'autopipe.db');
  mkdirSync(dirname(db), { recursive: true });
  run(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), 'db', 'add', '--level', 'none', db, join(dir, 'rows.extxyz')]);

  // plan: what the poll does in-process when it enters the training stage
  const cfg = parseConfigText(projectYaml(n), join(dir, 'autopipe.yaml')).config;
  const runRoot = join(dir, 'run');
  const t0 = process.hrtime.bigint();
  const database = openDatabaseFile(db);
  const render = (name: string, context: object) => loadTemplate(name)(context);
  const planned = planStage(trainKind, 0, {
    cursor: emptyCursor(cfg.name, 0, 'c0ffee000001'), iteration: 0, config: cfg, configFile: 'autopipe.yaml', now: 0, db: () => database, render,
    asset: (name) => readFileSync(join(ROOT, 'python', name), 'utf8'), readFile: () => undefined, initialStructures: () => [], validationStructures: () => [],
  }, { project: cfg.name, now: 0, token: () => 'benchtoken0', maxArraySize: 1000 });
  stageLocally(runRoot, planned.files, []);
  database.close();
  const plan = Number(process.hrtime.bigint() - t0) / 1e9;

  // the job, whole, as SLURM runs it (array index 0)
  const script = join(runRoot, 'iter-000', 'train', 'benchtoken0.sbatch');
  // sbatch --chdir: the job starts in its stage folder
  const job = run('bash', [script], { cwd: join(runRoot, 'iter-000', 'train'), env: { SLURM_ARRAY_TASK_ID: '0' } });
  const attempt = join(runRoot, 'iter-000', 'train', 't0000', 'a1');
  const metrics = JSON.parse(readFileSync(join(attempt, 'metrics.json'), 'utf8')) as { train: { structures: number; core_atoms: number; force_rmse_core: number } };
  if (metrics.train.structures !== n) throw new Error(`the fit used ${metrics.train.structures} rows, not ${n}`);

  // the anchor: pacemaker alone on the job's own DataFrame and input
  const alone = join(dir, 'alone');
  mkdirSync(alone);
  copyFileSync(join(attempt, 'data.pckl.gzip'), join(alone, 'data.pckl.gzip'));
  copyFileSync(join(attempt, 'input.yaml'), join(alone, 'input.yaml'));
  const pacemaker = run(join(VENV, 'pacemaker'), ['input.yaml'], { cwd: alone });

  // the DataFrame helper alone, and the user's export command (a whole process)
  const inputs = join(runRoot, 'iter-000', 'train', 'inputs');
  const helper = run(join(VENV, 'python'), [join(inputs, HELPER), 'dataframe', join(inputs, 'train.extxyz'), join(inputs, 'reference_energy.json'), join(dir, 'helper.pckl.gzip')]);
  const exported = run(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), 'train', '--export', join(dir, 'export.pckl.gzip'), '-C', dir]);

  const around = plan + job - pacemaker;
  console.log(`${String(n).padStart(4)}  ${plan.toFixed(2).padStart(6)}  ${job.toFixed(1).padStart(5)}  ${pacemaker.toFixed(1).padStart(17)}  ${(job - pacemaker).toFixed(1).padStart(15)}  ${helper.toFixed(2).padStart(8)}  ${exported.toFixed(2).padStart(8)}  ${(around / pacemaker).toFixed(2).padStart(16)}`);
  console.log(`      (fit: ${metrics.train.core_atoms} core atoms, force RMSE ${(1000 * metrics.train.force_rmse_core).toFixed(1)} meV/Å on them)`);
}
console.log('job − pacemaker is what the job runs besides the fit: the DataFrame helper, pace_activeset, pace_yaml2yace and the metrics (Python and TensorFlow start-ups included)');
