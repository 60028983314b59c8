/**
 * The exploration stage: its plan and judge (pure), and label → train → explore through the loop
 * on the local executor with real pw.x, pacemaker and the ase engine.
 */
import { expect } from 'chai';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { openDatabaseFile } from '../lib/db/db-file.js';
import { rowAtomsWithData } from '../lib/db/ase-db.js';
import { join } from 'node:path';
import { parseConfigText } from '../lib/config/load.js';
import { makeAtoms, type Atoms } from '../lib/atoms/atoms.js';
import { runKey, planExplore, runSeed } from '../lib/stages/explore/plan.js';
import { readExtxyz } from '../lib/formats/extxyz.js';
import { ASE_SCRIPT } from '../lib/stages/explore/engines.js';
import { judgeExplore } from '../lib/stages/explore/judge.js';
import { exploreKind } from '../lib/stages/explore/index.js';
import { parseCandidates } from '../lib/select/candidates.js';
import { elementsOf } from '../lib/stages/kept.js';
import { readCursor, type JsonObject, type StageRecord } from '../lib/state/cursor.js';
import { summarize } from '../lib/loop/enter.js';
import type { RunSummary } from '../lib/stages/explore/judge.js';
import { readDumpFrames } from '../lib/formats/lammps-dump.js';
import { StageError } from '../lib/errors/errors.js';
import { AL4, SI2 } from './support/pw-runs.js';
import { trainedProject, trainingProject, autopipe } from './support/al-training.js';
import { tmpDir, LMP } from './support/tools.js';
import { cellVolume } from '../lib/atoms/cell.js';

const config = (extra = '') => parseConfigText(`name: ex\ndft: {pseudopotentials: {Al: Al.pz-vbc.UPF}}\n${extra}`, 'autopipe.yaml').config;
const potential = { dir: 'potentials/iter-002', yaml: Buffer.from('elements: [Al]\n'), asi: Buffer.from([0, 255, 1, 254]) };

/** A constant temperature under NVT, as a run's conditions. */
const at = (t: number) => ({ temperature: { start: t, stop: t }, pressure: null });

