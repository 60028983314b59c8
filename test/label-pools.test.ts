/**
 * pw.x's k-point pools per task (issue 22 §2): chosen in the plan from each task's mesh and
 * dft.resources.ntasks, written into its task.env, passed by label.sh.hbs as -nk; a Γ-only cell
 * and a 4×4×4 cell in one array on the test cluster, pw.x over MPI with two ranks.
 */
import { expect } from 'chai';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import yaml from 'js-yaml';
import { makeAtoms } from '../lib/atoms/atoms.js';
import { writeExtxyz } from '../lib/formats/extxyz.js';
import { parseConfigText } from '../lib/config/load.js';
import { validateConfig } from '../lib/config/validate.js';
import { autoPools, kpointEstimate, poolsFor, taskEnv } from '../lib/stages/label/pools.js';
import { attemptFiles, kpointsOf } from '../lib/stages/label/plan.js';
import { readCursor } from '../lib/state/cursor.js';
import { clusterEnv } from './support/cluster.js';
import { ROOT, tmpDir, need } from './support/tools.js';

/** Al fcc conventional cell (kspacing 0.4 gives 4×4×4) and an Al dimer in a 16 Å box (1×1×1: Γ). */
const SMALL = makeAtoms({ numbers: [13, 13, 13, 13], positions: [0, 0, 0, 2.03, 2.02, 0, 2.02, 0, 2.04, 0, 2.025, 2.01], cell: [4.05, 0, 0, 0, 4.05, 0, 0, 0, 4.05], pbc: [true, true, true] });
const LARGE = makeAtoms({ numbers: [13, 13], positions: [8, 8, 8, 10.6, 8, 8], cell: [16, 0, 0, 0, 16, 0, 0, 0, 16], pbc: [true, true, true] });

const config = (extra: string) => parseConfigText(`name: pools\ndft:\n  pseudopotentials: {Al: Al.pz-vbc.UPF}\n  kspacing: 0.4\n${extra}`, 'autopipe.yaml').config;

describe('k-point pools (pure)', () => {
  it('k-points after time reversal: self-partnered points (0 and ½ on even axes) once, the rest in pairs; nspin 2 doubles', () => {
    expect(kpointEstimate([1, 1, 1])).to.equal(1);
    expect(kpointEstimate([2, 2, 2])).to.equal(8); // every point is its own partner
    expect(kpointEstimate([4, 4, 4])).to.equal(36);
    expect(kpointEstimate([3, 3, 3])).to.equal(14);
    expect(kpointEstimate([4, 4, 1])).to.equal(10);
    expect(kpointEstimate([4, 4, 4], 2)).to.equal(72);
  });

  it('auto: the largest divisor of the ranks not above the k-points', () => {
    expect(autoPools(1, 2)).to.equal(1);
    expect(autoPools(36, 2)).to.equal(2);
    expect(autoPools(36, 16)).to.equal(16);
    expect(autoPools(3, 16)).to.equal(2);
    expect(autoPools(5, 12)).to.equal(4);
    expect(autoPools(10, 7)).to.equal(7);
    expect(autoPools(6, 7)).to.equal(1); // 7 ranks split only as 1 or 7
    expect(autoPools(100, 1)).to.equal(1);
  });

  it('per task from its own mesh: the Γ cell 1 pool, the 4×4×4 cell 2 (ntasks 2); dft.pools fixes it; task.env carries it, quoted', () => {
    const c = config('  resources: {ntasks: 2}\n');
    expect(poolsFor(LARGE, kpointsOf(c), c)).to.equal(1);
    expect(poolsFor(SMALL, kpointsOf(c), c)).to.equal(2);
    const fixed = config('  pools: 1\n  resources: {ntasks: 2}\n');
    expect(poolsFor(SMALL, kpointsOf(fixed), fixed)).to.equal(1);
    const files = attemptFiles(SMALL, 'iter-000/label/t0000/a1', {}, c);
    expect(files.map((f) => f.path)).to.include('iter-000/label/t0000/a1/task.env');
    expect(files.find((f) => f.path.endsWith('task.env'))!.content).to.match(/^export AUTOPIPE_NPOOL=2$/m);
    expect(taskEnv(16)).to.match(/^export AUTOPIPE_NPOOL=16$/m);
  });

  it('validateConfig: -nk (or -npool …) in dft.command says where and what to do; fixed pools must divide ntasks; pools is auto or a number', () => {
    const problems = (text: string) => {
      const r = validateConfig(yaml.load(text));
      return r.ok ? [] : r.problems.map((p) => `${p.path}: ${p.message}`);
    };
    expect(problems('{dft: {command: "srun pw.x -nk 2", pseudopotentials: {Al: A.UPF}}}')).to.deep.equal([
      'dft.command: holds -nk, but autopipe gives each task its own pools (-nk "$AUTOPIPE_NPOOL" in label.sh.hbs, chosen from the task\'s k-points): remove -nk and its number from dft.command, and set dft.pools to a number if every task must have that many',
    ]);
    expect(problems('{dft: {command: "mpirun -np 4 pw.x -npool 4", pseudopotentials: {Al: A.UPF}}}')[0]).to.match(/^dft\.command: holds -npool/);
    expect(problems('{dft: {command: "srun pw.x -nd 4", pseudopotentials: {Al: A.UPF}}}')).to.deep.equal([]);
    expect(problems('{dft: {pools: 3, resources: {ntasks: 4}, pseudopotentials: {Al: A.UPF}}}')).to.deep.equal([
      'dft.pools: 3 pools do not divide dft.resources.ntasks (4 MPI ranks): pw.x needs the ranks split evenly; choose a divisor of 4, or auto',
    ]);
    expect(problems('{dft: {pools: some, pseudopotentials: {Al: A.UPF}}}')[0]).to.match(/^dft\.pools: 'some' does not have the expected form \(auto, or a whole number of pools\)/);
    expect(problems('{dft: {pools: 0, pseudopotentials: {Al: A.UPF}}}')).to.have.length(1);
    expect(problems('{dft: {pools: 2, resources: {ntasks: 4}, pseudopotentials: {Al: A.UPF}}}')).to.deep.equal([]);
  });

  it('the cluster profile example has no -nk in dft.command and validates', () => {
    const text = readFileSync(join(ROOT, 'examples', 'cluster-profile', 'autopipe.yaml'), 'utf8');
    const c = parseConfigText(text, 'autopipe.yaml').config;
    expect(c.dft.command).not.to.match(/-nk/);
    expect(c.dft.pools).to.equal('auto');
  });
});

