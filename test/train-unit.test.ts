/**
 * The training stage's pure parts: rows and weights, the plan, the judge on pacemaker's captured
 * outputs, the transition table, its retries, and a pass killed at each save of the label → train
 * transition (fake executor, real pw.x outputs). The real fits are in train.test.ts.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfigText } from '../lib/config/load.js';
import type { Config } from '../lib/config/types.js';
import { makeAtoms, type Atoms } from '../lib/atoms/atoms.js';
import { memoryDatabase } from '../lib/db/db-file.js';
import type { AseDatabase } from '../lib/db/ase-db.js';
import { trainingSet, idRanges } from '../lib/stages/train/dataset.js';
import { planTrain, HELPER } from '../lib/stages/train/plan.js';
import { validationIds } from '../lib/stages/train/validation.js';
import { judgeTrain, POTENTIAL_FILES } from '../lib/stages/train/judge.js';
import { lastErrorLine } from '../lib/stages/error-line.js';
import { trainKind } from '../lib/stages/train/index.js';
import { labelKind } from '../lib/stages/label/index.js';
import type { Registry, StageKind } from '../lib/stages/kind.js';
import { summarize } from '../lib/loop/enter.js';
import { REGISTRY } from '../lib/stages/registry.js';
import { transitions } from '../lib/loop/transition.js';
import { nextStep } from '../lib/loop/retries.js';
import { pollPass } from '../lib/loop/pass.js';
import { loadTemplate } from '../lib/templates/render.js';
import { emptyCursor, validateCursor, type AttemptState, type Cursor, type StageRecord, type TaskRecord } from '../lib/state/cursor.js';
import type { FailureClass } from '../lib/state/failure-class.js';
import { StageError } from '../lib/errors/errors.js';
import { ASSETS } from '../lib/cli/loop-context.js';
import { FakeExecutor } from './support/fake-executor.js';
import { passContext, plannedLabelCursor } from './support/loop.js';
import { pwRuns, AL4 } from './support/pw-runs.js';
import { ROOT } from './support/tools.js';

const NOW = 1795000000;
const FIXTURES = join(ROOT, 'test', 'fixtures', 'pacemaker');
// the cutoff of the captured pw.x outputs; a basis small enough for these few 4-atom rows (the active set needs an environment per function)
const BASE = 'name: tr\ndft:\n  pseudopotentials: {Al: Al.pz-vbc.UPF}\n  parameters: {ecutwfc: 15}\n';

function config(extra = ''): Config {
  const train = /^train: \{/m.test(extra) ? extra.replace(/^train: \{(?!.*functions_per_element)/m, 'train: {functions_per_element: 4, ') : `${extra}train: {functions_per_element: 4}\n`;
  return parseConfigText(BASE + train, 'autopipe.yaml').config;
}

function labelled(a: Atoms, energy: number, opts: { mask?: number[]; embedded?: boolean; forces?: boolean } = {}): Atoms {
  const n = a.numbers.length;
  return makeAtoms({
    numbers: a.numbers, positions: a.positions, cell: a.cell, pbc: a.pbc,
    arrays: opts.mask === undefined ? {} : { force_mask: { kind: 'float', width: 1, values: Float64Array.from(opts.mask) } },
    info: { embedded: opts.embedded ?? false },
    results: { energy, ...(opts.forces === false ? {} : { forces: Float64Array.from({ length: 3 * n }, (_, k) => 0.01 * k) }) },
  });
}

function shifted(a: Atoms, dx: number): Atoms {
  return makeAtoms({ ...a, positions: a.positions.map((x, k) => (k === 0 ? x + dx : x)) });
}

/** A database of two whole cells, one sub-cell (mask 1 1 0 0) and a row without forces. */
function database(): AseDatabase {
  const db = memoryDatabase();
  db.write(labelled(AL4, -227.1), { now: NOW });
  db.write(labelled(shifted(AL4, 0.05), -227.0), { now: NOW });
  db.write(labelled(shifted(AL4, 0.1), -226.9, { mask: [1, 1, 0, 0], embedded: true }), { kvp: { embedded: true }, now: NOW });
  db.write(labelled(shifted(AL4, 0.15), -226.8, { forces: false }), { now: NOW });
  return db;
}