describe('exploration: the plan and the judge', () => {
  it('one run per structure × temperature × seed, each with its start and settings; the potential staged once, bytes and all', () => {
    const cfg = config('explore: {temperatures: [300, 900], seeds: 2, steps: 500, timestep: 0.002, tdamp: 0.05}\n');
    const starts = [AL4, makeAtoms({ ...AL4, positions: AL4.positions.map((x) => x + 0.1) })].map((atoms, i) => ({ atoms, source: { file: 's.extxyz', frame: i + 1 } }));
    const plan = planExplore({ starts, config: cfg, iteration: 2, stageDir: 'iter-002/explore', engine: { kind: 'ase', script: 'print()\n' }, potential, elements: ['Al'], continued: () => undefined });
    expect(plan.tasks).to.have.length(8);
    expect(plan.tasks[5].about).to.equal(`s.extxyz frame 2 at 300 K, seed ${runSeed(2, 5)}`);
    expect(plan.tasks[0].files.map((f) => f.path)).to.deep.equal(['iter-002/explore/t0000/a1/start.extxyz', 'iter-002/explore/t0000/a1/task.json']);
    const settings = JSON.parse(plan.tasks[3].files[1].content as string);
    expect(settings).to.deep.equal({ temperature: 900, temperature_end: 900, ensemble: 'nvt', pressure: null, seed: runSeed(2, 3), steps: 500, timestep: 2, dump_every: 20, gamma_collect: 5, gamma_stop: 25, types: ['Al'], friction: 0.02, tdamp: 50, pdamp: 1000, keep_velocities: false });
    expect(new Set(plan.tasks.map((t) => (t.spec as { seed: number }).seed)).size, 'every run its own seed').to.equal(8);
    expect(plan.shared.map((f) => f.path)).to.deep.equal(['iter-002/explore/inputs/potential.yaml', 'iter-002/explore/inputs/potential.asi', `iter-002/explore/inputs/${ASE_SCRIPT}`]);
    expect(Buffer.from(plan.shared[1].content as Uint8Array).equals(potential.asi)).to.equal(true);
    expect(plan.data.potential).to.equal('potentials/iter-002');
    // explore.continue: the run with the same start, temperature and replica goes on from its last good frame, velocities and all
    const moved = makeAtoms({ ...AL4, positions: AL4.positions.map((x) => x + 0.3), arrays: { momenta: { kind: 'float', width: 3, values: Float64Array.from(AL4.positions, (_, k) => 0.01 * k) } } });
    const on = planExplore({ starts, config: cfg, iteration: 3, stageDir: 'iter-003/explore', engine: { kind: 'ase', script: '' }, potential, elements: ['Al'],
      continued: (key) => (key === runKey(starts[0].atoms, at(900), 1) ? { atoms: moved, from: 'explore/iter-002/t0003/last.extxyz' } : undefined) });
    expect(on.tasks.map((t) => t.spec.continued_from)).to.deep.equal([null, null, null, 'explore/iter-002/t0003/last.extxyz', null, null, null, null]);
    const [resumed] = readExtxyz(on.tasks[3].files[0].content as string, 'start.extxyz');
    expect(Array.from(resumed.positions)).to.deep.equal(Array.from(moved.positions));
    expect(Array.from(resumed.arrays.momenta!.values as Float64Array)).to.deep.equal(Array.from(moved.arrays.momenta!.values as Float64Array));
    expect(JSON.parse(on.tasks[3].files[1].content as string).keep_velocities).to.equal(true);
    // a last good frame kept without velocities: the run goes on from its positions with new velocities
    const still = planExplore({ starts, config: cfg, iteration: 3, stageDir: 'iter-003/explore', engine: { kind: 'ase', script: '' }, potential, elements: ['Al'],
      continued: (key) => (key === runKey(starts[0].atoms, at(900), 1) ? { atoms: makeAtoms({ ...AL4, positions: AL4.positions.map((x) => x + 0.3) }), from: 'explore/iter-002/t0003/last.extxyz' } : undefined) });
    expect(JSON.parse(still.tasks[3].files[1].content as string).keep_velocities).to.equal(false);
    expect(on.notes).to.include("1 of them go on from the last good frame of iteration 2's run (explore.continue)");
    // a run is known by the content of its start: the same structure under another file name or frame is the same run
    expect(plan.data.runs).to.include({ t0000: runKey(starts[0].atoms, at(300), 0), t0005: runKey(starts[1].atoms, at(300), 1) });
    expect(runKey(starts[0].atoms, at(300), 0)).to.match(/^[0-9a-f]{16}@300K\/0$/).and.not.equal(runKey(starts[1].atoms, at(300), 0));
  });

  it('selection.method d-optimal: task.json asks for candidates.json with selection.lo and hi; the lammps engine gets the script too (its job runs `candidates` after lmp); the stage records selection with its plan', () => {
    const cfg = config('selection: {method: d-optimal, lo: 2, hi: 30}\n');
    const starts = [{ atoms: AL4, source: { file: 's.extxyz', frame: 0 } }];
    const ase = planExplore({ starts, config: cfg, iteration: 0, stageDir: 'iter-000/explore', engine: { kind: 'ase', script: 'print()\n' }, potential, elements: ['Al'], continued: () => undefined });
    expect(JSON.parse(ase.tasks[0].files[1].content as string).candidates).to.deep.equal({ lo: 2, hi: 30, per_frame: 64 });
    const lammps = planExplore({ starts, config: cfg, iteration: 0, stageDir: 'iter-000/explore', engine: { kind: 'lammps', render: () => '', script: 'print()\n' }, potential, elements: ['Al'], continued: () => undefined });
    expect(lammps.shared.map((f) => f.path)).to.include(`iter-000/explore/inputs/${ASE_SCRIPT}`);
    expect(exploreKind.configSections).to.include('selection');
    expect(exploreKind.outputs).to.include('candidates.json');
    // method gamma: none of it
    const plain = planExplore({ starts, config: config(), iteration: 0, stageDir: 'iter-000/explore', engine: { kind: 'lammps', render: () => '' }, potential, elements: ['Al'], continued: () => undefined });
    expect(JSON.parse(plain.tasks[0].files[1].content as string)).to.not.have.property('candidates');
    expect(plain.shared.map((f) => f.path)).to.not.include(`iter-000/explore/inputs/${ASE_SCRIPT}`);
  });

  it('the potential\'s elements come from its one-element species blocks, in its order', () => {
    const yaml = Buffer.from('species:\n  - speciesblock: Al\n    ndensityi: 2\n  - speciesblock: Al Si\n  - speciesblock: Si\n  - speciesblock: Si Al\n');
    expect(elementsOf(yaml)).to.deep.equal(['Al', 'Si']);
    expect(() => elementsOf(Buffer.from('global: {}\n'))).to.throw(StageError, /no species blocks/);
  });

  it('a structure with an element the potential lacks, or none at all: a StageError saying so; one-atom cells are left out, with a note', () => {
    const p = (starts: Parameters<typeof planExplore>[0]['starts']) => () => planExplore({ starts, config: config(), iteration: 0, stageDir: 'iter-000/explore', engine: { kind: 'ase', script: '' }, potential, elements: ['Al'], continued: () => undefined });
    expect(p([{ atoms: SI2, source: { file: 's.extxyz', frame: 1 } }])).to.throw(StageError, /hold Si, which the potential of potentials\/iter-002 does not/);
    expect(p([])).to.throw(StageError, /no structure to start from/);
    const one = makeAtoms({ numbers: [13], positions: [0, 0, 0], cell: [0, 2, 2, 2, 0, 2, 2, 2, 0], pbc: [true, true, true] });
    expect(p([{ atoms: one, source: { file: 's.extxyz', frame: 1 } }])).to.throw(StageError, /no structure to start from \(1 of one atom each, which MD cannot move\)/);
    const plan = p([{ atoms: one, source: { file: 's.extxyz', frame: 1 } }, { atoms: AL4, source: { file: 's.extxyz', frame: 2 } }])();
    expect(plan.tasks.map((t) => t.about)).to.have.length(2); // frame 2 at the default 300 and 600 K
    expect(plan.notes[1]).to.equal('left out of exploration: s.extxyz frame 1 (one atom: MD with the centre of mass fixed cannot move it)');
  });

  it('judges a run: done with its summary; γ all zero is zero_gamma; a traceback is explore_error with its line; 137 is memory', () => {
    const summary = (extra: object) => Buffer.from(JSON.stringify({ steps_run: 100, frames_explored: 6, frames_collected: 2, max_gamma: 7.5, stopped_early: false, all_gamma_zero: false, last_good_step: 40, ...extra }));
    const ok = judgeExplore(new Map([['summary.json', summary({})], ['frames.dump', Buffer.from('ITEM: TIMESTEP\n'.repeat(2))], ['last.extxyz', Buffer.from('1\n\nAl 0 0 0\n')]]), 0);
    expect(ok.ok).to.equal(true);
    expect(judgeExplore(new Map([['summary.json', summary({ all_gamma_zero: true, frames_collected: 0 })]]), 0)).to.deep.equal({ ok: false, failure: { cls: 'zero_gamma', message: 'every extrapolation grade of 6 frame(s) was exactly 0: the active set is broken or the evaluator computes no γ' } });
    const crash = judgeExplore(new Map([['explore.err', Buffer.from('Traceback (most recent call last):\n  File "x", line 1\nRuntimeError: neighbour list overflow\n')]]), 1);
    expect(crash).to.deep.equal({ ok: false, failure: { cls: 'explore_error', message: 'exit 1: RuntimeError: neighbour list overflow' } });
    expect(judgeExplore(new Map([['explore.err', Buffer.from('autopipe_explore: the structure has Cu, which the potential does not\n')]]), 1)).to.have.nested.property('failure.message', 'exit 1: autopipe_explore: the structure has Cu, which the potential does not');
    expect(judgeExplore(new Map(), 137)).to.have.nested.property('failure.cls', 'out_of_memory');
    expect(judgeExplore(new Map([['summary.json', summary({})]]), 0)).to.have.nested.property('failure.cls', 'unknown'); // collected, but no dump
  });
});


