/**
 * One pass over the labelling stage: submit what is only an intent (after asking SLURM whether
 * it went in already), one status query, one sentinel pass, parse and merge what finished.
 * The caller holds the lock. The merge commits to the database before the cursor is saved, so
 * that a pass killed at any instant is repeated by the next one without losing or duplicating
 * anything (merging is idempotent, an intent is resolved by job name before any new sbatch).
 */
import { posix } from 'node:path';
import type { Executor } from '../exec/executor.js';
import type { Cursor, TaskState, AttemptRecord, TaskRecord } from '../state/cursor.js';
import type { AseDatabase } from '../db/ase-db.js';
import type { Config } from '../config/types.js';
import type { Atoms } from '../atoms/atoms.js';
import { readExtxyz } from '../formats/extxyz.js';
import { arraySpec, iterationDir, type PlanInputs } from './plan.js';
import { mergeFinished } from './merge.js';
import { explainVanished, fromQueue, queueEntryOf, type Vanished } from './observe.js';
import { awaitingDecision, planRetries } from '../recover/plan-retries.js';

export interface PollContext {
  cursor: Cursor;
  executor: Executor;
  /** The database, opened when the pass first has something to merge (a check reads every page). */
  db: () => AseDatabase;
  config: Config;
  now: number;
  user: string | null;
  /** Save the cursor now (after each submission, so a crash cannot submit twice). */
  saveCursor: (c: Cursor) => void;
  /** What planning retry arrays needs; maxArraySize is asked only when there is a retry. */
  retries: Pick<PlanInputs, 'runRoot' | 'now' | 'token' | 'renderScript'> & { maxArraySize: () => Promise<number> };
}

/** What submitting needs: less than a whole poll. */
export type SubmitContext = Pick<PollContext, 'executor' | 'config' | 'now' | 'saveCursor'>;

export interface PollResult { cursor: Cursor; changes: string[]; merged: number; complete: boolean }

const FINAL: ReadonlySet<TaskState> = new Set(['done', 'failed']);

/** A task nothing more will happen to: done, or failed and given up. */
export function isSettled(t: TaskRecord): boolean {
  const a = lastAttempt(t);
  return a.state === 'done' || (a.state === 'failed' && (t.gave_up ?? null) !== null);
}

export function lastAttempt(t: TaskRecord): AttemptRecord {
  return t.attempts[t.attempts.length - 1];
}

export function countsOf(c: Cursor): Record<TaskState, number> {
  const counts: Record<TaskState, number> = { planned: 0, submitted: 0, pending: 0, running: 0, done: 0, failed: 0 };
  for (const t of c.tasks) counts[lastAttempt(t).state]++;
  return counts;
}

export async function submitIntents(ctx: SubmitContext, cursor: Cursor, changes: string[]): Promise<Cursor> {
  let c = cursor;
  const stageDir = posix.join(iterationDir(c.iteration), 'label');
  for (const s of c.submissions) {
    if (s.job_id !== null) continue;
    let found = await ctx.executor.findSubmitted(s.job_name);
    if (found === undefined && ctx.executor.kind === 'slurm') {
      // SLURM forgets finished jobs after MinJobAge: sentinels of its tasks prove it ran anyway
      const dirs = c.tasks.filter((t) => s.tasks.includes(t.id) && lastAttempt(t).submission === s.token).map((t) => lastAttempt(t).dir);
      const seen = await ctx.executor.sentinels(dirs);
      if ([...seen.values()].some((x) => x.started !== undefined || x.exitcode !== undefined)) found = 'unknown';
    }
    const jobId = found ?? await ctx.executor.submit(s.job_name, posix.join(stageDir, `${s.token}.sbatch`), arraySpec(s.tasks.length, ctx.config.executor.array_throttle), stageDir);
    c = {
      ...c,
      submissions: c.submissions.map((x) => (x.token === s.token ? { ...x, job_id: jobId, submitted_at: ctx.now } : x)),
      tasks: c.tasks.map((t) => (s.tasks.includes(t.id) && lastAttempt(t).submission === s.token && lastAttempt(t).state === 'planned'
        ? { ...t, attempts: [...t.attempts.slice(0, -1), { ...lastAttempt(t), state: 'submitted' as const }] } : t)),
    };
    changes.push(found === undefined ? `submitted ${s.job_name} as job ${jobId} (${s.tasks.length} tasks)`
      : found === 'unknown' ? `found ${s.job_name} already run (its tasks' sentinels exist; SLURM no longer knows the job): not submitting it again`
        : `found ${s.job_name} already submitted as job ${jobId}`);
    ctx.saveCursor(c);
  }
  return c;
}

