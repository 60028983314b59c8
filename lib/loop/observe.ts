/**
 * An attempt without its exitcode, from what SLURM says of its job: still waiting or running,
 * or ended (time, memory, node, cancelled) and classified. A job that left the queue without
 * the task's exitcode did not finish: it is never "done". Pure, except explainVanished, which
 * asks the cluster's accounts.
 */
import type { Executor, Sentinels } from '../exec/executor.js';
import type { AttemptRecord } from '../state/cursor.js';
import type { FailureClass } from '../state/failure-class.js';
import type { QueueEntry } from '../slurm/commands.js';
import type { SlurmState } from '../slurm/states.js';
import type { JobRef } from '../slurm/job-ref.js';
import { queueKey, showJob } from '../slurm/job-ref.js';
import { parseTimeLimit } from '../slurm/limits.js';

/**
 * SLURM's final states as failure classes, for a job that ended without the task's exitcode.
 * 'failed' (non-zero exit) and 'completed' without an exitcode say nothing about why.
 */
const FROM_SLURM: Readonly<Record<SlurmState, FailureClass | undefined>> = {
  pending: undefined,
  running: undefined,
  completed: 'unknown',
  failed: 'unknown',
  cancelled: 'cancelled',
  preempted: 'cancelled',
  timeout: 'walltime',
  out_of_memory: 'out_of_memory',
  node_failure: 'node_failure',
  unknown: undefined,
};

/**
 * What of a folder's sentinels an attempt wrote: a started or exitcode another attempt's job
 * left there (another token) is not this attempt's, nor is the growth of a progress file it did
 * not start. An attempt planned before tokens existed (no token) takes them as they are.
 */
export function ownSentinels(s: Sentinels | undefined, token: string | undefined): Sentinels {
  if (s === undefined) return {};
  if (token === undefined) return s;
  const out: Sentinels = {};
  if (s.started !== undefined && s.startedBy === token) Object.assign(out, { started: s.started, startedBy: token });
  if (s.exitcode !== undefined && s.exitBy === token) Object.assign(out, { exitcode: s.exitcode, exitBy: token });
  if (s.output !== undefined && out.started !== undefined) out.output = s.output;
  return out;
}

/** Sentinels in an attempt's folder that another attempt wrote: never its results. */
export function foreignSentinels(s: Sentinels | undefined, token: string | undefined): string | undefined {
  if (s === undefined || token === undefined) return undefined;
  const other = [s.exitcode !== undefined && s.exitBy !== token ? `exitcode (${s.exitBy ?? 'no token'})` : '', s.started !== undefined && s.startedBy !== token ? `started (${s.startedBy ?? 'no token'})` : ''].filter((x) => x !== '');
  return other.length === 0 ? undefined : other.join(' and ');
}

export function classOfSlurmState(s: SlurmState): FailureClass | undefined {
  return FROM_SLURM[s];
}

/**
 * A task that vanished without any record: if its output kept growing until close to the time
 * limit, the limit is what stopped it (clusters without accounts leave nothing else).
 */
export function nearTimeLimit(started: number | undefined, lastOutput: number | undefined, limitSeconds: number | undefined): boolean {
  if (started === undefined || lastOutput === undefined || limitSeconds === undefined) return false;
  return lastOutput - started >= 0.9 * limitSeconds;
}

export function queueEntryOf(queue: readonly QueueEntry[], job: JobRef, index: number | null): QueueEntry | undefined {
  const key = queueKey(job);
  if (key === undefined) return undefined;
  return queue.find((q) => q.arrayJobId === key && (index === null || q.taskIds === null || q.taskIds.includes(index)));
}

type Observed = Pick<AttemptRecord, 'state' | 'error_class' | 'message'>;

/**
 * A task of a packed element (several tasks run one after another) that never started when its
 * element ended: its mates used the time or memory, or the element was cancelled or lost. Not its
 * own failure: a time limit or a memory kill is taken as a cancellation (retried unchanged); the
 * other classes stay.
 */
export function unstartedInElement(cls: FailureClass, rawState: string, job: JobRef, index: number | null): Observed {
  const own = cls === 'walltime' || cls === 'out_of_memory' ? 'cancelled' : cls;
  return { state: 'failed', error_class: own, message: `its array element ${showJob(job)}${index === null ? '' : `_${index}`} ended (${rawState}) before it started` };
}