const render = (name: string, context: object) => loadTemplate(name)(context);

describe('training: rows, weights and the plan', () => {
  it('every row with energy and forces; w_energy 1 for whole cells, embedding.energy_weight for sub-cells; force weight on core atoms only', () => {
    const set = trainingSet(database().select(), 0);
    expect(set.ids).to.deep.equal([1, 2, 3]);
    expect(set.skipped).to.deep.equal([{ id: 4, why: 'no forces' }]);
    expect(set.coreAtoms).to.equal(4 + 4 + 2);
    expect(set.energyWeight).to.equal(2);
    expect(set.elements).to.deep.equal(['Al']);
    const frames = set.frames.join('');
    expect(frames.match(/ w_energy=\S+/g)).to.deep.equal([' w_energy=1', ' w_energy=1', ' w_energy=0']);
    expect(frames).to.match(/force_mask:R:1/);
    expect(trainingSet(database().select(), 0.25).energyWeight).to.equal(2.25);
  });

  it('id ranges say which rows a fit used, compactly', () => {
    expect(idRanges([1, 2, 3, 7, 9, 10])).to.deep.equal([[1, 3], [7, 7], [9, 10]]);
    expect(idRanges([])).to.deep.equal([]);
  });

  it('the plan: one task, the rows and helper staged once, the rendered input per attempt, what it used in the stage data', () => {
    const cfg = config('train: {cutoff: 4.5, functions_per_element: 6, test_fraction: 0.1}\n');
    const plan = planTrain({ rows: database().select(), validation: new Set(), config: cfg, iteration: 2, stageDir: 'iter-002/train', helper: 'print(1)\n', level: null, previous: { yaml: 'elements: [Al]\n', from: 'potentials/iter-001/output_potential.yaml', initial: false }, render });
    expect(plan.tasks.map((t) => [t.id, t.files.map((f) => f.path)])).to.deep.equal([['t0000', ['iter-002/train/t0000/a1/input.yaml']]]);
    expect(plan.shared.map((f) => f.path)).to.deep.equal(['iter-002/train/inputs/train.extxyz', 'iter-002/train/inputs/reference_energy.json', `iter-002/train/inputs/${HELPER}`, 'iter-002/train/inputs/previous.yaml']);
    expect(plan.data).to.deep.equal({ rows: 3, row_ids: [[1, 3]], core_atoms: 10, elements: ['Al'], warm_start_from: 'potentials/iter-001/output_potential.yaml', level: null, level_summary: null, left_out: [], left_out_rows: 0, cold_start: null });
    expect(plan.notes[0]).to.equal('fit of iteration 2: 3 rows (10 atoms with force weight), 1 left out (id 4: no forces), warm start from potentials/iter-001/output_potential.yaml');
    const input = plan.tasks[0].files[0].content;
    expect(input).to.match(/test_size: 0\.1/).and.match(/number_of_functions_per_element: 6/).and.match(/rcut: 4\.5/).and.match(/evaluator: tensorpot/);
  });

  it('validation rows (set=validation, or validation.rows) are never fitted: the plan stages them apart for the potential\'s evaluation and says so', () => {
    const db = database();
    db.write(labelled(shifted(AL4, 0.2), -226.7), { kvp: { set: 'validation' }, now: NOW });
    db.write(labelled(shifted(AL4, 0.25), -226.6), { kvp: { source: 'mine' }, now: NOW });
    const cfg = config('validation: {rows: source=mine}\n');
    const rows = [...db.select()];
    const ids = validationIds(rows, db, cfg, NOW);
    expect([...ids].sort()).to.deep.equal([5, 6]);
    const plan = planTrain({ rows, validation: ids, config: cfg, iteration: 0, stageDir: 'iter-000/train', helper: '', level: null, previous: null, render });
    expect(plan.data.row_ids).to.deep.equal([[1, 3]]);
    expect(plan.data.validation).to.deep.equal({ rows: 2, row_ids: [[5, 6]], core_atoms: 8, left_out: 0 });
    const staged = plan.shared.find((f) => f.path === 'iter-000/train/inputs/validation.extxyz');
    expect(staged?.content.toString().match(/ db_id=\d+/g)).to.deep.equal([' db_id=5', ' db_id=6']);
    expect(plan.notes).to.include('validation: 2 row(s), 8 core atoms, never fitted; the potential is evaluated on them in its job');
    // without validation rows nothing is staged, and the fit is not measured
    const none = planTrain({ rows: database().select(), validation: new Set(), config: config(), iteration: 0, stageDir: 'iter-000/train', helper: '', level: null, previous: null, render });
    expect(none.shared.map((f) => f.path)).to.not.include('iter-000/train/inputs/validation.extxyz');
    expect(none.data.validation).to.equal(undefined);
  });

  it('judging a fit with validation rows: validation.json in meV; none written is a potential not measured, not a failed fit', () => {
    const files = new Map(POTENTIAL_FILES.map((n) => [n, Buffer.from(n === 'metrics.json' ? readFileSync(join(FIXTURES, 'metrics.json')) : n === 'reference_energy.json' ? '{"Al": -56.3}' : 'x')]));
    const validation = { rows: 2, energy_rows: 2, energy_rmse_per_atom: 0.004, energy_rmse_per_atom_shifted: 0.003, core_atoms: 8, force_rmse: 0.09, force_max_error: 0.3, elements: { Al: { core_atoms: 8, force_rmse: 0.09, force_max_error: 0.3 } } };
    const ok = judgeTrain(new Map([...files, ['validation.json', Buffer.from(JSON.stringify(validation))]]), 0, true);
    expect(ok.ok && ok.result.validation).to.deep.include({ rows: 2, force_rmse: 90, force_max: 300, energy: 4, energy_shifted: 3 });
    expect(ok.ok && ok.result.files.has('validation.json')).to.equal(true);
    const missing = judgeTrain(files, 0, true);
    expect(missing.ok && missing.result.validation).to.equal(null);
    const bad = judgeTrain(new Map([...files, ['validation.json', Buffer.from('{"nope": 1}')]]), 0, true);
    expect(bad.ok ? 'ok' : bad.failure.cls).to.equal('corrupt_output');
    expect(judgeTrain(files, 0).ok && (judgeTrain(files, 0) as { result: { validation?: unknown } }).result.validation).to.equal(undefined);
  });

  it('a plan that cannot be fitted is a StageError saying why: no rows, no energy weight, elements left out', () => {
    const plan = (db: AseDatabase, extra = '') => () => planTrain({ rows: db.select(), validation: new Set(), config: config(extra), iteration: 0, stageDir: 'iter-000/train', helper: '', level: null, previous: null, render });
    expect(plan(memoryDatabase())).to.throw(StageError, /no row with an energy and forces/);
    const subOnly = memoryDatabase();
    subOnly.write(labelled(AL4, -1, { mask: [1, 0, 0, 0], embedded: true }), { kvp: { embedded: true }, now: NOW });
    expect(plan(subOnly)).to.throw(StageError, /every row is an embedded sub-cell with energy weight 0/);
    expect(plan(database(), 'train: {elements: [Cu]}\n')).to.throw(StageError, /train\.elements leaves out Al/);
  });

  it('warm start: the previous iteration\'s kept potential when its basis is the one asked for, else from scratch (said); train.initial_potential only of the basis asked for', () => {
    // a B-basis potential as pacemaker writes it: one species block with its cutoff and its functions
    const potential = (rcut: number, functions: number) => Buffer.from(`species:\n  - speciesblock: Al\n    rcutij: ${rcut}\n    nbody:\n${Array.from({ length: functions }, (_, k) => `      - {type: Al Al, nr: [${k + 1}], nl: [0], c: [1]}\n`).join('')}`);
    const same = potential(7, 4); // train's defaults here: cutoff 7, 4 functions per element
    const kept = new Map([['potentials/iter-000/output_potential.yaml', same]]);
    const ctx = (cursor: Cursor, cfg: Config, files: Map<string, Buffer>) => ({
      cursor, iteration: 1, config: cfg, configFile: 'autopipe.yaml', now: NOW, db: () => database(), render,
      asset: () => '', readFile: (p: string) => files.get(p), initialStructures: () => [], validationStructures: () => [],
    });
    const fit0: StageRecord = { kind: 'train', iteration: 0, planned_at: NOW, tasks: [], submissions: [], followed: true, data: { potential: { iteration: 0, dir: 'potentials/iter-000', rows: 3, row_ids: [[1, 3]], metrics: {}, duration_s: 1, warm_start_from: null } } };
    const withPotential: Cursor = { ...emptyCursor('tr', NOW, 'c0ffee000001'), done: [summarize(fit0, NOW)] };
    const planOf = (c: Cursor, cfg: Config, files = kept) => trainKind.plan(ctx(c, cfg, files), 'iter-001/train');
    const previousOf = (c: Cursor, cfg: Config, files = kept) => planOf(c, cfg, files).shared.find((f) => f.path.endsWith('previous.yaml'))?.content;
    expect(previousOf(withPotential, config())).to.equal(same.toString('utf8'));
    expect(previousOf(withPotential, config('train: {warm_start: false}\n'))).to.equal(undefined);
    expect(previousOf(emptyCursor('tr', NOW, 'c0ffee000001'), config())).to.equal(undefined);
    // another basis asked for: pacemaker would keep the previous one's, so the fit starts from scratch and says why
    const grown = planOf(withPotential, config('train: {functions_per_element: 6, cutoff: 5.5}\n'));
    expect(grown.shared.some((f) => f.path.endsWith('previous.yaml'))).to.equal(false);
    expect(grown.data.cold_start).to.equal('the basis changed since potentials/iter-000/output_potential.yaml (cutoff 7 → 5.5 Å, Al functions 4 → 6): this fit starts from scratch, not from it');
    expect(grown.notes).to.include(grown.data.cold_start);
    // the kept input.yaml that made it is what is compared when there is one (a template's change counts too)
    const input = planOf(withPotential, config()).tasks[0].files[0].content as string;
    const withInput = new Map([...kept, ['potentials/iter-000/input.yaml', Buffer.from(input.replace('nradmax_by_orders: [15, 3, 2, 1]', 'nradmax_by_orders: [12, 3, 2, 1]'))]]);
    expect(planOf(withPotential, config(), withInput).data.cold_start).to.match(/the basis changed since .*: this fit starts from scratch/);
    expect(planOf(withPotential, config(), new Map([...kept, ['potentials/iter-000/input.yaml', Buffer.from(input)]])).data.cold_start).to.equal(null);
    expect(previousOf(emptyCursor('tr', NOW, 'c0ffee000001'), config('train: {initial_potential: start.yaml}\n'), new Map([['start.yaml', same]]))).to.equal(same.toString('utf8'));
    expect(() => previousOf(emptyCursor('tr', NOW, 'c0ffee000001'), config('train: {initial_potential: start.yaml, functions_per_element: 8}\n'), new Map([['start.yaml', same]])))
      .to.throw(StageError, /train\.initial_potential start\.yaml has another basis than train asks for \(Al functions 4 → 8\)/);
    expect(() => previousOf(emptyCursor('tr', NOW, 'c0ffee000001'), config('train: {initial_potential: start.yaml}\n'), new Map([['start.yaml', Buffer.from('start: 1\n')]])))
      .to.throw(StageError, /start\.yaml is not a pacemaker potential/);
    expect(() => previousOf(withPotential, config(), new Map())).to.throw(StageError, /the previous potential potentials\/iter-000\/output_potential\.yaml is missing/);
    expect(() => previousOf(emptyCursor('tr', NOW, 'c0ffee000001'), config('train: {initial_potential: gone.yaml}\n'), new Map())).to.throw(StageError, /train\.initial_potential: gone\.yaml does not exist/);
  });
});

