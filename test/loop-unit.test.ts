/**
 * The loop's stop rules, each on a cursor built for it, with the real kinds' own rules (the
 * registry); the select stage on a dump written here; what status says of an iteration and
 * of an edited autopipe.yaml.
 */
import { expect } from 'chai';
import { parseConfigText } from '../lib/config/load.js';
import type { Config } from '../lib/config/types.js';
import { emptyCursor, type AttemptState, type Cursor, type JsonObject, type StageRecord, type StageSummary } from '../lib/state/cursor.js';
import { transitions, dftSpent } from '../lib/loop/transition.js';
import { REGISTRY } from '../lib/stages/registry.js';
import { selectKind } from '../lib/stages/select/index.js';
import { runLocalStage, summarize } from '../lib/loop/enter.js';
import { iterationLines } from '../lib/cli/status.js';
import { configChanges } from '../lib/config/changes.js';
import { measurementsLast, type StageContext } from '../lib/stages/kind.js';
import { readExtxyz } from '../lib/formats/extxyz.js';

const NOW = 1_800_000_000;
const config = (extra = ''): Config => parseConfigText(`name: lu\ndft: {pseudopotentials: {Al: Al.pz-vbc.UPF}}\n${extra}`, 'autopipe.yaml').config;

function stage(kind: StageRecord['kind'], iteration: number, states: AttemptState[], data: JsonObject = {}, ranS = 0): StageRecord {
  return {
    kind, iteration, planned_at: NOW, data, followed: false,
    submissions: [{ token: 'tok', job_name: 'lu-tok', tasks: states.map((_, k) => `t${k}`), job: null, intent_at: NOW, submitted_at: NOW, resources: { ...config().dft.resources, ntasks: 4, cpus_per_task: 2 } }],
    tasks: states.map((state, k) => ({
      id: `t${k}`, about: '', spec: {},
      attempts: [{ attempt: 1, dir: `iter/${kind}/t${k}/a1`, submission: 'tok', array_index: k, parameters: {}, state, error_class: state === 'failed' ? 'pacemaker_error' : null, message: state === 'failed' ? 'it broke' : null, ran_s: ranS }],
      ...(state === 'failed' ? { gave_up: 'never retried' } : {}),
    })),
  };
}

const withStages = (...stages: StageRecord[]): Cursor => ({ ...emptyCursor('lu', NOW, 'c0ffee000001'), stages });
const run = (explored: number, collected: number, stoppedEarly = false) => ({ explored, collected, max_gamma: collected > 0 ? 3 : 0.5, stopped_early: stoppedEarly, steps_run: 400 });
const stopOf = (c: Cursor, cfg: Config) => transitions(c, cfg, REGISTRY).find((a) => a.kind === 'stop');

describe('the order of the loop\'s work', () => {
  it('measurements (the embedding check) after the loop\'s own stages, each in its order: as submitted, and as the executor is asked', () => {
    const items = [['check', true], ['label', false], ['check2', true], ['train', false]].map(([name, measures]) => ({ name, kind: { measures: measures as boolean } }));
    expect(measurementsLast(items).map((x) => x.name)).to.deep.equal(['label', 'train', 'check', 'check2']);
    expect(REGISTRY.get('check')?.measures).to.equal(true);
  });
});

