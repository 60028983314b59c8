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
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeAtoms } from '../lib/atoms/atoms.js';
import { writeLammpsData } from '../lib/formats/lammps-data.js';
import { readDumpFrames } from '../lib/formats/lammps-dump.js';
import { gradesOf } from '../lib/select/select.js';
import { loadTemplate } from '../lib/templates/render.js';
import { jobScript } from '../lib/loop/wrapper.js';
import { parseSentinel } from '../lib/exec/manifest.js';
import { readExtxyz } from '../lib/formats/extxyz.js';
import { parseConfigText } from '../lib/config/load.js';
import { planExplore } from '../lib/stages/explore/plan.js';
import { exploreKind } from '../lib/stages/explore/index.js';
import { judgeLammps, renameGradeColumn } from '../lib/stages/explore/judge-lammps.js';
import type { RunResult } from '../lib/stages/explore/judge.js';
import { ROOT, tmpDir, need, VENV_PYTHON } from './support/tools.js';
import { trainedProject } from './support/al-training.js';
import { parseCandidates } from '../lib/select/candidates.js';

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

function al32Atoms() {
  const a = 4.05;
  const positions: number[] = [];
  for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) for (let k = 0; k < 2; k++) {
    for (const [x, y, z] of [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]) positions.push((i + x) * a, (j + y) * a, (k + z) * a);
  }
  return makeAtoms({ numbers: new Array(32).fill(13), positions, cell: [2 * a, 0, 0, 0, 2 * a, 0, 0, 0, 2 * a], pbc: [true, true, true] });
}

