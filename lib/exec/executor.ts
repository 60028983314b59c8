/** What the labelling machinery needs from wherever jobs run. */
import type { QueueEntry, AccountingEntry } from '../slurm/commands.js';
import type { PlannedFile, PlannedCopy } from '../label/plan.js';

export interface Sentinels {
  started?: number;
  exitcode?: number;
  /** When pw.out last changed (Unix seconds): how long a task that vanished kept running. */
  output?: number;
}

export interface Executor {
  readonly kind: 'local' | 'slurm';
  /**
   * Put the staged files (paths relative to the run root) where the jobs run, then copy
   * folders there (a restart's charge density); a copy whose source is missing is skipped.
   */
  stage(files: readonly PlannedFile[], copies?: readonly PlannedCopy[]): Promise<void>;
  /** The job id of a submission that may already have gone in (an intent without an id). */
  findSubmitted(jobName: string): Promise<string | undefined>;
  /** Submit one array; returns its job id. */
  submit(jobName: string, script: string, array: string, chdir: string): Promise<string>;
  /** One status query for all the given jobs. */
  queue(jobIds: readonly string[]): Promise<QueueEntry[]>;
  /** The sentinels of attempt folders (relative to the run root), in one pass. */
  sentinels(dirs: readonly string[]): Promise<Map<string, Sentinels>>;
  /** Text files of attempt folders, in one pass. */
  fetch(dirs: readonly string[], names: readonly string[]): Promise<Map<string, Map<string, string>>>;
  /**
   * Why tasks that left the queue ended, when the cluster keeps accounts (sacct, else sacct -c):
   * keyed by "arrayJobId_index" (sacct) and by the task's own id (sacct -c). Empty when unknown.
   */
  accounting?(arrayJobIds: readonly string[], taskIds: readonly string[]): Promise<Map<string, AccountingEntry>>;
}