const NOW = 1_800_000_000;

/** An exploration stage whose tasks are done, with these specs, data and recorded explore section (pure: no file). */
function exploreStage(specs: JsonObject[], data: JsonObject, explore: JsonObject = {}): StageRecord {
  return {
    kind: 'explore', iteration: 3, planned_at: NOW, data, followed: false, submissions: [], config: { explore: { gamma_collect: 1.5, gamma_stop: 50, ...explore } },
    tasks: specs.map((spec, k) => ({ id: `t000${k}`, about: '', spec, attempts: [{ attempt: 1, dir: `iter-003/explore/t000${k}/a1`, submission: null, array_index: k, parameters: {}, state: 'done', error_class: null, message: null }] })),
  };
}

const runSummary = (extra: Partial<RunSummary> = {}): RunSummary => ({ steps_run: 300, frames_explored: 31, frames_collected: 4, max_gamma: 3.2, stopped_early: false, all_gamma_zero: false, last_good_step: 300, ...extra });

/** The stage with what `record` kept of its runs' summaries, open or settled. */
function recorded(stage: StageRecord, summaries: RunSummary[]): StageRecord {
  const done = stage.tasks.map((task, k) => ({ task, attempt: task.attempts[0], result: { summary: summaries[k], files: new Map() } }));
  return { ...stage, data: { ...stage.data, ...(exploreKind.record?.(stage, done) as JsonObject) } };
}

