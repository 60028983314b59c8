/**
 * The cursor (checkpoint) file: read, validated against schemas/cursor.schema.json, version
 * checked, older versions upgraded; written atomically after the previous versions are shifted
 * to .bak.1 … .bak.N. Nothing here knows a kind of stage: a task's `spec` and a stage's `data`
 * are the kind's own.
 */
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Ajv as AjvClass, ValidateFunction } from 'ajv';
import { writeFileAtomic } from '../fsutil/atomic.js';
import { CursorError, FileAccessError } from '../errors/errors.js';
import { upgradeClass, type FailureClass } from './failure-class.js';
import { jobRefFromV2, type JobRef } from '../slurm/job-ref.js';
import type { Resources } from '../config/types.js';

/** 2: closed failure classes, per-attempt resources, restart_from and action, task gave_up.
 *  3: stages (several open at once), closed job references, done-stage summaries, potentials.
 *  4: the campaign's id and home, attempt tokens, a stop's cause; each fit's potential in its own stage's data. */
export const CURSOR_VERSION = 4;
export const KEEP_VERSIONS = 5;

/** A kind of stage, by name (label, train, explore, select): the registry of kinds says which there are. */
export type StageKindName = string;
/** The state of one attempt of a task. */
export type AttemptState = 'planned' | 'submitted' | 'pending' | 'running' | 'done' | 'failed';
export const ATTEMPT_STATES: readonly AttemptState[] = ['planned', 'submitted', 'pending', 'running', 'done', 'failed'];
export type Parameters = Record<string, number | string | boolean>;
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export interface AttemptRecord {
  attempt: number;
  dir: string;
  submission: string | null;
  array_index: number | null;
  /** What this attempt changed for its program (label: pw.x parameters on top of dft.parameters). */
  parameters: Parameters;
  state: AttemptState;
  error_class: FailureClass | null;
  message: string | null;
  /** The task's own SLURM job id, once seen running (sacct -c knows tasks only by it). */
  slurm_id?: string | null;
  /** SLURM resources changed for this attempt (a walltime or memory retry). */
  resources?: ResourceChange;
  /** The earlier attempt folder this one restarts from (label: its charge density). */
  restart_from?: string | null;
  /** What autopipe did about this attempt's failure (a retry, or why it gave up). */
  action?: string | null;
  /** Seconds it ran: from its started sentinel to the last change of its progress file. */
  ran_s?: number;
  /** Its identity, written by the job into its sentinels (absent in attempts planned before cursor version 4). */
  token?: string;
}

export interface ResourceChange { time?: string; mem?: string }

export interface TaskRecord {
  id: string;
  about: string;
  spec: JsonObject;
  attempts: AttemptRecord[];
  /** Why autopipe stopped retrying (its last attempt failed for good). */
  gave_up?: string | null;
  /** autopipe resume asked for a fresh attempt: the next pass plans one whatever the recovery rules say. */
  resumed?: boolean;
}

export interface SubmissionRecord {
  token: string;
  job_name: string;
  tasks: string[];
  job: JobRef | null;
  /** What each array element asks SLURM for: a task's resources, with per_element × its time when packed. */
  resources?: Resources;
  /** Tasks run one after another in each array element (tasks[i] in element floor(i / per_element)); absent: one. */
  per_element?: number;
  intent_at: number;
  submitted_at: number | null;
  /** sbatch refused it for a queue limit: it stays an intent, tried again at each pass until it fits. */
  waiting?: QueueWait;
}

/** Since when an intent waits for the queue, why (the limit sbatch named), and when it was last tried. */
export interface QueueWait { since: number; reason: string; tried_at: number }

export interface StageRecord {
  kind: StageKindName;
  iteration: number;
  planned_at: number;
  tasks: TaskRecord[];
  submissions: SubmissionRecord[];
  data: JsonObject;
  /** The next stage was entered from this one; it stays open until its stragglers settle. */
  followed: boolean;
  /** The sections of autopipe.yaml it was planned with (the kind's configSections). */
  config?: JsonObject;
}

export interface StageSummary {
  kind: StageKindName;
  iteration: number;
  planned_at: number;
  settled_at: number;
  tasks: number;
  counts: Record<AttemptState, number>;
  outcome: 'complete' | 'gave_up';
  failures: JsonObject;
  gave_up: JsonObject[];
  data: JsonObject;
  /** Core-seconds its attempts ran. */
  core_s?: number;
  config?: JsonObject;
}

/** Where the work folder was when the cursor was written (its real path): a copy elsewhere is not this campaign. */
export interface Home { workdir: string }

/**
 * Why the loop stopped. rule: a stop rule (iterations.*, a kind's own), re-examined at every
 * pass against today's autopipe.yaml; failure: a stage gave up or could not start, until
 * `autopipe resume` after the cause is fixed.
 */
export interface Stop { reason: string; at: number; by: 'rule' | 'failure' }

export interface Cursor {
  version: number;
  project: string;
  /** The campaign's identity (random, made with the cursor). */
  id: string;
  home: Home | null;
  iteration: number;
  updated_at: number;
  stages: StageRecord[];
  done: StageSummary[];
  stopped: Stop | null;
}

const require = createRequire(import.meta.url);
const compiled = new Map<string, ValidateFunction>();