/**
 * `packed`: the task shares its array element with others, run one after another; while the
 * element runs, a task of it that has not started waits behind its mates (pending).
 */
export function fromQueue(e: QueueEntry | undefined, job: JobRef, index: number | null, started: boolean, packed = false): Observed {
  if (e === undefined) {
    return { state: 'failed', error_class: 'unknown', message: `job ${showJob(job)}${index === null ? '' : `_${index}`} left SLURM without the task's exitcode (${started ? 'killed while running' : packed ? 'its array element ended before it started' : 'never started'})` };
  }
  switch (e.state) {
    case 'pending': return { state: 'pending', error_class: null, message: null };
    case 'running':
    case 'completed': // SLURM says done but the sentinel is not there yet (shared filesystems lag): wait
    case 'unknown': return { state: started ? 'running' : 'pending', error_class: null, message: null };
    default: {
      const cls = classOfSlurmState(e.state) ?? 'unknown';
      if (packed && !started) return unstartedInElement(cls, e.rawState, job, index);
      return { state: 'failed', error_class: cls, message: `${job.kind === 'local' ? 'the local executor' : 'SLURM'}: ${e.rawState}${e.reason && e.reason !== 'None' ? ` (${e.reason})` : ''}${cls === 'unknown' ? " without the task's exitcode" : ''}` };
    }
  }
}

export interface Vanished {
  task: string;
  job: JobRef;
  attempt: AttemptRecord;
  sentinels: Sentinels;
  /** The time limit the attempt ran under (its own, else its kind's; a packed element's, when packed). */
  timeLimit: string;
  progressFile: string;
  /** It shares its array element with other tasks (run one after another). */
  packed?: boolean;
}

/**
 * Tasks whose job left the queue without their exitcode: ask the accounts (one sacct, or
 * sacct -c) why, when the cluster keeps them; without a record, output that kept growing until
 * near the time limit says walltime; else the failure stays 'unknown'. Keyed by task id.
 */
export async function explainVanished(executor: Executor, vanished: readonly Vanished[]): Promise<Map<string, AttemptRecord>> {
  const out = new Map<string, AttemptRecord>();
  if (vanished.length === 0) return out;
  const jobs = [...new Map(vanished.flatMap((v) => (v.job.kind === 'slurm' ? [[v.job.id, v.job] as const] : []))).values()];
  const acct = executor.accounting === undefined || jobs.length === 0 ? new Map()
    : await executor.accounting(jobs, vanished.map((v) => v.attempt.slurm_id).filter((x): x is string => typeof x === 'string'));
  for (const v of vanished) {
    const a = v.attempt;
    const id = v.job.kind === 'slurm' ? v.job.id : undefined;
    const e = (id === undefined ? undefined : acct.get(`${id}_${a.array_index}`)) ?? (a.slurm_id == null ? undefined : acct.get(a.slurm_id)) ?? (a.array_index === null && id !== undefined ? acct.get(id) : undefined);
    if (e !== undefined) {
      const cls = classOfSlurmState(e.state) ?? 'unknown';
      if (v.packed === true && v.sentinels.started === undefined) {
        out.set(v.task, { ...a, ...unstartedInElement(cls, `${e.rawState} in SLURM's accounts`, v.job, a.array_index) });
        continue;
      }
      out.set(v.task, { ...a, state: 'failed', error_class: cls, message: `SLURM accounts: ${e.rawState}${e.exitCode === null ? '' : ` (exit ${e.exitCode})`}, without the task's exitcode` });
      continue;
    }
    const limit = parseTimeLimit(v.timeLimit);
    if (nearTimeLimit(v.sentinels.started, v.sentinels.output, limit)) {
      const ran = (v.sentinels.output as number) - (v.sentinels.started as number);
      out.set(v.task, { ...a, state: 'failed', error_class: 'walltime', message: `job ${showJob(v.job)} left SLURM without the task's exitcode and no record; ${v.progressFile} grew for ${ran} s of the ${limit} s limit` });
    }
  }
  return out;
}
