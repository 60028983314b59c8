/**
 * The embedding check on a small real case: an explored frame (107 Al atoms, a vacancy, rattled)
 * and sub-cells around one of its atoms, labelled by real pw.x through the loop's machinery on
 * the local executor. What it reports must equal a recomputation from pw.x's outputs by ASE
 * (the independent judge), and a broken construction (a cube with a buffer of 0.04 Å, the old
 * quickstart's) must be reported as failing the target.
 */
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeAtoms, type Atoms } from '../lib/atoms/atoms.js';
import { parseConfigText } from '../lib/config/load.js';
import { embedAtom, indexFrame } from '../lib/embed/extract.js';
import { LocalExecutor } from '../lib/exec/local.js';
import { writeExtxyz } from '../lib/formats/extxyz.js';
import { planStage } from '../lib/loop/enter.js';
import { pollPass } from '../lib/loop/pass.js';
import { checkKind } from '../lib/stages/check/index.js';
import type { CheckData } from '../lib/stages/check/plan.js';
import { checkFigures, checkLine } from '../lib/stages/check/table.js';
import type { Registry } from '../lib/stages/kind.js';
import { emptyCursor, type Cursor, type JsonObject } from '../lib/state/cursor.js';
import { stageSettled } from '../lib/state/tasks.js';
import { passContext } from './support/loop.js';
import { rng } from './support/random.js';
import { memoryDatabase } from '../lib/db/db-file.js';
import { pythonJson, tmpDir } from './support/tools.js';

const CHECK_ONLY: Registry = new Map([[checkKind.kind, checkKind]]);
const A = 4.05;
const DUMP = 'explore/iter-000/t0000/frames.dump';

/** 3×3×3 fcc Al cells without the atom at the origin, rattled: ids 1..107. */
function frame(): Atoms {
  const r = rng(19);
  const pos: number[] = [];
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) {
    for (const [x, y, z] of [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]) pos.push(...[i + x, j + y, k + z].map((v) => v * A + 0.12 * (2 * r() - 1)));
  }
  pos.splice(0, 3);
  const n = pos.length / 3;
  return makeAtoms({ numbers: new Array(n).fill(13), positions: pos, cell: [3 * A, 0, 0, 0, 3 * A, 0, 0, 0, 3 * A], pbc: [true, true, true], arrays: { id: { kind: 'int', width: 1, values: Float64Array.from({ length: n }, (_, k) => k + 1) } } });
}

function dumpText(f: Atoms): string {
  const n = f.numbers.length;
  const rows = Array.from({ length: n }, (_, k) => `${k + 1} 1 ${[0, 1, 2].map((x) => f.positions[3 * k + x].toFixed(6)).join(' ')}`);
  return `ITEM: TIMESTEP\n100\nITEM: NUMBER OF ATOMS\n${n}\nITEM: BOX BOUNDS pp pp pp\n0 ${3 * A}\n0 ${3 * A}\n0 ${3 * A}\nITEM: ATOMS id type x y z\n${rows.join('\n')}\n`;
}

const CONFIG = `name: check
dft:
  pseudopotentials: {Al: Al.pz-vbc.UPF}
  pseudo_dir: /usr/share/espresso/pseudo
  kspacing: 0.55        # Γ for the 12.15 Å frame, 2×2×2 for 8 Å sub-cells: the same density
  parameters: {ecutwfc: 12, occupations: smearing, smearing: mv, degauss: 0.05, conv_thr: 1.0e-6, mixing_beta: 0.3}
embedding:
  rcut: 4.0
  buffer: 0.04
  mask_radius: 3.3
  box: cube
  check: {buffers: [0.04], centres: 1}
iterations: {max: 2}
`;