describe('training: judging a finished fit (pacemaker\'s captured outputs)', () => {
  const content = (n: string) => (n === 'metrics.json' ? readFileSync(join(FIXTURES, 'metrics.json')) : n === 'reference_energy.json' ? '{"Al": -57.1875}\n' : `${n}\n`);
  const potential = () => new Map(POTENTIAL_FILES.map((n) => [n, Buffer.from(content(n))]));

  it('a fit with every file and finite metrics is done, with its metrics', () => {
    const j = judgeTrain(potential(), 0);
    expect(j.ok).to.equal(true);
    if (j.ok) expect((j.result as { metrics: { train: { core_atoms: number } } }).metrics.train.core_atoms).to.equal(130);
  });

  it('pacemaker\'s traceback: pacemaker_error with its last error line (not TensorFlow\'s "in user code" header)', () => {
    const files = new Map([['pacemaker.err', readFileSync(join(FIXTURES, 'no-such-embedding.err'))], ['pacemaker.out', readFileSync(join(FIXTURES, 'no-such-embedding.out'))]]);
    expect(judgeTrain(files, 1)).to.deep.equal({ ok: false, failure: { cls: 'pacemaker_error', message: 'exit 1: ValueError: None values not supported.' } });
  });

  it('killed (137), a command not found (127), no potential, a non-finite loss, a file missing', () => {
    expect(judgeTrain(new Map(), 137)).to.deep.include({ ok: false }).and.have.nested.property('failure.cls', 'out_of_memory');
    const notFound = judgeTrain(new Map([['pacemaker.err', Buffer.from('/bin/bash: line 3: /opt/nowhere/pacemaker: No such file or directory\n')]]), 127);
    expect(notFound).to.have.nested.property('failure.cls', 'pacemaker_error');
    expect(notFound).to.have.nested.property('failure.message').that.matches(/could not start \(exit 127: not found\); check train\.command and train\.python/);
    expect(judgeTrain(new Map(), 0)).to.have.nested.property('failure.cls', 'no_potential');
    const nan = potential();
    nan.set('metrics.json', Buffer.from(JSON.stringify({ loss: null, seconds: 3, finite: false, train: { structures: 1, core_atoms: 4, energy_rmse_per_atom: null, force_rmse_core: null } })));
    expect(judgeTrain(nan, 0)).to.have.nested.property('failure.cls', 'nonfinite_loss');
    const noAsi = potential();
    noAsi.delete('output_potential.asi');
    expect(judgeTrain(noAsi, 0)).to.deep.equal({ ok: false, failure: { cls: 'no_potential', message: 'the fit left no output_potential.asi' } });
  });

  it('the last error line: from the end, stderr first; plain lines are not errors', () => {
    expect(lastErrorLine('ok\nRuntimeError: first\nmore\nKeyError: second\n')).to.equal('KeyError: second');
    expect(lastErrorLine('nothing here\n', '2026 E - CRITICAL failure\n')).to.equal('2026 E - CRITICAL failure');
    expect(lastErrorLine('fine\n', undefined)).to.equal(undefined);
  });
});