describe('the loop: stop rules (each on a case built for it)', () => {
  it('iterations.max: the loop stops before labelling iteration max, keeping the last selection', () => {
    // a selection is followed by the embedding check of its iteration (here one that had nothing to check: no task)
    const sel = stage('select', 1, [], { selected: 3 });
    expect(transitions(withStages(sel), config('iterations: {max: 2}\n'), REGISTRY)).to.deep.equal([{ kind: 'enter', stage: 'check', iteration: 1, after: 0 }, { kind: 'close', index: 0 }]);
    const check = stage('check', 1, [], { skipped: 'the loop ends with this iteration (iterations.max): no sub-cell of it will be labelled', labels_next: 3 });
    expect(stopOf(withStages(check), config('iterations: {max: 2}\n'))).to.deep.equal({ kind: 'stop', reason: 'iterations.max (2) reached: iteration 1\'s candidates are kept for a next iteration', by: 'rule' });
    expect(transitions(withStages(check), config('iterations: {max: 3}\n'), REGISTRY)).to.deep.equal([{ kind: 'enter', stage: 'label', iteration: 2, after: 0 }, { kind: 'close', index: 0 }]);
    // a check still labelling does not hold the next labelling up
    const running = stage('check', 1, ['running', 'done'], { labels_next: 3 });
    expect(transitions(withStages(running), config('iterations: {max: 3}\n'), REGISTRY)).to.deep.equal([{ kind: 'enter', stage: 'label', iteration: 2, after: 0 }]);
  });

  it('converged: every run its full length with nothing collected (stop_when_no_candidates); or the accurate fraction reached', () => {
    const quiet = stage('explore', 2, ['done', 'done'], { results: { t0: run(21, 0), t1: run(21, 0) } });
    expect(stopOf(withStages(quiet), config())?.reason).to.equal('converged: every exploration run of iteration 2 (2) ran its full length with no frame at γ ≥ 5 (iterations.stop_when_no_candidates)');
    // switched off, the loop goes on to select
    expect(transitions(withStages(quiet), config('iterations: {stop_when_no_candidates: false}\n'), REGISTRY)[0]).to.deep.equal({ kind: 'enter', stage: 'select', iteration: 2, after: 0 });
    // a run stopped early at gamma_stop is not converged, whatever it collected
    const early = stage('explore', 2, ['done', 'done'], { results: { t0: run(21, 0), t1: run(5, 0, true) } });
    expect(stopOf(withStages(early), config())).to.equal(undefined);
    const mostly = stage('explore', 0, ['done'], { results: { t0: run(200, 1) } });
    expect(stopOf(withStages(mostly), config())).to.equal(undefined);
    expect(stopOf(withStages(mostly), config('iterations: {accurate_fraction: 0.99}\n'))?.reason).to.equal('converged: 199 of 200 explored frames of iteration 0 (99.5%) stayed below γ 5, at least iterations.accurate_fraction (0.99)');
    expect(stopOf(withStages(mostly), config('iterations: {accurate_fraction: 0.999}\n'))).to.equal(undefined);
  });

  it('a DFT budget: wall time × cores of every labelling attempt, failed ones too; the loop stops before the iteration that would exceed it', () => {
    // 2 labelled (+1 failed) at 900 s × 8 cores = 6 core-hours spent, 2 per labelled structure... of 3 attempts
    const label = stage('label', 0, ['done', 'done', 'failed'], {}, 900);
    const summary: StageSummary = summarize(label, NOW);
    expect(summary.core_s).to.equal(3 * 900 * 8);
    const c: Cursor = { ...withStages(stage('check', 0, [], { skipped: 'checked already', labels_next: 4 })), done: [summary] };
    expect(dftSpent(c, REGISTRY)).to.deep.equal({ coreHours: 6, labelled: 2 });
    // 6 spent + 4 × 3 projected = 18
    expect(stopOf(c, config('iterations: {max_dft_core_hours: 17}\n'))?.reason).to.equal('the DFT budget: 6.00 core-hours spent on 2 labelled structures, and labelling iteration 1\'s 4 would take about 12.00 more, beyond iterations.max_dft_core_hours (17)');
    expect(stopOf(c, config('iterations: {max_dft_core_hours: 18}\n'))).to.equal(undefined);
    // an embedding check's DFT is spent too, but its tasks are a measurement, not labelled structures
    const measured: Cursor = { ...c, done: [summary, summarize(stage('check', 0, ['done', 'done', 'done'], {}, 300), NOW)] };
    expect(dftSpent(measured, REGISTRY)).to.deep.equal({ coreHours: 6 + 3 * 300 * 8 / 3600, labelled: 2 });
  });

  it('no candidates: a selection that chose nothing stops the loop and says why; a stage that gave up stops it with its reason', () => {
    // the thresholds are the ones the selection recorded, whatever autopipe.yaml says today
    const none = stage('select', 0, [], { selected: 0, frames_collected: 7, frames_dropped: 7, rejected_at_seam: 0, gamma_collect: 5, lo: 5, hi: 25 });
    expect(stopOf(withStages(none), config())?.reason).to.equal('no candidates to label after iteration 0: of 7 collected frames, 7 had an atom at γ ≥ 25 (dropped as broken) and the rest no atom with γ in [5, 25)');
    expect(stopOf(withStages(stage('train', 1, ['failed'])), config())?.reason).to.equal('training of iteration 1 gave up: never retried; last error: it broke');
    expect(stopOf(withStages(stage('explore', 1, ['failed', 'failed'])), config())?.reason).to.equal('exploration of iteration 1 gave up on every task (2): never retried; last error: it broke');
    // some runs gave up, others explored: the loop goes on with what they found
    const partial = stage('explore', 1, ['done', 'failed'], { results: { t0: run(21, 4) } });
    expect(transitions(withStages(partial), config(), REGISTRY)[0]).to.deep.equal({ kind: 'enter', stage: 'select', iteration: 1, after: 0 });
    expect(stopOf(withStages(stage('select', 0, [], { selected: 2 })), config('iterations: {stop_after: select}\n'))?.reason).to.equal('iteration 0 is through select, and iterations.stop_after is select');
  });
});

