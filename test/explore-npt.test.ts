/**
 * The exploration engines' ensembles and temperature ramps on the real components. The `ase`
 * engine (python/autopipe_explore.py): the venv's ASE (Langevin; the Martyna–Tobias–Klein integrators of
 * ase.md.nose_hoover_chain) with python-ace's calculator and the active set of a potential fitted
 * by the real pacemaker to pw.x labels (test/support/al-training.ts). What is measured is
 * physics of that potential: the volume it takes under ±10 kbar against its own bulk modulus from
 * an E(V) fit, the temperature a ramp reaches, cells that change under NPT and still read back.
 * The `lammps` engine (templates/explore.lammps.hbs in the LAMMPS with ML-PACE that
 * scripts/install-lammps.sh builds) is measured the same way on the same potential.
 */
import { expect } from 'chai';
import { readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeAtoms, natoms, type Atoms } from '../lib/atoms/atoms.js';
import { writeExtxyz } from '../lib/formats/extxyz.js';
import { readDumpFrames } from '../lib/formats/lammps-dump.js';
import { trainedProject } from './support/al-training.js';
import { ROOT, tmpDir, VENV_PYTHON, need, pythonUnder } from './support/tools.js';
import type { RunSettings } from '../lib/stages/explore/engines.js';
import { runLammpsTask } from './support/lammps-run.js';
import { judgeLammps } from '../lib/stages/explore/judge-lammps.js';

const ENGINE = join(ROOT, 'python', 'autopipe_explore.py');

interface Summary {
  steps_run: number; frames_explored: number; frames_collected: number; max_gamma: number; stopped_early: boolean;
  last_good_step: number | null; frame_gammas: number[];
  volume_per_atom: [number, number]; temperature_last: number; frame_temperatures: number[];
}

/** n×n×n conventional fcc Al cells of lattice constant a (4 n³ atoms, orthogonal). */
function fcc(a: number, n: number): Atoms {
  const basis = [0, 0, 0, 0.5, 0.5, 0, 0.5, 0, 0.5, 0, 0.5, 0.5];
  const positions: number[] = [];
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) {
    for (let s = 0; s < 4; s++) positions.push((basis[3 * s] + i) * a, (basis[3 * s + 1] + j) * a, (basis[3 * s + 2] + k) * a);
  }
  return makeAtoms({ numbers: new Array(4 * n ** 3).fill(13), positions, cell: [n * a, 0, 0, 0, n * a, 0, 0, 0, n * a], pbc: [true, true, true] });
}

const potential = () => ({ yaml: join(trainedProject().potential, 'output_potential.yaml'), asi: join(trainedProject().potential, 'output_potential.asi') });