/** A stage record with one task per state. */
function stage(kind: StageRecord['kind'], states: AttemptState[], followed = false, cls: FailureClass | null = null): StageRecord {
  const tasks: TaskRecord[] = states.map((state, k) => ({
    id: `t${String(k).padStart(4, '0')}`, about: '', spec: {},
    attempts: [{ attempt: 1, dir: `iter-000/${kind}/t${k}/a1`, submission: 'tok', array_index: k, parameters: {}, state, error_class: state === 'failed' ? cls : null, message: state === 'failed' ? 'it broke' : null }],
    ...(state === 'failed' ? { gave_up: `${cls} is never retried` } : {}),
  }));
  return { kind, iteration: 0, planned_at: NOW, tasks, submissions: [], data: {}, followed };
}

function cursorWith(...stages: StageRecord[]): Cursor {
  return { ...emptyCursor('tr', NOW, 'c0ffee000001'), stages };
}

describe('training: the transition table', () => {
  const kinds: Registry = new Map<string, StageKind>([['label', labelKind], ['train', trainKind]]);

  it('label → train at min_new_structures with stragglers (the labelling stage stays open), or when labelling settles', () => {
    const cfg = config('train: {min_new_structures: 2}\n');
    expect(transitions(cursorWith(stage('label', ['done', 'running', 'pending'])), cfg, kinds)).to.deep.equal([]);
    expect(transitions(cursorWith(stage('label', ['done', 'done', 'running'])), cfg, kinds)).to.deep.equal([{ kind: 'enter', stage: 'train', iteration: 0, after: 0 }]);
    expect(transitions(cursorWith(stage('label', ['done', 'failed'], false, 'input_error')), config(), kinds)).to.deep.equal([{ kind: 'enter', stage: 'train', iteration: 0, after: 0 }, { kind: 'close', index: 0 }]);
    // followed, with stragglers: nothing; settled: closed
    expect(transitions(cursorWith(stage('label', ['done', 'running'], true), stage('train', ['running'])), cfg, kinds)).to.deep.equal([]);
    expect(transitions(cursorWith(stage('label', ['done', 'done'], true), stage('train', ['running'])), cfg, kinds)).to.deep.equal([{ kind: 'close', index: 0 }]);
  });

  it('a fit that gave up stops the loop with its reason; a fit done stops where no explore stage exists, or at stop_after', () => {
    const gaveUp = transitions(cursorWith(stage('train', ['failed'], false, 'pacemaker_error')), config(), kinds);
    expect(gaveUp).to.deep.equal([{ kind: 'stop', reason: 'training of iteration 0 gave up: pacemaker_error is never retried; last error: it broke', by: 'failure' }]);
    expect(transitions(cursorWith(stage('train', ['done'])), config(), kinds)).to.deep.equal([{ kind: 'stop', reason: 'iteration 0 is through train; this autopipe has no explore stage, so the loop stops here', by: 'rule' }]);
    expect(transitions(cursorWith(stage('train', ['done'])), config('iterations: {stop_after: train}\n'), kinds)).to.deep.equal([{ kind: 'stop', reason: 'iteration 0 is through train, and iterations.stop_after is train', by: 'rule' }]);
    expect(transitions(cursorWith(stage('label', ['failed', 'failed'], false, 'input_error')), config(), kinds)[0]).to.have.property('kind', 'stop');
  });
});

