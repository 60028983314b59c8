/**
 * Planning an exploration, pure: one MD run per starting structure × temperature × seed, each a
 * task whose first attempt holds start.extxyz and task.json (what python/autopipe_explore.py
 * reads); the potential of the iteration (yaml and its active set) and the engine are staged
 * once under iter-KKK/explore/inputs/.
 */
import { posix } from 'node:path';
import { explorePressures, temperatureRamp, type Config, type Ensemble, type TemperatureRamp } from '../../config/types.js';
import { makeAtoms, natoms, symbolsOf, type Atoms } from '../../atoms/atoms.js';
import { runFiles, sharedFiles, type Engine, type RunSettings } from './engines.js';
import { createHash } from 'node:crypto';
import { writeExtxyz } from '../../formats/extxyz.js';
import { StageError } from '../../errors/errors.js';
import { attemptDir, taskId, type Candidate, type PlannedTask, type StagePlan } from '../kind.js';
import type { RunRecord } from '../kept.js';

/**
 * What an MD run is: where it starts, at what temperature (the ramp's start; temperature_end its
 * end) and pressure, in which ensemble, with which seed and engine. Runs planned before NPT have
 * no ensemble, temperature_end or pressure: they were NVT at a constant temperature.
 */
export interface ExploreSpec {
  source: { file: string; frame: number };
  temperature: number;
  temperature_end?: number;
  ensemble?: Ensemble;
  /** bar; null under NVT. */
  pressure?: number | null;
  seed: number;
  continued_from: string | null;
  engine: 'ase' | 'lammps';
}

/** What an exploration records: its potential, each run's key (start, temperature, replica) and each finished run's result. */
export interface ExploreData {
  potential: string;
  runs: Record<string, string>;
  results?: Record<string, RunRecord>;
}


/**
 * candidates.json keeps at most this many atoms per frame, the highest γ first: each is a vector
 * as long as an element's basis (hundreds of numbers in a production potential), and suppression
 * leaves few atoms of one frame to choose from anyway.
 */
export const CANDIDATES_PER_FRAME = 64;

/** One run's conditions: its thermostat's target (a ramp or constant) and its pressure (bar; null under NVT). */
export interface RunConditions { temperature: TemperatureRamp; pressure: number | null }

export function runSettings(config: Config, at: RunConditions, seed: number, types: readonly string[], keepVelocities = false): RunSettings {
  const e = config.explore;
  return {
    temperature: at.temperature.start, temperature_end: at.temperature.stop, ensemble: e.ensemble, pressure: at.pressure,
    seed, steps: e.steps, timestep: e.timestep * 1000, dump_every: e.dump_every,
    gamma_collect: e.gamma_collect, gamma_stop: e.gamma_stop, types: [...types], friction: 1 / (e.tdamp * 1000),
    tdamp: e.tdamp * 1000, pdamp: e.pdamp * 1000,
    keep_velocities: keepVelocities,
    ...(config.selection.method === 'd-optimal' ? { candidates: { lo: config.selection.lo, hi: config.selection.hi, per_frame: CANDIDATES_PER_FRAME } } : {}),
  };
}

/**
 * A run's random seed, from where it sits: the same plan gives the same seeds (a re-planned
 * stage repeats itself), and every iteration, structure, temperature and seed gets its own.
 */
export function runSeed(iteration: number, task: number): number {
  return 1 + ((iteration * 1_000_003 + task * 7919) % 2_147_483_000);
}

/** A run's key (start, temperature, replica) → the last good frame of the previous iteration's run with that key. */
export type Continued = (key: string) => { atoms: Atoms; from: string } | undefined;

/**
 * What a run is, across iterations: what it started from (by content: a file whose structures
 * were replaced starts new runs), at what temperature (or ramp) and pressure, which replica. An
 * NVT run at one temperature keeps the key it had before ramps and pressures existed.
 */
export function runKey(start: Atoms, at: RunConditions, replica: number): string {
  const content = createHash('sha256').update(writeExtxyz([makeAtoms({ numbers: start.numbers, positions: start.positions, cell: start.cell, pbc: start.pbc })])).digest('hex').slice(0, 16);
  const { start: t0, stop: t1 } = at.temperature;
  return `${content}@${t0 === t1 ? t0 : `${t0}-${t1}`}K${at.pressure === null ? '' : `@${at.pressure}bar`}/${replica}`;
}

/** A run's conditions in words: "600 K", "300→900 K", "600 K, 10000 bar". */
export function conditionsText(at: RunConditions): string {
  const { start, stop } = at.temperature;
  return `${start === stop ? start : `${start}→${stop}`} K${at.pressure === null ? '' : `, ${at.pressure} bar`}`;
}

/** An ensemble in words: "NVT", "NPT", "NPT ANISO". */
export function ensembleText(e: Ensemble): string {
  return e.replace('_', ' ').toUpperCase();
}

/** Every run's conditions, in plan order: temperature × pressure. */
export function runConditions(config: Config): RunConditions[] {
  return config.explore.temperatures.flatMap((t) => explorePressures(config).map((pressure) => ({ temperature: temperatureRamp(t), pressure })));
}