function validator(schema: string): ValidateFunction {
  // ajv is loaded on first use: commands that never read a cursor skip its start-up
  const Ajv = (require('ajv') as { Ajv: typeof AjvClass }).Ajv;
  let v = compiled.get(schema);
  if (v === undefined) {
    v = new Ajv({ allErrors: true, allowUnionTypes: true, strict: true }).compile(require(`../../../schemas/${schema}`) as object);
    compiled.set(schema, v);
  }
  return v;
}

function problemsOf(v: ValidateFunction): string[] {
  return (v.errors ?? []).slice(0, 10).map((e) => `${e.instancePath.split('/').slice(1).join('.') || '(top level)'}: ${e.message ?? 'is invalid'}`);
}

/** Pure: the cursor (an older version upgraded), or the problems that make it unusable (path: message). */
export function validateCursor(raw: unknown): { ok: true; cursor: Cursor } | { ok: false; problems: string[] } {
  const version = (raw as { version?: unknown } | null)?.version;
  if (typeof version === 'number' && version > CURSOR_VERSION) {
    return { ok: false, problems: [`written by a newer autopipe (cursor version ${version}; this autopipe reads version ${CURSOR_VERSION})`] };
  }
  let value = raw;
  if (typeof version === 'number' && version < 3) {
    const old = validator('cursor-v2.schema.json');
    if (!old(raw)) return { ok: false, problems: problemsOf(old) };
    value = upgradeV2(raw as V2Cursor);
  }
  if (typeof version === 'number' && version < 4) {
    const old = validator('cursor-v3.schema.json');
    if (!old(value)) return { ok: false, problems: problemsOf(old) };
    value = upgradeV3(value as V3Cursor);
  }
  const v = validator('cursor.schema.json');
  if (!v(value)) return { ok: false, problems: problemsOf(v) };
  return { ok: true, cursor: value as Cursor };
}

interface V2Cursor {
  project: string; iteration: number; stage: string; updated_at: number;
  tasks: Array<{ id: string; source: { file: string; frame: number }; natoms: number; attempts: Array<AttemptRecord & { error_class: string | null }>; gave_up?: string | null }>;
  submissions: Array<{ token: string; job_name: string; tasks: string[]; job_id: string | null; intent_at: number; submitted_at: number | null }>;
}

/**
 * Versions 1 and 2 held one labelling stage: it becomes the one open stage, its tasks' source
 * and size the label kind's spec, its job ids closed references, free-form classes (version 1)
 * the closed set.
 */
function upgradeV2(c: V2Cursor): V3Cursor {
  const stage: StageRecord = {
    kind: 'label', iteration: c.iteration, planned_at: Math.min(c.updated_at, ...c.submissions.map((s) => s.intent_at)), followed: false, data: {},
    tasks: c.tasks.map((t) => ({
      id: t.id, about: `${t.source.file} frame ${t.source.frame}`, spec: { source: { file: t.source.file, frame: t.source.frame }, natoms: t.natoms },
      attempts: t.attempts.map((a) => ({ ...a, error_class: upgradeClass(a.error_class) })),
      ...(t.gave_up === undefined ? {} : { gave_up: t.gave_up }),
    })),
    submissions: c.submissions.map(({ job_id, ...s }) => ({ ...s, job: jobRefFromV2(job_id) })),
  };
  return { version: 3, project: c.project, iteration: c.iteration, updated_at: c.updated_at, stages: c.stage === 'done' ? [] : [stage], done: [], potentials: [], stopped: null };
}

interface V3Cursor {
  version: number; project: string; iteration: number; updated_at: number; stages: StageRecord[]; done: StageSummary[];
  potentials: Array<JsonObject & { iteration: number }>; stopped: { reason: string; at: number } | null;
}

/**
 * Version 3 kept every fit's potential in a list of its own: each goes into its training
 * stage's data. The campaign's id comes from what the cursor already holds (the same id at
 * every read until the upgraded cursor is saved); its home is recorded at that save. A stop of
 * version 3 is re-examined as a rule: a stage that gave up still stops the loop.
 */
function upgradeV3(c: V3Cursor): Cursor {
  const withPotential = <S extends StageRecord | StageSummary>(s: S): S => {
    const p = s.kind === 'train' ? c.potentials.find((x) => x.iteration === s.iteration) : undefined;
    return p === undefined ? s : { ...s, data: { ...s.data, potential: p } };
  };
  const first = Math.min(c.updated_at, ...c.stages.map((s) => s.planned_at), ...c.done.map((s) => s.planned_at));
  const id = `c${createHash('sha256').update(`${c.project}\n${first}`).digest('hex').slice(0, 11)}`;
  return {
    version: CURSOR_VERSION, project: c.project, id, home: null, iteration: c.iteration, updated_at: c.updated_at,
    stages: c.stages.map(withPotential), done: c.done.map(withPotential),
    stopped: c.stopped === null ? null : { ...c.stopped, by: 'rule' },
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

/** A fresh cursor: iteration 0, nothing open yet; `id` is the new campaign's (newCampaignId). */
export function emptyCursor(project: string, now: number, id: string, home: Home | null = null): Cursor {
  return { version: CURSOR_VERSION, project, id, home, iteration: 0, updated_at: now, stages: [], done: [], stopped: null };
}

/**
 * A new campaign's identity: 'c' and 11 random hex digits. It starts with a letter so that it is
 * never taken for a number (every row's campaign key carries it: ASE could not query a string
 * that looks like one).
 */
export function newCampaignId(): string {
  return `c${randomBytes(6).toString('hex').slice(0, 11)}`;
}
