/**
 * selection.method d-optimal on python-ace's real projections: a potential fitted by the real
 * pacemaker to pw.x labels (test/support/al-training.ts), a dump written by the ase engine's own
 * writer, candidates.json written by `autopipe_explore.py candidates` (what the lammps engine's
 * job runs after lmp; the ase engine runs the same function at the end of its MD), and the
 * select stage reading both, as the loop runs it.
 *   frames 0 and 1: the same compressed fcc cell twice (group A: identical environments, γ ≈ 5.8)
 *   frame 2:        expanded fcc (group B: another environment, γ ≈ 2.5)
 *   frame 3:        a training structure, one of its atoms an atom of the active set (γ = 1)
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseConfigText } from '../lib/config/load.js';
import { emptyCursor, type Cursor, type StageRecord } from '../lib/state/cursor.js';
import { summarize } from '../lib/loop/enter.js';
import { selectKind, type SelectData } from '../lib/stages/select/index.js';
import type { StageContext } from '../lib/stages/kind.js';
import { readDumpFrames } from '../lib/formats/lammps-dump.js';
import { readExtxyz } from '../lib/formats/extxyz.js';
import { gradesOf } from '../lib/select/select.js';
import { parseCandidates } from '../lib/select/candidates.js';
import { trainedProject } from './support/al-training.js';
import { ROOT, tmpDir, VENV_PYTHON, need, pythonUnder } from './support/tools.js';

const ENGINE = join(ROOT, 'python', 'autopipe_explore.py');
const NOW = 1_800_000_000;

/** The four frames, dumped with the engine's dump_frame and the evaluator's grades. */
const MAKE_DUMP = `
import sys, json
sys.path.insert(0, sys.argv[1])
from autopipe_explore import dump_frame
from ase.build import bulk
from ase.io import read
from pyace import PyACECalculator
pot, asi, training, out = sys.argv[2:6]
calc = PyACECalculator(pot)
calc.set_active_set(asi)
a = bulk("Al", "fcc", a=3.75, cubic=True).repeat((2, 2, 2))
b = bulk("Al", "fcc", a=4.6, cubic=True).repeat((2, 2, 2))
with open(out + "/frames.dump", "w") as f:
    for k, atoms in enumerate([a, a.copy(), b, read(training, index=0)]):
        atoms.calc = calc
        atoms.get_potential_energy()
        dump_frame(f, 10 * k, atoms, calc.results["gamma"], ["Al"])
with open(out + "/task.json", "w") as f:
    json.dump({"types": ["Al"], "candidates": {"lo": 0.5, "hi": 100, "per_frame": 64}}, f)
`;

const RUN = 'explore/iter-000/t0000';

function context(selection: string, files: Record<string, Buffer>, method: string): StageContext {
  const config = parseConfigText(`name: dopt\ndft: {pseudopotentials: {Al: Al.pz-vbc.UPF}}\nselection: ${selection}\n`, 'autopipe.yaml').config;
  const base = { iteration: 0, planned_at: NOW, followed: false, submissions: [] };
  const explore: StageRecord = {
    ...base, kind: 'explore', config: { selection: { ...config.selection, method } } as never,
    tasks: [{ id: 't0000', about: '', spec: {}, attempts: [{ attempt: 1, dir: `${RUN}/a1`, submission: null, array_index: 0, parameters: {}, state: 'done', error_class: null, message: null }] }],
    data: { results: { t0000: { explored: 10, collected: 4, max_gamma: 5.9, stopped_early: false, steps_run: 100 } } },
  };
  const fit: StageRecord = { ...base, kind: 'train', tasks: [], data: { potential: { iteration: 0, dir: 'potentials/iter-000', rows: 20, row_ids: [[1, 20]], metrics: {}, duration_s: 1, warm_start_from: null } } };
  const cursor: Cursor = { ...emptyCursor('dopt', NOW, 'c0ffee000002'), stages: [explore], done: [summarize(fit, NOW)] };
  return {
    cursor, iteration: 0, config, configFile: 'autopipe.yaml', now: NOW, db: () => { throw new Error('no db'); }, render: () => '',
    asset: () => '', readFile: (p) => files[p], initialStructures: () => [], validationStructures: () => [],
  };
}

