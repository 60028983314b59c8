/**
 * The training stage on the real components: pw.x labels of 20 Al structures (6 of them embedded
 * sub-cells with masks, test/support/al-training.ts), the venv's real pacemaker (TensorFlow
 * backend), the local executor, and SLURM over SSH on the test cluster.
 */
import { expect } from 'chai';
import { potentialsOf } from '../lib/stages/kept.js';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readCursor, type Cursor } from '../lib/state/cursor.js';
import { stageSettled } from '../lib/state/tasks.js';
import { POTENTIAL_FILES } from '../lib/stages/train/judge.js';
import { makeAtoms, type Atoms } from '../lib/atoms/atoms.js';
import { trainedProject, trainingProject, autopipe } from './support/al-training.js';
import { clusterEnv, jobNamesRun } from './support/cluster.js';
import { ROOT, tmpDir, python, need, pythonUnder, VENV_PYTHON } from './support/tools.js';
import { rng } from './support/random.js';

/** pacemaker and its tools sit next to the venv's Python. */
const VENV = dirname(VENV_PYTHON);
/** The job script's thread settings: the same rows and input give the same potential. */
const FIXED_THREADS = { OMP_NUM_THREADS: '1', TF_NUM_INTRAOP_THREADS: '1', TF_NUM_INTEROP_THREADS: '1', TF_CPP_MIN_LOG_LEVEL: '2' };

function venvPython(code: string, args: string[] = []): string {
  return pythonUnder(VENV_PYTHON, code, args);
}