describe('the embedding check (real pw.x, local executor)', function () {
  this.timeout(900_000);

  it('labels the frame and two sub-cells, reports what ASE recomputes from pw.x\'s outputs, and a 0.04 Å buffer as failing the target', async () => {
    const config = parseConfigText(CONFIG, 'autopipe.yaml').config;
    const parent = frame();
    const centre = 40; // an atom well inside, with its parent id 41
    const p = { rcut: 4, buffer: 0.04, maskRadius: 3.3, minDistance: config.embedding.min_distance, box: 'cube' as const };
    const sub = embedAtom(parent, centre, p, indexFrame(parent, p), { file: DUMP, frame: 0 });
    expect(sub.kind).to.equal('subcell');
    const kept = new Map<string, Buffer>([
      [DUMP, Buffer.from(dumpText(parent))],
      ['select/iter-000/selected.extxyz', Buffer.from(writeExtxyz([(sub as { atoms: Atoms }).atoms]))],
      ['potentials/iter-000/output_potential.yaml', Buffer.from('species:\n  - speciesblock: Al\n')],
      ['potentials/iter-000/output_potential.asi', Buffer.from('')],
    ]);
    const potential = { iteration: 0, dir: 'potentials/iter-000', rows: 6, row_ids: [[1, 6]], metrics: {}, duration_s: 1, warm_start_from: null } as unknown as JsonObject;
    const done = (kind: string, data: JsonObject) => ({ kind, iteration: 0, planned_at: 1, settled_at: 2, tasks: 0, counts: {}, outcome: 'complete', failures: {}, gave_up: [], data, core_s: 0 });
    const start = { ...emptyCursor('check', 1, 'c0ffee000019'), done: [done('train', { potential }), done('select', { selected: 1 })] } as unknown as Cursor;
    const root = tmpDir();
    const x = new LocalExecutor(root, 2);
    let k = 0;
    const db = memoryDatabase();
    const loop = { executor: x, config, db: () => db, now: Date.now() / 1000, token: () => `tok${String(k++).padStart(7, '0')}`, runRoot: root, maxArraySize: 100, candidates: [], saveCursor: () => {}, registry: CHECK_ONLY, kept };
    const ctx = passContext(loop);
    const planned = planStage(checkKind, 0, ctx.stageContext(start), { ...ctx.arrays, maxArraySize: 100 });
    expect(planned.stage.tasks.map((t) => t.about)).to.deep.equal(['reference: the whole frame', 'cube, buffer 0.04 Å, centre 41', 'lattice, buffer 0.04 Å, centre 41']);
    await x.stage(planned.files);
    let cursor: Cursor = { ...start, stages: [planned.stage] };
    for (let pass = 0; pass < 600 && !stageSettled(cursor.stages.find((s) => s.kind === 'check') ?? planned.stage); pass++) {
      cursor = (await pollPass(passContext({ ...loop, now: Date.now() / 1000 }), cursor)).cursor;
      await new Promise((res) => setTimeout(res, 1000));
    }
    const stage = [...cursor.stages, ...cursor.done].find((s) => s.kind === 'check')!;
    const data = stage.data as unknown as CheckData;
    const figures = checkFigures(data);
    expect(figures.pending).to.deep.equal([]);
    expect(figures.rows.map((r) => r.setting)).to.deep.equal(['cube, buffer 0.04 Å', 'lattice, buffer 0.04 Å']);

    // ASE's reading of the same outputs: the reference's forces by parent id, each sub-cell's core from its structure.extxyz
    const dirs = planned.stage.tasks.map((t) => join(root, t.attempts[0].dir));
    for (const d of dirs) expect(existsSync(join(d, 'pw.out')), d).to.equal(true);
    const ase = pythonJson<Array<{ rmse: number; max: number; natoms: number }>>(`
import sys, json, numpy as np
from ase.io import read
ref = read(sys.argv[1] + '/pw.out', format='espresso-out')
fref = ref.get_forces()
out = []
for d in sys.argv[2:]:
    s = read(d + '/structure.extxyz')
    f = read(d + '/pw.out', format='espresso-out').get_forces()
    core = s.arrays['force_mask'] == 1
    ids = s.arrays['parent_id'][core]
    diff = f[core] - fref[ids - 1]   # the frame's atoms are ids 1..n in order
    out.append(dict(rmse=1000 * float(np.sqrt(np.mean(diff ** 2))), max=1000 * float(np.max(np.linalg.norm(diff, axis=1))), natoms=len(s)))
print(json.dumps(out))`, dirs);
    figures.rows.forEach((r, i) => {
      expect(r.rmse, r.setting).to.be.closeTo(ase[i].rmse, 1e-3 * ase[i].rmse);
      expect(r.max, r.setting).to.be.closeTo(ase[i].max, 1e-3 * ase[i].max);
      expect(r.atoms).to.equal(ase[i].natoms);
    });
    // the reference's DFT time is its pw.x's own
    const wall = (d: string) => Number(/PWSCF\s+:.*CPU\s+(?:(\d+)m)?\s*([\d.]+)s WALL/.exec(readFileSync(join(d, 'pw.out'), 'utf8'))!.slice(1).reduce((t, v, j) => t + (j === 0 ? 60 * Number(v ?? 0) : Number(v)), 0));
    expect(figures.rows[0].costShare).to.be.closeTo(wall(dirs[1]) / wall(dirs[0]), 1e-6);

    // the configured cube of 0.04 Å is far off, and said to be
    expect(figures.configured?.setting).to.equal('cube, buffer 0.04 Å');
    expect(figures.configured!.rmse).to.be.above(config.embedding.target_force_error);
    const line = checkLine(data);
    expect(line).to.match(/the configured setting \(cube, buffer 0\.04 Å\): core force RMSE \d+ meV\/Å .* ABOVE the target of 50 meV\/Å/);
    expect(line).to.match(/on frame 0 of explore\/iter-000\/t0000\/frames\.dump \(107 atoms, 1 centre\(s\), reference: the whole frame\)/);
  });
});

