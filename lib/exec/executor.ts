/** What the stage machine needs from wherever jobs run. */
import type { QueueEntry, AccountingEntry } from '../slurm/commands.js';
import type { JobRef } from '../slurm/job-ref.js';
import type { Resources } from '../config/types.js';

/** A file to stage, its path relative to the run root: text, or bytes (a potential's active set is binary). */
export interface PlannedFile { path: string; content: string | Uint8Array }

/** A folder copied where the jobs run, at staging (paths relative to the run root). */
export interface PlannedCopy { from: string; to: string }

/** The files fetched from one attempt folder, by name (bytes: a potential's active set is binary). */
export type FetchedFiles = ReadonlyMap<string, Buffer>;

/**
 * Whose run root this is, and the attempt folders a stage lays out now. The run root's marker
 * (.autopipe-campaign) names the campaign that staged there first; another campaign's is
 * refused (two campaigns in one run root would take each other's outputs). An attempt folder
 * planned now that already holds a job's sentinels (another attempt ran there) is moved aside
 * to <folder>.stale-N, never adopted.
 */
export interface StageClaim {
  campaign: { id: string; about: string };
  fresh: readonly string[];
}

/** What staging did besides writing the files: the attempt folders it moved aside. */
export interface StageResult { movedAside: string[] }

/** One job (an array, or a single job) to submit. */
export interface SubmitRequest {
  jobName: string;
  /** The job script, relative to the run root. */
  script: string;
  /** "0-9%4": every submission is an array (training is an array of one), so one script shape, one queue match. */
  array: string;
  /** The job's working folder, relative to the run root. */
  chdir: string;
  resources: Resources;
  /** Where these resources are set in autopipe.yaml (for messages): dft.resources, train.resources. */
  resourcesField: string;
  /** Manifest lines (tasks) each array element runs one after another (absent: 1; the job script loops over them). */
  perElement?: number;
}

/** `queueLimit`: the refusal was a limit on queued jobs (its name): the refused and those after it wait for a later pass. */
export interface SubmitResult { jobs: JobRef[]; refused?: Error; queueLimit?: string }

export interface Sentinels {
  started?: number;
  exitcode?: number;
  /** The tokens the job wrote with them (an attempt's identity; absent from an older autopipe's job). */
  startedBy?: string;
  exitBy?: string;
  /** When the task's progress file last changed (Unix seconds): how long a task that vanished kept running. */
  output?: number;
}

export interface SentinelQuery { dir: string; progress: string }

export interface Executor {
  readonly kind: 'local' | 'slurm';
  /**
   * Claim the run root and clear the fresh attempt folders (when a claim is given), put the
   * staged files (paths relative to the run root) where the jobs run, then copy folders there
   * (a restart's charge density; a copy whose source is missing is skipped). One round trip.
   */
  stage(files: readonly PlannedFile[], copies?: readonly PlannedCopy[], claim?: StageClaim): Promise<StageResult>;
  /** The job ids of submissions that may already have gone in (intents without an id), in one query; a name not found is left out. */
  findSubmitted(jobNames: readonly string[]): Promise<Map<string, JobRef>>;
  /**
   * Submit arrays or jobs in order, in one round trip; it stops at the first one refused.
   * `jobs[i]` is the job of `requests[i]` for every one that went in.
   */
  submit(requests: readonly SubmitRequest[]): Promise<SubmitResult>;
  /** One status query for all the given jobs (a forgotten job is skipped). */
  queue(jobs: readonly JobRef[]): Promise<QueueEntry[]>;
  /** The sentinels of attempt folders (relative to the run root), in one pass; `progress` names each folder's progress file. */
  sentinels(dirs: readonly SentinelQuery[]): Promise<Map<string, Sentinels>>;
  /** Files of attempt folders, in one pass (a missing file is left out). */
  fetch(dirs: readonly string[], names: readonly string[]): Promise<Map<string, Map<string, Buffer>>>;
  /**
   * Why tasks that left the queue ended, when the cluster keeps accounts (sacct, else sacct -c):
   * keyed by "arrayJobId_index" (sacct) and by the task's own id (sacct -c). Empty when unknown.
   */
  accounting?(jobs: readonly JobRef[], taskIds: readonly string[]): Promise<Map<string, AccountingEntry>>;
}
