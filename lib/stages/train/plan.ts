/**
 * Planning a fit, pure: one task, its rows and weights (dataset.ts), the shared inputs staged
 * once under iter-KKK/train/inputs/ (the rows, the reference energies, the helper script, the
 * previous potential for a warm start) and each attempt's pacemaker input.
 */
import { posix } from 'node:path';
import type { Config } from '../../config/types.js';
import type { PlannedFile } from '../../exec/executor.js';
import type { AseRow } from '../../db/ase-db.js';
import { isElementSymbol } from '../../atoms/elements.js';
import { StageError } from '../../errors/errors.js';
import { attemptDir, taskId, type PlannedTask, type StagePlan } from '../kind.js';
import type { PotentialRecord } from '../kept.js';
import { idRanges, trainingSet } from './dataset.js';

/** What a fit's task is: the elements of its basis. */
export interface TrainSpec { elements: string[] }

/** What a training stage records: the rows it fits, where it starts from, and (once fitted) its potential. */
export interface TrainData {
  rows: number;
  row_ids: Array<[number, number]>;
  core_atoms: number;
  elements: string[];
  warm_start_from: string | null;
  potential?: PotentialRecord;
}

export const HELPER = 'autopipe_train.py';

export interface TrainInputs {
  rows: Iterable<AseRow>;
  config: Config;
  iteration: number;
  stageDir: string;
  helper: string;
  /** The potential to start from (the previous iteration's, or train.initial_potential), with where it came from. */
  previous: { yaml: string; from: string } | null;
  render: (template: string, context: object) => string;
}

/** The context of templates/pacemaker.yaml.hbs. */
export function pacemakerContext(config: Config, elements: readonly string[]): object {
  const t = config.train;
  return {
    cutoff: t.cutoff, seed: t.seed, elements, kappa: t.kappa, max_iterations: t.max_iterations, backend: t.backend,
    functions_per_element: t.functions_per_element, test_size: t.test_fraction > 0 ? t.test_fraction : null,
    batch_size: t.backend === 'tensorpot' ? 100 : null,
  };
}

export function inputYaml(config: Config, elements: readonly string[], render: TrainInputs['render']): string {
  return render('pacemaker.yaml.hbs', pacemakerContext(config, elements));
}

export function planTrain(p: TrainInputs): StagePlan<TrainSpec, TrainData> {
  const set = trainingSet(p.rows, p.config.embedding.energy_weight);
  const where = `iteration ${p.iteration}'s fit`;
  if (set.ids.length === 0) {
    throw new StageError(`${where}: the database has no row with an energy and forces`, { hint: 'label structures first (autopipe status shows what failed)' });
  }
  if (set.energyWeight <= 0) {
    throw new StageError(`${where}: every row is an embedded sub-cell with energy weight 0, so pacemaker has no energy to fit`, {
      hint: 'label some full cells, or set embedding.energy_weight above 0',
    });
  }
  const elements = p.config.train.elements ?? set.elements;
  const unknown = elements.filter((e) => !isElementSymbol(e));
  if (unknown.length > 0) throw new StageError(`train.elements: not element symbols: ${unknown.join(', ')}`, { hint: 'use symbols such as Al, Cu' });
  const missing = set.elements.filter((e) => !elements.includes(e));
  if (missing.length > 0) throw new StageError(`train.elements leaves out ${missing.join(', ')}, which the rows contain`, { hint: 'add them, or set train.elements: null' });
  const inputs = posix.join(p.stageDir, 'inputs');
  const shared: PlannedFile[] = [
    { path: posix.join(inputs, 'train.extxyz'), content: set.frames.join('') },
    { path: posix.join(inputs, 'reference_energy.json'), content: JSON.stringify(p.config.train.reference_energy) + '\n' },
    { path: posix.join(inputs, HELPER), content: p.helper },
    ...(p.previous === null ? [] : [{ path: posix.join(inputs, 'previous.yaml'), content: p.previous.yaml }]),
  ];
  const id = taskId(0);
  const task: PlannedTask<TrainSpec> = {
    id, about: `fit of ${set.ids.length} rows`, spec: { elements },
    files: [{ path: posix.join(attemptDir(p.stageDir, id, 1), 'input.yaml'), content: inputYaml(p.config, elements, p.render) }],
  };
  const notes = [
    `fit of iteration ${p.iteration}: ${set.ids.length} rows (${set.coreAtoms} atoms with force weight)${set.skipped.length > 0 ? `, ${set.skipped.length} left out (${set.skipped.slice(0, 3).map((s) => `id ${s.id}: ${s.why}`).join(', ')})` : ''}${p.previous === null ? '' : `, warm start from ${p.previous.from}`}`,
  ];
  return {
    tasks: [task], shared, notes,
    data: { rows: set.ids.length, row_ids: idRanges(set.ids), core_atoms: set.coreAtoms, elements, warm_start_from: p.previous?.from ?? null },
  };
}