export interface ExploreInputs {
  starts: readonly Candidate[];
  /** explore.continue: where each run goes on from, and how many runs the previous iteration had. */
  continued: Continued;
  previousRuns?: number;
  config: Config;
  iteration: number;
  stageDir: string;
  engine: Engine;
  /** The iteration's potential: where it is kept, its B-basis yaml and its active set. */
  potential: { dir: string; yaml: Buffer; asi: Buffer };
  /** The potential's elements, in the order of its yaml. */
  elements: readonly string[];
}

export function planExplore(p: ExploreInputs): StagePlan<ExploreSpec, ExploreData> {
  const where = `iteration ${p.iteration}'s exploration`;
  // one atom with its centre of mass held still has no motion at all: nothing to explore
  const tooSmall = p.starts.filter((c) => natoms(c.atoms) < 2);
  const starts = p.starts.filter((c) => natoms(c.atoms) >= 2);
  if (starts.length === 0) throw new StageError(`${where}: no structure to start from${tooSmall.length > 0 ? ` (${tooSmall.length} of one atom each, which MD cannot move)` : ''}`, { hint: 'give explore.structures (cells of two atoms or more), or structures:' });
  const foreign = [...new Set(starts.flatMap((c) => symbolsOf(c.atoms)))].filter((s) => !p.elements.includes(s));
  if (foreign.length > 0) {
    throw new StageError(`${where}: the starting structures hold ${foreign.join(', ')}, which the potential of ${p.potential.dir} does not`, { hint: 'explore structures of the elements trained (train.elements), or add them' });
  }
  const inputs = posix.join(p.stageDir, 'inputs');
  const shared = sharedFiles(p.engine, inputs, p.potential);
  const tasks: PlannedTask<ExploreSpec>[] = [];
  const runs: Record<string, string> = {};
  let continuedRuns = 0;
  const e = p.config.explore;
  const conditions = runConditions(p.config);
  if (e.ensemble !== 'nvt') {
    const flat = starts.filter((c) => !c.atoms.pbc.every(Boolean));
    if (flat.length > 0) throw new StageError(`${where}: explore.ensemble ${e.ensemble} needs cells periodic in x, y and z, and ${flat.slice(0, 3).map((c) => `${c.source.file} frame ${c.source.frame}`).join(', ')} ${flat.length === 1 ? 'is' : 'are'} not`, { hint: 'explore periodic cells (explore.structures), or set explore.ensemble: nvt' });
  }
  for (const start of starts) {
    for (const at of conditions) {
      for (let s = 0; s < e.seeds; s++) {
        const k = tasks.length;
        const id = taskId(k);
        const dir = attemptDir(p.stageDir, id, 1);
        const seed = runSeed(p.iteration, k);
        const key = runKey(start.atoms, at, s);
        const from = p.continued(key);
        runs[id] = key;
        if (from !== undefined) continuedRuns++;
        tasks.push({
          id, about: `${start.source.file} frame ${start.source.frame} at ${conditionsText(at)}, seed ${seed}${from === undefined ? '' : `, from ${from.from}`}`,
          spec: {
            source: { ...start.source }, temperature: at.temperature.start, temperature_end: at.temperature.stop, ensemble: e.ensemble, pressure: at.pressure,
            seed, continued_from: from?.from ?? null, engine: p.engine.kind,
          },
          // a continued run goes on with the velocities of its last good frame (both engines); a
          // frame kept without them (a LAMMPS run of the template before velocities) gets new ones
          files: runFiles(p.engine, dir, from?.atoms ?? start.atoms, runSettings(p.config, at, seed, p.elements, from?.atoms.arrays.momenta !== undefined)),
        });
      }
    }
  }
  return {
    tasks, shared,
    notes: [
      `exploration of iteration ${p.iteration}: ${tasks.length} run(s) of ${e.steps} steps (${starts.length} structure(s) × ${e.temperatures.length} temperature(s)${e.ensemble === 'nvt' ? '' : ` × ${conditions.length / e.temperatures.length} pressure(s)`} × ${e.seeds} seed(s), ${ensembleText(e.ensemble)}) with ${p.potential.dir}`,
      ...(continuedRuns > 0 ? [`${continuedRuns} of them go on from the last good frame of iteration ${p.iteration - 1}'s run (explore.continue)`] : []),
      ...((p.previousRuns ?? 0) > 0 && continuedRuns < tasks.length ? [`${tasks.length - continuedRuns} of them start afresh: iteration ${p.iteration - 1} ran none from the same structure (by content), temperature, pressure and replica (explore.structures, explore.temperatures or explore.pressures changed)`] : []),
      ...(tooSmall.length > 0 ? [`left out of exploration: ${tooSmall.map((c) => `${c.source.file} frame ${c.source.frame}`).join(', ')} (one atom: MD with the centre of mass fixed cannot move it)`] : []),
    ],
    data: { potential: p.potential.dir, runs },
  };
}