export async function pollLabelStage(ctx: PollContext): Promise<PollResult> {
  const changes: string[] = [];
  let c = await submitIntents(ctx, ctx.cursor, changes);
  const open = c.tasks.filter((t) => !FINAL.has(lastAttempt(t).state));
  const jobOf = new Map(c.submissions.map((s) => [s.token, s.job_id]));
  const jobIds = [...new Set(open.map((t) => jobOf.get(lastAttempt(t).submission ?? '')).filter((j): j is string => typeof j === 'string'))];
  const queue = await ctx.executor.queue(jobIds);
  const sentinels = await ctx.executor.sentinels(open.map((t) => lastAttempt(t).dir));

  // attempts without their exitcode: what SLURM (queue, then accounts) says of them
  const updated = new Map<string, AttemptRecord>();
  const vanished: Vanished[] = [];
  for (const t of open) {
    const a = lastAttempt(t);
    const jobId = jobOf.get(a.submission ?? '') ?? null;
    const s = sentinels.get(a.dir) ?? {};
    if (s.exitcode !== undefined || jobId === null) continue;
    const e = queueEntryOf(queue, jobId, a.array_index);
    const next: AttemptRecord = { ...a, ...fromQueue(e, jobId, a.array_index, s.started !== undefined) };
    // a task's own id shows once it runs (a pending range shows the array's): sacct -c needs it
    if (e !== undefined && e.state !== 'pending' && e.taskIds?.length === 1 && a.array_index !== null) next.slurm_id = e.jobId;
    if (e === undefined) vanished.push({ task: t.id, jobId, attempt: next, sentinels: s });
    if (next.state !== a.state || next.slurm_id !== a.slurm_id) updated.set(t.id, next);
  }
  for (const [task, a] of await explainVanished(ctx.executor, ctx.config, vanished)) updated.set(task, a);

  // one download: outputs of what finished, structures of what failed (a retry starts from it)
  const finished = open.filter((t) => sentinels.get(lastAttempt(t).dir)?.exitcode !== undefined);
  const failedBefore = c.tasks.filter(awaitingDecision);
  const failedNow = [...updated.values()].filter((a) => a.state === 'failed').map((a) => a.dir);
  const fetchDirs = [...new Set([...[...finished, ...failedBefore].map((t) => lastAttempt(t).dir), ...failedNow])];
  const outputs = await ctx.executor.fetch(fetchDirs, ['pw.out', 'structure.extxyz']);
  let merged = 0;
  const merge = (db: AseDatabase) => {
    for (const t of finished) {
      const a = lastAttempt(t);
      const r = mergeFinished({ ...ctx, db, iteration: c.iteration }, t, a, sentinels.get(a.dir)?.exitcode as number, outputs.get(a.dir) ?? new Map());
      if (r.merged) merged++;
      updated.set(t.id, r.attempt);
    }
  };
  // one transaction, committed before the cursor that records it is saved: a pass killed in
  // between repeats the merge next time, and a repeated merge adds nothing (content ids)
  if (finished.length > 0) {
    const db = ctx.db();
    db.transaction(() => merge(db));
  }
  for (const t of open) {
    const a = lastAttempt(t);
    const next = updated.get(t.id);
    if (next !== undefined && next.state !== a.state) {
      changes.push(`${t.id}: ${a.state} → ${next.state}${next.error_class === null ? '' : ` (${next.error_class}: ${next.message})`}`);
    }
  }
  c = {
    ...c,
    updated_at: ctx.now,
    tasks: c.tasks.map((t) => {
      const u = updated.get(t.id);
      return u === undefined ? t : { ...t, merged: t.merged || u.state === 'done', attempts: [...t.attempts.slice(0, -1), u] };
    }),
  };

  // retries: planned, staged, recorded as intents, then submitted like any other submission
  if (c.tasks.some(awaitingDecision)) {
    const structures = new Map<string, Atoms>();
    for (const t of c.tasks.filter(awaitingDecision)) {
      const text = outputs.get(lastAttempt(t).dir)?.get('structure.extxyz');
      const atoms = text === undefined ? undefined : readStructure(text, lastAttempt(t).dir);
      if (atoms !== undefined) structures.set(t.id, atoms);
    }
    const plan = planRetries({ ...ctx.retries, cursor: c, config: ctx.config, structures, maxArraySize: await ctx.retries.maxArraySize() });
    if (plan.files.length > 0) await ctx.executor.stage(plan.files, plan.copies);
    c = plan.cursor;
    changes.push(...plan.changes);
  }
  ctx.saveCursor(c);
  c = await submitIntents(ctx, c, changes);
  return { cursor: c, changes, merged, complete: c.tasks.every(isSettled) };
}

/** The structure an attempt folder was given, or undefined when it cannot be read. */
function readStructure(text: string, dir: string): Atoms | undefined {
  try {
    return readExtxyz(text, `${dir}/structure.extxyz`)[0];
  } catch {
    return undefined; // planRetries gives the task up, saying why
  }
}
