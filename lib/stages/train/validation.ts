/**
 * The validation set and what a potential's evaluation on it says, pure but for the database
 * read. Validation rows are those autopipe labelled from validation.structures (key
 * set=validation) and those validation.rows selects; no fit and no export ever includes them.
 * Each fit's job evaluates its potential on them (python/autopipe_train.py validate, with
 * python-ace's calculator) into validation.json: eV and eV/Å, like metrics.json; autopipe
 * records them in meV.
 */
import type { Config } from '../../config/types.js';
import type { AseDatabase, AseRow } from '../../db/ase-db.js';
import { parseSelection } from '../../db/query.js';
import type { ForceErrors, ValidationErrors } from '../kind.js';

export type { ForceErrors, ValidationErrors } from '../kind.js';

/** The key-value pair autopipe tags its validation rows with: set=validation. */
export const VALIDATION_SET = 'validation';

export function taggedForValidation(row: Pick<AseRow, 'kvp'>): boolean {
  return row.kvp.set === VALIDATION_SET;
}

/** The ids of every validation row of the database: tagged set=validation, or selected by validation.rows. */
export function validationIds(rows: Iterable<AseRow>, db: AseDatabase, config: Config, now: number): Set<number> {
  const ids = new Set<number>();
  for (const r of rows) if (taggedForValidation(r)) ids.add(r.id);
  if (config.validation.rows !== null) for (const r of db.select(parseSelection(config.validation.rows, now))) ids.add(r.id);
  return ids;
}

/** The rows a fit may use: all but the validation rows. */
export function fittableRows<R extends Pick<AseRow, 'id'>>(rows: readonly R[], validation: ReadonlySet<number>): R[] {
  return rows.filter((r) => !validation.has(r.id));
}

const mev = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v * 1000 : null);

function forceErrorsOf(x: Record<string, unknown>): ForceErrors {
  return { core_atoms: Number(x.core_atoms ?? 0), force_rmse: mev(x.force_rmse), force_max: mev(x.force_max_error) };
}

/** validation.json as the training job wrote it, in meV; undefined when it is not one. */
export function parseValidation(text: string | undefined): ValidationErrors | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text ?? '');
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object' || typeof (v as { rows?: unknown }).rows !== 'number') return undefined;
  const x = v as Record<string, unknown>;
  const elements = (x.elements !== null && typeof x.elements === 'object' ? x.elements : {}) as Record<string, Record<string, unknown>>;
  return {
    rows: Number(x.rows), energy_rows: Number(x.energy_rows ?? 0), energy: mev(x.energy_rmse_per_atom), energy_shifted: mev(x.energy_rmse_per_atom_shifted),
    ...forceErrorsOf(x),
    elements: Object.fromEntries(Object.entries(elements).map(([e, f]) => [e, forceErrorsOf(f)])),
  };
}

const f1 = (v: number | null) => (v === null ? '-' : v.toFixed(1));

/** A potential's validation errors in one line. */
export function validationLine(v: ValidationErrors): string {
  const perElement = Object.keys(v.elements).length > 1 ? ` (${Object.entries(v.elements).map(([e, f]) => `${e} ${f1(f.force_rmse)}`).join(', ')})` : '';
  return `validation force RMSE ${f1(v.force_rmse)} meV/Å${perElement}, largest ${f1(v.force_max)} meV/Å on ${v.core_atoms} core atoms of ${v.rows} rows` +
    (v.energy_rows > 0 ? `; energy RMSE ${f1(v.energy)} meV/atom (${f1(v.energy_shifted)} less a constant shift)` : '');
}