describe('exploration: what status and the report say of its runs (pure)', () => {
  const npt = (frame: number, pressure: number) => ({ source: { file: 's.extxyz', frame }, temperature: 300, temperature_end: 900, ensemble: 'npt', pressure, seed: 7, continued_from: null, engine: 'lammps' });

  it('an NPT ramp at two pressures: each run keeps its start, conditions, volume range and final temperature; the line and the report\'s rows say them', () => {
    const stage = recorded(exploreStage([npt(0, 0), npt(0, 10000)], { potential: 'potentials/iter-003', runs: { t0000: 'aa@300-900K@0bar/0', t0001: 'aa@300-900K@10000bar/0' } }, { ensemble: 'npt' }), [
      runSummary({ volume_per_atom: [16.42, 17.21], temperature_last: 905.3, frame_temperatures: [310, 905.3] }),
      runSummary({ volume_per_atom: [15.93, 16.5], temperature_last: 612.8, frame_temperatures: [290, 612.8], steps_run: 180, stopped_early: true }),
    ]);
    expect(stage.data.results).to.deep.equal({
      t0000: { explored: 31, collected: 4, max_gamma: 3.2, stopped_early: false, steps_run: 300, source: { file: 's.extxyz', frame: 0 }, temperature: 300, temperature_end: 900, ensemble: 'npt', pressure: 0, volume_per_atom: [16.42, 17.21], temperature_last: 905.3 },
      t0001: { explored: 31, collected: 4, max_gamma: 3.2, stopped_early: true, steps_run: 180, source: { file: 's.extxyz', frame: 0 }, temperature: 300, temperature_end: 900, ensemble: 'npt', pressure: 10000, volume_per_atom: [15.93, 16.5], temperature_last: 612.8 },
    });
    // settled, the specs are gone: the record says it all
    const settled = summarize(stage, NOW);
    const line = '2 run(s): 62 frames explored, 8 collected (γ ≥ 1.5), largest γ 3.20, 1 stopped early at gamma_stop; NPT at 300→900 K × 0, 10000 bar: 15.9–17.2 Å³/atom';
    expect(exploreKind.summaryLine(stage, { cells: [] })).to.equal(line);
    expect(exploreKind.summaryLine(settled, { cells: [] })).to.equal(line);
    const part = exploreKind.iterationPart(settled, { cells: [] }).explore!;
    expect(part.conditions).to.equal('NPT at 300→900 K × 0, 10000 bar: 15.9–17.2 Å³/atom');
    expect(part.run_list).to.deep.equal([
      { task: 't0000', start: 's.extxyz frame 0', ensemble: 'NPT', conditions: '300→900 K, 0 bar', steps_run: 300, explored: 31, collected: 4, max_gamma: 3.2, ended: null, temperature_last: 905.3, volume_per_atom: [16.42, 17.21] },
      { task: 't0001', start: 's.extxyz frame 0', ensemble: 'NPT', conditions: '300→900 K, 10000 bar', steps_run: 180, explored: 31, collected: 4, max_gamma: 3.2, ended: 'γ reached gamma_stop', temperature_last: 612.8, volume_per_atom: [15.93, 16.5] },
    ]);
    // a run whose MD blew up says where; an NVT ramp is not plain either, and its volume is the cell's
    const nvt = recorded(exploreStage([{ ...npt(1, 0), ensemble: 'nvt', pressure: null }], { potential: 'p', runs: {} }), [runSummary({ volume_per_atom: [16.6, 16.6], temperature_last: 880, blew_up: { step: 120, why: 'atoms too close' }, stopped_early: true })]);
    expect(exploreKind.summaryLine(nvt, { cells: [] })).to.equal('1 run(s): 31 frames explored, 4 collected (γ ≥ 1.5), largest γ 3.20, 0 stopped early at gamma_stop, 1 ended when the MD blew up (their frames kept); NVT at 300→900 K: 16.6 Å³/atom');
    expect(exploreKind.iterationPart(nvt, { cells: [] }).explore?.run_list[0]).to.deep.include({ ensemble: 'NVT', conditions: '300→900 K', ended: 'the MD blew up (step 120: atoms too close)' });
  });

  it('plain NVT at one temperature: today\'s line, unchanged (the volume too: under NVT it is the start\'s); at two temperatures the line names them', () => {
    const nvt = (frame: number, t: number) => ({ source: { file: 's.extxyz', frame }, temperature: t, temperature_end: t, ensemble: 'nvt', pressure: null, seed: 7, continued_from: null, engine: 'ase' });
    const one = recorded(exploreStage([nvt(0, 600), nvt(1, 600)], { potential: 'p', runs: {} }), [runSummary({ volume_per_atom: [16.5, 16.5], temperature_last: 590 }), runSummary({ volume_per_atom: [16.6, 16.6], temperature_last: 611 })]);
    expect(exploreKind.summaryLine(summarize(one, NOW), { cells: [] })).to.equal('2 run(s): 62 frames explored, 8 collected (γ ≥ 1.5), largest γ 3.20, 0 stopped early at gamma_stop');
    expect(exploreKind.iterationPart(one, { cells: [] }).explore).to.deep.include({ conditions: null });
    const two = recorded(exploreStage([nvt(0, 600), nvt(0, 900)], { potential: 'p', runs: {} }), [runSummary({ volume_per_atom: [16.5, 16.5] }), runSummary({ volume_per_atom: [16.6, 16.6] })]);
    expect(exploreKind.summaryLine(two, { cells: [] })).to.match(/gamma_stop; NVT at 600, 900 K: 16\.5–16\.6 Å³\/atom$/);
  });

  it('an old cursor: records without conditions take them from the open stage\'s specs (before NPT: NVT at a constant temperature), else from the runs\' keys; nothing recorded: nothing said', () => {
    const old = (frame: number, t: number) => ({ source: { file: 's.extxyz', frame }, temperature: t, seed: 7, continued_from: null, engine: 'ase' });
    const results = { t0000: { explored: 41, collected: 3, max_gamma: 2.1, stopped_early: false, steps_run: 400 }, t0001: { explored: 41, collected: 0, max_gamma: 1.2, stopped_early: false, steps_run: 400 } };
    const open = exploreStage([old(0, 600), old(1, 900)], { potential: 'p', runs: {}, results });
    expect(exploreKind.summaryLine(open, { cells: [] })).to.equal('2 run(s): 82 frames explored, 3 collected (γ ≥ 1.5), largest γ 2.10, 0 stopped early at gamma_stop; NVT at 600, 900 K');
    expect(exploreKind.iterationPart(open, { cells: [] }).explore?.run_list[1]).to.deep.equal({ task: 't0001', start: 's.extxyz frame 1', ensemble: 'NVT', conditions: '900 K', steps_run: 400, explored: 41, collected: 0, max_gamma: 1.2, ended: null, temperature_last: null, volume_per_atom: null });
    // settled: the keys say the temperatures (the oldest key names the start too) and the pressure; the stage's recorded section the ensemble
    const keyed = summarize(exploreStage([old(0, 600), old(1, 600)], { potential: 'p', runs: { t0000: 's.extxyz#2@600K/0', t0001: '0123456789abcdef@600K/1' }, results }, { ensemble: 'nvt' }), NOW);
    expect(exploreKind.summaryLine(keyed, { cells: [] })).to.equal('2 run(s): 82 frames explored, 3 collected (γ ≥ 1.5), largest γ 2.10, 0 stopped early at gamma_stop');
    expect(exploreKind.iterationPart(keyed, { cells: [] }).explore?.run_list.map((r) => [r.start, r.ensemble, r.conditions])).to.deep.equal([['s.extxyz frame 2', 'NVT', '600 K'], [null, 'NVT', '600 K']]);
    const aniso = summarize(exploreStage([old(0, 300)], { potential: 'p', runs: { t0000: '0123456789abcdef@300-900K@-10000bar/0' }, results: { t0000: results.t0000 } }, { ensemble: 'npt_aniso' }), NOW);
    expect(exploreKind.summaryLine(aniso, { cells: [] })).to.match(/gamma_stop; NPT ANISO at 300→900 K × -10000 bar$/);
    // a run recorded by an older autopipe on a spec of before NPT: NVT at its one temperature; no volume, no final temperature
    const again = recorded(exploreStage([old(0, 600)], { potential: 'p', runs: {} }), [runSummary()]);
    expect((again.data.results as JsonObject).t0000).to.deep.equal({ explored: 31, collected: 4, max_gamma: 3.2, stopped_early: false, steps_run: 300, source: { file: 's.extxyz', frame: 0 }, temperature: 600, temperature_end: 600, ensemble: 'nvt', pressure: null });
    // nothing says the conditions (a settled stage of the oldest kind, without keys): today's line, the rows with –
    const bare = summarize(exploreStage([old(0, 600)], { potential: 'p', results: { t0000: results.t0000 } }), NOW);
    expect(exploreKind.summaryLine(bare, { cells: [] })).to.equal('1 run(s): 41 frames explored, 3 collected (γ ≥ 1.5), largest γ 2.10, 0 stopped early at gamma_stop');
    expect(exploreKind.iterationPart(bare, { cells: [] }).explore?.run_list[0]).to.deep.include({ start: null, ensemble: null, conditions: null });
  });
});


