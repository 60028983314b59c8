/**
 * A finished attempt (it wrote its exitcode): parse pw.x's output; a result goes into the
 * database (idempotently: the row's unique id comes from its content) with the parameters that
 * converged and the failures before it; anything else is a classified failure.
 */
import type { AseDatabase } from '../db/ase-db.js';
import type { Config } from '../config/types.js';
import type { AttemptRecord, TaskRecord } from '../state/cursor.js';
import type { Kvp } from '../db/keys.js';
import { parsePwOutput } from '../formats/espresso-out.js';
import { readExtxyz } from '../formats/extxyz.js';
import { makeAtoms } from '../atoms/atoms.js';
import { prepareRow } from '../db/prepare-row.js';
import { classifyOutput } from '../recover/classes.js';

export interface MergeContext { db: AseDatabase; config: Config; iteration: number; now: number; user: string | null }

/** The pw.x parameters worth querying by, as key-value pairs (scalars only). */
function dftKvp(config: Config, extra: AttemptRecord['parameters']): Kvp {
  const out: Kvp = {};
  for (const [k, v] of Object.entries({ ...config.dft.parameters, ...extra })) if (typeof v !== 'object') out[k] = v;
  return out;
}

/** The attempt after its output was read; `merged` when a row was written. */
export function mergeFinished(ctx: MergeContext, t: TaskRecord, a: AttemptRecord, exitcode: number, files: ReadonlyMap<string, string>): { attempt: AttemptRecord; merged: boolean } {
  const out = parsePwOutput(files.get('pw.out') ?? '');
  if (out.status !== 'ok' || out.atoms === undefined) {
    const c = classifyOutput(out, exitcode);
    return { attempt: { ...a, state: 'failed', error_class: c.cls, message: c.message }, merged: false };
  }
  const given = readExtxyz(files.get('structure.extxyz') ?? '0\n\n', `${a.dir}/structure.extxyz`)[0];
  const mask = given?.arrays.force_mask;
  const nCore = mask === undefined ? out.atoms.numbers.length : Array.from(mask.values as Float64Array).filter((m) => m === 1).length;
  // embedded and n_core come with sub-cells from `select`; plain structures are whole cells
  const info = { embedded: false, n_core: nCore, ...(given?.info ?? {}) };
  const atoms = makeAtoms({ ...out.atoms, arrays: mask === undefined ? {} : { force_mask: mask }, info });
  const failures = t.attempts.filter((x) => x.state === 'failed').map((x) => `a${x.attempt} ${x.error_class ?? 'unknown'}: ${x.message ?? ''}`);
  const row = prepareRow(atoms, { iteration: ctx.iteration, task: t.id, attempt: a.attempt, ...dftKvp(ctx.config, a.parameters) }, {
    source: `${t.source.file}#${t.source.frame}`, task_dir: a.dir, ...(failures.length > 0 ? { failures } : {}),
  });
  if (!row.ok) return { attempt: { ...a, state: 'failed', error_class: 'input_error', message: row.reason }, merged: false };
  ctx.db.write(atoms, { kvp: row.kvp, data: row.data, now: ctx.now, user: ctx.user });
  return { attempt: { ...a, state: 'done', error_class: null, message: null }, merged: true };
}
