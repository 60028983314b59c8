/**
 * The `lammps` exploration engine on the real LAMMPS with ML-PACE (scripts/install-lammps.sh)
 * and a potential and active set fitted by the venv's pacemaker to pw.x labels
 * (test/support/al-training.ts): templates/explore.lammps.hbs runs as written, pacemaker's
 * recipe (pair_style pace/extrapolation, fix pair … gamma, dump_modify skip, fix halt). γ from
 * LAMMPS is checked against pyace's on the same frames, and the stage runs through autopipe's job
 * script, serially, under mpirun and as a SLURM job with srun.
 */
import { expect } from 'chai';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeAtoms, type Atoms } from '../lib/atoms/atoms.js';
import { readDumpFrames } from '../lib/formats/lammps-dump.js';
import { gradesOf } from '../lib/select/select.js';
import { loadTemplate } from '../lib/templates/render.js';
import { jobScript } from '../lib/loop/wrapper.js';
import { parseSentinel } from '../lib/exec/manifest.js';
import { readExtxyz } from '../lib/formats/extxyz.js';
import { parseConfigText } from '../lib/config/load.js';
import type { Config } from '../lib/config/types.js';
import { planExplore } from '../lib/stages/explore/plan.js';
import { lammpsContext, type RunSettings } from '../lib/stages/explore/engines.js';
import { exploreKind } from '../lib/stages/explore/index.js';
import { judgeLammps } from '../lib/stages/explore/judge-lammps.js';
import type { RunResult } from '../lib/stages/explore/judge.js';
import { ROOT, tmpDir, VENV_PYTHON, LMP, pythonUnder } from './support/tools.js';
import { trainedProject } from './support/al-training.js';
import { parseCandidates } from '../lib/select/candidates.js';
import { clusterEnv } from './support/cluster.js';
import { runLammpsTask, type Check } from './support/lammps-run.js';

const SETTINGS: RunSettings = {
  temperature: 900, temperature_end: 900, ensemble: 'nvt', pressure: null, seed: 4711, steps: 400, timestep: 2, dump_every: 10,
  gamma_collect: 1000, gamma_stop: 2000, types: ['Al'], friction: 0.01, tdamp: 100, pdamp: 1000, keep_velocities: false,
};

/** 2×2×2 conventional fcc Al (32 atoms), a little rattled so that the grades differ between atoms. */
function al32(): Atoms {
  const a = 4.05;
  const positions: number[] = [];
  for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) for (let k = 0; k < 2; k++) {
    for (const [x, y, z] of [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]) positions.push((i + x) * a, (j + y) * a, (k + z) * a);
  }
  return makeAtoms({ numbers: new Array(32).fill(13), positions: positions.map((p, n) => p + 0.05 * Math.sin(3 * n)), cell: [2 * a, 0, 0, 0, 2 * a, 0, 0, 0, 2 * a], pbc: [true, true, true] });
}

function potential(): { yaml: string; asi: string } {
  const dir = trainedProject().potential;
  return { yaml: join(dir, 'output_potential.yaml'), asi: join(dir, 'output_potential.asi') };
}

/** A run of the template in the real lmp (test/support/lammps-run.ts), with SETTINGS under the given ones. */
function runLammps(settings: Partial<RunSettings>, start: Atoms = al32()): { dir: string; checks: Check[]; log: string } {
  const r = runLammpsTask({ ...SETTINGS, ...settings }, start, potential());
  return { dir: r.dir, checks: r.checks, log: r.stdout };
}

function dumpFrames(dir: string, file: string, column?: string): Atoms[] {
  return [...readDumpFrames([readFileSync(join(dir, file))], { types: ['Al'], requiredColumns: column === undefined ? [] : [column] }, file)];
}