/**
 * A project for a live loop on the local executor: its structures, a small fit, the lines
 * given (name, explore, …), and the training set's database already labelled (no pw.x again).
 */
function liveProject(dir: string, cells: Atoms[], lines: string[]): void {
  trainingProject(dir, cells, [...lines, 'executor: {kind: local, max_concurrent: 2, poll_interval: 0.5}', 'train: {max_iterations: 10, functions_per_element: 6, cutoff: 4.5, reference_energy: auto}']);
  mkdirSync(join(dir, '.autopipe'), { recursive: true });
  copyFileSync(trainedProject().db, join(dir, '.autopipe', 'autopipe.db'));
}

/** A project stopped after select, run on through the next labelling: the rows that labelling made (iteration 1), with their atoms. */
function labelledNext(dir: string): Array<{ kvp: Record<string, unknown>; atoms: Atoms }> {
  const yaml = join(dir, 'autopipe.yaml');
  writeFileSync(yaml, readFileSync(yaml, 'utf8').replace('iterations: {stop_after: select}', 'iterations: {stop_after: label}'));
  const again = autopipe(['run'], dir);
  expect(again.status, again.stderr).to.equal(0);
  const db = openDatabaseFile(join(dir, '.autopipe', 'autopipe.db'), {});
  try {
    return [...db.select()].filter((row) => row.kvp.iteration === 1).map((row) => ({ kvp: row.kvp, atoms: rowAtomsWithData(row) }));
  } finally {
    db.close();
  }
}

