/**
 * What the kinds keep in the work folder for each other, and where: a fit's potential, an
 * exploration run's dump and last frame, a selection's structures. One place for the layout,
 * so that no kind imports another.
 *   potentials/iter-000/output_potential.yaml (.asi, .yace, reference_energy.json)
 *   explore/iter-000/t0003/summary.json, frames.dump, last.extxyz
 *   select/iter-000/selected.extxyz
 * and what the kinds' records say for each other: each fit's potential (a training stage's
 * data.potential), each exploration run's result (data.results, which the stop rules, the select
 * stage and status read), and the levels of theory a labelling stage labelled at (data.levels,
 * which the next fit takes its level from).
 */
import { posix } from 'node:path';
import type { Cursor, JsonObject, StageKindName } from '../state/cursor.js';
import { StageError } from '../errors/errors.js';
import type { Ensemble } from '../config/types.js';
import { iterationDir, type AnyStage, type StageContext, type ValidationErrors } from './kind.js';

/** A fit's potential, as its training stage records it (data.potential). */
export interface PotentialRecord {
  iteration: number;
  /** Its folder in the work folder: potentials/iter-000. */
  dir: string;
  rows: number;
  /** The database ids of the rows, as closed ranges: which rows the fit used. */
  row_ids: Array<[number, number]>;
  metrics: JsonObject;
  duration_s: number | null;
  warm_start_from: string | null;
  /** The per-element energies (eV) subtracted from each row's energy before the fit: the potential's energy plus their sum is the DFT total (absent for fits of an older autopipe). */
  reference_energy?: Record<string, number> | null;
  /** The level of theory of its rows (absent or null: not told apart). */
  level?: string | null;
  /** Its errors on the validation rows (absent: the fit had none; null: its job wrote no evaluation). */
  validation?: ValidationErrors | null;
}

function mev(v: unknown): string {
  return typeof v === 'number' ? (v * 1000).toFixed(1) : '-';
}

/** A potential in one line: its rows, errors, time and where it started from. */
export function potentialLine(p: PotentialRecord): string {
  const m = p.metrics as { train?: Record<string, unknown>; test?: Record<string, unknown> };
  const split = (name: string, x: Record<string, unknown> | undefined) => (x === undefined ? '' : `; ${name}: energy ${mev(x.energy_rmse_per_atom)} meV/atom, force ${mev(x.force_rmse_core)} meV/Å on ${String(x.core_atoms ?? '-')} core atoms`);
  const refs = p.reference_energy == null ? '' : `; reference energies ${Object.entries(p.reference_energy).map(([e, v]) => `${e} ${v.toFixed(4)} eV`).join(', ')}`;
  return `${p.rows} rows (ids ${p.row_ids.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(', ')})${split('train', m.train)}${split('test', m.test)}; ${p.duration_s ?? '-'} s${p.warm_start_from === null ? '' : `, warm start from ${p.warm_start_from}`}${refs}`;
}

/** Every potential the campaign made, by iteration: what each fit recorded in its stage's data. */
export function potentialsOf(c: Cursor): PotentialRecord[] {
  return [...c.done, ...c.stages]
    .flatMap((s) => { const p = s.data.potential; return p !== null && typeof p === 'object' && !Array.isArray(p) ? [p as unknown as PotentialRecord] : []; })
    .sort((a, b) => a.iteration - b.iteration);
}

export function potentialDir(iteration: number): string {
  return `potentials/${iterationDir(iteration)}`;
}

export function runDir(iteration: number, task: string): string {
  return `explore/${iterationDir(iteration)}/${task}`;
}

/** Where a select stage keeps the structures it chose for the next iteration's labelling. */
export function selectedFile(iteration: number): string {
  return `select/${iterationDir(iteration)}/selected.extxyz`;
}

/** The elements of a pacemaker potential, in its order: its one-element species blocks (`- speciesblock: Al`). */
export function elementsOf(yaml: Buffer): string[] {
  const out = [...yaml.toString('utf8').matchAll(/^\s*-\s*speciesblock:\s*([A-Z][a-z]?)\s*$/gm)].map((m) => m[1]);
  if (out.length === 0) throw new StageError('the potential\'s yaml has no species blocks', { hint: 'is it a pacemaker potential (output_potential.yaml)?' });
  return out;
}

