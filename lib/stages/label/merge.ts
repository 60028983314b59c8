/**
 * A finished labelling attempt (it wrote its exitcode): judge parses pw.x's output (pure) into
 * the row to write, with the parameters that converged and the failures before it, or a
 * classified failure; merge writes the rows in one transaction (idempotently: a row's unique id
 * comes from its content).
 */
import type { Config } from '../../config/types.js';
import type { FetchedFiles } from '../../exec/executor.js';
import type { AttemptRecord, StageRecord } from '../../state/cursor.js';
import type { Kvp } from '../../db/keys.js';
import type { DataObject } from '../../db/ase-data.js';
import type { Atoms } from '../../atoms/atoms.js';
import { parsePwOutput, readPwRunFacts } from '../../formats/espresso-out.js';
import { levelId, pwLevel } from '../../level/level.js';
import { readExtxyz } from '../../formats/extxyz.js';
import { makeAtoms } from '../../atoms/atoms.js';
import { prepareRow } from '../../db/prepare-row.js';
import { classifyOutput } from './classes.js';
import type { LabelSpec } from './plan.js';
import { recordedSection, type Finished, type Judged, type KindTask, type MergeSink, type Typed } from '../kind.js';

/** What judging a labelled structure yields: the row, ready to write. */
export interface LabelRow { atoms: Atoms; kvp: Kvp; data: DataObject }

/** What a labelling stage records of itself: how many of its rows each level of theory labelled (by level id), and the validation structures it planned (file#frame). */
export interface LabelData { levels?: Record<string, number>; validation?: string[]; validation_done?: number }

/** The pw.x parameters worth querying by, as key-value pairs (scalars only): the stage's own, as it was planned, with the attempt's on top. */
function dftKvp(dft: Config['dft'] | undefined, extra: AttemptRecord['parameters']): Kvp {
  const out: Kvp = {};
  for (const [k, v] of Object.entries({ ...(dft?.parameters ?? {}), ...extra })) if (typeof v !== 'object') out[k] = v;
  return out;
}

/** Per-atom arrays of a structure to label that its row keeps (pw.x's output carries none of them). */
const PER_ATOM_PROVENANCE = ['force_mask', 'parent_id', 'image'] as const;

const text = (files: FetchedFiles, name: string): string | undefined => files.get(name)?.toString('utf8');

export function judgeLabel(files: FetchedFiles, exitcode: number, t: KindTask<LabelSpec>, a: AttemptRecord, stage: Typed<StageRecord, LabelData>): Judged<LabelRow> {
  const out = parsePwOutput(text(files, 'pw.out') ?? '');
  if (out.status !== 'ok' || out.atoms === undefined) {
    const c = classifyOutput(out, exitcode);
    return { ok: false, failure: c };
  }
  const given = readExtxyz(text(files, 'structure.extxyz') ?? '0\n\n', `${a.dir}/structure.extxyz`)[0];
  const mask = given?.arrays.force_mask;
  const nCore = mask === undefined ? out.atoms.numbers.length : Array.from(mask.values as Float64Array).filter((m) => m === 1).length;
  // embedded and n_core come with sub-cells from `select`; plain structures are whole cells
  const info = { embedded: false, n_core: nCore, ...(given?.info ?? {}) };
  // the mask, and each atom's parent and image: where it was in the frame it was cut from
  const carried = Object.fromEntries(PER_ATOM_PROVENANCE.flatMap((name) => {
    const a = given?.arrays[name];
    return a !== undefined && a.values.length === a.width * out.atoms!.numbers.length ? [[name, a]] : [];
  }));
  const atoms = makeAtoms({ ...out.atoms, arrays: carried, info });
  const failures = t.attempts.filter((x) => x.state === 'failed').map((x) => `a${x.attempt} ${x.error_class ?? 'unknown'}: ${x.message ?? ''}`);
  const source = t.spec.source;
  // the settings the stage was planned with (a stage of an older autopipe recorded none: no level)
  const dft = recordedSection(stage, 'dft');
  const facts = readPwRunFacts(text(files, 'pw.out') ?? '');
  const planned = { ...(dft?.parameters ?? {}), ...a.parameters }.ecutwfc;
  if (typeof planned === 'number' && facts.ecutwfc !== null && Math.abs(facts.ecutwfc - planned) > 1e-6) {
    return { ok: false, failure: { cls: 'corrupt_output', message: `pw.out ran at ecutwfc ${facts.ecutwfc} Ry, but this attempt was planned at ${planned}: it is not this attempt's output` } };
  }
  const level = dft === undefined ? undefined : pwLevel(dft, a.parameters, facts);
  // set=validation: the row is validation data, which no fit and no export ever includes
  const kvp = { iteration: stage.iteration, task: t.id, attempt: a.attempt, ...dftKvp(dft, a.parameters), ...(level === undefined ? {} : { level: levelId(level) }), ...(t.spec.set === undefined ? {} : { set: t.spec.set }) };
  const row = prepareRow(atoms, kvp, {
    // frame: the parent frame's index as ASE's read(source, index=frame) takes it; rows written
    // before autopipe stored it have no frame, and the number after # in their source counts from 1
    source: `${source.file}#${source.frame}`, frame: source.frame, task_dir: a.dir, ...(failures.length > 0 ? { failures } : {}),
    ...(level === undefined ? {} : { level: level as unknown as DataObject }),
  });
  if (!row.ok) return { ok: false, failure: { cls: 'input_error', message: row.reason } };
  return { ok: true, result: { atoms, kvp: row.kvp, data: row.data } satisfies LabelRow };
}

/** How many rows of each level of theory the stage labelled, with these added. */
export function levelsAdded(data: LabelData, done: readonly Finished<LabelSpec, LabelRow>[]): Record<string, number> {
  const levels = { ...(data.levels ?? {}) };
  for (const d of done) {
    const id = d.result.kvp.level;
    if (typeof id === 'string') levels[id] = (levels[id] ?? 0) + 1;
  }
  return levels;
}

/** One transaction for all of them: committed before the cursor that records them is saved. */
export function mergeLabel(done: readonly Finished<LabelSpec, LabelRow>[], sink: MergeSink): string[] {
  if (done.length === 0) return [];
  const db = sink.db();
  let added = 0;
  db.transaction(() => {
    for (const d of done) {
      const r = d.result;
      if (db.write(r.atoms, { kvp: { ...r.kvp, campaign: sink.campaign }, data: r.data, now: sink.now, user: sink.user }).added) added++;
    }
  });
  return added === done.length ? [] : [`${done.length - added} labelled structure(s) were in the database already (merged by an earlier pass)`];
}