/** Runs the engine in dir on start (a structure, or an extxyz file to copy); task's fields over the defaults. */
function explore(dir: string, start: Atoms | string, task: Record<string, unknown>): Summary {
  need(VENV_PYTHON);
  const pot = potential();
  if (typeof start === 'string') copyFileSync(start, join(dir, 'start.extxyz'));
  else writeFileSync(join(dir, 'start.extxyz'), writeExtxyz([start]));
  writeFileSync(join(dir, 'task.json'), JSON.stringify({
    temperature: 100, temperature_end: 100, ensemble: 'npt', pressure: 0, seed: 7, steps: 1000, timestep: 2, dump_every: 10,
    gamma_collect: 0, gamma_stop: 1e9, types: ['Al'], friction: 0.01, tdamp: 100, pdamp: 2000, keep_velocities: false, ...task,
  }));
  const r = spawnSync(VENV_PYTHON, ['-W', 'ignore', ENGINE, 'run', 'task.json', 'start.extxyz', pot.yaml, pot.asi], { cwd: dir, encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  if (r.status !== 0) throw new Error(`the engine failed (exit ${r.status}):\n${r.stderr}`);
  return JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as Summary;
}

/** The volume per atom (Å³) of each frame of dir's frames.dump, by autopipe's reader. */
function dumpVolumes(dir: string): number[] {
  return [...readDumpFrames([readFileSync(join(dir, 'frames.dump'))], { types: ['Al'], requiredColumns: ['f_pace_gamma'] }, 'frames.dump')].map((f) => {
    const [a, b, c, d, e, g, h, i, j] = f.cell;
    return Math.abs(a * (e * j - g * i) - b * (d * j - g * h) + c * (d * i - e * h)) / natoms(f);
  });
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

let eosMemo: { a0: number; v0: number; B: number; B405: number } | undefined;

/**
 * The potential's bulk modulus from E(V) (ase.eos, Birch–Murnaghan; python-ace's calculator, no
 * MD) on the 32-atom cell scaled by ±3% in length. A first fit around a = 4.05 Å finds the
 * potential's own equilibrium; B is that of a second fit, ±3% around it. (This small potential's
 * equilibrium is near 3.95 Å, at the first range's edge, where a fit's curvature means little.)
 */
function eos(): { a0: number; v0: number; B: number; B405: number } {
  eosMemo ??= JSON.parse(pythonUnder(VENV_PYTHON, `
import json, sys, warnings, numpy as np
warnings.simplefilter("ignore")
from ase import units
from ase.build import bulk
from ase.eos import EquationOfState
from pyace import PyACECalculator
calc = PyACECalculator(sys.argv[1])
def fit(a):
    cell = bulk("Al", "fcc", a=a, cubic=True).repeat(2)
    v, e = [], []
    for s in np.linspace(0.97, 1.03, 9):
        b = cell.copy(); b.set_cell(cell.cell * s, scale_atoms=True); b.calc = calc
        v.append(b.get_volume() / len(b)); e.append(b.get_potential_energy() / len(b))
    v0, e0, B = EquationOfState(v, e, eos="birchmurnaghan").fit()
    return v0, B / units.GPa
v1, B1 = fit(4.05)
v0, B = fit((4 * v1) ** (1 / 3))
print(json.dumps({"a0": (4 * v0) ** (1 / 3), "v0": v0, "B": B, "B405": B1}))`, [potential().yaml])) as { a0: number; v0: number; B: number; B405: number };
  return eosMemo;
}

/**
 * A ramp's temperatures against its targets, over the first and the last fifth of the explored
 * frames. The target at a frame is the ramp's at its step (T0 + (T1 − T0) s / steps), so the
 * last fifth's mean target is T1 − (T1 − T0)/10 (640 K for 100→700 K), the first fifth's
 * T0 + (T1 − T0)/10 (160 K). The tolerance is the thermal noise of the mean, four times over, plus
 * the thermostat's lag: the kinetic temperature of N atoms spreads by T √(2/3N) from frame to
 * frame (8% of T for 108 atoms); frames taken every 50 fs are counted as one independent sample
 * per 100 fs (the thermostat's time, tdamp); a crystal's temperature follows its thermostat's
 * target with a delay of about tdamp, and the target is set at each chunk's midpoint, half a chunk
 * before the frame: lag = rate × (tdamp + chunk / 2).
 */
function checkRamp(s: Summary, what: string, ramp: { t0: number; t1: number; steps: number; dumpEvery: number; timestep: number; tdamp: number; atoms: number }): void {
  const T = s.frame_temperatures;
  expect(T).to.have.length(s.frames_explored);
  expect(s.temperature_last).to.equal(T[T.length - 1]);
  const k = Math.round(T.length / 5);
  const target = (i: number) => ramp.t0 + (ramp.t1 - ramp.t0) * Math.min(i * ramp.dumpEvery, ramp.steps) / ramp.steps;
  const rate = Math.abs(ramp.t1 - ramp.t0) / (ramp.steps * ramp.timestep); // K/fs
  const lag = rate * (ramp.tdamp + ramp.dumpEvery * ramp.timestep / 2);
  const independent = k * ramp.dumpEvery * ramp.timestep / ramp.tdamp;
  for (const [name, idx] of [['first', [...Array(k).keys()]], ['last', [...Array(k).keys()].map((i) => T.length - k + i)]] as const) {
    const measured = mean(idx.map((i) => T[i]));
    const expected = mean(idx.map(target));
    const tol = 4 * expected * Math.sqrt(2 / (3 * ramp.atoms)) / Math.sqrt(independent) + lag;
    console.log(`      ${what}: ${name} fifth (${k} frames): mean ${measured.toFixed(1)} K, the ramp's mean target ${expected.toFixed(1)} K, tolerance ±${tol.toFixed(1)} K`);
    expect(measured, `${what}, ${name} fifth`).to.be.closeTo(expected, tol);
  }
}

describe('exploration engine ase: NPT (MTK), pressures and temperature ramps (real potential)', function () {
  this.timeout(900000);

  it('npt under +10 kbar takes a smaller volume than under −10 kbar, by 2ΔP/B of the same potential\'s E(V)', () => {
    trainedProject(); // labelled and fitted once per process (its time is printed apart)
    const t = Date.now();
    const { a0, v0, B, B405 } = eos();
    const start = fcc(a0, 2); // 32 atoms at the potential's own equilibrium
    const steps = 6000;
    const second: Record<number, number> = {};
    for (const p of [10000, -10000]) {
      const dir = tmpDir();
      const s = explore(dir, start, { pressure: p, steps, dump_every: 10, seed: 3 });
      expect(s).to.deep.include({ steps_run: steps, frames_explored: steps / 10 + 1, frames_collected: steps / 10 + 1 });
      const v = dumpVolumes(dir);
      expect(v).to.have.length(s.frames_collected);
      // the summary's range is the explored frames', and every dumped frame carries its own cell
      expect(s.volume_per_atom[0]).to.be.closeTo(Math.min(...v), 1e-5 * v0);
      expect(s.volume_per_atom[1]).to.be.closeTo(Math.max(...v), 1e-5 * v0);
      second[p] = mean(v.slice(v.length / 2));
    }
    const vPlus = second[10000], vMinus = second[-10000];
    const measured = (vMinus - vPlus) / ((vMinus + vPlus) / 2);
    const expected = 2 * 1 / B; // ΔP = 10 kbar = 1 GPa each way
    console.log(`      (the potential: labelled and fitted in ${trainedProject().seconds.toFixed(1)} s, before this test's own work)`);
    console.log(`      E(V): a0 ${a0.toFixed(4)} Å, V0 ${v0.toFixed(4)} Å³/atom, B ${B.toFixed(1)} GPa (fit around a = 4.05 Å: ${B405.toFixed(1)} GPa)`);
    console.log(`      NPT at 100 K, mean volume per atom over the second half: +10 kbar ${vPlus.toFixed(4)} Å³, −10 kbar ${vMinus.toFixed(4)} Å³`);
    console.log(`      (V− − V+)/V̄ = ${measured.toFixed(5)}, 2ΔP/B = ${expected.toFixed(5)}, ratio ${(measured / expected).toFixed(3)}; ${((Date.now() - t) / 1000).toFixed(1)} s`);
    expect(vPlus).to.be.below(vMinus);
    // B is static and at 0 K, the runs at 100 K over ±1 GPa (thermal softening ~1%, B' over ±1 GPa
    // ~±3%, the fit's form ~3%, the two means' noise ~2%): within 25% either way, which no wrong
    // pressure unit, sign or coupling (a factor 3 or 10) passes
    expect(measured / expected).to.be.within(0.8, 1.25);
  });

  it('nvt ramp 100 → 700 K: the first fifth of the run is near 100 K, the last near 700 K (the ramp\'s targets there)', () => {
    const t = Date.now();
    const ramp = { t0: 100, t1: 700, steps: 10000, dumpEvery: 25, timestep: 2, tdamp: 100, atoms: 108 };
    const s = explore(tmpDir(), fcc(eos().a0, 3), { ensemble: 'nvt', pressure: null, temperature: 100, temperature_end: 700, steps: ramp.steps, dump_every: ramp.dumpEvery, gamma_collect: 1e8, seed: 11 });
    expect(s).to.deep.include({ steps_run: ramp.steps, frames_explored: 401, frames_collected: 0 });
    expect(s.volume_per_atom[0]).to.equal(s.volume_per_atom[1]); // NVT
    checkRamp(s, 'nvt 100→700 K', ramp);
    console.log(`      ${((Date.now() - t) / 1000).toFixed(1)} s`);
  });

  it('npt_aniso and npt_tri at 0 bar: the dumped cells change, ASE\'s lammps-dump-text reader reads them; aniso keeps an orthogonal cell orthogonal, tri shears it', () => {
    const t = Date.now();
    for (const ensemble of ['npt_aniso', 'npt_tri']) {
      const dir = tmpDir();
      const s = explore(dir, fcc(4.05, 2), { ensemble, temperature: 300, temperature_end: 300, steps: 1000, dump_every: 50, pdamp: 1000 });
      expect(s).to.deep.include({ steps_run: 1000, frames_explored: 21, frames_collected: 21, stopped_early: false });
      // ASE reads the frames, and the evaluator gives each the grades its f_pace_gamma column holds:
      // positions and the changing cell were written as one consistent structure
      const ase = JSON.parse(pythonUnder(VENV_PYTHON, `
import json, sys, warnings, numpy as np
warnings.simplefilter("ignore")
from ase.io import read
from pyace import PyACECalculator
frames = read(sys.argv[1], index=":", format="lammps-dump-text")
calc = PyACECalculator(sys.argv[2]); calc.set_active_set(sys.argv[3])
diff = 0.0
for a in frames:
    col = a.arrays["f_pace_gamma"].ravel().copy()
    a.set_chemical_symbols(["Al"] * len(a)); a.calc = calc; a.get_potential_energy()
    diff = max(diff, float(np.max(np.abs(calc.results["gamma"] - col))))
print(json.dumps({"cellpar": [a.cell.cellpar().tolist() for a in frames], "v": [a.get_volume() / len(a) for a in frames], "n": [len(a) for a in frames], "diff": diff}))`,
      [join(dir, 'frames.dump'), potential().yaml, potential().asi])) as { cellpar: number[][]; v: number[]; n: number[]; diff: number };
      expect(ase.n).to.deep.equal(new Array(21).fill(32));
      expect(ase.diff).to.be.below(1e-5);
      // autopipe's reader gives the same volumes, and the summary's range is theirs
      const ours = dumpVolumes(dir);
      ase.v.forEach((v, i) => expect(v).to.be.closeTo(ours[i], 1e-8));
      expect(s.volume_per_atom[0]).to.be.closeTo(Math.min(...ase.v), 1e-4);
      expect(s.volume_per_atom[1]).to.be.closeTo(Math.max(...ase.v), 1e-4);
      const first = ase.cellpar[0], last = ase.cellpar[20];
      expect(Math.max(...first.map((x, i) => Math.abs(x - last[i]))), `${ensemble}: the box of the first and last frames`).to.be.above(1e-3);
      const angles = ase.cellpar.flatMap((c) => c.slice(3));
      const lengths = last.slice(0, 3);
      console.log(`      ${ensemble}: first cell ${first.map((x) => x.toFixed(4)).join(' ')}, last ${last.map((x) => x.toFixed(4)).join(' ')}; volume per atom ${s.volume_per_atom.join('–')} Å³`);
      if (ensemble === 'npt_aniso') {
        for (const a of angles) expect(a).to.be.closeTo(90, 1e-6);
        expect(Math.max(...lengths) - Math.min(...lengths), 'each axis on its own').to.be.above(1e-4);
      } else {
        expect(Math.max(...angles.map((a) => Math.abs(a - 90))), 'the cell shears').to.be.above(0.01);
      }
    }
    console.log(`      ${((Date.now() - t) / 1000).toFixed(1)} s`);
  });

  it('npt ramp 100 → 700 K at 0 bar: reaches its targets as under nvt, and the cell expands as it heats', () => {
    const t = Date.now();
    const ramp = { t0: 100, t1: 700, steps: 10000, dumpEvery: 25, timestep: 2, tdamp: 100, atoms: 108 };
    const dir = tmpDir();
    const s = explore(dir, fcc(eos().a0, 3), { temperature: 100, temperature_end: 700, steps: ramp.steps, dump_every: ramp.dumpEvery, seed: 11 });
    expect(s).to.deep.include({ steps_run: ramp.steps, frames_explored: 401, frames_collected: 401 });
    checkRamp(s, 'npt 100→700 K', ramp);
    const v = dumpVolumes(dir);
    const k = v.length / 5;
    const [cold, hot] = [mean(v.slice(0, k)), mean(v.slice(-k))];
    console.log(`      npt 100→700 K: mean volume per atom ${cold.toFixed(4)} Å³ in the first fifth, ${hot.toFixed(4)} Å³ in the last; ${((Date.now() - t) / 1000).toFixed(1)} s`);
    expect(hot).to.be.above(cold);
  });

  it('a continued npt run (keep_velocities) goes on with the momenta and cell of last.extxyz; an old task.json still runs NVT at one temperature', () => {
    const t = Date.now();
    const a = tmpDir();
    const first = explore(a, fcc(4.05, 2), { temperature: 300, temperature_end: 300, steps: 400, dump_every: 50, gamma_collect: 1e8 });
    expect(first.last_good_step).to.equal(400);
    const last = JSON.parse(pythonUnder(VENV_PYTHON, `
import json, sys
from ase.io import read
a = read(sys.argv[1])
print(json.dumps({"T": a.get_temperature(), "v": a.get_volume() / len(a), "momenta": "momenta" in a.arrays, "cellpar": a.cell.cellpar().tolist()}))`, [join(a, 'last.extxyz')])) as { T: number; v: number; momenta: boolean; cellpar: number[] };
    expect(last.momenta).to.equal(true);
    expect(last.T).to.be.closeTo(first.temperature_last, 1e-3 * first.temperature_last);
    expect(last.cellpar[0]).to.not.be.closeTo(8.1, 1e-3); // the cell moved from 2 × 4.05 Å
    const b = tmpDir();
    const second = explore(b, join(a, 'last.extxyz'), { temperature: 300, temperature_end: 300, steps: 100, dump_every: 50, seed: 99, keep_velocities: true });
    // its first frame is last.extxyz as it was: the same momenta (not a new draw) and cell
    expect(second.frame_temperatures[0]).to.be.closeTo(first.temperature_last, 1e-3 * first.temperature_last);
    expect(dumpVolumes(b)[0]).to.be.closeTo(last.v, 1e-6);
    // a task.json from before NPT: no temperature_end, ensemble, pressure, tdamp or pdamp
    const old = tmpDir();
    writeFileSync(join(old, 'start.extxyz'), writeExtxyz([fcc(4.05, 2)]));
    writeFileSync(join(old, 'task.json'), JSON.stringify({ temperature: 300, seed: 5, steps: 100, timestep: 2, dump_every: 20, gamma_collect: 1e8, gamma_stop: 1e9, types: ['Al'], friction: 0.01 }));
    const pot = potential();
    const r = spawnSync(VENV_PYTHON, ['-W', 'ignore', ENGINE, 'run', 'task.json', 'start.extxyz', pot.yaml, pot.asi], { cwd: old, encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
    expect(r.status, r.stderr).to.equal(0);
    const o = JSON.parse(readFileSync(join(old, 'summary.json'), 'utf8')) as Summary;
    expect(o).to.deep.include({ steps_run: 100, frames_explored: 6, volume_per_atom: [16.6075, 16.6075] });
    expect(o.frame_temperatures).to.have.length(6);
    console.log(`      ${((Date.now() - t) / 1000).toFixed(1)} s`);
  });
});

/**
 * The lammps engine under the same conditions: templates/explore.lammps.hbs rendered for the run
 * and run in the real LAMMPS with ML-PACE (fix npt iso, fix nvt with a ramp), in a task folder laid
 * out as autopipe's; its check lines give each check's volume and temperature (LAMMPS counts
 * 3N − 3 degrees of freedom, and its thermostat drives that temperature to the target).
 */
function lammps(start: Atoms, s: Partial<RunSettings>): { checks: Array<{ step: number; volume: number; temperature: number }>; summary: Summary } {
  const settings: RunSettings = {
    temperature: 100, temperature_end: 100, ensemble: 'npt', pressure: 0, seed: 7, steps: 1000, timestep: 2, dump_every: 10,
    gamma_collect: 1e8, gamma_stop: 2e8, types: ['Al'], friction: 0.01, tdamp: 100, pdamp: 2000, keep_velocities: false, ...s,
  };
  const { dir, checks } = runLammpsTask(settings, start, potential());
  const j = judgeLammps(new Map(['explore.out', 'task.json', 'start.extxyz'].map((n) => [n, readFileSync(join(dir, n))] as const)), 0);
  expect(j.ok, JSON.stringify(j)).to.equal(true);
  return { checks: checks.map((c) => ({ ...c, volume: c.volume / natoms(start) })), summary: (j as { result: { summary: Summary } }).result.summary };
}

describe('exploration engine lammps: NPT (fix npt) and temperature ramps in the real LAMMPS with ML-PACE', function () {
  this.timeout(900000);

  it('npt under +10 kbar takes a smaller volume than under −10 kbar, by 2ΔP/B of the same potential\'s E(V)', () => {
    const t = Date.now();
    const { a0, B } = eos();
    const steps = 6000;
    const second: Record<number, number> = {};
    for (const p of [10000, -10000]) {
      const { checks, summary } = lammps(fcc(a0, 2), { pressure: p, steps, seed: 3 });
      expect(checks).to.have.length(steps / 10 + 1);
      const v = checks.map((c) => c.volume);
      expect(summary.volume_per_atom[0]).to.be.closeTo(Math.min(...v), 1e-5 * Math.min(...v));
      expect(summary.volume_per_atom[1]).to.be.closeTo(Math.max(...v), 1e-5 * Math.max(...v));
      second[p] = mean(v.slice(v.length / 2));
    }
    const measured = (second[-10000] - second[10000]) / ((second[-10000] + second[10000]) / 2);
    const expected = 2 / B;
    console.log(`      LAMMPS fix npt at 100 K, mean volume per atom over the second half: +10 kbar ${second[10000].toFixed(4)} Å³, −10 kbar ${second[-10000].toFixed(4)} Å³`);
    console.log(`      (V− − V+)/V̄ = ${measured.toFixed(5)}, 2ΔP/B = ${expected.toFixed(5)} (B ${B.toFixed(1)} GPa), ratio ${(measured / expected).toFixed(3)}; ${((Date.now() - t) / 1000).toFixed(1)} s`);
    expect(second[10000]).to.be.below(second[-10000]);
    // the same tolerance as the ase engine's, for the same reasons
    expect(measured / expected).to.be.within(0.8, 1.25);
  });

  it('nvt and npt ramps 100 → 700 K reach their targets; the cell expands as it heats under npt', () => {
    const t = Date.now();
    const ramp = { t0: 100, t1: 700, steps: 10000, dumpEvery: 25, timestep: 2, tdamp: 100, atoms: 108 };
    for (const ensemble of ['nvt', 'npt'] as const) {
      const { checks, summary } = lammps(fcc(eos().a0, 3), { ensemble, pressure: ensemble === 'nvt' ? null : 0, temperature: 100, temperature_end: 700, steps: ramp.steps, dump_every: ramp.dumpEvery, seed: 11 });
      expect(summary.frame_temperatures).to.deep.equal(checks.map((c) => Number(c.temperature.toPrecision(4))));
      checkRamp(summary, `lammps ${ensemble} 100→700 K`, ramp);
      const v = checks.map((c) => c.volume);
      if (ensemble === 'nvt') expect(Math.max(...v) - Math.min(...v)).to.be.below(1e-9);
      else expect(mean(v.slice(-v.length / 5)), 'thermal expansion').to.be.above(mean(v.slice(0, v.length / 5)));
    }
    console.log(`      ${((Date.now() - t) / 1000).toFixed(1)} s`);
  });
});