describe('k-point pools on the test cluster', function () {
  this.timeout(600000);

  it('one array: the Γ-only cell runs pw.x with npool 1, the 4×4×4 cell with npool 2, both on 2 MPI ranks, both labelled', () => {
    need('pw.x');
    const env = { ...process.env, ...clusterEnv() };
    const dir = tmpDir();
    writeFileSync(join(dir, 'structures.extxyz'), writeExtxyz([LARGE, SMALL]));
    writeFileSync(join(dir, 'autopipe.yaml'), [
      'name: pools',
      'structures: structures.extxyz',
      'iterations: {stop_after: label}',
      'dft:',
      '  command: srun --mpi=pmix pw.x',
      '  pseudopotentials: {Al: Al.pz-vbc.UPF}',
      '  kspacing: 0.4',
      '  parameters: {ecutwfc: 12, occupations: smearing, smearing: mv, degauss: 0.05}',
      '  resources: {ntasks: 2}',
      'executor: {kind: slurm, poll_interval: 0.5}',
      '',
    ].join('\n'));
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), 'run', '-C', dir], { encoding: 'utf8', env });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/\(2 tasks; label\)/).and.match(/stage complete: 2 done, 0 failed/);
    const cursor = readCursor(join(dir, '.autopipe', 'cursor.json'))!;
    expect(cursor.stages[0].submissions, 'one array').to.have.length(1);
    const run = join(dir, '.autopipe', 'run', 'iter-000', 'label');
    const out = (t: string) => readFileSync(join(run, t, 'a1', 'pw.out'), 'utf8');
    const npool = (t: string) => Number(/K-points division:\s+npool\s+=\s+(\d+)/.exec(out(t))?.[1] ?? 1);
    for (const t of ['t0000', 't0001']) expect(out(t), t).to.match(/Parallel version \(MPI\), running on\s+2 processors/);
    expect(readFileSync(join(run, 't0000', 'a1', 'pw.in'), 'utf8')).to.include('K_POINTS gamma');
    expect(readFileSync(join(run, 't0001', 'a1', 'pw.in'), 'utf8')).to.include('4 4 4 0 0 0');
    // one job script for the array; each task's pools from its own task.env
    const script = readdirSync(run).filter((f) => f.endsWith('.sbatch'));
    expect(script).to.have.length(1);
    expect(readFileSync(join(run, script[0]), 'utf8')).to.include('srun --mpi=pmix pw.x -nk "${AUTOPIPE_NPOOL:-1}" -in pw.in');
    expect(readFileSync(join(run, 't0000', 'a1', 'task.env'), 'utf8')).to.match(/^export AUTOPIPE_NPOOL=1$/m);
    expect(readFileSync(join(run, 't0001', 'a1', 'task.env'), 'utf8')).to.match(/^export AUTOPIPE_NPOOL=2$/m);
    expect(npool('t0000'), 'Γ cell: pw.x prints no division line for one pool').to.equal(1);
    expect(out('t0000')).not.to.match(/K-points division/);
    expect(npool('t0001'), '4×4×4 cell').to.equal(2);
    expect(out('t0001')).to.match(/K-points division:\s+npool\s+=\s+2\n/);
  });
});
