/**
 * An attempt without its exitcode, from what SLURM says of its job: still waiting or running,
 * or ended (time, memory, node, cancelled) and classified. A job that left the queue without
 * the task's exitcode did not finish: it is never "done". Pure, except explainVanished, which
 * asks the cluster's accounts.
 */
import type { Executor, Sentinels } from '../exec/executor.js';
import type { AttemptRecord } from '../state/cursor.js';
import type { Config } from '../config/types.js';
import type { QueueEntry } from '../slurm/commands.js';
import { parseTimeLimit } from '../slurm/limits.js';
import { classOfSlurmState, nearTimeLimit } from '../recover/classes.js';

export function queueEntryOf(queue: readonly QueueEntry[], jobId: string, index: number | null): QueueEntry | undefined {
  return queue.find((q) => q.arrayJobId === jobId && (index === null || q.taskIds === null || q.taskIds.includes(index)));
}

type Observed = Pick<AttemptRecord, 'state' | 'error_class' | 'message'>;

export function fromQueue(e: QueueEntry | undefined, jobId: string, index: number | null, started: boolean): Observed {
  if (e === undefined) {
    return { state: 'failed', error_class: 'unknown', message: `job ${jobId}${index === null ? '' : `_${index}`} left SLURM without the task's exitcode (${started ? 'killed while running' : 'never started'})` };
  }
  switch (e.state) {
    case 'pending': return { state: 'pending', error_class: null, message: null };
    case 'running':
    case 'completed': // SLURM says done but the sentinel is not there yet (shared filesystems lag): wait
    case 'unknown': return { state: started ? 'running' : 'pending', error_class: null, message: null };
    default: {
      const cls = classOfSlurmState(e.state) ?? 'unknown';
      return { state: 'failed', error_class: cls, message: `SLURM: ${e.rawState}${e.reason && e.reason !== 'None' ? ` (${e.reason})` : ''}${cls === 'unknown' ? " without the task's exitcode" : ''}` };
    }
  }
}

export interface Vanished { task: string; jobId: string; attempt: AttemptRecord; sentinels: Sentinels }

/**
 * Tasks whose job left the queue without their exitcode: ask the accounts (one sacct, or
 * sacct -c) why, when the cluster keeps them; without a record, output that kept growing until
 * near the time limit says walltime; else the failure stays 'unknown'.
 */
export async function explainVanished(executor: Executor, config: Config, vanished: readonly Vanished[]): Promise<Map<string, AttemptRecord>> {
  const out = new Map<string, AttemptRecord>();
  if (vanished.length === 0) return out;
  const acct = executor.accounting === undefined ? new Map()
    : await executor.accounting([...new Set(vanished.map((v) => v.jobId))], vanished.map((v) => v.attempt.slurm_id).filter((x): x is string => typeof x === 'string'));
  for (const { task, jobId, attempt: a, sentinels: s } of vanished) {
    const e = acct.get(`${jobId}_${a.array_index}`) ?? (a.slurm_id == null ? undefined : acct.get(a.slurm_id)) ?? (a.array_index === null ? acct.get(jobId) : undefined);
    if (e !== undefined) {
      const cls = classOfSlurmState(e.state) ?? 'unknown';
      out.set(task, { ...a, state: 'failed', error_class: cls, message: `SLURM accounts: ${e.rawState}${e.exitCode === null ? '' : ` (exit ${e.exitCode})`}, without the task's exitcode` });
      continue;
    }
    const limit = parseTimeLimit(a.resources?.time ?? config.dft.resources.time);
    if (nearTimeLimit(s.started, s.output, limit)) {
      const ran = (s.output as number) - (s.started as number);
      out.set(task, { ...a, state: 'failed', error_class: 'walltime', message: `job ${jobId} left SLURM without the task's exitcode and no record; pw.out grew for ${ran} s of the ${limit} s limit` });
    }
  }
  return out;
}