/** Per-atom γ of each frame of a dump by pyace (PyACECalculator with the active set), in id order. */
function pyaceGammas(dump: string): number[][] {
  const pot = potential();
  const out = pythonUnder(VENV_PYTHON, [
    'import sys, json, numpy as np',
    'from ase.io import read',
    'from pyace import PyACECalculator',
    'calc = PyACECalculator(sys.argv[2]); calc.set_active_set(sys.argv[3])',
    'res = []',
    'for a in read(sys.argv[1], index=":", format="lammps-dump-text", specorder=["Al"]):',
    '    a.calc = calc; a.get_potential_energy(); res.append([float(g) for g in calc.results["gamma"]])',
    'print(json.dumps(res))',
  ].join('\n'), [dump, pot.yaml, pot.asi]);
  return JSON.parse(out) as number[][];
}

/**
 * A threshold between the run's own grades, halfway between the two middle ones: some checks
 * reach it and some do not, whatever the potential, and none sits on it (a printed grade has 15
 * digits, the threshold in explore.in as many: one on a grade could fall either side of it).
 */
function median(xs: number[]): number {
  const s = [...new Set(xs)].sort((a, b) => a - b);
  const k = Math.floor(s.length / 2);
  return (s[k - 1] + s[k]) / 2;
}

function config(explore: string): Config {
  return parseConfigText(`name: lx\ndft: {pseudopotentials: {Al: Al.pz-vbc.UPF}}\nexplore: {engine: lammps, command: ${LMP}, python: ${VENV_PYTHON} -W ignore, ${explore}}\n`, 'autopipe.yaml').config;
}

/** The stage planned for one run, its files written, and autopipe's job script (what sbatch would run). */
function plannedStage(cfg: Config, start: Atoms, token: string, opts: { script?: boolean; continued?: Atoms } = {}): { root: string; stageDir: string; dir: string; script: string } {
  const pot = potential();
  const root = tmpDir('autopipe-lmp-stage-');
  const stageDir = 'iter-000/explore';
  const plan = planExplore({
    starts: [{ atoms: start, source: { file: 's.extxyz', frame: 1 } }], config: cfg, iteration: 0, stageDir,
    continued: () => (opts.continued === undefined ? undefined : { atoms: opts.continued, from: 'explore/iter-000/t0000/last.extxyz' }),
    engine: { kind: 'lammps', render: (c) => loadTemplate('explore.lammps.hbs')(c), ...(opts.script === true ? { script: readFileSync(join(ROOT, 'python', 'autopipe_explore.py'), 'utf8') } : {}) },
    potential: { dir: 'potentials/iter-000', yaml: readFileSync(pot.yaml), asi: readFileSync(pot.asi) }, elements: ['Al'],
  });
  for (const f of [...plan.shared, ...plan.tasks[0].files]) {
    mkdirSync(join(root, f.path, '..'), { recursive: true });
    writeFileSync(join(root, f.path), f.content);
  }
  writeFileSync(join(root, stageDir, 'm.manifest'), `t0000/a1 ${token}\n`);
  const script = jobScript({
    manifest: 'm.manifest', resources: cfg.explore.resources, template: 'explore.sh.hbs', about: 'test',
    payload: loadTemplate('explore.sh.hbs')({ ...exploreKind.scriptContext(cfg), resources: cfg.explore.resources }),
  });
  return { root, stageDir, dir: join(root, stageDir, 't0000', 'a1'), script };
}

/** What autopipe fetches from a finished task folder, and the judge's verdict on it. */
function judged(dir: string): { exit: number; result: RunResult } {
  const fetched = new Map(exploreKind.outputs.filter((n) => existsSync(join(dir, n))).map((n) => [n, readFileSync(join(dir, n))] as const));
  const exit = parseSentinel(readFileSync(join(dir, 'exitcode'), 'utf8'))!.value;
  const j = judgeLammps(fetched, exit);
  expect(j.ok, JSON.stringify(j)).to.equal(true);
  return { exit, result: (j as { result: RunResult }).result };
}