/** The potential fitted in `iteration`, with its B-basis yaml and active set, from the work folder. */
export function keptPotential(ctx: StageContext, iteration: number): { record: PotentialRecord; yaml: Buffer; asi: Buffer } {
  const record = potentialsOf(ctx.cursor).find((p) => p.iteration === iteration);
  if (record === undefined && startsFromPotential(ctx, iteration)) return initialPotential(ctx, iteration);
  if (record === undefined) throw new StageError(`iteration ${iteration} has no potential`, { hint: 'its training stage must finish first' });
  const read = (name: string) => {
    const path = posix.join(record.dir, name);
    const b = ctx.readFile(path, 'work');
    if (b === undefined) throw new StageError(`the potential's ${path} is missing from the work folder`, { hint: 'restore it from the training job\'s folder' });
    return b;
  };
  return { record, yaml: read('output_potential.yaml'), asi: read('output_potential.asi') };
}

/** The active set pace_activeset writes beside a potential: output_potential.yaml → output_potential.asi. */
export function asiOf(yaml: string): string {
  return `${yaml.replace(/\.ya?ml$/i, '')}.asi`;
}

/** iterations.start explore: the iterations before the first fit explore (and select) with train.initial_potential. */
function startsFromPotential(ctx: StageContext, iteration: number): boolean {
  return ctx.config.iterations.start === 'explore' && ctx.config.train.initial_potential !== null
    && !potentialsOf(ctx.cursor).some((p) => p.iteration <= iteration) && ![...ctx.cursor.done, ...ctx.cursor.stages].some((s) => s.kind === 'train' && s.iteration <= iteration);
}

/** train.initial_potential and its active set, from the project folder, as the potential of an iteration before the first fit. */
function initialPotential(ctx: StageContext, iteration: number): { record: PotentialRecord; yaml: Buffer; asi: Buffer } {
  const file = ctx.config.train.initial_potential as string;
  const read = (path: string, what: string) => {
    const b = ctx.readFile(path, 'project');
    if (b === undefined) throw new StageError(`train.initial_potential: ${path} does not exist (${what}; iterations.start is explore)`, { hint: `give the output_potential.yaml of a pacemaker fit with the output_potential.asi that pace_activeset wrote beside it, or start at label or train` });
    return b;
  };
  const yaml = read(file, 'the potential to explore with');
  const asi = read(asiOf(file), 'its active set, which the extrapolation grade needs');
  return { record: { iteration, dir: file, rows: 0, row_ids: [], metrics: {}, duration_s: null, warm_start_from: null }, yaml, asi };
}

/** A stage of the cursor, open or done. */
export function stageOf(c: Cursor, kind: StageKindName, iteration: number): AnyStage | undefined {
  return [...c.stages, ...c.done].find((s) => s.kind === kind && s.iteration === iteration);
}

/**
 * What an exploration stage's data keeps of each finished run (data.results, by task id): what it
 * explored, and (runs recorded before autopipe kept them lack these) where it started, under what
 * conditions, and what it saw: the volume per atom over its explored frames, Å³ [smallest,
 * largest], and the instantaneous temperature of its last explored frame, K.
 */
export interface RunRecord {
  explored: number; collected: number; max_gamma: number; stopped_early: boolean; steps_run: number; blew_up?: string | null;
  source?: { file: string; frame: number };
  /** K: the thermostat's target at the start, and at the end of a ramp. */
  temperature?: number;
  temperature_end?: number;
  ensemble?: Ensemble;
  /** bar; null under NVT. */
  pressure?: number | null;
  volume_per_atom?: [number, number];
  temperature_last?: number;
}

export function runResultsOf(data: { results?: unknown }): Record<string, RunRecord> {
  return (data.results ?? {}) as Record<string, RunRecord>;
}

/** Frames explored and collected, and the largest grade, over runs. */
export function runTotals(runs: readonly RunRecord[]): { explored: number; collected: number; maxGamma: number } {
  return runs.reduce((t, r) => ({ explored: t.explored + r.explored, collected: t.collected + r.collected, maxGamma: Math.max(t.maxGamma, r.max_gamma) }), { explored: 0, collected: 0, maxGamma: 0 });
}

/**
 * The level of theory a fit of `iteration` uses: the one the newest labelling stage up to it
 * labelled most rows at (each records its levels), or null when none recorded any (a campaign
 * of an older autopipe: its rows carry no level).
 */
export function currentLevel(c: Cursor, iteration: number): string | null {
  const counts = (s: AnyStage): Record<string, number> => {
    const l = s.data.levels;
    return l !== null && typeof l === 'object' && !Array.isArray(l) ? (l as Record<string, number>) : {};
  };
  const last = [...c.done, ...c.stages].filter((s) => s.iteration <= iteration && Object.keys(counts(s)).length > 0)
    .sort((a, b) => a.iteration - b.iteration || a.planned_at - b.planned_at).at(-1);
  if (last === undefined) return null;
  const entries = Object.entries(counts(last)).sort(([a, m], [b, n]) => n - m || a.localeCompare(b));
  return entries[0][0];
}
