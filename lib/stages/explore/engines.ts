/**
 * What each MD engine needs in a run's folder, pure. Both read the same start and settings and
 * leave the same files for autopipe (a LAMMPS dump of the collected frames with γ as
 * f_pace_gamma, the last good frame, summary.json); the lammps engine's are made from its
 * outputs by judgeLammps.
 *   ase     start.extxyz, task.json; python/autopipe_explore.py (shared) runs them
 *   lammps  start.extxyz, task.json, structure.data (with velocities when the run goes on from
 *           the last good frame of the previous iteration), explore.in (templates/explore.lammps.hbs);
 *           with selection.method d-optimal also python/autopipe_explore.py (shared), whose
 *           `candidates` the job runs after lmp (templates/explore.sh.hbs)
 */
import { posix } from 'node:path';
import type { Atoms } from '../../atoms/atoms.js';
import type { PlannedFile } from '../../exec/executor.js';
import { writeExtxyz } from '../../formats/extxyz.js';
import { writeLammpsData } from '../../formats/lammps-data.js';
import { ATOMIC_MASSES, atomicNumber } from '../../atoms/elements.js';
import type { Ensemble } from '../../config/types.js';

/**
 * One run's settings (task.json), as the engines read them (their units: K, bar, fs, 1/fs).
 * temperature → temperature_end is the thermostat's target over the run (equal: no ramp);
 * pressure is null under NVT.
 */
export interface RunSettings {
  temperature: number; temperature_end: number; ensemble: Ensemble; pressure: number | null;
  seed: number; steps: number; timestep: number; dump_every: number;
  gamma_collect: number; gamma_stop: number; types: string[];
  /** The ase engine's Langevin friction (NVT), 1/tdamp. */
  friction: number;
  /** Thermostat and barostat damping times, fs. */
  tdamp: number; pdamp: number;
  /** Start from the structure's own velocities (a continued run) instead of drawing them. */
  keep_velocities: boolean;
  /**
   * selection.method d-optimal only: the run also writes candidates.json (each atom with γ in
   * [lo, hi) with its coefficients against the active set, at most per_frame per frame).
   */
  candidates?: { lo: number; hi: number; per_frame: number };
}

/** The lammps engine has the script only when it must write candidates.json (selection.method d-optimal). */
export type Engine = { kind: 'ase'; script: string } | { kind: 'lammps'; render: (context: object) => string; script?: string };

export const ASE_SCRIPT = 'autopipe_explore.py';

/** Files every attempt of a run holds, by engine: a retry copies them from the failed attempt. */
export const RUN_INPUTS = { ase: ['start.extxyz', 'task.json'], lammps: ['start.extxyz', 'task.json', 'structure.data', 'explore.in'] } as const;

/** fix npt's coupling of the cell for each ensemble (nvt has no barostat). */
const BAROSTAT = { nvt: undefined, npt: 'iso', npt_aniso: 'aniso', npt_tri: 'tri' } as const;

/** The LAMMPS input's values (its units: metal; ps, K, bar). */
export function lammpsContext(s: RunSettings): object {
  const barostat = BAROSTAT[s.ensemble];
  return {
    masses: s.types.map((el, k) => ({ type: k + 1, mass: ATOMIC_MASSES[atomicNumber(el) ?? 0] })), types: s.types,
    dump_every: s.dump_every, gamma_collect: s.gamma_collect, gamma_stop: s.gamma_stop,
    temperature: s.temperature, temperature_end: s.temperature_end, seed: s.seed, tdamp: s.tdamp / 1000,
    timestep: s.timestep / 1000, steps: s.steps, keep_velocities: s.keep_velocities,
    ...(barostat === undefined ? {} : { barostat, pressure: s.pressure ?? 0, pdamp: s.pdamp / 1000, triclinic: barostat === 'tri' }),
  };
}

export function runFiles(engine: Engine, dir: string, start: Atoms, settings: RunSettings): PlannedFile[] {
  const files: PlannedFile[] = [
    { path: posix.join(dir, 'start.extxyz'), content: writeExtxyz([start]) },
    { path: posix.join(dir, 'task.json'), content: JSON.stringify(settings) + '\n' },
  ];
  if (engine.kind === 'lammps') {
    files.push(
      { path: posix.join(dir, 'structure.data'), content: writeLammpsData(start, { types: settings.types, velocities: settings.keep_velocities }).text },
      { path: posix.join(dir, 'explore.in'), content: engine.render(lammpsContext(settings)) },
    );
  }
  return files;
}

/** What the stage stages once for all its runs. */
export function sharedFiles(engine: Engine, inputs: string, potential: { yaml: Buffer; asi: Buffer }): PlannedFile[] {
  return [
    { path: posix.join(inputs, 'potential.yaml'), content: potential.yaml },
    { path: posix.join(inputs, 'potential.asi'), content: potential.asi },
    ...(engine.script !== undefined ? [{ path: posix.join(inputs, ASE_SCRIPT), content: engine.script }] : []),
  ];
}
