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
import { idRanges, leftOutCount, leftOutLines, trainingSet, type TrainingSet } from './dataset.js';
import { fittableRows } from './validation.js';
import { basisDifferences, inputBasis, inputBasisText, potentialBasis } from './basis.js';
import { levelSummary } from '../../level/level.js';

/** What a fit's task is: the elements of its basis. */
export interface TrainSpec { elements: string[] }

/** What a training stage records: the rows it fits, their level of theory, those left out, where it starts from, and (once fitted) its potential. */
export interface TrainData {
  rows: number;
  row_ids: Array<[number, number]>;
  core_atoms: number;
  elements: string[];
  warm_start_from: string | null;
  /** The level of theory of its rows (null: not told apart, as in a campaign of an older autopipe), in words. */
  level?: string | null;
  level_summary?: string | null;
  /** Rows left out for another level of theory (or none): in words, and how many. */
  left_out?: string[];
  left_out_rows?: number;
  /** Why the fit starts from scratch though a previous potential exists (its basis changed). */
  cold_start?: string | null;
  /** The validation rows its potential is evaluated on (at its level), their core atoms, and validation rows of other levels left out; absent: no validation set. */
  validation?: { rows: number; row_ids: Array<[number, number]>; core_atoms: number; left_out: number };
  potential?: PotentialRecord;
}

export const HELPER = 'autopipe_train.py';

