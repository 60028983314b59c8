/**
 * Learning, measured: the validation set (labelled once, tagged, never fitted nor exported),
 * each potential's evaluation inside its training job (against pyace run separately on the same
 * rows), the learning curve in status, and the stop rules on it (iterations.target_force_rmse,
 * iterations.patience): each on a cursor built for it, and on a real short loop.
 */
import { expect } from 'chai';
import yaml from 'js-yaml';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseConfigText } from '../lib/config/load.js';
import type { Config } from '../lib/config/types.js';
import { emptyCursor, type Cursor, type JsonObject, type StageRecord } from '../lib/state/cursor.js';
import { transitions } from '../lib/loop/transition.js';
import { summarize } from '../lib/loop/enter.js';
import { REGISTRY } from '../lib/stages/registry.js';
import { learningLine, learningStop, type CurvePoint } from '../lib/stages/train/learning.js';
import { validateConfig } from '../lib/config/validate.js';
import type { JobStageKind, StageContext, ValidationErrors } from '../lib/stages/kind.js';
import { makeAtoms } from '../lib/atoms/atoms.js';
import { memoryDatabase } from '../lib/db/db-file.js';
import { readExtxyz, writeExtxyz } from '../lib/formats/extxyz.js';
import { openDatabaseFile } from '../lib/db/db-file.js';
import { autopipe } from './support/al-training.js';
import { editConfig, quickstartProject } from './support/campaign.js';
import { tmpDir } from './support/tools.js';

const NOW = 1_800_000_000;
const VENV_PYTHON = '/opt/autopipe/venv/bin/python';
const config = (extra = ''): Config => parseConfigText(`name: lr\nvalidation: {rows: set=validation}\ndft: {pseudopotentials: {Al: Al.pz-vbc.UPF}}\n${extra}`, 'autopipe.yaml').config;

const errors = (force: number): ValidationErrors => ({ rows: 4, energy_rows: 4, energy: 5, energy_shifted: 3, core_atoms: 124, force_rmse: force, force_max: 3 * force, elements: { Al: { core_atoms: 124, force_rmse: force, force_max: 3 * force } } });

/** A settled training stage of iteration k whose potential has this validation force RMSE (null: not measured). */
function trainStage(k: number, force: number | null): StageRecord {
  const potential = { iteration: k, dir: `potentials/iter-00${k}`, rows: 6, row_ids: [[1, 6]], metrics: {}, duration_s: 10, warm_start_from: null, ...(force === null ? {} : { validation: errors(force) }) };
  return {
    kind: 'train', iteration: k, planned_at: NOW + k, data: { rows: 6, potential } as unknown as JsonObject, followed: false,
    submissions: [],
    tasks: [{ id: 't0000', about: '', spec: {}, attempts: [{ attempt: 1, dir: `iter-00${k}/train/t0000/a1`, submission: null, array_index: 0, parameters: {}, state: 'done', error_class: null, message: null, ran_s: 10 }] }],
  };
}

/** Fits of iterations 0 … n − 1 with these validation errors: the earlier ones settled into `done`, the last one open. */
function curveCursor(forces: Array<number | null>): Cursor {
  const stages = forces.map((f, k) => trainStage(k, f));
  return { ...emptyCursor('lr', NOW, 'c0ffee000002'), iteration: forces.length - 1, done: stages.slice(0, -1).map((s) => summarize({ ...s, followed: true }, NOW)), stages: stages.slice(-1) };
}

const stopOf = (c: Cursor, cfg: Config) => transitions(c, cfg, REGISTRY).find((a) => a.kind === 'stop');