function al32(): string {
  return writeLammpsData(al32Atoms(), { types: ['Al'] }).text;
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

  it('the rest runs in the real lmp: every check is printed; a frame at gamma_collect or above goes to frames.dump, the last one below stays in good.dump', () => {
    const dir = tmpDir();
    const log = lmp(dir, runnable(loadTemplate('explore.lammps.hbs')(CONTEXT)));
    const checks = [...log.matchAll(/^autopipe: check (\d+) (\S+)$/gm)].map((m) => ({ step: Number(m[1]), gamma: Number(m[2]) }));
    expect(checks.map((c) => c.step)).to.deep.equal(Array.from({ length: CONTEXT.steps / CONTEXT.dump_every + 1 }, (_, k) => k * CONTEXT.dump_every));
    const collected = frames(dir, 'frames.dump', COLUMN);
    expect(collected.map((f) => Number(f.info.timestep))).to.deep.equal(checks.filter((c) => c.gamma >= CONTEXT.gamma_collect).map((c) => c.step));
    for (const f of collected) expect(Math.max(...gradesOf(f, COLUMN))).to.be.at.least(CONTEXT.gamma_collect);
    expect(collected.length, 'some frames reach gamma_collect').to.be.greaterThan(0).and.below(checks.length);
    // the printed grade is the dumped frame's largest
    const first = collected[0];
    expect(Math.max(...gradesOf(first, COLUMN))).to.be.closeTo(checks.find((c) => c.step === Number(first.info.timestep))!.gamma, 1e-5);
    const good = frames(dir, 'good.dump');
    expect(good.map((f) => Number(f.info.timestep)), 'good.dump holds the last good frame only').to.deep.equal([checks.filter((c) => c.gamma < CONTEXT.gamma_collect).at(-1)!.step]);
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

  it('as a stage: the plan writes structure.data and explore.in, the job script runs the real lmp, and the judge makes the files the ase engine writes', () => {
    need('lmp');
    const cfg = parseConfigText('name: lx\ndft: {pseudopotentials: {Al: Al.pz-vbc.UPF}}\nexplore: {engine: lammps, temperatures: [900], steps: 300, dump_every: 10, timestep: 0.002, gamma_collect: 0.25, gamma_stop: 1000}\n', 'autopipe.yaml').config;
    const root = tmpDir();
    const stageDir = 'iter-000/explore';
    const plan = planExplore({
      starts: [{ atoms: al32Atoms(), source: { file: 's.extxyz', frame: 1 } }], continued: () => undefined, config: cfg, iteration: 0, stageDir,
      engine: { kind: 'lammps', render: (c) => loadTemplate('explore.lammps.hbs')(c) },
      potential: { dir: 'potentials/iter-000', yaml: Buffer.from('- speciesblock: Al\n'), asi: Buffer.from([1, 2]) }, elements: ['Al'],
    });
    expect(plan.shared.map((f) => f.path)).to.deep.equal(['iter-000/explore/inputs/potential.yaml', 'iter-000/explore/inputs/potential.asi']);
    expect(plan.tasks[0].files.map((f) => f.path.split('/').at(-1))).to.deep.equal(['start.extxyz', 'task.json', 'structure.data', 'explore.in']);
    for (const f of [...plan.shared, ...plan.tasks[0].files]) {
      mkdirSync(join(root, f.path, '..'), { recursive: true });
      // the ML-PACE lines swapped for what Debian's lmp has; the rest as planned
      writeFileSync(join(root, f.path), f.path.endsWith('explore.in') ? runnable(f.content as string) : f.content);
    }
    writeFileSync(join(root, stageDir, 'm.manifest'), 't0000/a1 lmptoken01\n');
    // autopipe's job script, run as SLURM would: in the stage folder (sbatch --chdir)
    const script = jobScript({
      manifest: 'm.manifest', resources: cfg.explore.resources, template: 'explore.sh.hbs', about: 'test',
      payload: loadTemplate('explore.sh.hbs')({ ...exploreKind.scriptContext(cfg), resources: cfg.explore.resources }),
    });
    const r = spawnSync('bash', ['-c', script], { cwd: join(root, stageDir), encoding: 'utf8', env: { ...process.env, SLURM_ARRAY_TASK_ID: '0' } });
    const dir = join(root, stageDir, 't0000', 'a1');
    expect(r.status, readFileSync(join(dir, 'explore.out'), 'utf8').slice(-1500)).to.equal(0);
    const fetched = new Map(exploreKind.outputs.filter((n) => existsSync(join(dir, n))).map((n) => [n, readFileSync(join(dir, n))] as const));
    const exit = parseSentinel(readFileSync(join(dir, 'exitcode'), 'utf8'));
    expect(exit, 'the exitcode carries the attempt\'s token').to.deep.equal({ value: 0, token: 'lmptoken01' });
    const j = judgeLammps(fetched, exit!.value);
    expect(j.ok, JSON.stringify(j)).to.equal(true);
    const { summary, files } = (j as { result: RunResult }).result;
    expect(summary).to.deep.include({ steps_run: 300, frames_explored: 31, stopped_early: false, all_gamma_zero: false });
    const collected = [...readDumpFrames([files.get('frames.dump')!], { types: ['Al'], requiredColumns: ['f_pace_gamma'] }, 'frames.dump')];
    expect(collected).to.have.length(summary.frames_collected).and.length.greaterThan(0);
    for (const f of collected) expect(Math.max(...gradesOf(f, 'f_pace_gamma'))).to.be.at.least(0.25);
    expect(summary.frames_collected, 'some frames stay below').to.be.below(31);
    expect(summary.frame_gammas, 'the grade of every check').to.have.length(31);
    expect(summary.frame_gammas!.filter((g) => g >= 0.25)).to.have.length(summary.frames_collected);
    const [last] = readExtxyz(files.get('last.extxyz')!.toString('utf8'), 'last.extxyz');
    expect(last.numbers).to.have.length(32);
    expect(last.info.timestep).to.equal(summary.last_good_step);
    expect(JSON.parse(files.get('summary.json')!.toString('utf8'))).to.deep.equal(summary);
    expect(renameGradeColumn('ITEM: ATOMS id type x y z v_pace_gamma\n1 1 0 0 0 0.5\n')).to.equal('ITEM: ATOMS id type x y z f_pace_gamma\n1 1 0 0 0 0.5\n');
    // an error of LAMMPS's own is an explore_error with its line
    // Debian's lmp, as captured: a LAMMPS without ML-PACE is an explore_error that says so
    const noPace = "  1 by 1 by 1 MPI processor grid\nERROR: Unrecognized pair style 'pace/extrapolation' (src/force.cpp:278)\nLast command: pair_style pace/extrapolation\n";
    expect(judgeLammps(new Map([['explore.out', Buffer.from(noPace)]]), 1)).to.deep.equal({ ok: false, failure: {
      cls: 'explore_error', message: "exit 1: ERROR: Unrecognized pair style 'pace/extrapolation' (src/force.cpp:278) (this LAMMPS has no ML-PACE package: build it with ML-PACE, or set explore.engine: ase)",
    } });
  });

  it('selection.method d-optimal: after lmp the job runs `autopipe_explore.py candidates` on its dump with the real potential (python-ace), and the judge keeps candidates.json', () => {
    need('lmp');
    const pot = trainedProject().potential;
    const cfg = parseConfigText(`name: lx\ndft: {pseudopotentials: {Al: Al.pz-vbc.UPF}}\nselection: {method: d-optimal, lo: 0.1, hi: 1000}\nexplore: {engine: lammps, python: ${VENV_PYTHON} -W ignore, temperatures: [900], steps: 60, dump_every: 10, timestep: 0.002, gamma_collect: 0.25, gamma_stop: 1000}\n`, 'autopipe.yaml').config;
    const root = tmpDir();
    const stageDir = 'iter-000/explore';
    const plan = planExplore({
      starts: [{ atoms: al32Atoms(), source: { file: 's.extxyz', frame: 1 } }], continued: () => undefined, config: cfg, iteration: 0, stageDir,
      engine: { kind: 'lammps', render: (c) => loadTemplate('explore.lammps.hbs')(c), script: readFileSync(join(ROOT, 'python', 'autopipe_explore.py'), 'utf8') },
      potential: { dir: 'potentials/iter-000', yaml: readFileSync(join(pot, 'output_potential.yaml')), asi: readFileSync(join(pot, 'output_potential.asi')) }, elements: ['Al'],
    });
    for (const f of [...plan.shared, ...plan.tasks[0].files]) {
      mkdirSync(join(root, f.path, '..'), { recursive: true });
      writeFileSync(join(root, f.path), f.path.endsWith('explore.in') ? runnable(f.content as string) : f.content);
    }
    writeFileSync(join(root, stageDir, 'm.manifest'), 't0000/a1 lmptoken02\n');
    const script = jobScript({
      manifest: 'm.manifest', resources: cfg.explore.resources, template: 'explore.sh.hbs', about: 'test',
      payload: loadTemplate('explore.sh.hbs')({ ...exploreKind.scriptContext(cfg), resources: cfg.explore.resources }),
    });
    expect(script).to.include('autopipe_explore.py" candidates frames.dump');
    const r = spawnSync('bash', ['-c', script], { cwd: join(root, stageDir), encoding: 'utf8', env: { ...process.env, SLURM_ARRAY_TASK_ID: '0', OMP_NUM_THREADS: '1' } });
    const dir = join(root, stageDir, 't0000', 'a1');
    expect(r.status, readFileSync(join(dir, 'explore.err'), 'utf8').slice(-1500)).to.equal(0);
    const fetched = new Map(exploreKind.outputs.filter((n) => existsSync(join(dir, n))).map((n) => [n, readFileSync(join(dir, n))] as const));
    const j = judgeLammps(fetched, parseSentinel(readFileSync(join(dir, 'exitcode'), 'utf8'))!.value);
    expect(j.ok, JSON.stringify(j)).to.equal(true);
    const { summary, files } = (j as { result: RunResult }).result;
    const c = parseCandidates(files.get('candidates.json')!.toString('utf8'), 'candidates.json');
    expect(c.frames).to.equal(summary.frames_collected).and.greaterThan(0);
    // every atom of a near-perfect crystal is within [0.1, 1000) of python-ace's grade: the cap of 64 per frame does not bite at 32 atoms
    expect(c.candidates).to.have.length(32 * c.frames);
    for (const x of c.candidates) expect(Math.max(...x.c.map(Math.abs))).to.be.closeTo(x.gamma, 1e-6 * x.gamma + 1e-7);
    // a failed lmp keeps its exit status, whatever `candidates` does after it
    expect(spawnSync('bash', ['-c', loadTemplate('explore.sh.hbs')({ ...exploreKind.scriptContext(cfg), lmp: 'false', python: 'true', resources: cfg.explore.resources })], { cwd: dir }).status).to.equal(1);
  });
});