/** A dump of one 4-atom fcc Al frame with these grades. */
function dump(grades: number[]): Buffer {
  const a = 4.05;
  const pos = [[0, 0, 0], [0, 2.025, 2.025], [2.025, 0, 2.025], [2.025, 2.025, 0]];
  return Buffer.from(['ITEM: TIMESTEP', '10', 'ITEM: NUMBER OF ATOMS', '4', 'ITEM: BOX BOUNDS pp pp pp', `0 ${a}`, `0 ${a}`, `0 ${a}`, 'ITEM: ATOMS id type x y z f_pace_gamma',
    ...pos.map((p, k) => `${k + 1} 1 ${p.join(' ')} ${grades[k]}`), ''].join('\n'));
}

function selectContext(cfg: Config, files: Record<string, Buffer>, cursor: Cursor): StageContext {
  return {
    cursor, iteration: 0, config: cfg, configFile: 'autopipe.yaml', now: NOW, db: () => { throw new Error('no db'); }, render: () => '',
    asset: () => '', readFile: (p) => files[p], initialStructures: () => [], validationStructures: () => [],
  };
}

describe('the loop: the select stage (no job)', () => {
  it('reads the kept dumps of the runs that collected, cuts the best candidates with masks, keeps them for the next labelling, records the iteration', () => {
    const cfg = config('selection: {lo: 2, hi: 10, max_candidates: 2}\nembedding: {rcut: 1.2, buffer: 0.2, mask_radius: 1.0, min_distance: 0, box: cube}\n');
    const explore = stage('explore', 0, ['done', 'done', 'done'], { results: { t0: run(10, 1), t1: run(10, 0), t2: run(10, 1) } });
    const pot = Buffer.from('- speciesblock: Al\n');
    const files = { 'explore/iter-000/t0/frames.dump': dump([1, 3, 1, 1]), 'explore/iter-000/t2/frames.dump': dump([9, 1, 12, 1]), 'potentials/iter-000/output_potential.yaml': pot, 'potentials/iter-000/output_potential.asi': Buffer.from('') };
    const fit: StageRecord = { ...stage('train', 0, []), data: { potential: { iteration: 0, dir: 'potentials/iter-000', rows: 1, row_ids: [[1, 1]], metrics: {}, duration_s: 1, warm_start_from: null } } };
    const cursor: Cursor = { ...withStages(explore), done: [summarize(fit, NOW)] };
    const out = runLocalStage(selectKind, selectContext(cfg, files, cursor));
    expect(out.stage.tasks).to.deep.equal([]);
    // t2's frame has γ 12 ≥ hi: dropped as broken; t0's atom 2 (γ 3) is the one candidate
    expect(out.stage.data).to.deep.include({ frames_explored: 30, frames_collected: 2, frames_read: 2, frames_dropped: 1, candidates: 1, selected: 1, subcells: 1, rejected_at_seam: 0, file: 'select/iter-000/selected.extxyz' });
    expect(out.keep.map((k) => k.path)).to.deep.equal(['select/iter-000/selected.extxyz']);
    const [sub] = readExtxyz(out.keep[0].content, 'selected.extxyz');
    expect(sub.info).to.deep.include({ source: 'explore/iter-000/t0/frames.dump', frame: 0, centre_id: 2, gamma: 3, embedded: true });
    expect(sub.arrays.force_mask).to.not.equal(undefined);
    expect(out.stage.config).to.have.keys(['selection', 'embedding']);
    expect(out.notes[0]).to.match(/^iteration 0: 30 frames explored, 2 collected \(γ ≥ 5\), 1 candidate atoms in \[2, 10\) \(1 frames dropped at γ ≥ 10\), 1 after suppression, 1 selected: 1 sub-cells of \d+–\d+ atoms/);
    // a dump missing from the work folder stops the loop with where it should be
    expect(() => selectKind.run(selectContext(cfg, { ...files, 'explore/iter-000/t2/frames.dump': undefined as unknown as Buffer }, cursor))).to.throw(/explore\/iter-000\/t2\/frames\.dump is missing from the work folder \(the run collected 1 frame\(s\)\)/);
  });
});