describe('training: retries follow recovery', () => {
  const failedWith = (cls: FailureClass, resources = {}): TaskRecord => ({
    id: 't0000', about: '', spec: {}, attempts: [{ attempt: 1, dir: 'iter-000/train/t0000/a1', submission: 'tok', array_index: 0, parameters: {}, state: 'failed', error_class: cls, message: 'x', resources }],
  });

  it('walltime: train.resources.time × factor; memory × factor; pacemaker errors, no potential and a non-finite loss give up', () => {
    const cfg = config('train: {resources: {time: "00:30:00", mem: 2G}}\n');
    expect(nextStep(failedWith('walltime'), trainKind, cfg)).to.deep.include({ kind: 'retry', resources: { time: '01:00:00' } });
    expect(nextStep(failedWith('out_of_memory'), trainKind, cfg)).to.deep.include({ kind: 'retry', resources: { mem: '4G' } });
    expect(nextStep(failedWith('node_failure'), trainKind, cfg)).to.deep.include({ kind: 'retry' });
    for (const cls of ['pacemaker_error', 'no_potential', 'nonfinite_loss'] as const) {
      expect(nextStep(failedWith(cls), trainKind, cfg)).to.have.property('kind', 'give_up');
    }
    expect(nextStep(failedWith('out_of_memory'), trainKind, config())).to.deep.equal({ kind: 'give_up', reason: 'out_of_memory, and train.resources.mem is not set, so there is nothing to scale (set it, e.g. 4G)' });
  });
});