describe('learning: the validation set, the learning curve and its stop rules', () => {
  describe('the stop rules, on cursors built for them', () => {
    it('iterations.target_force_rmse stops once the newest potential is at or below it, naming the numbers', () => {
      expect(stopOf(curveCursor([190, 120]), config('iterations: {target_force_rmse: 100}\n'))).to.equal(undefined);
      expect(stopOf(curveCursor([190, 100]), config('iterations: {target_force_rmse: 100}\n'))).to.deep.equal({
        kind: 'stop', by: 'rule', reason: 'done: iteration 1\'s potential has a validation force RMSE of 100.0 meV/Å, at or below iterations.target_force_rmse (100)',
      });
    });

    it('iterations.patience stops when that many potentials in a row did not beat the best by min_improvement', () => {
      const cfg = config('iterations: {patience: 2, min_improvement: 0.05}\n');
      expect(stopOf(curveCursor([190, 150, 146]), cfg), 'one without improvement is not yet two').to.equal(undefined);
      expect(stopOf(curveCursor([190, 150, 146, 160]), cfg)).to.deep.equal({
        kind: 'stop', by: 'rule',
        reason: 'the loop stopped learning: the best validation force RMSE is 150.0 meV/Å (iteration 1), and the 2 potential(s) since (146.0 (iteration 2), 160.0 (iteration 3)) did not lower it by iterations.min_improvement (5%), iterations.patience (2)',
      });
      expect(stopOf(curveCursor([190, 150, 146, 140]), cfg), '140 is 6.7% below the best, 150: an improvement').to.equal(undefined);
    });

    it('a potential that was not measured is a gap, neither an improvement nor a stop', () => {
      const cfg = config('iterations: {patience: 1, target_force_rmse: 500}\n');
      expect(stopOf(curveCursor([190, null]), cfg)).to.equal(undefined);
      const curve: CurvePoint[] = [{ iteration: 0, validation: errors(190) }, { iteration: 1, validation: null }, { iteration: 2, validation: errors(189) }];
      expect(learningStop(curve, config('iterations: {patience: 1}\n'))).to.match(/best validation force RMSE is 190\.0 meV\/Å \(iteration 0\), and the 1 potential\(s\) since \(189\.0 \(iteration 2\)\)/);
    });

    it('both rules need a validation set: config check says so before any DFT', () => {
      const text = 'name: lr\ndft: {pseudopotentials: {Al: Al.pz-vbc.UPF}}\niterations: {target_force_rmse: 50, patience: 3}\n';
      const problemsOf = (t: string) => { const r = validateConfig(yaml.load(t)); return r.ok ? [] : r.problems.map((e) => `${e.path}: ${e.message}`); };
      const problems = problemsOf(text);
      expect(problems).to.deep.equal([
        'iterations.target_force_rmse: stops on the validation error, but there is no validation set: give validation.structures or validation.rows, or set it to null',
        'iterations.patience: stops on the validation error, but there is no validation set: give validation.structures or validation.rows, or set it to null',
      ]);
      expect(problemsOf('name: lr\ndft: {pseudopotentials: {Al: Al.pz-vbc.UPF}}\nvalidation: {rows: "energy<<1"}\n').map((p) => p.split(':')[0])).to.deep.equal(['validation.rows']);
    });

    it('the curve in one line, and "not measured" without a validation set', () => {
      const curve: CurvePoint[] = [{ iteration: 0, validation: errors(190) }, { iteration: 1, validation: errors(150) }];
      expect(learningLine(curve, config('iterations: {target_force_rmse: 100}\n'))).to.equal('learning: validation force RMSE 190.0 → 150.0 meV/Å over iterations 0, 1 (best 150.0, iteration 1; target 100); on 124 core atoms of 4 validation rows');
      const none = parseConfigText('name: lr\ndft: {pseudopotentials: {Al: Al.pz-vbc.UPF}}\n', 'autopipe.yaml').config;
      expect(learningLine([{ iteration: 0, validation: undefined }], none)).to.match(/^learning is not measured: there is no validation set/);
      expect(learningLine([], none)).to.equal(undefined);
    });
  });

  describe('the labelling plans the validation structures once', () => {
    const cell = (x: number) => makeAtoms({ numbers: [13, 13, 13, 13], positions: [0, 0, 0, 2, 2, 0, 2, 0, 2, 0, 2, 2].map((v) => v + x), cell: [4.04, 0, 0, 0, 4.04, 0, 0, 0, 4.04], pbc: [true, true, true] });
    const ctxOf = (cursor: Cursor, iteration: number): StageContext => ({
      cursor, iteration, config: config(), configFile: 'autopipe.yaml', now: NOW, db: () => memoryDatabase(), render: () => '', asset: () => '',
      readFile: () => Buffer.from(writeExtxyz([cell(0.1)])),
      initialStructures: () => [{ atoms: cell(0), source: { file: 'structures.extxyz', frame: 0 } }],
      validationStructures: () => [0, 1].map((k) => ({ atoms: cell(0.05 * k), source: { file: 'validation.extxyz', frame: k } })),
    });
    const labelling = REGISTRY.get('label') as JobStageKind;

    it('with the first labelling: its structures, then the validation structures tagged set=validation', () => {
      const plan = labelling.plan(ctxOf(emptyCursor('lr', NOW, 'c0ffee000003'), 0), 'iter-000/label');
      expect(plan.tasks.map((t) => [t.about, (t.spec as { set?: string }).set ?? null])).to.deep.equal([
        ['structures.extxyz frame 0', null], ['validation: validation.extxyz frame 0', 'validation'], ['validation: validation.extxyz frame 1', 'validation'],
      ]);
      expect(plan.data).to.deep.equal({ validation: ['validation.extxyz#0', 'validation.extxyz#1'] });
    });

    it('never again once planned; a frame named later goes with the next labelling', () => {
      const earlier = summarize({ ...trainStage(0, null), kind: 'label', data: { validation: ['validation.extxyz#0'] } }, NOW);
      const cursor = { ...emptyCursor('lr', NOW, 'c0ffee000004'), iteration: 1, done: [earlier] };
      const plan = labelling.plan(ctxOf(cursor, 1), 'iter-001/label');
      expect(plan.tasks.map((t) => t.about)).to.deep.equal(['select/iter-000/selected.extxyz frame 0', 'validation: validation.extxyz frame 1']);
    });
  });

  describe('on a real short loop (the quickstart at the Γ point: pw.x, pacemaker, the ase engine)', () => {
    let dir = '';
    before(function () {
      this.timeout(1200000);
      // the quickstart's own validation set: four frames of its 31-atom cell from EMT MD
      dir = quickstartProject('learn');
      editConfig(dir, [/^ {2}max: 1$/m, '  max: 2\n  patience: 1\n  min_improvement: 0.9']);
      const r = autopipe(['run'], dir);
      if (r.status !== 0) throw new Error(`autopipe run failed (exit ${r.status}):\n${r.stderr.slice(-3000)}`);
    });

    const cursor = (): Cursor => JSON.parse(readFileSync(join(dir, '.autopipe', 'cursor.json'), 'utf8')) as Cursor;

    it('labels the validation structures once, with iteration 0, tagged set=validation', () => {
      const db = openDatabaseFile(join(dir, '.autopipe', 'autopipe.db'), {});
      try {
        const rows = [...db.select()];
        const validation = rows.filter((r) => r.kvp.set === 'validation');
        expect(validation.map((r) => r.kvp.iteration)).to.deep.equal([0, 0, 0, 0]);
        expect(rows.filter((r) => r.kvp.iteration === 1).length, 'iteration 1 labelled its selection only').to.be.greaterThan(0);
        expect(rows.filter((r) => r.kvp.iteration === 1 && r.kvp.set !== undefined)).to.deep.equal([]);
      } finally {
        db.close();
      }
    });

    it('no fit and no export includes them; each fit stages them for its evaluation', () => {
      const db = openDatabaseFile(join(dir, '.autopipe', 'autopipe.db'), {});
      const ids = [...db.select()].filter((r) => r.kvp.set === 'validation').map((r) => r.id);
      db.close();
      for (const k of [0, 1]) {
        const inputs = join(dir, '.autopipe', 'run', `iter-00${k}`, 'train', 'inputs');
        const fitted = readExtxyz(readFileSync(join(inputs, 'train.extxyz'), 'utf8'), 'train.extxyz').map((a) => a.info.db_id);
        expect(fitted.filter((id) => ids.includes(Number(id)))).to.deep.equal([]);
        expect(readExtxyz(readFileSync(join(inputs, 'validation.extxyz'), 'utf8'), 'validation.extxyz').map((a) => Number(a.info.db_id))).to.deep.equal(ids);
      }
      const out = join(tmpDir(), 'data.pckl.gzip');
      const r = autopipe(['train', '--export', out], dir);
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stderr).to.match(/4 validation row\(s\) left out/);
      const exported = spawnSync(VENV_PYTHON, ['-c', 'import sys, pandas; print(" ".join(map(str, sorted(pandas.read_pickle(sys.argv[1], compression="gzip")["db_id"]))))', out], { encoding: 'utf8' });
      expect(exported.status, exported.stderr).to.equal(0);
      expect(exported.stdout.trim().split(' ').map(Number).filter((id) => ids.includes(id))).to.deep.equal([]);
    });

    it('the evaluation inside the training job agrees with pyace run separately on the same rows', () => {
      const c = cursor();
      const potentials = [...c.done, ...c.stages].flatMap((s) => (s.kind === 'train' ? [s.data.potential as unknown as { iteration: number; dir: string; validation: ValidationErrors }] : []));
      expect(potentials.map((p) => p.iteration)).to.deep.equal([0, 1]);
      for (const p of potentials) {
        const work = join(dir, '.autopipe', p.dir);
        const r = spawnSync(VENV_PYTHON, ['-c', INDEPENDENT, join(dir, '.autopipe', 'autopipe.db'), join(work, 'output_potential.yaml'), join(work, 'reference_energy.json')], { encoding: 'utf8' });
        expect(r.status, r.stderr).to.equal(0);
        const ref = JSON.parse(r.stdout) as { rows: number; force_rmse: number; force_max: number; energy: number };
        expect(p.validation.rows).to.equal(ref.rows);
        expect(p.validation.force_rmse).to.be.closeTo(ref.force_rmse * 1000, 1e-6);
        expect(p.validation.force_max).to.be.closeTo(ref.force_max * 1000, 1e-6);
        expect(p.validation.energy).to.be.closeTo(ref.energy * 1000, 1e-6);
      }
    });

    it('stops on iterations.patience after iteration 1\'s fit, and status leads with the curve', () => {
      const c = cursor();
      expect(c.stopped?.reason).to.match(/^the loop stopped learning: the best validation force RMSE is \d+\.\d meV\/Å \(iteration \d\), and the 1 potential\(s\) since .* iterations\.patience \(1\)$/);
      const s = autopipe(['status'], dir);
      expect(s.stdout).to.match(/learning: validation force RMSE \d+\.\d → \d+\.\d meV\/Å over iterations 0, 1/);
    });

    it('a target the last potential meets stops it instead, once autopipe.yaml says so', () => {
      editConfig(dir, [/^ {2}patience: 1$/m, '  target_force_rmse: 100000']);
      const r = autopipe(['run'], dir);
      expect(r.status, r.stderr).to.equal(0);
      expect(cursor().stopped?.reason).to.match(/^done: iteration 1's potential has a validation force RMSE of \d+\.\d meV\/Å, at or below iterations\.target_force_rmse \(100000\)$/);
      expect(existsSync(join(dir, '.autopipe', 'run', 'iter-002')), 'nothing more was labelled').to.equal(false);
    });
  });
});

/** pyace on the database's validation rows, written here and not by autopipe: the independent judge. */
const INDEPENDENT = `
import sys, json
import numpy as np
from ase.db import connect
from pyace import PyACECalculator
db = connect(sys.argv[1])
calc = PyACECalculator(sys.argv[2])
refs = json.load(open(sys.argv[3]))
de, df = [], []
for row in db.select(set="validation"):
    atoms = row.toatoms()
    atoms.calc = calc
    e = atoms.get_potential_energy() + sum(refs[s] for s in atoms.get_chemical_symbols())
    de.append((e - row.energy) / len(atoms))
    df.append(atoms.get_forces() - row.forces)
df = np.concatenate(df)
print(json.dumps({"rows": len(de), "force_rmse": float(np.sqrt(np.mean(df ** 2))), "force_max": float(np.max(np.linalg.norm(df, axis=1))), "energy": float(np.sqrt(np.mean(np.square(de))))}))
`;