describe('d-optimal selection on python-ace\'s real projections', function () {
  this.timeout(600000);
  let files: Record<string, Buffer>;

  before(() => {
    need(VENV_PYTHON);
    const t = trainedProject();
    const dir = tmpDir('autopipe-dopt-');
    const pot = join(t.potential, 'output_potential.yaml');
    const asi = join(t.potential, 'output_potential.asi');
    pythonUnder(VENV_PYTHON, MAKE_DUMP, [join(ROOT, 'python'), pot, asi, join(t.dir, 'structures.extxyz'), dir]);
    const r = spawnSync(VENV_PYTHON, ['-W', 'ignore', ENGINE, 'candidates', 'frames.dump', pot, asi, 'task.json'], { cwd: dir, encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
    expect(r.status, r.stderr).to.equal(0);
    files = {
      [`${RUN}/frames.dump`]: readFileSync(join(dir, 'frames.dump')), [`${RUN}/candidates.json`]: readFileSync(join(dir, 'candidates.json')),
      'potentials/iter-000/output_potential.yaml': readFileSync(pot), 'potentials/iter-000/output_potential.asi': readFileSync(asi),
    };
  });

  it('candidates.json: every atom with γ in [lo, hi), each with coefficients whose largest |c| is the evaluator\'s γ (the dump\'s column)', () => {
    const frames = [...readDumpFrames([files[`${RUN}/frames.dump`]], { types: ['Al'], requiredColumns: ['f_pace_gamma'] }, 'frames.dump')];
    const c = parseCandidates(files[`${RUN}/candidates.json`].toString('utf8'), 'candidates.json');
    expect(c.frames).to.equal(4);
    const inRange = frames.map((f) => [...gradesOf(f, 'f_pace_gamma')].filter((g) => g >= 0.5 && g < 100).length);
    expect(inRange.slice(0, 3)).to.deep.equal([32, 32, 32]);
    expect(c.candidates).to.have.length(inRange.reduce((a, b) => a + b, 0));
    for (const x of c.candidates) {
      const g = gradesOf(frames[x.frame], 'f_pace_gamma')[x.atom];
      expect(Math.max(...x.c.map(Math.abs)), `frame ${x.frame} atom ${x.atom}`).to.be.closeTo(g, 1e-6 * g);
      expect(x.gamma).to.be.closeTo(g, 1e-6 * g);
      expect(x.c).to.have.length(c.candidates[0].c.length);
    }
    // the training frame holds an atom of the active set: γ 1
    expect(c.candidates.filter((x) => x.frame === 3 && Math.abs(x.gamma - 1) < 1e-5)).to.have.length(1);
  });

  it('picks one atom from each group where gamma ordering picks both from one; it never picks an environment already in the active set', () => {
    const sel = (method: string, extra: string) => {
      const out = selectKind.run(context(`{method: ${method}, embed: false, ${extra}}`, files, 'd-optimal'));
      const frames = readExtxyz(out.keep[0].content, 'selected.extxyz');
      return { data: out.data as unknown as SelectData, frames: frames.map((f) => f.info.frame), notes: out.notes, masks: frames.map((f) => [...(f.arrays.force_mask.values as Float64Array)]) };
    };
    const gamma = sel('gamma', 'lo: 2, hi: 100, max_candidates: 2');
    expect(gamma.frames).to.deep.equal([0, 1]); // both of group A
    const dopt = sel('d-optimal', 'lo: 2, hi: 100, max_candidates: 2');
    expect(dopt.frames).to.deep.equal([0, 2]); // one of A, one of B
    expect(dopt.masks.every((m) => m.length === 32 && m.every((x) => x === 1))).to.equal(true);
    expect(dopt.data).to.deep.include({ method: 'd-optimal', embed: false, selected: 2, parents_whole: 2, subcells: 0 });
    expect(dopt.data.gains?.[0]).to.be.greaterThan(5);
    expect(dopt.data.gains?.[1]).to.be.within(1.001, 2.5); // B against the set grown by A: less than its γ
    expect(dopt.notes[0]).to.match(/d-optimal: 2 selected that add volume to the active set .*: 2 whole frames \(selection\.embed false\)$/);
    // lo below 1: the training frame's atoms are candidates, yet never chosen; the choice ends when the rest is spanned
    const all = sel('d-optimal', 'lo: 0.5, hi: 100, max_candidates: 50');
    expect(all.data.candidates).to.equal(100);
    expect(all.frames).to.not.include(3);
    expect(all.data.gains?.every((g) => g > 1.001)).to.equal(true);
    expect(all.data.spanned).to.be.greaterThan(0);
  });

  it('an exploration planned with method gamma left no candidates.json: the select stage says so and what to do', () => {
    const { [`${RUN}/candidates.json`]: _, ...without } = files;
    expect(() => selectKind.run(context('{method: d-optimal}', without, 'gamma'))).to.throw(/candidates\.json is missing: iteration 0's exploration ran with selection\.method gamma/);
    try {
      selectKind.run(context('{method: d-optimal}', without, 'gamma'));
    } catch (e) {
      expect((e as { hint?: string }).hint).to.match(/set selection\.method: gamma and resume/);
    }
  });
});