describe('the embedding check: when it runs, what it tries, what it warns of (pure)', () => {
  const cfg = (extra = '') => parseConfigText(`${CONFIG}${extra}`, 'autopipe.yaml').config;
  const checked = (config: ReturnType<typeof cfg>, data: JsonObject) => ({ ...emptyCursor('check', 1, 'c0ffee000019'), done: [{ kind: 'check', iteration: 0, planned_at: 1, settled_at: 2, tasks: 3, counts: {}, outcome: 'complete', failures: {}, gave_up: [], data, core_s: 1 }] }) as unknown as Cursor;

  it('runs once per embedding and DFT setting; off says once that nothing was checked', async () => {
    const { checkKey, skipReason } = await import('../lib/stages/check/plan.js');
    const config = cfg();
    expect(skipReason(emptyCursor('check', 1, 'c0ffee000019'), config)).to.equal(undefined);
    expect(skipReason(checked(config, { key: checkKey(config) }), config)).to.deep.equal({ skipped: 'these embedding and DFT settings were checked already' });
    // another cutoff, another mask: checked again
    const other = cfg().dft.parameters;
    expect(skipReason(checked(config, { key: checkKey({ ...config, dft: { ...config.dft, parameters: { ...other, ecutwfc: 14 } } }) }), config)).to.equal(undefined);
    // a check that was skipped checked nothing
    expect(skipReason(checked(config, { key: checkKey(config), skipped: 'nothing to check' }), config)).to.equal(undefined);
    const off = parseConfigText(CONFIG.replace('check: {buffers: [0.04], centres: 1}', 'check: {when: off}'), 'autopipe.yaml').config;
    expect(skipReason(emptyCursor('check', 1, 'c0ffee000019'), off)).to.deep.include({ unchecked: true });
    expect(skipReason(checked(off, { skipped: 'off', unchecked: true }), off)).to.deep.include({ unchecked: false });
    expect(checkLine({ skipped: 'embedding.check.when is off' })).to.equal('embedding check: none (embedding.check.when is off)');
    // a reference that failed: nothing measured, and said so, not "still labelling"
    const pending: CheckData = { frame: { source: 'f.dump', index: 0, natoms: 107, centres: [41] }, reference: 'frame', target: 50, configured: 'cube, buffer 0.04 Å', settings: [{ setting: 'cube, buffer 0.04 Å', box: 'cube', buffer: 0.04 }], forces: {} };
    expect(checkLine(pending)).to.match(/the configured setting \(cube, buffer 0\.04 Å\) is not labelled yet \[1 of 1 settings still labelling\]$/);
    expect(checkLine(pending, 1)).to.match(/\[1 of 1 settings not measured: 1 task\(s\) failed, the reference among them or every sub-cell\]$/);
  });

  it('tries both boxes over the buffers (by default the configured one, rcut / 2 and rcut), the configured box first', async () => {
    const { checkSettings } = await import('../lib/stages/check/plan.js');
    const config = parseConfigText(CONFIG.replace('check: {buffers: [0.04], centres: 1}', 'check: {}').replace('box: cube', 'box: lattice'), 'autopipe.yaml').config;
    expect(checkSettings(config).map((s) => s.setting)).to.deep.equal([0.04, 2, 4].flatMap((b) => [`lattice, buffer ${b} Å`]).concat([0.04, 2, 4].map((b) => `cube, buffer ${b} Å`)));
    // one shape only (the configured one is always checked)
    const one = parseConfigText(CONFIG.replace('check: {buffers: [0.04], centres: 1}', 'check: {boxes: [cube], buffers: [2]}').replace('box: cube', 'box: lattice'), 'autopipe.yaml').config;
    expect(checkSettings(one).map((s) => s.setting)).to.deep.equal(['lattice, buffer 2 Å', 'cube, buffer 2 Å']);
    const only = parseConfigText(CONFIG.replace('check: {buffers: [0.04], centres: 1}', 'check: {boxes: [lattice], buffers: [2]}').replace('box: cube', 'box: lattice'), 'autopipe.yaml').config;
    expect(checkSettings(only).map((s) => s.setting)).to.deep.equal(['lattice, buffer 2 Å']);
  });

  it('warns when a metal would be labelled at the Γ point only in a cell thinner than 15 Å', async () => {
    const { gammaOnlyMetalWarning } = await import('../lib/stages/label/plan.js');
    const small = frame(); // 12.15 Å
    const gammaOnly = parseConfigText(CONFIG.replace('kspacing: 0.55', 'kspacing: 1.0'), 'autopipe.yaml').config;
    expect(gammaOnlyMetalWarning([small], gammaOnly)).to.match(/^1 of 1 structure\(s\) are labelled at the Γ point only although occupations is smearing \(a metal\) and a cell is 12\.\d Å thin \(under 15 Å\)/);
    // 0.55 gives this 12.15 Å cell the Γ point too: the warning stands; 0.5 gives it 2 points
    expect(gammaOnlyMetalWarning([small], cfg())).to.match(/Lower dft\.kspacing \(now 0\.55; about 0\.26 1\/Å/);
    expect(gammaOnlyMetalWarning([small], parseConfigText(CONFIG.replace('kspacing: 0.55', 'kspacing: 0.5'), 'autopipe.yaml').config)).to.equal(undefined);
    // an insulator at Γ is the user's call
    expect(gammaOnlyMetalWarning([small], parseConfigText(CONFIG.replace('occupations: smearing, smearing: mv, degauss: 0.05, ', ''), 'autopipe.yaml').config)).to.equal(undefined);
  });
});
