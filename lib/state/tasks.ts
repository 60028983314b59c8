/** A task's life cycle, derived in one place from its attempts (pure). */
import type { AttemptRecord, AttemptState, StageRecord, StageSummary, TaskRecord } from './cursor.js';
import { ATTEMPT_STATES } from './cursor.js';

/**
 * Where a task stands:
 *   open      its last attempt is planned, submitted, pending or running
 *   deciding  its last attempt failed and nothing is decided yet (a retry, or giving up)
 *   done      its last attempt succeeded (and was merged: both happen in one pass)
 *   gave_up   its last attempt failed for good
 */
export type TaskPhase = 'open' | 'deciding' | 'done' | 'gave_up';

export function lastAttempt(t: TaskRecord): AttemptRecord {
  return t.attempts[t.attempts.length - 1];
}

export function phaseOf(t: TaskRecord): TaskPhase {
  const a = lastAttempt(t);
  if (a.state === 'done') return 'done';
  if (a.state !== 'failed') return 'open';
  return (t.gave_up ?? null) === null ? 'deciding' : 'gave_up';
}

/** Nothing more will happen to it. */
export function isSettled(t: TaskRecord): boolean {
  const p = phaseOf(t);
  return p === 'done' || p === 'gave_up';
}

/** The task with its last attempt replaced (and, when given, new attempts after it). */
export function replaceLastAttempt(t: TaskRecord, last: AttemptRecord, ...after: AttemptRecord[]): TaskRecord {
  return { ...t, attempts: [...t.attempts.slice(0, -1), last, ...after] };
}

/** Each task's last attempt changed by `change` where it returns one. */
export function updateLastAttempts(tasks: readonly TaskRecord[], change: (t: TaskRecord, a: AttemptRecord) => AttemptRecord | undefined): TaskRecord[] {
  return tasks.map((t) => {
    const next = change(t, lastAttempt(t));
    return next === undefined ? t : replaceLastAttempt(t, next);
  });
}

export function countsOf(tasks: readonly TaskRecord[]): Record<AttemptState, number> {
  const counts = Object.fromEntries(ATTEMPT_STATES.map((s) => [s, 0])) as Record<AttemptState, number>;
  for (const t of tasks) counts[lastAttempt(t).state]++;
  return counts;
}

export function stageSettled(s: Pick<StageRecord, 'tasks'>): boolean {
  return s.tasks.every(isSettled);
}

/** Cores an attempt held: SLURM's ntasks × cpus_per_task of its submission. */
function coresOf(s: Pick<StageRecord, 'submissions'>, a: AttemptRecord): number {
  const r = s.submissions.find((x) => x.token === a.submission)?.resources;
  return r === undefined ? 1 : r.ntasks * r.cpus_per_task;
}

/** Core-seconds the stage's attempts ran (wall time from the sentinels × cores), failed ones included. */
export function coreSeconds(s: Pick<StageRecord, 'tasks' | 'submissions'>): number {
  return s.tasks.reduce((sum, t) => sum + t.attempts.reduce((n, a) => n + (a.ran_s ?? 0) * coresOf(s, a), 0), 0);
}

/** Its tasks' last states: counted from an open stage's tasks, read from a settled one's summary. */
export function stageCounts(s: Omit<StageRecord, 'data'> | Omit<StageSummary, 'data'>): Record<AttemptState, number> {
  return Array.isArray(s.tasks) ? countsOf(s.tasks) : (s as StageSummary).counts;
}

/** Core-seconds its attempts ran: counted from an open stage, read from a settled one's summary (0 in summaries written before they had it). */
export function stageCoreSeconds(s: Omit<StageRecord, 'data'> | Omit<StageSummary, 'data'>): number {
  return Array.isArray(s.tasks) ? coreSeconds(s as StageRecord) : (s as StageSummary).core_s ?? 0;
}