describe('exploration through the loop (real pw.x, pacemaker and the ase engine, local executor)', function () {
  this.timeout(900000);

  it('label → train → explore → select: every run kept with its dump of collected frames (and candidates.json: selection.method d-optimal); the selection labels whole frames (selection.embed false); the loop stops with the reason', () => {
    const dir = tmpDir();
    const cells = [AL4, makeAtoms({ ...AL4, positions: AL4.positions.map((x, k) => x + 0.05 * Math.sin(k)) })];
    liveProject(dir, cells, [
      'name: explore', 'iterations: {stop_after: select}',
      'explore: {temperatures: [500, 900], steps: 200, dump_every: 10, gamma_collect: 1.5, gamma_stop: 50}',
      'selection: {method: d-optimal, embed: false, lo: 1.2, hi: 50, max_candidates: 3}',
    ]);
    const r = autopipe(['run'], dir);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/exploration of iteration 0: 4 run\(s\) of 200 steps \(2 structure\(s\) × 2 temperature\(s\) × 1 seed\(s\), NVT\) with potentials\/iter-000/);
    expect(r.stderr).to.match(/explored \d run\(s\) of iteration 0: \d+ frames, \d+ with γ ≥ 1.5 collected, largest γ [\d.]+/);
    const c = readCursor(join(dir, '.autopipe', 'cursor.json'))!;
    expect(c.stopped?.reason).to.equal('iteration 0 is through select, and iterations.stop_after is select');
    // settled and summarized: the selection came after it
    const explore = c.done.find((s) => s.kind === 'explore')!;
    expect(explore).to.deep.include({ tasks: 4, outcome: 'complete' });
    expect(explore.counts.done).to.equal(4);
    let collected = 0;
    for (const id of Object.keys(explore.data.results as object)) {
      const kept = join(dir, '.autopipe', 'explore', 'iter-000', id);
      const summary = JSON.parse(readFileSync(join(kept, 'summary.json'), 'utf8')) as { frames_collected: number; frames_explored: number };
      expect(summary.frames_explored).to.be.greaterThan(0);
      const frames = [...readDumpFrames([readFileSync(join(kept, 'frames.dump'))], { types: ['Al'], requiredColumns: summary.frames_collected > 0 ? ['f_pace_gamma'] : [] }, 'frames.dump')];
      expect(frames).to.have.length(summary.frames_collected);
      collected += frames.length;
      if (existsSync(join(kept, 'last.extxyz'))) expect(readFileSync(join(kept, 'last.extxyz'), 'utf8')).to.match(/^4\n/);
      if (summary.frames_collected > 0) expect(parseCandidates(readFileSync(join(kept, 'candidates.json'), 'utf8'), 'candidates.json').frames).to.equal(summary.frames_collected);
    }
    expect(collected, 'a crude potential finds uncertain frames').to.be.greaterThan(0);
    // the selection: whole 4-atom frames, every force trained on, each with where it came from
    const select = [...c.stages, ...c.done].find((s) => s.kind === 'select');
    expect(select?.data).to.deep.include({ method: 'd-optimal', embed: false, subcells: 0 });
    const chosen = readExtxyz(readFileSync(join(dir, '.autopipe', 'select', 'iter-000', 'selected.extxyz'), 'utf8'), 'selected.extxyz');
    expect(chosen).to.have.length(Number(select?.data.selected)).and.length.within(1, 3);
    for (const f of chosen) {
      expect([...(f.arrays.force_mask.values as Float64Array)]).to.deep.equal([1, 1, 1, 1]);
      expect(f.info).to.include({ embedded: false, n_core: 4 });
      expect(f.info.source).to.match(/^explore\/iter-000\/t000\d\/frames\.dump$/);
    }
    expect(new Set(chosen.map((f) => `${String(f.info.source)} ${String(f.info.frame)}`)).size, 'each frame once').to.equal(chosen.length);
    expect(r.stderr).to.match(/d-optimal: \d selected that add volume to the active set/);
    expect(autopipe(['status'], dir).stdout).to.match(/iteration 0 select .*d-optimal/);
    // the next labelling takes them whole: rows of whole cells with every force trained on
    const rows = labelledNext(dir);
    expect(rows).to.have.length(chosen.length);
    for (const row of rows) {
      expect(row.kvp).to.include({ embedded: false, n_core: 4 });
      expect([...(row.atoms.arrays.force_mask.values as Float64Array)]).to.deep.equal([1, 1, 1, 1]);
    }
  });

  it('the lammps engine (the real LAMMPS with ML-PACE), NPT at two pressures with a ramp: label → train → explore → select → label', () => {
    const dir = tmpDir();
    const cells = [AL4, makeAtoms({ ...AL4, positions: AL4.positions.map((x, k) => x + 0.05 * Math.sin(k)) })];
    liveProject(dir, cells, [
      'name: lammps', 'iterations: {stop_after: select}',
      `explore: {engine: lammps, command: ${LMP}, ensemble: npt, pressures: [-10000, 10000], temperatures: [[300, 900]], steps: 300, dump_every: 10, gamma_collect: 1.5, gamma_stop: 50}`,
      'selection: {embed: false, lo: 1.2, hi: 50, max_candidates: 2}',
    ]);
    const r = autopipe(['run'], dir);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/exploration of iteration 0: 4 run\(s\) of 300 steps \(2 structure\(s\) × 1 temperature\(s\) × 2 pressure\(s\) × 1 seed\(s\), NPT\)/);
    const c = readCursor(join(dir, '.autopipe', 'cursor.json'))!;
    const explore = c.done.find((s) => s.kind === 'explore')!;
    expect(explore).to.deep.include({ tasks: 4, outcome: 'complete' });
    const volumes: Record<string, number[]> = {};
    for (const [id, key] of Object.entries(explore.data.runs as Record<string, string>)) {
      expect(key).to.match(/@300-900K@(-10000|10000)bar\/0$/);
      const kept = join(dir, '.autopipe', 'explore', 'iter-000', id);
      const summary = JSON.parse(readFileSync(join(kept, 'summary.json'), 'utf8')) as { frames_collected: number; volume_per_atom: [number, number]; frame_temperatures: number[] };
      const frames = [...readDumpFrames([readFileSync(join(kept, 'frames.dump'))], { types: ['Al'], requiredColumns: summary.frames_collected > 0 ? ['f_pace_gamma'] : [] }, 'frames.dump')];
      expect(frames).to.have.length(summary.frames_collected);
      (volumes[/@(-?\d+)bar/.exec(key)![1]] ??= []).push(...summary.volume_per_atom);
    }
    // the barostat moved the cells: compressed under +10 kbar, expanded under −10 kbar
    expect(Math.min(...volumes['10000'])).to.be.below(Math.max(...volumes['-10000']));
    // each run's record keeps its conditions and what it saw; status says them in the exploration's line
    for (const r of Object.values(explore.data.results as Record<string, JsonObject>)) {
      expect(r).to.deep.include({ temperature: 300, temperature_end: 900, ensemble: 'npt' }).and.include.all.keys(['source', 'pressure', 'volume_per_atom', 'temperature_last']);
    }
    expect(autopipe(['status'], dir).stdout).to.match(/^iteration 0 explore 4 run\(s\): .*; NPT at 300→900 K × -10000, 10000 bar: \d+\.\d–\d+\.\d Å³\/atom$/m);
    const select = [...c.stages, ...c.done].find((s) => s.kind === 'select');
    const chosen = readExtxyz(readFileSync(join(dir, '.autopipe', 'select', 'iter-000', 'selected.extxyz'), 'utf8'), 'selected.extxyz');
    expect(chosen).to.have.length(Number(select?.data.selected)).and.length.within(1, 2);
    // the selected frames, labelled by pw.x in the cells LAMMPS's barostat gave them
    const rows = labelledNext(dir);
    expect(rows).to.have.length(chosen.length);
    for (const [k, row] of rows.entries()) expect(Math.abs(cellVolume(row.atoms.cell))).to.be.closeTo(Math.abs(cellVolume(chosen[k].cell)), 1e-5 * Math.abs(cellVolume(chosen[k].cell)));
  });

  it('converged (iterations.stop_when_no_candidates): every run of its full length, nothing at gamma_collect: the loop stops there, saying so', () => {
    const dir = tmpDir();
    liveProject(dir, [AL4, makeAtoms({ ...AL4, positions: AL4.positions.map((x, k) => x + 0.04 * Math.cos(k)) })], [
      'name: converged',
      'explore: {temperatures: [300], steps: 100, dump_every: 10, gamma_collect: 1000, gamma_stop: 2000}',
    ]);
    const r = autopipe(['run'], dir);
    expect(r.status, r.stderr).to.equal(0);
    const c = readCursor(join(dir, '.autopipe', 'cursor.json'))!;
    expect(c.stopped?.reason).to.equal('converged: every exploration run of iteration 0 (2) ran its full length with no frame at γ ≥ 1000 (iterations.stop_when_no_candidates)');
    expect(c.stages.map((s) => s.kind), 'no selection: the loop stopped at the exploration').to.deep.equal(['explore']);
    expect(autopipe(['status'], dir).stdout).to.match(/^iteration 0 explore 2 run\(s\): 22 frames explored, 0 collected/m);
  });
});