/** pacemaker by hand in `dir` on `data` with `input`, as the training job runs it. */
function pacemaker(dir: string, data: string, input: string, extra: string[] = []): { yaml: string; log: string } {
  need(`${VENV}/pacemaker`);
  mkdirSync(dir, { recursive: true });
  copyFileSync(data, join(dir, 'data.pckl.gzip'));
  copyFileSync(input, join(dir, 'input.yaml'));
  const r = spawnSync(`${VENV}/pacemaker`, ['input.yaml', ...extra], { cwd: dir, encoding: 'utf8', env: { ...process.env, ...FIXED_THREADS }, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`pacemaker failed in ${dir} (exit ${r.status}):\n${r.stderr.slice(-3000)}`);
  return { yaml: join(dir, 'output_potential.yaml'), log: readFileSync(join(dir, 'log.txt'), 'utf8') };
}

/** Every number of a potential but its metadata (loss, times): its coefficients, in file order. */
function coefficients(yaml: string): number[] {
  return JSON.parse(venvPython(`
import json, sys, yaml
pot = yaml.safe_load(open(sys.argv[1]))
pot.pop("metadata", None)
out = []
def walk(v):
    if isinstance(v, bool): return
    if isinstance(v, (int, float)): out.append(float(v))
    elif isinstance(v, dict): [walk(v[k]) for k in sorted(v)]
    elif isinstance(v, list): [walk(x) for x in v]
walk(pot)
print(json.dumps(out))`, [yaml])) as number[];
}

function maxDiff(a: number[], b: number[]): number {
  expect(a.length).to.equal(b.length);
  return Math.max(...a.map((x, i) => Math.abs(x - b[i])));
}

/** The losses pacemaker's log reports: the initial state's and the last iteration's. */
function losses(log: string): { initial: number; last: number } {
  const initial = /Initial state:#0\s.*?Loss: ([\d.e+-]+)/.exec(log);
  const all = [...log.matchAll(/Iteration\s+#\d+\s.*?Loss: ([\d.e+-]+)/g)];
  if (initial === null || all.length === 0) throw new Error('no loss in the log');
  return { initial: Number(initial[1]), last: Number(all[all.length - 1][1]) };
}

function cursorOf(dir: string): Cursor {
  return readCursor(join(dir, '.autopipe', 'cursor.json'))!;
}

/** Rows of a database, read by Debian's ASE: id, natoms, embedded, the force mask. */
function aseRows(db: string): Array<{ id: number; natoms: number; embedded: boolean; mask: number[] | null }> {
  return JSON.parse(python(`
import json, sys
from ase.db import connect
out = []
for r in connect(sys.argv[1]).select():
    m = r.data.get("force_mask")
    out.append({"id": r.id, "natoms": r.natoms, "embedded": bool(r.get("embedded", False)), "mask": None if m is None else [float(x) for x in m]})
print(json.dumps(out))`, [db])) as Array<{ id: number; natoms: number; embedded: boolean; mask: number[] | null }>;
}

/** Whole fcc Al cells not in the training set (another seed), to label next to its database. */
function extraCells(n: number, seed: number, info: Array<Record<string, string>> = []): Atoms[] {
  const draw = rng(seed);
  return Array.from({ length: n }, (_, k) => {
    const a = 4.0 + 0.03 * k;
    const base = [0, 0, 0, 0.5, 0.5, 0, 0.5, 0, 0.5, 0, 0.5, 0.5];
    return makeAtoms({ numbers: [13, 13, 13, 13], positions: base.map((x) => x * a + 0.15 * (draw() - 0.5)), cell: [a, 0, 0, 0, a, 0, 0, 0, a], pbc: [true, true, true], info: { name: `extra ${k}`, ...(info[k] ?? {}) } });
  });
}

/** A project that labels `cells` next to a copy of the 20 labelled rows, then fits all of them. */
function projectBesideLabelled(dir: string, cells: Atoms[], lines: string[]): void {
  trainingProject(dir, cells, lines);
  mkdirSync(join(dir, '.autopipe'), { recursive: true });
  copyFileSync(trainedProject().db, join(dir, '.autopipe', 'autopipe.db'));
}

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

describe('training with real pacemaker on pw.x labels', function () {
  this.timeout(900000);
  let t: ReturnType<typeof trainedProject>;
  before(function () {
    this.timeout(900000);
    t = trainedProject();
  });

  it('a tiny real fit through the loop: 20 Al structures (6 embedded sub-cells) labelled by pw.x, fitted, kept with metrics on core atoms', () => {
    const c = cursorOf(t.dir);
    const rows = aseRows(t.db);
    expect(rows).to.have.length(20);
    const coreAtoms = rows.reduce((n, r) => n + (r.mask === null ? r.natoms : r.mask.filter((m) => m === 1).length), 0);
    expect(rows.filter((r) => r.embedded)).to.have.length(6);
    expect(t.stderr).to.match(new RegExp(`fit of iteration 0: 20 rows \\(${coreAtoms} atoms with force weight\\)`));
    const pot = potentialsOf(c)[0];
    expect(potentialsOf(c)).to.have.length(1);
    expect(pot).to.deep.include({ iteration: 0, dir: 'potentials/iter-000', rows: 20, row_ids: [[1, 20]], warm_start_from: null });
    const m = pot.metrics as { finite: boolean; seconds: number; train: { structures: number; core_atoms: number; energy_rmse_per_atom: number; force_rmse_core: number } };
    expect(m.finite).to.equal(true);
    expect(m.train).to.deep.include({ structures: 20, core_atoms: coreAtoms });
    // a small basis and 40 steps: a rough fit, but a fit (the DFT forces here reach about 1 eV/Å)
    expect(m.train.energy_rmse_per_atom).to.be.within(0, 0.05);
    expect(m.train.force_rmse_core).to.be.within(0.001, 0.3);
    for (const f of POTENTIAL_FILES) expect(existsSync(join(t.potential, f)), f).to.equal(true);
    // the active set exploration needs: one matrix per element, square in the basis functions
    expect(venvPython('import sys, numpy as np; z = np.load(sys.argv[1]); print(sorted((k, z[k].shape[0] == z[k].shape[1]) for k in z))', [join(t.potential, 'output_potential.asi')]).trim()).to.equal("[('Al', True)]");
    expect(readFileSync(join(t.potential, 'output_potential.yace'), 'utf8')).to.match(/elements: \[Al\]/);
    const status = autopipe(['status'], t.dir);
    expect(status.stdout).to.match(new RegExp(`iteration 0 train +potentials/iter-000: 20 rows \\(ids 1-20\\); train: energy \\d+\\.\\d meV/atom, force \\d+\\.\\d meV/Å on ${coreAtoms} core atoms; \\d+ s`));
    expect(c.stopped?.reason).to.equal('iteration 0 is through train, and iterations.stop_after is train');
    // the fit's curve is kept for the report; status tables the iteration
    expect(readFileSync(join(t.potential, 'metrics.txt'), 'utf8')).to.match(/^ladder_step cycle_step iter_num loss /);
    const row = status.stdout.split('\n')[1];
    expect(row, row).to.match(/^0 +14\/6 +[\d.]+ +\d+\/0 +[\d.]+\/([\d.]+|-) +[\d.]+\/([\d.]+|-) +- +- +- +- +- +-$/);
    // autopipe run to a pipe: plain progress lines, each saying something the one before did not
    const progress = t.stderr.split('\n').filter((l) => /^iteration 0 · (label|train) · /.test(l)).map((l) => l.replace(/ · [\dhms ]+$/, ''));
    expect(t.stderr).to.not.contain('\r');
    expect(t.stderr, 'a pipe gets every change, each task\'s moves too').to.match(/^train t0000: pending → running$/m);
    expect(progress.some((l) => /^iteration 0 · label · \d+ done, \d+ running, \d+ pending, 0 failed$/.test(l)), t.stderr.slice(-3000)).to.equal(true);
    expect(progress).to.include('iteration 0 · train · 0 done, 1 running, 0 pending, 0 failed');
    expect(progress.filter((l, k) => k > 0 && l === progress[k - 1])).to.deep.equal([]);
    process.stderr.write(`      (label + fit of 20 Al structures: ${t.seconds.toFixed(0)} s, of which pacemaker ${m.seconds} s)\n`);
  });

  it('autopipe train --export writes the DataFrame the job fitted: w_energy per row, w_forces the force mask; the venv reads it', () => {
    const dir = tmpDir();
    const file = join(dir, 'data.pckl.gzip');
    const r = autopipe(['train', '--export', file], t.dir);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/wrote .*data\.pckl\.gzip: 20 rows, 130 atoms with force weight, reference energies Al -\d+\.\d+ eV/);
    const check = JSON.parse(venvPython(`
import json, sys
import numpy as np, pandas as pd
from ase.db import connect
mine = pd.read_pickle(sys.argv[1], compression="gzip")
job = pd.read_pickle(sys.argv[2], compression="gzip")
db = connect(sys.argv[3])
ref = float(sys.argv[4])
same = list(mine.columns) == list(job.columns) and all(
    np.allclose(np.asarray(a), np.asarray(b), rtol=0, atol=0) if k not in ("ase_atoms",) else a == b
    for k in mine.columns for a, b in zip(mine[k], job[k]))
rows = []
for _, x in mine.iterrows():
    r = db.get(id=int(x.db_id))
    mask = r.data.get("force_mask")
    rows.append({
        "embedded": bool(r.get("embedded")), "w_energy": float(x.w_energy),
        "w_forces_is_mask": bool(np.array_equal(x.w_forces, np.ones(r.natoms) if mask is None else np.asarray(mask, dtype=float))),
        "forces": bool(np.array_equal(x.forces, r.forces)), "energy": x.energy == r.energy,
        "corrected": abs(x.energy_corrected - (r.energy - r.natoms * ref)) < 1e-6 * r.natoms,  # ref as printed, to 1e-6 eV
    })
print(json.dumps({"columns": sorted(mine.columns), "same_as_job": bool(same), "rows": rows, "w_forces": float(sum(np.sum(w) for w in mine.w_forces))}))`,
    [file, join(t.dir, '.autopipe', 'run', 'iter-000', 'train', 't0000', 'a1', 'data.pckl.gzip'), t.db, /reference energies Al (-[\d.]+) eV/.exec(r.stdout)![1]])) as {
      columns: string[]; same_as_job: boolean; w_forces: number;
      rows: Array<{ embedded: boolean; w_energy: number; w_forces_is_mask: boolean; forces: boolean; energy: boolean; corrected: boolean }>;
    };
    expect(check.columns).to.include.members(['ase_atoms', 'energy', 'energy_corrected', 'forces', 'w_energy', 'w_forces']);
    expect(check.same_as_job, 'the export is the DataFrame the training job made').to.equal(true);
    expect(check.rows).to.have.length(20);
    for (const row of check.rows) {
      expect(row).to.deep.include({ w_forces_is_mask: true, forces: true, energy: true, corrected: true });
      expect(row.w_energy).to.equal(row.embedded ? 0 : 1); // embedding.energy_weight: 0 by default
    }
    expect(check.w_forces).to.equal(130);
    // FILE exists: refused, unless --force; a Python without numpy and pandas (no site packages): a clear error, no file left
    const again = autopipe(['train', '--export', file], t.dir);
    expect(again.status).to.equal(64);
    expect(again.stderr).to.match(/exists/).and.match(/--force/);
    expect(autopipe(['train', '--export', file, '--force'], t.dir).status).to.equal(0);
    const other = join(dir, 'other.pckl.gzip');
    const bad = autopipe(['train', '--export', other, '--python', '/usr/bin/python3 -S'], t.dir);
    expect(bad.status).to.equal(65);
    expect(bad.stderr).to.match(/the DataFrame helper failed under \/usr\/bin\/python3 -S \(exit 1\): ModuleNotFoundError: No module named '\w+'/).and.match(/--python/);
    const echo = autopipe(['train', '--export', other, '--python', '/bin/echo'], t.dir);
    expect(echo.status).to.equal(65);
    expect(echo.stderr).to.match(/the DataFrame helper under \/bin\/echo printed no summary/);
    const folder = autopipe(['train', '--export', dir], t.dir);
    expect(folder.status).not.to.equal(0);
    expect(folder.stderr).to.match(/is a folder/).and.not.match(/\n\s+at /);
    expect(readdirSync(dir).sort()).to.deep.equal(['data.pckl.gzip']);
  });

  it('masks reach the loss: buffer forces replaced by large random vectors give the same potential; one core force changed gives another', () => {
    const dir = tmpDir();
    const jobData = join(t.dir, '.autopipe', 'run', 'iter-000', 'train', 't0000', 'a1', 'data.pckl.gzip');
    const input = join(t.potential, 'input.yaml');
    const changed = JSON.parse(venvPython(`
import json, sys
import numpy as np, pandas as pd
df = pd.read_pickle(sys.argv[1], compression="gzip")
rng = np.random.default_rng(7)
buffer, core = df.copy(), df.copy()
n_buffer, n_core = 0, 0
for i in df.index:
    m = np.asarray(df.at[i, "w_forces"])
    f = np.array(df.at[i, "forces"], dtype=float)
    b = f.copy(); b[m == 0] = rng.normal(0.0, 50.0, size=(int((m == 0).sum()), 3)); n_buffer += int((m == 0).sum())
    buffer.at[i, "forces"] = b
    if n_core == 0 and (m == 0).any():
        c = f.copy(); c[int(np.flatnonzero(m > 0)[0])] += [0.5, -0.3, 0.2]; n_core = 1
        core.at[i, "forces"] = c
buffer.to_pickle(sys.argv[2], compression="gzip")
core.to_pickle(sys.argv[3], compression="gzip")
print(json.dumps({"buffer": n_buffer, "core": n_core}))`, [jobData, join(dir, 'buffer.pckl.gzip'), join(dir, 'core.pckl.gzip')])) as { buffer: number; core: number };
    expect(changed.buffer).to.equal(rowsBuffer(t.db));
    // the loop's own fit is the reference: the same data, input, seed and thread count
    const reference = coefficients(join(t.potential, 'output_potential.yaml'));
    const buffer = coefficients(pacemaker(join(dir, 'buffer'), join(dir, 'buffer.pckl.gzip'), input).yaml);
    const core = coefficients(pacemaker(join(dir, 'core'), join(dir, 'core.pckl.gzip'), input).yaml);
    expect(reference.length).to.be.greaterThan(10);
    // bitwise: with its seed and one thread, the TensorFlow backend repeats a fit exactly
    expect(maxDiff(reference, buffer), 'buffer forces (mask 0) do not reach the loss').to.equal(0);
    expect(maxDiff(reference, core), 'a core force does').to.be.greaterThan(1e-6);
  });

  it('warm start: a fit with train.initial_potential starts from its coefficients (pacemaker\'s log, the first loss)', () => {
    const dir = tmpDir();
    copyFileSync(join(t.potential, 'output_potential.yaml'), join(dir, 'start.yaml'));
    projectBesideLabelled(dir, extraCells(1, 5), ['name: warm', 'iterations: {stop_after: train}', 'executor: {kind: local, poll_interval: 0.5}', 'train: {max_iterations: 10, functions_per_element: 6, cutoff: 4.5, reference_energy: auto, initial_potential: start.yaml}']);
    const r = autopipe(['run'], dir);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/fit of iteration 0: 21 rows \(134 atoms with force weight\), warm start from start\.yaml/);
    const pot = potentialsOf(cursorOf(dir))[0];
    expect(pot.warm_start_from).to.equal('start.yaml');
    const warm = readFileSync(join(dir, '.autopipe', 'potentials', 'iter-000', 'log.txt'), 'utf8');
    expect(warm).to.match(/Target potential loaded from file '\.\.\/\.\.\/inputs\/previous\.yaml'/);
    expect(readFileSync(join(dir, '.autopipe', 'run', 'iter-000', 'train', 'inputs', 'previous.yaml'), 'utf8')).to.equal(readFileSync(join(dir, 'start.yaml'), 'utf8'));
    // the first loss of the warm fit is near where the cold one ended, far below where it began
    const cold = losses(readFileSync(join(t.potential, 'log.txt'), 'utf8'));
    const w = losses(warm);
    expect(w.initial).to.be.below(cold.initial / 3);
    expect(w.initial / cold.last).to.be.within(0.5, 2);
  });

  it('a pacemaker failure (an input naming no such embedding) is pacemaker_error with its log line, never retried; the loop stops with it', () => {
    const dir = tmpDir();
    projectBesideLabelled(dir, extraCells(1, 6), ['name: broken', 'iterations: {stop_after: train}', 'executor: {kind: local, poll_interval: 0.5}']);
    mkdirSync(join(dir, 'templates'));
    const template = readFileSync(join(ROOT, 'templates', 'pacemaker.yaml.hbs'), 'utf8');
    expect(template).to.include('FinnisSinclairShiftedScaled');
    writeFileSync(join(dir, 'templates', 'pacemaker.yaml.hbs'), template.replace('FinnisSinclairShiftedScaled', 'NoSuchEmbedding'));
    // a stage that gave up: run exits 3, and says how to go on
    const r = autopipe(['run'], dir);
    expect(r.status, r.stderr).to.equal(3);
    expect(r.stderr).to.match(/autopipe: the loop stopped: training of iteration 0 gave up/).and.match(/what to do: fix the cause, then run autopipe resume/);
    const c = cursorOf(dir);
    const train = c.stages.find((s) => s.kind === 'train')!;
    expect(train.tasks[0].attempts).to.have.length(1);
    expect(train.tasks[0].attempts[0]).to.deep.include({ state: 'failed', error_class: 'pacemaker_error' });
    expect(train.tasks[0].attempts[0].message).to.match(/^exit 1: \w+Error: .+/);
    expect(train.tasks[0].gave_up).to.match(/pacemaker_error is never retried/);
    expect(potentialsOf(c)).to.deep.equal([]);
    expect(c.stopped?.reason).to.match(/^training of iteration 0 gave up: pacemaker_error is never retried.*; last error: exit 1: \w+Error/);
    const status = autopipe(['status'], dir).stdout;
    expect(status).to.match(/t0000 {2}failed {4}attempt 1 .* pacemaker_error/).and.match(/stopped: training of iteration 0 gave up.*\(to go on: fix the cause named above, then run autopipe resume\)/);
    // the line is pacemaker's own, from its stderr
    const err = readFileSync(join(dir, '.autopipe', 'run', 'iter-000', 'train', 't0000', 'a1', 'pacemaker.err'), 'utf8');
    expect(err).to.include(train.tasks[0].attempts[0].message!.replace(/^exit 1: /, ''));
  });

  it('the trigger with stragglers: training starts once train.min_new_structures are merged (train and test errors); the stragglers are merged later and are in the next export', async () => {
    const dir = tmpDir();
    const release = join(dir, 'release');
    writeFileSync(join(dir, 'hold.sh'), `#!/bin/bash\n# test wrapper: structures marked hold wait for ${release}\nif grep -q hold=yes structure.extxyz; then while [ ! -f ${JSON.stringify(release)} ]; do sleep 0.2; done; fi\nexec "$@"\n`);
    const cells = extraCells(4, 7, [{}, { hold: 'yes' }, {}, { hold: 'yes' }]);
    projectBesideLabelled(dir, cells, [
      'name: straggle', 'iterations: {stop_after: train}', 'executor: {kind: local, max_concurrent: 4, poll_interval: 0.5}',
      // a test fraction too: the fit's errors on held-out rows
      'train: {max_iterations: 10, functions_per_element: 6, cutoff: 4.5, reference_energy: auto, min_new_structures: 2, test_fraction: 0.2}',
    ]);
    writeFileSync(join(dir, 'autopipe.yaml'), readFileSync(join(dir, 'autopipe.yaml'), 'utf8').replace('dft:\n', `dft:\n  command: bash ${join(dir, 'hold.sh')} pw.x\n`));
    expect(autopipe(['submit'], dir).status).to.equal(0);
    let c = cursorOf(dir);
    for (let k = 0; k < 240 && potentialsOf(c).length === 0; k++) {
      const r = autopipe(['poll'], dir);
      expect(r.status, r.stderr).to.equal(0);
      c = cursorOf(dir);
      await sleep(500);
    }
    // fitted while two labels still run: the labelling stage is open beside the training stage
    expect(potentialsOf(c)).to.have.length(1);
    expect(potentialsOf(c)[0]).to.deep.include({ rows: 22, row_ids: [[1, 22]] });
    const m = potentialsOf(c)[0].metrics as { train: { structures: number }; test: { structures: number; force_rmse_core: number } };
    expect(m.test.structures).to.be.within(1, 10);
    expect(m.train.structures + m.test.structures).to.equal(22);
    expect(m.test.force_rmse_core).to.be.above(0);
    expect(autopipe(['status'], dir).stdout).to.match(/22 rows \(ids 1-22\); train: energy [\d.]+ meV\/atom, force [\d.]+ meV\/Å on \d+ core atoms; test: energy [\d.]+ meV\/atom, force [\d.]+ meV\/Å on \d+ core atoms; \d+ s/);
    const label = c.stages.find((s) => s.kind === 'label')!;
    expect(label.followed).to.equal(true);
    expect(label.tasks.map((x) => x.attempts.at(-1)!.state)).to.deep.equal(['done', 'running', 'done', 'running']);
    expect(c.stopped?.reason).to.match(/stop_after is train/);
    const waiting = JSON.parse(autopipe(['poll', '--json'], dir).stdout) as { complete: boolean };
    expect(waiting.complete, 'the loop waits for its stragglers').to.equal(false);
    writeFileSync(release, '');
    let complete = false;
    for (let k = 0; k < 120 && !complete; k++) {
      await sleep(500);
      complete = (JSON.parse(autopipe(['poll', '--json'], dir).stdout) as { complete: boolean }).complete;
    }
    expect(complete).to.equal(true);
    c = cursorOf(dir);
    expect(c.done.find((d) => d.kind === 'label')?.counts).to.deep.include({ done: 4, failed: 0 });
    expect(c.stages.map((s) => s.kind), 'the labelling stage closed once settled').to.deep.equal(['train']);
    expect(aseRows(join(dir, '.autopipe', 'autopipe.db'))).to.have.length(24);
    expect(potentialsOf(c)[0].row_ids, 'what the fit used stays written down').to.deep.equal([[1, 22]]);
    const next = autopipe(['train', '--export', join(dir, 'next.pckl.gzip')], dir);
    expect(next.stdout).to.match(/24 rows/);
  });
});

/** Buffer atoms (mask 0) over the whole database. */
function rowsBuffer(db: string): number {
  return aseRows(db).reduce((n, r) => n + (r.mask === null ? 0 : r.mask.filter((m) => m === 0).length), 0);
}

describe('label → train with polls killed at random instants (SIGKILL)', function () {
  this.timeout(900000);

  /** Polls until the loop is complete (and at least 12 were killed), SIGKILLing most at a random instant inside a poll's duration. */
  async function killedPolls(dir: string, env: NodeJS.ProcessEnv, seed: number): Promise<number> {
    const draw = rng(seed);
    const t0 = Date.now();
    expect(autopipe(['poll'], dir, env).status).to.equal(0);
    const pollMs = Date.now() - t0;
    let kills = 0;
    for (let k = 0; k < 400; k++) {
      const child = spawn(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), 'poll', '-C', dir], { env, stdio: 'ignore' });
      const exited = new Promise((res) => child.once('exit', res));
      if (draw() < 0.7) {
        await sleep(Math.floor(draw() * 1.5 * pollMs));
        child.kill('SIGKILL');
        kills++;
      }
      await exited;
      // a fast loop may complete before many kills: killed polls of a finished loop must change nothing either
      const c = cursorOf(dir);
      if (c.stopped !== null && c.stages.every(stageSettled) && kills >= 12) return kills;
      await sleep(200);
    }
    throw new Error('the loop did not complete');
  }

  function oneOfEach(dir: string): Cursor {
    const c = cursorOf(dir);
    const stages = [...c.done.map((d) => d.kind), ...c.stages.map((s) => s.kind)];
    expect(stages, 'one labelling stage, one training stage').to.deep.equal(['label', 'train']);
    const train = c.stages.find((s) => s.kind === 'train')!;
    expect(train.submissions).to.have.length(1);
    expect(train.tasks[0].attempts.map((a) => [a.dir, a.state])).to.deep.equal([['iter-000/train/t0000/a1', 'done']]);
    expect(potentialsOf(c).map((p) => [p.dir, p.rows])).to.deep.equal([['potentials/iter-000', 23]]);
    expect(readdirSync(join(dir, '.autopipe', 'potentials'))).to.deep.equal(['iter-000']);
    expect(aseRows(join(dir, '.autopipe', 'autopipe.db')), 'every label merged once').to.have.length(23);
    return c;
  }

  it('local executor: one training job, one potential, nothing lost', async () => {
    const dir = tmpDir();
    projectBesideLabelled(dir, extraCells(3, 8), ['name: killlocal', 'iterations: {stop_after: train}', 'executor: {kind: local, max_concurrent: 2}', 'train: {max_iterations: 10, functions_per_element: 6, cutoff: 4.5, reference_energy: auto}']);
    expect(autopipe(['submit'], dir).status).to.equal(0);
    await killedPolls(dir, process.env, 20261203);
    oneOfEach(dir);
    // the local executor ran the training script once: one marker, one launch
    const stage = join(dir, '.autopipe', 'run', 'iter-000', 'train');
    expect(readdirSync(stage).filter((f) => f.endsWith('.submitted'))).to.have.length(1);
  });

  it('SLURM over SSH (127.0.0.1): one training job, one potential, nothing lost', async () => {
    const cl = clusterEnv();
    const dir = tmpDir();
    const name = `killssh-${randomBytes(3).toString('hex')}`; // sacct -c remembers earlier runs
    const remote = join(tmpDir(), "remote it's");
    projectBesideLabelled(dir, extraCells(3, 9), [
      `name: ${name}`, 'iterations: {stop_after: train}',
      'train: {max_iterations: 10, functions_per_element: 6, cutoff: 4.5, reference_energy: auto}',
      'executor:', '  kind: slurm', '  poll_interval: 1', `  remote_root: ${JSON.stringify(remote)}`,
      `  host: 127.0.0.1`, `  port: ${cl.AUTOPIPE_SSH_PORT}`, `  user: ${cl.AUTOPIPE_SSH_USER}`, `  identity: ${JSON.stringify(cl.AUTOPIPE_SSH_KEY)}`, `  known_hosts: ${JSON.stringify(cl.AUTOPIPE_SSH_KNOWN_HOSTS)}`,
    ]);
    const env = { ...process.env };
    delete env.SLURM_CONF; // everything goes through the SSH server
    expect(autopipe(['submit'], dir, env).status).to.equal(0);
    await killedPolls(dir, env, 20261204);
    const c = oneOfEach(dir);
    // SLURM ran each job name once, with all its tasks: the labelling array and the training job
    const perName = jobNamesRun(name, { ...process.env, ...cl });
    const train = c.stages.find((s) => s.kind === 'train')!.submissions[0];
    expect(perName.get(train.job_name)).to.equal(1);
    expect([...perName.values()].reduce((a, b) => a + b, 0)).to.equal(3 + 1);
  });
});
