/**
 * The cursor (checkpoint) file: read, validated against schemas/cursor.schema.json, version
 * checked; written atomically after the previous versions are shifted to .bak.1 … .bak.N.
 */
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Ajv as AjvClass, ValidateFunction } from 'ajv';
import { writeFileAtomic } from '../fsutil/atomic.js';
import { CursorError, FileAccessError } from '../errors/errors.js';
import { upgradeClass, type FailureClass } from '../recover/classes.js';

/** 2: closed failure classes, per-attempt resources, restart_from and action, task gave_up. */
export const CURSOR_VERSION = 2;
export const KEEP_VERSIONS = 5;

export type TaskState = 'planned' | 'submitted' | 'pending' | 'running' | 'done' | 'failed';
export type Stage = 'label' | 'train' | 'explore' | 'select' | 'done';

export interface AttemptRecord {
  attempt: number;
  dir: string;
  submission: string | null;
  array_index: number | null;
  parameters: Record<string, number | string | boolean>;
  state: TaskState;
  error_class: FailureClass | null;
  message: string | null;
  /** The task's own SLURM job id, once seen running (sacct -c knows tasks only by it). */
  slurm_id?: string | null;
  /** SLURM resources changed for this attempt (a walltime or memory retry). */
  resources?: ResourceChange;
  /** The earlier attempt folder whose charge density this one starts from. */
  restart_from?: string | null;
  /** What autopipe did about this attempt's failure (a retry, or why it gave up). */
  action?: string | null;
}

export interface ResourceChange { time?: string; mem?: string }

export interface TaskRecord {
  id: string;
  source: { file: string; frame: number };
  natoms: number;
  merged: boolean;
  attempts: AttemptRecord[];
  /** Why autopipe stopped retrying (its last attempt failed for good). */
  gave_up?: string | null;
}

export interface SubmissionRecord {
  token: string;
  job_name: string;
  tasks: string[];
  job_id: string | null;
  intent_at: number;
  submitted_at: number | null;
}

export interface Cursor {
  version: number;
  project: string;
  iteration: number;
  stage: Stage;
  updated_at: number;
  tasks: TaskRecord[];
  submissions: SubmissionRecord[];
}

const require = createRequire(import.meta.url);
let compiled: ValidateFunction | undefined;

/** Pure: the cursor, or the problems that make it unusable (path: message). */
export function validateCursor(raw: unknown): { ok: true; cursor: Cursor } | { ok: false; problems: string[] } {
  const version = (raw as { version?: unknown } | null)?.version;
  if (typeof version === 'number' && version > CURSOR_VERSION) {
    return { ok: false, problems: [`written by a newer autopipe (cursor version ${version}; this autopipe reads version ${CURSOR_VERSION})`] };
  }
  // ajv is loaded on first use: commands that never read a cursor skip its start-up
  const Ajv = (require('ajv') as { Ajv: typeof AjvClass }).Ajv;
  compiled ??= new Ajv({ allErrors: true, allowUnionTypes: true, strict: true }).compile(require('../../../schemas/cursor.schema.json') as object);
  if (!compiled(raw)) {
    const problems = (compiled.errors ?? []).slice(0, 10).map((e) => `${e.instancePath.split('/').slice(1).join('.') || '(top level)'}: ${e.message ?? 'is invalid'}`);
    return { ok: false, problems };
  }
  return { ok: true, cursor: upgrade(raw as Cursor) };
}

/** Version 1 had free-form error classes: they (and any hand edit) map onto the closed set. */
function upgrade(c: Cursor): Cursor {
  return {
    ...c,
    version: CURSOR_VERSION,
    tasks: c.tasks.map((t) => ({ ...t, attempts: t.attempts.map((a) => ({ ...a, error_class: upgradeClass(a.error_class) })) })),
  };
}

/** The cursor at `path`, or undefined when there is none yet. */
export function readCursor(path: string): Cursor | undefined {
  if (!existsSync(path)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new CursorError(`${path}: not a readable cursor (${(err as Error).message})`, {
      hint: `restore the last good version: cp ${path}.bak.1 ${path}`, cause: err,
    });
  }
  const v = validateCursor(raw);
  if (!v.ok) {
    const newer = v.problems[0].startsWith('written by a newer autopipe');
    throw new CursorError(`${path}: ${v.problems.join('; ')}`, {
      hint: newer ? 'use the autopipe version that wrote it, or a newer one' : `restore the last good version: cp ${path}.bak.1 ${path}`,
    });
  }
  return v.cursor;
}

/** Write atomically, keeping the last `keep` versions as .bak.1 (newest) … .bak.keep. */
export function writeCursor(path: string, cursor: Cursor, keep = KEEP_VERSIONS): void {
  const v = validateCursor(cursor);
  if (!v.ok) throw new CursorError(`refusing to write an invalid cursor to ${path}: ${v.problems.join('; ')}`);
  try {
    for (let k = keep - 1; k >= 1; k--) {
      if (existsSync(`${path}.bak.${k}`)) renameSync(`${path}.bak.${k}`, `${path}.bak.${k + 1}`);
    }
    // a copy, not a rename: the cursor itself must exist at every instant
    if (keep >= 1 && existsSync(path)) writeFileAtomic(`${path}.bak.1`, readFileSync(path));
  } catch (err) {
    throw new FileAccessError(`cannot keep the previous versions of ${path}: ${(err as Error).message}`, { cause: err });
  }
  writeFileAtomic(path, JSON.stringify(cursor, null, 1) + '\n');
}