/** Two structures labelled on the fake executor with the label and train kinds, polled as cron would; `die` kills a pass. */
async function transitionRig(cfg: Config, outcome: ConstructorParameters<typeof FakeExecutor>[0]) {
  const x = new FakeExecutor(outcome);
  const db = memoryDatabase();
  let k = 0;
  const loop = { config: cfg, now: NOW, token: () => `tok${String(k++).padStart(7, '0')}`, runRoot: '/run', maxArraySize: 10, registry: REGISTRY, candidates: [AL4, shifted(AL4, 0.05)].map((atoms, i) => ({ atoms, source: { file: 's.extxyz', frame: i + 1 } })) };
  const planned = plannedLabelCursor(loop);
  await x.stage(planned.files);
  const rig = { x, db, saved: planned.cursor as Cursor, poll: async (die: number | 'after-sbatch' | null = null) => {} };
  rig.poll = async (die) => {
    let saves = 0;
    const submit = x.submit.bind(x);
    if (die === 'after-sbatch') {
      x.submit = async (r) => {
        const job = await submit(r);
        if (r.some((q) => q.jobName === rig.saved.stages.find((s) => s.kind === 'train')?.submissions[0]?.job_name)) throw new Error('killed after sbatch');
        return job;
      };
    }
    try {
      await pollPass(passContext({ ...loop, executor: x, db: () => db, saveCursor: (c) => {
        if (++saves === die) throw new Error('killed before this save');
        expect(validateCursor(c).ok).to.equal(true);
        rig.saved = c;
      } }), rig.saved);
    } catch (err) {
      if (!/killed/.test((err as Error).message)) throw err;
    } finally {
      x.submit = submit;
    }
  };
  return rig;
}

