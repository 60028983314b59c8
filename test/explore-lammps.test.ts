/**
 * The `lammps` exploration engine's input (templates/explore.lammps.hbs). Debian's LAMMPS (29 Sep
 * 2021) has no ML-PACE, so the three lines that need it (pair_style pace/extrapolation, its
 * pair_coeff with the potential's yaml and active set, fix pair … gamma) are golden-tested only.
 * Everything else runs in the real `lmp`: those three lines are swapped for an EAM potential and
 * a per-atom quantity LAMMPS has (the kinetic energy per atom, recomputed on the same steps under
 * the same fix name), so the data file, the thermostat, the grade's maximum, the check loop with
 * both dumps and the stop run as written.
 */
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeAtoms } from '../lib/atoms/atoms.js';
import { writeLammpsData } from '../lib/formats/lammps-data.js';
import { readDumpFrames } from '../lib/formats/lammps-dump.js';
import { gradesOf } from '../lib/select/select.js';
import { loadTemplate } from '../lib/templates/render.js';
import { ROOT, tmpDir, need } from './support/tools.js';

const CONTEXT = {
  masses: [{ type: 1, mass: 26.9815385 }], types: ['Al'], dump_every: 10, gamma_collect: 0.25, gamma_stop: 1000,
  temperature: 900, seed: 4711, tdamp: 0.1, timestep: 0.002, steps: 400,
};
/** What write_dump calls the grade (the job renames it f_pace_gamma). */
const COLUMN = 'v_pace_gamma';

/** The rendered input with its three ML-PACE lines replaced by what Debian's LAMMPS has. */
function runnable(input: string): string {
  const swap: Array<[RegExp, string]> = [
    [/^pair_style\s+pace\/extrapolation$/m, 'pair_style      eam/alloy'],
    [/^pair_coeff\s+\* \* \.\.\/\.\.\/inputs\/potential\.yaml \.\.\/\.\.\/inputs\/potential\.asi Al$/m, 'pair_coeff      * * /usr/share/lammps/potentials/Al_zhou.eam.alloy Al'],
    [/^fix\s+pace_gamma all pair 10 pace\/extrapolation gamma 1$/m, 'compute         ke_atom all ke/atom\nfix             pace_gamma all ave/atom 1 1 10 c_ke_atom'],
  ];
  let out = input;
  for (const [from, to] of swap) {
    expect(from.test(out), `the input has ${from}`).to.equal(true);
    out = out.replace(from, to);
  }
  return out;
}

function al32(): string {
  const a = 4.05;
  const positions: number[] = [];
  for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) for (let k = 0; k < 2; k++) {
    for (const [x, y, z] of [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]) positions.push((i + x) * a, (j + y) * a, (k + z) * a);
  }
  return writeLammpsData(makeAtoms({ numbers: new Array(32).fill(13), positions, cell: [2 * a, 0, 0, 0, 2 * a, 0, 0, 0, 2 * a], pbc: [true, true, true] }), { types: ['Al'] }).text;
}

function lmp(dir: string, input: string): string {
  need('lmp');
  writeFileSync(join(dir, 'in.explore'), input);
  writeFileSync(join(dir, 'structure.data'), al32());
  const r = spawnSync('lmp', ['-in', 'in.explore', '-log', 'log.lammps', '-screen', 'none'], { cwd: dir, encoding: 'utf8' });
  const log = readFileSync(join(dir, 'log.lammps'), 'utf8');
  expect(r.status, log.slice(-2000)).to.equal(0);
  return log;
}

function frames(dir: string, file: string, column?: string) {
  return [...readDumpFrames([readFileSync(join(dir, file))], { types: ['Al'], requiredColumns: column === undefined ? [] : [column] }, file)];
}

describe('exploration engine lammps: the input', function () {
  this.timeout(300000);

  it('renders as the golden file (pair_style pace/extrapolation with the B-basis yaml and the active set)', () => {
    const input = loadTemplate('explore.lammps.hbs')(CONTEXT);
    const golden = join(ROOT, 'test', 'golden', 'explore.lammps');
    if (process.env.AUTOPIPE_UPDATE_GOLDEN === '1') writeFileSync(golden, input);
    expect(input).to.equal(readFileSync(golden, 'utf8'));
    expect(input).to.match(/^pair_coeff\s+\* \* \.\.\/\.\.\/inputs\/potential\.yaml \.\.\/\.\.\/inputs\/potential\.asi Al$/m);
    expect(input).to.match(/^fix\s+pace_gamma all pair 10 pace\/extrapolation gamma 1$/m);
  });

  it('the rest runs in the real lmp: every checked frame lands in exactly one dump, by its largest grade', () => {
    const dir = tmpDir();
    const log = lmp(dir, runnable(loadTemplate('explore.lammps.hbs')(CONTEXT)));
    const collected = frames(dir, 'frames.dump', COLUMN);
    const good = frames(dir, 'good.dump');
    for (const f of collected) expect(Math.max(...gradesOf(f, COLUMN))).to.be.at.least(CONTEXT.gamma_collect);
    expect(collected.length, 'some frames reach gamma_collect').to.be.greaterThan(0);
    expect(good.length, 'some do not').to.be.greaterThan(0);
    const steps = [...collected, ...good].map((f) => Number(f.info.timestep)).sort((a, b) => a - b);
    expect(steps).to.deep.equal(Array.from({ length: CONTEXT.steps / CONTEXT.dump_every + 1 }, (_, k) => k * CONTEXT.dump_every));
    expect(good[0].arrays.vx, 'good frames carry velocities to continue from').to.not.equal(undefined);
    expect(log).to.match(/autopipe: explored to step 400/);
  });

  it('stops once the largest grade reaches gamma_stop, after dumping that frame', () => {
    const dir = tmpDir();
    const log = lmp(dir, runnable(loadTemplate('explore.lammps.hbs')({ ...CONTEXT, gamma_collect: 0.2, gamma_stop: 0.3 })));
    const collected = frames(dir, 'frames.dump', COLUMN);
    const last = collected.at(-1)!;
    expect(Math.max(...gradesOf(last, COLUMN))).to.be.at.least(0.3);
    const at = Number(/autopipe: gamma_stop reached at step (\d+)/.exec(log)?.[1]);
    expect(at).to.equal(Number(last.info.timestep)).and.to.be.below(CONTEXT.steps);
    for (const f of collected.slice(0, -1)) expect(Math.max(...gradesOf(f, COLUMN))).to.be.below(0.3);
  });
});