describe('status: the iterations, and what changed in autopipe.yaml', () => {
  it('names each changed field with its old and new value, under the stage planned with it', () => {
    expect(configChanges({ train: { kappa: 0.3, max_iterations: 30, elements: null } }, { train: { kappa: 0.3, max_iterations: 50, elements: ['Al'] } })).to.deep.equal([
      'train.elements: null → ["Al"]', 'train.max_iterations: 30 → 50',
    ]);
    const t0 = { ...stage('train', 0, ['done']), config: { train: { max_iterations: 30 } } };
    const t1 = { ...stage('train', 1, ['done']), config: { train: { max_iterations: 50 } } };
    const lines = iterationLines({ ...withStages(t1), done: [summarize(t0, NOW)] });
    expect(lines).to.deep.equal([
      'iteration 0 train   no potential yet', 'iteration 1 train   no potential yet',
      '                    planned with a changed autopipe.yaml: train.max_iterations: 30 → 50',
    ]);
  });

  it('an exploration\'s line: an older autopipe\'s NVT runs as before; NPT runs with a ramp say the conditions and the volume range they saw', () => {
    const old = summarize(stage('explore', 0, ['done', 'done'], { runs: {}, results: { t0: run(21, 2), t1: run(21, 0) } }), NOW);
    const at = (pressure: number, volume: [number, number]) => ({ ...run(31, 1), source: { file: 's.extxyz', frame: 0 }, temperature: 300, temperature_end: 900, ensemble: 'npt', pressure, volume_per_atom: volume, temperature_last: 880 });
    const npt = summarize(stage('explore', 1, ['done', 'done'], { runs: {}, results: { t0: at(0, [16.42, 17.21]), t1: at(10000, [15.93, 16.5]) } }), NOW);
    expect(iterationLines({ ...withStages(), done: [old, npt] })).to.deep.equal([
      'iteration 0 explore 2 run(s): 42 frames explored, 2 collected, largest γ 3.00, 0 stopped early at gamma_stop',
      'iteration 1 explore 2 run(s): 62 frames explored, 2 collected, largest γ 3.00, 0 stopped early at gamma_stop; NPT at 300→900 K × 0, 10000 bar: 15.9–17.2 Å³/atom',
    ]);
  });
});
