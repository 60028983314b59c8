/**
 * Planning an exploration, pure: one MD run per starting structure × temperature × seed, each a
 * task whose first attempt holds start.extxyz and task.json (what python/autopipe_explore.py
 * reads); the potential of the iteration (yaml and its active set) and the engine are staged
 * once under iter-KKK/explore/inputs/.
 */
import { posix } from 'node:path';
import type { Config } from '../../config/types.js';
import type { PlannedFile } from '../../exec/executor.js';
import { natoms, symbolsOf } from '../../atoms/atoms.js';
import { writeExtxyz } from '../../formats/extxyz.js';
import { StageError } from '../../errors/errors.js';
import { attemptDir, taskId, type Candidate, type PlannedTask, type StagePlan } from '../kind.js';

export const ENGINE = 'autopipe_explore.py';

/** One run's settings, as the engine reads them (its units: K, fs, 1/fs). */
export interface RunSettings {
  temperature: number; seed: number; steps: number; timestep: number; dump_every: number;
  gamma_collect: number; gamma_stop: number; types: string[]; friction: number;
}

export function runSettings(config: Config, temperature: number, seed: number, types: readonly string[]): RunSettings {
  const e = config.explore;
  return {
    temperature, seed, steps: e.steps, timestep: e.timestep * 1000, dump_every: e.dump_every,
    gamma_collect: e.gamma_collect, gamma_stop: e.gamma_stop, types: [...types], friction: 1 / (e.tdamp * 1000),
  };
}

/**
 * A run's random seed, from where it sits: the same plan gives the same seeds (a re-planned
 * stage repeats itself), and every iteration, structure, temperature and seed gets its own.
 */
export function runSeed(iteration: number, task: number): number {
  return 1 + ((iteration * 1_000_003 + task * 7919) % 2_147_483_000);
}

export interface ExploreInputs {
  starts: readonly Candidate[];
  config: Config;
  iteration: number;
  stageDir: string;
  engine: string;
  /** The iteration's potential: where it is kept, its B-basis yaml and its active set. */
  potential: { dir: string; yaml: Buffer; asi: Buffer };
  /** The potential's elements, in the order of its yaml. */
  elements: readonly string[];
}

export function planExplore(p: ExploreInputs): StagePlan {
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
  const shared: PlannedFile[] = [
    { path: posix.join(inputs, 'potential.yaml'), content: p.potential.yaml },
    { path: posix.join(inputs, 'potential.asi'), content: p.potential.asi },
    { path: posix.join(inputs, ENGINE), content: p.engine },
  ];
  const tasks: PlannedTask[] = [];
  for (const start of starts) {
    for (const temperature of p.config.explore.temperatures) {
      for (let s = 0; s < p.config.explore.seeds; s++) {
        const k = tasks.length;
        const id = taskId(k);
        const dir = attemptDir(p.stageDir, id, 1);
        const seed = runSeed(p.iteration, k);
        tasks.push({
          id, about: `${start.source.file} frame ${start.source.frame} at ${temperature} K, seed ${seed}`,
          spec: { source: { ...start.source }, temperature, seed },
          files: [
            { path: posix.join(dir, 'start.extxyz'), content: writeExtxyz([start.atoms]) },
            { path: posix.join(dir, 'task.json'), content: JSON.stringify(runSettings(p.config, temperature, seed, p.elements)) + '\n' },
          ],
        });
      }
    }
  }
  const e = p.config.explore;
  return {
    tasks, shared,
    notes: [
      `exploration of iteration ${p.iteration}: ${tasks.length} run(s) of ${e.steps} steps (${starts.length} structure(s) × ${e.temperatures.length} temperature(s) × ${e.seeds} seed(s)) with ${p.potential.dir}`,
      ...(tooSmall.length > 0 ? [`left out of exploration: ${tooSmall.map((c) => `${c.source.file} frame ${c.source.frame}`).join(', ')} (one atom: MD with the centre of mass fixed cannot move it)`] : []),
    ],
    data: { potential: p.potential.dir, runs: tasks.length },
  };
}