describe('training: the label → train transition on the fake executor (real pw.x labels)', () => {
  it('a pass killed at each cursor save, or after sbatch and before its save: the training job is submitted exactly once', async () => {
    const al = readFileSync(pwRuns().al, 'utf8');
    for (const dieAt of [1, 2, 3, 'after-sbatch'] as const) {
      // train tasks stay running: the transition is what this test is about
      const rig = await transitionRig(config('iterations: {stop_after: train}\n'), (dir) => (dir.includes('/label/') ? { exitcode: 0, pwOut: al } : { slurm: 'RUNNING' }));
      await rig.poll(); // submits the labelling array
      await rig.poll(dieAt); // labels done: merge, enter train, submit it, killed somewhere in there
      await rig.poll();
      await rig.poll();
      const trainJobs = rig.x.submitted.filter((s) => s.script.includes('/train/'));
      expect(trainJobs.map((s) => s.dirs), `killed at ${dieAt}`).to.deep.equal([['iter-000/train/t0000/a1']]);
      expect(rig.saved.stages.map((s) => s.kind), `killed at ${dieAt}`).to.deep.equal(['train']);
      expect(rig.saved.done.map((d) => d.kind)).to.deep.equal(['label']);
      // both tasks return the same pw.x output, so the same content: one row, however often merged
      expect(rig.db.count()).to.equal(1);
      expect(rig.x.files.get('iter-000/train/inputs/autopipe_train.py')).to.equal(readFileSync(join(ASSETS, HELPER), 'utf8'));
    }
  });

  it('a straggling labelling stage and the training job are observed in one queue query per pass', async () => {
    const al = readFileSync(pwRuns().al, 'utf8');
    const rig = await transitionRig(config('train: {min_new_structures: 1}\n'), (dir) => (dir.includes('/label/t0000/') ? { exitcode: 0, pwOut: al } : { slurm: 'RUNNING' }));
    const asked: string[][] = [];
    const queue = rig.x.queue.bind(rig.x);
    rig.x.queue = async (jobs) => {
      asked.push(jobs.map((j) => (j.kind === 'slurm' ? j.id : '?')));
      return queue(jobs);
    };
    await rig.poll();
    await rig.poll(); // t0000 merged: training enters beside the open labelling stage
    expect(rig.saved.stages.map((s) => [s.kind, s.followed])).to.deep.equal([['label', true], ['train', false]]);
    asked.length = 0;
    await rig.poll();
    const ids = rig.saved.stages.map((s) => (s.submissions[0].job?.kind === 'slurm' ? s.submissions[0].job.id : '?'));
    expect(asked).to.deep.equal([ids]);
  });
});
