/**
 * What each MD engine needs in a run's folder, pure. Both read the same start and settings and
 * leave the same files for autopipe (a LAMMPS dump of the collected frames with γ as
 * f_pace_gamma, the last good frame, summary.json); the lammps engine's are made from its
 * outputs by judgeLammps.
 *   ase     start.extxyz, task.json; python/autopipe_explore.py (shared) runs them
 *   lammps  start.extxyz, task.json, structure.data, explore.in (templates/explore.lammps.hbs);
 *           with selection.method d-optimal also python/autopipe_explore.py (shared), whose
 *           `candidates` the job runs after lmp (templates/explore.sh.hbs)
 */
import { posix } from 'node:path';
import type { Atoms } from '../../atoms/atoms.js';
import type { PlannedFile } from '../../exec/executor.js';
import { writeExtxyz } from '../../formats/extxyz.js';
import { writeLammpsData } from '../../formats/lammps-data.js';
import { ATOMIC_MASSES, atomicNumber } from '../../atoms/elements.js';

/** One run's settings, as the engine reads them (its units: K, fs, 1/fs). */
export interface RunSettings {
  temperature: number; seed: number; steps: number; timestep: number; dump_every: number;
  gamma_collect: number; gamma_stop: number; types: string[]; friction: number;
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

/** The LAMMPS input's values (its units: metal; ps, K). */
export function lammpsContext(s: RunSettings, tdampPs: number): object {
  return {
    masses: s.types.map((el, k) => ({ type: k + 1, mass: ATOMIC_MASSES[atomicNumber(el) ?? 0] })), types: s.types,
    dump_every: s.dump_every, gamma_collect: s.gamma_collect, gamma_stop: s.gamma_stop,
    temperature: s.temperature, seed: s.seed, tdamp: tdampPs, timestep: s.timestep / 1000, steps: s.steps,
  };
}

export function runFiles(engine: Engine, dir: string, start: Atoms, settings: RunSettings, tdampPs: number): PlannedFile[] {
  const files: PlannedFile[] = [
    { path: posix.join(dir, 'start.extxyz'), content: writeExtxyz([start]) },
    { path: posix.join(dir, 'task.json'), content: JSON.stringify(settings) + '\n' },
  ];
  if (engine.kind === 'lammps') {
    files.push(
      { path: posix.join(dir, 'structure.data'), content: writeLammpsData(start, { types: settings.types }).text },
      { path: posix.join(dir, 'explore.in'), content: engine.render(lammpsContext(settings, tdampPs)) },
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