describe('exploration engine lammps: the real LAMMPS with ML-PACE', function () {
  this.timeout(900000);

  it('renders as the golden files: NVT, and NPT (triclinic) with a ramp going on from the last good frame', () => {
    const cases: Array<[string, Partial<RunSettings>]> = [
      ['explore.lammps', {}],
      ['explore-npt-tri.lammps', { ensemble: 'npt_tri', pressure: -5000, temperature: 300, temperature_end: 900, keep_velocities: true }],
    ];
    for (const [name, s] of cases) {
      const input = loadTemplate('explore.lammps.hbs')(lammpsContext({ ...SETTINGS, gamma_collect: 5, gamma_stop: 25, ...s }));
      const golden = join(ROOT, 'test', 'golden', name);
      if (process.env.AUTOPIPE_UPDATE_GOLDEN === '1') writeFileSync(golden, input);
      expect(input).to.equal(readFileSync(golden, 'utf8'));
    }
  });

  it('γ from LAMMPS equals pyace\'s on the same frames; frames.dump holds exactly the checks at gamma_collect or above, the good dump the last one below', () => {
    const first = runLammps({});
    expect(first.checks.map((c) => c.step)).to.deep.equal(Array.from({ length: SETTINGS.steps / SETTINGS.dump_every + 1 }, (_, k) => k * SETTINGS.dump_every));
    // the same run (same seed, serial: the same trajectory) with a threshold some checks reach
    const collect = median(first.checks.map((c) => c.gamma));
    const { dir, checks, log } = runLammps({ gamma_collect: collect });
    expect(checks).to.deep.equal(first.checks);
    expect(log).to.match(/^autopipe: explored to step 400$/m);
    const collected = dumpFrames(dir, 'frames.dump', 'f_pace_gamma');
    expect(collected.map((f) => Number(f.info.timestep))).to.deep.equal(checks.filter((c) => c.gamma >= collect).map((c) => c.step));
    expect(collected.length).to.be.greaterThan(0).and.below(checks.length);
    const reference = pyaceGammas(join(dir, 'frames.dump'));
    let worst = 0;
    collected.forEach((f, k) => {
      const lammps = gradesOf(f, 'f_pace_gamma');
      expect(Math.max(...lammps)).to.be.closeTo(checks.find((c) => c.step === Number(f.info.timestep))!.gamma, 1e-8);
      lammps.forEach((g, i) => { worst = Math.max(worst, Math.abs(g - reference[k][i]) / Math.max(1, reference[k][i])); });
    });
    console.log(`      γ: LAMMPS (pace/extrapolation) vs pyace on ${collected.length} frames × 32 atoms: largest |Δγ|/max(1, γ) = ${worst.toExponential(2)}`);
    // the dump's 10 significant digits: LAMMPS and pyace run the same C++ B-evaluator
    expect(worst).to.be.below(1e-7);
    const good = readdirSync(dir).filter((n) => /^good\.\d+\.dump$/.test(n));
    expect(good, 'only the newest good frame is kept (maxfiles 1)').to.deep.equal([`good.${checks.filter((c) => c.gamma < collect).at(-1)!.step}.dump`]);
    expect(Object.keys(dumpFrames(dir, good[0])[0].arrays)).to.include.members(['vx', 'vy', 'vz']);
  });

  it('halts at the first check whose largest grade reaches gamma_stop, that frame dumped as collected', () => {
    const first = runLammps({});
    // just below a printed grade (15 digits): the true grade of that check is above it whichever way it was rounded
    const stop = first.checks[Math.floor(first.checks.length * 2 / 3)].gamma * (1 - 1e-9);
    const at = first.checks.find((c) => c.gamma >= stop)!.step;
    const { dir, checks, log } = runLammps({ gamma_collect: Math.min(...first.checks.map((c) => c.gamma)) / 2, gamma_stop: stop });
    expect(log).to.match(new RegExp(`^Fix halt condition for fix-id gamma_stop met on step ${at} `, 'm'));
    expect(checks.at(-1)!.step).to.equal(at);
    expect(dumpFrames(dir, 'frames.dump', 'f_pace_gamma').map((f) => Number(f.info.timestep)).at(-1)).to.equal(at);
  });

  it('as a stage: the plan, autopipe\'s job script and the judge; a continued run starts from the last good frame\'s positions and velocities', () => {
    const cfg = config('temperatures: [900], steps: 300, dump_every: 10, timestep: 0.002, gamma_collect: 1000, gamma_stop: 2000');
    const s = plannedStage(cfg, al32(), 'lmptoken01');
    const r = spawnSync('bash', ['-c', s.script], { cwd: join(s.root, s.stageDir), encoding: 'utf8', env: { ...process.env, SLURM_ARRAY_TASK_ID: '0' } });
    expect(r.status, readFileSync(join(s.dir, 'explore.out'), 'utf8').slice(-1500)).to.equal(0);
    expect(existsSync(join(s.dir, 'good.dump')), 'the job names the newest good frame good.dump').to.equal(true);
    const { summary, files } = judged(s.dir).result;
    expect(summary).to.deep.include({ steps_run: 300, frames_explored: 31, frames_collected: 0, stopped_early: false, all_gamma_zero: false, last_good_step: 300 });
    expect(summary.frame_temperatures).to.have.length(31);
    expect(summary.volume_per_atom![0]).to.equal(summary.volume_per_atom![1]).and.closeTo(4.05 ** 3 / 4, 1e-4);
    const [last] = readExtxyz(files.get('last.extxyz')!.toString('utf8'), 'last.extxyz');
    expect(last.arrays.momenta?.width).to.equal(3);
    // explore.continue: the next run's data file carries those velocities, and LAMMPS's first check has the same temperature
    const c = plannedStage(cfg, al32(), 'lmptoken02', { continued: last });
    expect(readFileSync(join(c.dir, 'structure.data'), 'utf8')).to.match(/^Velocities$/m);
    expect(readFileSync(join(c.dir, 'explore.in'), 'utf8')).not.to.match(/^velocity/m);
    expect(spawnSync('bash', ['-c', c.script], { cwd: join(c.root, c.stageDir), encoding: 'utf8', env: { ...process.env, SLURM_ARRAY_TASK_ID: '0' } }).status).to.equal(0);
    const next = judged(c.dir).result.summary;
    expect(next.frame_temperatures![0]).to.be.closeTo(summary.temperature_last!, 1e-3 * summary.temperature_last!);
  });

  it('MPI: explore.command under mpirun with 2 ranks, and as a SLURM job of 2 tasks with srun, judged the same', () => {
    const cfg = config('temperatures: [900], steps: 200, dump_every: 10, timestep: 0.002, gamma_collect: 1000, gamma_stop: 2000');
    const local = plannedStage({ ...cfg, explore: { ...cfg.explore, command: `mpirun --allow-run-as-root --oversubscribe -np 2 ${LMP}` } }, al32(), 'lmpmpi01');
    expect(spawnSync('bash', ['-c', local.script], { cwd: join(local.root, local.stageDir), encoding: 'utf8', env: { ...process.env, SLURM_ARRAY_TASK_ID: '0' } }).status).to.equal(0);
    expect(readFileSync(join(local.dir, 'explore.out'), 'utf8')).to.match(/1 by 1 by 2 MPI processor grid/);
    expect(judged(local.dir).result.summary).to.deep.include({ steps_run: 200, frames_explored: 21 });
    // the test cluster: sbatch with --ntasks=2; srun starts the ranks (PMIx)
    const env = { ...process.env, ...clusterEnv() };
    const slurm = { ...cfg, explore: { ...cfg.explore, command: `srun --mpi=pmix ${LMP}`, resources: { ...cfg.explore.resources, ntasks: 2, time: '00:05:00' } } };
    const job = plannedStage(slurm, al32(), 'lmpmpi02');
    writeFileSync(join(job.root, job.stageDir, 'job.sh'), job.script);
    const sub = spawnSync('sbatch', ['--parsable', '--array=0', `--chdir=${join(job.root, job.stageDir)}`, '-o', '/dev/null', 'job.sh'], { cwd: join(job.root, job.stageDir), encoding: 'utf8', env });
    expect(sub.status, sub.stderr).to.equal(0);
    const deadline = Date.now() + 120_000;
    while (!existsSync(join(job.dir, 'exitcode')) && Date.now() < deadline) spawnSync('sleep', ['1']);
    expect(existsSync(join(job.dir, 'exitcode')), 'the SLURM job finished within 2 minutes').to.equal(true);
    expect(readFileSync(join(job.dir, 'explore.out'), 'utf8')).to.match(/1 by 1 by 2 MPI processor grid/);
    expect(judged(job.dir).result.summary).to.deep.include({ steps_run: 200, frames_explored: 21 });
  });

  it('selection.method d-optimal: after lmp the job runs `autopipe_explore.py candidates` on its dump with python-ace, and the judge keeps candidates.json', () => {
    const cfg = parseConfigText(`name: lx\ndft: {pseudopotentials: {Al: Al.pz-vbc.UPF}}\nselection: {method: d-optimal, lo: 0.1, hi: 1000}\nexplore: {engine: lammps, command: ${LMP}, python: ${VENV_PYTHON} -W ignore, temperatures: [900], steps: 60, dump_every: 10, timestep: 0.002, gamma_collect: 0.2, gamma_stop: 1000}\n`, 'autopipe.yaml').config;
    const s = plannedStage(cfg, al32(), 'lmptoken03', { script: true });
    expect(s.script).to.include('autopipe_explore.py" candidates frames.dump');
    const r = spawnSync('bash', ['-c', s.script], { cwd: join(s.root, s.stageDir), encoding: 'utf8', env: { ...process.env, SLURM_ARRAY_TASK_ID: '0', OMP_NUM_THREADS: '1' } });
    expect(r.status, readFileSync(join(s.dir, 'explore.err'), 'utf8').slice(-1500)).to.equal(0);
    const { summary, files } = judged(s.dir).result;
    const c = parseCandidates(files.get('candidates.json')!.toString('utf8'), 'candidates.json');
    expect(c.frames).to.equal(summary.frames_collected).and.greaterThan(0);
    expect(c.candidates.length).to.be.greaterThan(0);
    for (const x of c.candidates) expect(Math.max(...x.c.map(Math.abs))).to.be.closeTo(x.gamma, 1e-6 * x.gamma + 1e-7);
    // a failed lmp keeps its exit status, whatever `candidates` does after it
    expect(spawnSync('bash', ['-c', loadTemplate('explore.sh.hbs')({ ...exploreKind.scriptContext(cfg), lmp: 'false', python: 'true', resources: cfg.explore.resources })], { cwd: s.dir }).status).to.equal(1);
  });

  it('judges LAMMPS\'s own errors: a LAMMPS without ML-PACE says so; an input of the template before 2026-12 (two-field checks, v_pace_gamma) is still read', () => {
    const noPace = "  1 by 1 by 1 MPI processor grid\nERROR: Unrecognized pair style 'pace/extrapolation' (src/force.cpp:278)\nLast command: pair_style pace/extrapolation\n";
    expect(judgeLammps(new Map([['explore.out', Buffer.from(noPace)]]), 1)).to.deep.equal({ ok: false, failure: {
      cls: 'explore_error', message: "exit 1: ERROR: Unrecognized pair style 'pace/extrapolation' (src/force.cpp:278) (this LAMMPS has no ML-PACE package: build it with ML-PACE, or set explore.engine: ase)",
    } });
    const old = new Map([
      ['explore.out', Buffer.from('autopipe: check 0 0.5\nautopipe: check 10 3\nautopipe: gamma_stop reached at step 10\n')],
      ['task.json', Buffer.from(JSON.stringify({ gamma_collect: 1, types: ['Al'] }))],
      ['frames.dump', Buffer.from('ITEM: TIMESTEP\n10\nITEM: NUMBER OF ATOMS\n1\nITEM: BOX BOUNDS pp pp pp\n0 4\n0 4\n0 4\nITEM: ATOMS id type x y z v_pace_gamma\n1 1 0 0 0 3\n')],
    ]);
    const j = judgeLammps(old, 0) as { ok: true; result: RunResult };
    expect(j.result.summary).to.deep.include({ frames_explored: 2, frames_collected: 1, stopped_early: true, max_gamma: 3 });
    expect(j.result.files.get('frames.dump')!.toString()).to.include('ITEM: ATOMS id type x y z f_pace_gamma');
  });
});

