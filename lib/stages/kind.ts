/**
 * What a kind of stage (label, train, explore, select) brings to the one stage machine of
 * lib/loop, which never imports a kind: it is handed a registry of these. A kind that runs
 * jobs plans its tasks, writes the files of an attempt, judges a finished attempt's outputs
 * (pure), merges what succeeded (its only I/O) and may add retry rules of its own. A kind that
 * runs no job (select) runs when it is entered and is settled at once. Either may say why a
 * settled stage of it ends the loop.
 */
import type { Config, Resources } from '../config/types.js';
import type { PlannedFile, PlannedCopy, FetchedFiles } from '../exec/executor.js';
import type { AttemptRecord, Cursor, JsonObject, Parameters, StageKindName, StageRecord, TaskRecord } from '../state/cursor.js';
import type { Failure, FailureClass } from '../state/failure-class.js';
import type { AseDatabase } from '../db/ase-db.js';
import type { Atoms } from '../atoms/atoms.js';

/** Where an attempt's folder is, relative to the run root: iter-000/label/t0007/a1. */
export function attemptDir(stageDir: string, taskId: string, attempt: number): string {
  return `${stageDir}/${taskId}/a${attempt}`;
}

/** An iteration's folder name, in the run root and in the work folder: iter-007. */
export function iterationDir(iteration: number): string {
  return `iter-${String(iteration).padStart(3, '0')}`;
}

export function stageDirOf(iteration: number, kind: StageKindName): string {
  return `${iterationDir(iteration)}/${kind}`;
}

export function taskId(k: number): string {
  return `t${String(k).padStart(4, '0')}`;
}

/** A structure to label, and where it came from. */
export interface Candidate { atoms: Atoms; source: { file: string; frame: number } }

/** What planning may read; everything but the database and the files given is pure data. */
export interface StageContext {
  cursor: Cursor;
  iteration: number;
  config: Config;
  configFile: string;
  now: number;
  /** The database (opened on first use). */
  db: () => AseDatabase;
  /** Renders one of the project's templates (templates/ or the project's copy). */
  render: (template: string, context: object) => string;
  /** A helper file shipped with autopipe (python/…), by name. */
  asset: (name: string) => string;
  /** A file by path relative to the work folder (a kept potential) or the project folder (train.initial_potential); undefined when missing. */
  readFile: (path: string, base: 'work' | 'project') => Buffer | undefined;
  /** The user's starting structures (structures: in autopipe.yaml). */
  initialStructures: () => Candidate[];
}

export interface PlannedTask {
  id: string;
  about: string;
  spec: JsonObject;
  /** The first attempt's files (paths relative to the run root). */
  files: PlannedFile[];
}

export interface StagePlan {
  tasks: PlannedTask[];
  /** Files the stage's attempts share (e.g. the training data), staged once. */
  shared: PlannedFile[];
  data: JsonObject;
  /** Said when the stage is entered (e.g. how many rows a fit uses). */
  notes: string[];
}

/** A retry the kind's own ladder chose. */
export type KindStep =
  | { kind: 'retry'; parameters: Parameters; restartFrom: string | null; copies: PlannedCopy[]; action: string }
  | { kind: 'give_up'; reason: string };

export type Judged = { ok: true; result: unknown } | { ok: false; failure: Failure };

export interface Finished { task: TaskRecord; attempt: AttemptRecord; result: unknown }

/** Where merging writes: the database, and files kept in the work folder (atomically, never overwritten). */
export interface MergeSink {
  db: () => AseDatabase;
  keep: (path: string, content: Buffer) => void;
  config: Config;
  now: number;
  user: string | null;
}

/** What every kind declares, whether it runs jobs or not. */
interface KindBase {
  readonly kind: StageKindName;
  /** The sections of autopipe.yaml its planning reads: recorded with each stage it plans, so status can show what changed. */
  readonly configSections: readonly (keyof Config)[];
  /** Pure: why this settled stage ends the loop (explore: converged; select: nothing to label), or undefined. */
  stopReason?(stage: StageRecord, config: Config): string | undefined;
}

/** What a kind that runs no job yields when it is entered: the stage is settled at once. */
export interface LocalOutcome {
  data: JsonObject;
  notes: string[];
  /** Files for the work folder (the next stage reads them), written atomically before the cursor records the stage. */
  keep: Array<{ path: string; content: string }>;
}

/** A kind that runs no job (select): entering it runs it here, in the poll. */
export interface LocalStageKind extends KindBase {
  readonly runs: 'local';
  run(ctx: StageContext): LocalOutcome;
}

export interface JobStageKind extends KindBase {
  readonly runs: 'jobs';
  /** Its job script, e.g. 'label.sbatch.hbs'. */
  readonly template: string;
  /** The file whose growth shows a running task is alive ('pw.out', 'pacemaker.out'). */
  readonly progressFile: string;
  /** Files fetched from a finished or failed attempt, in the poll's one download. */
  readonly outputs: readonly string[];
  /** Where its SLURM resources are set (for messages): 'dft.resources'. */
  readonly resourcesField: string;
  resources(config: Config): Resources;
  /** What its job script needs besides resources, stage_dir and manifest (label: dft_command). */
  scriptContext(config: Config): object;
  /** The stage's tasks and the files of their first attempts. */
  plan(ctx: StageContext, stageDir: string): StagePlan;
  /** A retry's files in `dir`, from the failed attempt's fetched files; a string says why there is nothing to retry from. */
  retryFiles(task: TaskRecord, failed: FetchedFiles, dir: string, parameters: Parameters, ctx: StageContext, stage: StageRecord): PlannedFile[] | string;
  /** Pure: a finished attempt (it wrote its exitcode) from its outputs. */
  judge(files: FetchedFiles, exitcode: number, task: TaskRecord, attempt: AttemptRecord, stage: StageRecord, config: Config): Judged;
  /** Idempotent: what succeeded, into the sink. Returns lines for the poll's output. */
  merge(done: readonly Finished[], sink: MergeSink, stage: StageRecord): string[];
  /** Pure: what the cursor keeps of what succeeded (train: the potential). */
  record?(cursor: Cursor, stage: StageRecord, done: readonly Finished[]): Cursor;
  /** Classes of its own that no retry can cure, with why (label: input_error, pw.x rejected its input). */
  readonly neverRetried?: Partial<Record<FailureClass, string>>;
  /** What a retry keeps of the failed attempt's parameters (label: all but starting from a density); default: all. */
  carry?(attempt: AttemptRecord): Parameters;
  /** The kind's own remedy for a class (label: pw.x's mixing ladder); undefined: the generic rules. */
  escalate?(task: TaskRecord, config: Config): KindStep | undefined;
}

export type StageKind = JobStageKind | LocalStageKind;

export type Registry = ReadonlyMap<StageKindName, StageKind>;