export interface TrainInputs {
  rows: Iterable<AseRow>;
  /** The ids of the validation rows (never fitted; the potential is evaluated on them). */
  validation: ReadonlySet<number>;
  config: Config;
  iteration: number;
  stageDir: string;
  helper: string;
  /** The level of theory the fit uses (the newest labelling's), or null for every row. */
  level: string | null;
  /**
   * The potential to start from (the previous iteration's, or train.initial_potential), with
   * where it came from and, for a previous fit, the input.yaml that made it.
   */
  previous: { yaml: string; from: string; input?: string; initial: boolean } | null;
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

/** A set pacemaker can fit: some rows, and an energy weight (pacemaker divides by its sum); said with the rows left out for their level. */
export function checkFittable(set: TrainingSet, where: string): void {
  const leftOut = leftOutLines(set);
  if (set.ids.length === 0) {
    throw new StageError(`${where}: the database has no row with an energy and forces${set.level === null ? '' : ` at the level of theory of the newest labelling (${set.level})`}${leftOut.length > 0 ? `; left out: ${leftOut.join('; ')}` : ''}`, { hint: 'label structures first (autopipe status shows what failed)' });
  }
  if (set.energyWeight <= 0) {
    throw new StageError(`${where}: every row is an embedded sub-cell with energy weight 0, so pacemaker has no energy to fit${leftOut.length > 0 ? ` (left out for their level of theory: ${leftOut.join('; ')}; relabel those structures at today's dft settings, or set them back)` : ''}`, {
      hint: 'label some full cells, or set embedding.energy_weight above 0',
    });
  }
}

/** train.reference_energy against the elements of a fit: the elements it has no value for, and those it names that the fit has not ('auto': none). */
export function referenceEnergyGaps(ref: Config['train']['reference_energy'], elements: readonly string[]): { without: string[]; extra: string[] } {
  if (ref === 'auto') return { without: [], extra: [] };
  return { without: elements.filter((e) => ref[e] === undefined), extra: Object.keys(ref).filter((e) => !elements.includes(e)) };
}

/** The elements of the fit, checked against the data (pacemaker cannot fit an element without data, nor leave one out). */
function elementsOf(set: TrainingSet, config: Config, where: string): string[] {
  const elements = config.train.elements ?? set.elements;
  const unknown = elements.filter((e) => !isElementSymbol(e));
  if (unknown.length > 0) throw new StageError(`train.elements: not element symbols: ${unknown.join(', ')}`, { hint: 'use symbols such as Al, Cu' });
  const missing = set.elements.filter((e) => !elements.includes(e));
  if (missing.length > 0) throw new StageError(`train.elements leaves out ${missing.join(', ')}, which the rows contain`, { hint: 'add them, or set train.elements: null' });
  const empty = elements.filter((e) => !set.elements.includes(e));
  if (empty.length > 0) throw new StageError(`${where}: train.elements has ${empty.join(', ')}, which no row of the fit contains; pacemaker cannot fit an element without data`, { hint: `remove ${empty.join(', ')} from train.elements (or set it to null), or label structures that contain them` });
  const { without, extra } = referenceEnergyGaps(config.train.reference_energy, elements);
  if (without.length > 0) throw new StageError(`${where}: train.reference_energy has no value for ${without.join(', ')}`, { hint: `give every element of the fit (${elements.join(', ')}) its energy, or set train.reference_energy: auto` });
  if (extra.length > 0) throw new StageError(`${where}: train.reference_energy names ${extra.join(', ')}, which no row of the fit contains`, { hint: `keep only the elements of the fit (${elements.join(', ')}): a misspelt or stray element is otherwise silently ignored` });
  return elements;
}

/** Every element must have at least as many atomic environments as the basis has functions: pace_activeset's MaxVol needs them. */
function checkEnvironments(set: TrainingSet, config: Config, where: string): void {
  const n = config.train.functions_per_element;
  const short = Object.entries(set.atomsPerElement).filter(([, k]) => k < n);
  if (short.length === 0) return;
  const fewest = Math.min(...short.map(([, k]) => k));
  throw new StageError(`${where}: ${short.map(([e, k]) => `${k} ${e} atoms`).join(', ')} in ${set.ids.length} rows, for a basis of ${n} functions per element: the active set (pace_activeset) needs at least as many atomic environments as functions`, {
    hint: `set train.functions_per_element to at most ${fewest}, or label more structures before the first fit`,
  });
}

/**
 * Where the fit starts: the previous potential when its basis is the one asked for; from scratch
 * when a previous fit's basis changed (said); an initial potential of another basis is refused.
 */
function startOf(p: TrainInputs, input: string, where: string): { previous: TrainInputs['previous']; coldStart: string | null } {
  if (p.previous === null) return { previous: null, coldStart: null };
  const asked = inputBasis(input);
  const has = potentialBasis(p.previous.yaml);
  if (p.previous.initial) {
    if (has === undefined) throw new StageError(`train.initial_potential: ${p.previous.from} is not a pacemaker potential (no species blocks)`, { hint: 'give the output_potential.yaml of a pacemaker fit, or null' });
    const differs = asked === undefined ? [] : basisDifferences(has, asked);
    if (differs.length > 0) throw new StageError(`${where}: train.initial_potential ${p.previous.from} has another basis than train asks for (${differs.join(', ')}); pacemaker would keep the potential's and ignore train's`, { hint: 'set train.cutoff, train.functions_per_element and train.elements to the potential\'s, or train.initial_potential: null' });
    return { previous: p.previous, coldStart: null };
  }
  const before = p.previous.input === undefined ? undefined : inputBasisText(p.previous.input);
  const now = inputBasisText(input);
  const changed = before !== undefined && now !== undefined ? before !== now : has !== undefined && asked !== undefined && basisDifferences(has, asked).length > 0;
  if (!changed) return { previous: p.previous, coldStart: null };
  const differs = has !== undefined && asked !== undefined ? basisDifferences(has, asked) : [];
  return { previous: null, coldStart: `the basis changed since ${p.previous.from} (${differs.length > 0 ? differs.join(', ') : 'the potential: section of pacemaker.yaml'}): this fit starts from scratch, not from it` };
}

/** The validation rows the fit's job writes into its inputs (python/autopipe_train.py validate reads them). */
export const VALIDATION_FILE = 'validation.extxyz';

/** What planning says of the validation set: how many rows the potential will be measured on, or why none. */
function validationNotes(val: TrainingSet | undefined, config: Config): string[] {
  if (val === undefined) return [];
  const other = leftOutCount(val);
  const left = other > 0 ? `; ${other} validation row(s) of another level of theory left out (${leftOutLines(val).join('; ')})` : '';
  if (val.ids.length === 0) return [`no validation row at the fit's level of theory yet${config.validation.structures === null ? '' : ' (validation.structures are labelled with the first labelling)'}: this potential is not measured${left}`];
  return [`validation: ${val.ids.length} row(s), ${val.coreAtoms} core atoms, never fitted; the potential is evaluated on them in its job${left}`];
}

export function planTrain(p: TrainInputs): StagePlan<TrainSpec, TrainData> {
  const rows = [...p.rows];
  const set = trainingSet(fittableRows(rows, p.validation), p.config.embedding.energy_weight, p.level);
  // the validation rows of the fit's level, weighed as the fit would weigh them (no energy of a sub-cell)
  const val = p.validation.size === 0 ? undefined : trainingSet(rows.filter((r) => p.validation.has(r.id)), p.config.embedding.energy_weight, p.level);
  const where = `iteration ${p.iteration}'s fit`;
  checkFittable(set, where);
  const leftOut = leftOutLines(set);
  const elements = elementsOf(set, p.config, where);
  checkEnvironments(set, p.config, where);
  const input = inputYaml(p.config, elements, p.render);
  const { previous, coldStart } = startOf(p, input, where);
  const inputs = posix.join(p.stageDir, 'inputs');
  const shared: PlannedFile[] = [
    { path: posix.join(inputs, 'train.extxyz'), content: set.frames.join('') },
    { path: posix.join(inputs, 'reference_energy.json'), content: JSON.stringify(p.config.train.reference_energy) + '\n' },
    { path: posix.join(inputs, HELPER), content: p.helper },
    ...(previous === null ? [] : [{ path: posix.join(inputs, 'previous.yaml'), content: previous.yaml }]),
    ...(val === undefined || val.ids.length === 0 ? [] : [{ path: posix.join(inputs, VALIDATION_FILE), content: val.frames.join('') }]),
  ];
  const id = taskId(0);
  const task: PlannedTask<TrainSpec> = {
    id, about: `fit of ${set.ids.length} rows`, spec: { elements },
    files: [{ path: posix.join(attemptDir(p.stageDir, id, 1), 'input.yaml'), content: input }],
  };
  const level = set.levelOf === undefined ? null : levelSummary(set.levelOf);
  const notes = [
    `fit of iteration ${p.iteration}: ${set.ids.length} rows (${set.coreAtoms} atoms with force weight)${set.skipped.length > 0 ? `, ${set.skipped.length} left out (${set.skipped.slice(0, 3).map((s) => `id ${s.id}: ${s.why}`).join(', ')})` : ''}${previous === null ? '' : `, warm start from ${previous.from}`}`,
    ...(set.level === null ? [] : [`level of theory ${set.level}: ${level ?? '-'}`]),
    ...(leftOut.length > 0 ? [`left out of the fit for their level of theory: ${leftOut.join('; ')}`] : []),
    ...(coldStart === null ? [] : [coldStart]),
    ...validationNotes(val, p.config),
  ];
  return {
    tasks: [task], shared, notes,
    data: {
      rows: set.ids.length, row_ids: idRanges(set.ids), core_atoms: set.coreAtoms, elements, warm_start_from: previous?.from ?? null,
      level: set.level, level_summary: level, left_out: leftOut, left_out_rows: leftOutCount(set), cold_start: coldStart,
      ...(val === undefined ? {} : { validation: { rows: val.ids.length, row_ids: idRanges(val.ids), core_atoms: val.coreAtoms, left_out: leftOutCount(val) } }),
    },
  };
}
