/**
 * One pass over the labelling stage: submit what is only an intent (after asking SLURM whether
 * it went in already), one status query, one sentinel pass, parse and merge what finished.
 * The caller holds the lock and saves: the database first, then the cursor, so that a pass
 * killed at any instant is repeated by the next one without losing or duplicating anything
 * (merging is idempotent, an intent is resolved by job name before any new sbatch).
 */
import { posix } from 'node:path';
import type { Executor } from '../exec/executor.js';
import type { Cursor, TaskState, AttemptRecord, TaskRecord } from '../state/cursor.js';
import type { AseDatabase } from '../db/ase-db.js';
import type { Config } from '../config/types.js';
import { parsePwOutput } from '../formats/espresso-out.js';
import { readExtxyz } from '../formats/extxyz.js';
import { makeAtoms } from '../atoms/atoms.js';
import { prepareRow } from '../db/prepare-row.js';
import type { Kvp } from '../db/keys.js';
import { arraySpec, iterationDir } from './plan.js';
import type { QueueEntry } from '../slurm/commands.js';

export interface PollContext {
  cursor: Cursor;
  executor: Executor;
  db: AseDatabase;
  config: Config;
  now: number;
  user: string | null;
  /** Save the cursor now (after each submission, so a crash cannot submit twice). */
  saveCursor: (c: Cursor) => void;
}

/** What submitting needs: less than a whole poll. */
export type SubmitContext = Pick<PollContext, 'executor' | 'config' | 'now' | 'saveCursor'>;

export interface PollResult { cursor: Cursor; changes: string[]; merged: number; complete: boolean }

const FINAL: ReadonlySet<TaskState> = new Set(['done', 'failed']);

export function lastAttempt(t: TaskRecord): AttemptRecord {
  return t.attempts[t.attempts.length - 1];
}

export function countsOf(c: Cursor): Record<TaskState, number> {
  const counts: Record<TaskState, number> = { planned: 0, submitted: 0, pending: 0, running: 0, done: 0, failed: 0 };
  for (const t of c.tasks) counts[lastAttempt(t).state]++;
  return counts;
}

/** The pw.x parameters worth querying by, as key-value pairs (scalars only). */
function dftKvp(config: Config, extra: AttemptRecord['parameters']): Kvp {
  const out: Kvp = {};
  for (const [k, v] of Object.entries({ ...config.dft.parameters, ...extra })) if (typeof v !== 'object') out[k] = v;
  return out;
}

export async function submitIntents(ctx: SubmitContext, cursor: Cursor, changes: string[]): Promise<Cursor> {
  let c = cursor;
  const stageDir = posix.join(iterationDir(c.iteration), 'label');
  for (const s of c.submissions) {
    if (s.job_id !== null) continue;
    let found = await ctx.executor.findSubmitted(s.job_name);
    if (found === undefined && ctx.executor.kind === 'slurm') {
      // SLURM forgets finished jobs after MinJobAge: sentinels of its tasks prove it ran anyway
      const dirs = c.tasks.filter((t) => s.tasks.includes(t.id)).map((t) => lastAttempt(t).dir);
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
  const finished = open.filter((t) => sentinels.get(lastAttempt(t).dir)?.exitcode !== undefined);
  const outputs = await ctx.executor.fetch(finished.map((t) => lastAttempt(t).dir), ['pw.out', 'structure.extxyz']);
  let merged = 0;
  const updated = new Map<string, AttemptRecord>();
  const vanished: Array<{ task: string; jobId: string }> = [];
  for (const t of open) {
    const a = lastAttempt(t);
    const jobId = jobOf.get(a.submission ?? '') ?? null;
    const s = sentinels.get(a.dir) ?? {};
    let next: AttemptRecord = a;
    if (s.exitcode !== undefined) {
      const files = outputs.get(a.dir) ?? new Map<string, string>();
      const out = parsePwOutput(files.get('pw.out') ?? '');
      if (out.status === 'ok' && out.atoms !== undefined) {
        const given = readExtxyz(files.get('structure.extxyz') ?? '0\n\n', `${a.dir}/structure.extxyz`)[0];
        const mask = given?.arrays.force_mask;
        const nCore = mask === undefined ? out.atoms.numbers.length : Array.from(mask.values as Float64Array).filter((m) => m === 1).length;
        // embedded and n_core come with sub-cells from `select`; plain structures are whole cells
        const info = { embedded: false, n_core: nCore, ...(given?.info ?? {}) };
        const atoms = makeAtoms({ ...out.atoms, arrays: mask === undefined ? {} : { force_mask: mask }, info });
        const row = prepareRow(atoms, { iteration: c.iteration, task: t.id, attempt: a.attempt, ...dftKvp(ctx.config, a.parameters) }, { source: `${t.source.file}#${t.source.frame}`, task_dir: a.dir });
        if (row.ok) {
          ctx.db.write(atoms, { kvp: row.kvp, data: row.data, now: ctx.now, user: ctx.user });
          merged++;
          next = { ...a, state: 'done', error_class: null, message: null };
        } else {
          next = { ...a, state: 'failed', error_class: 'input_error', message: row.reason };
        }
      } else {
        next = { ...a, state: 'failed', error_class: out.errorClass ?? 'unknown', message: out.message || `pw.x exited with ${s.exitcode}` };
      }
    } else if (jobId !== null) {
      const e = queueEntryOf(queue, jobId, a.array_index);
      next = { ...a, ...fromQueue(e, jobId, a.array_index, s.started !== undefined) };
      // a task's own id shows once it runs (a pending range shows the array's): sacct -c needs it
      if (e !== undefined && e.state !== 'pending' && e.taskIds?.length === 1 && a.array_index !== null) next.slurm_id = e.jobId;
      if (e === undefined) vanished.push({ task: t.id, jobId });
    }
    if (next.state !== a.state || next.slurm_id !== a.slurm_id) updated.set(t.id, next);
  }
  await explainVanished(ctx, vanished, updated);
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
  const complete = c.tasks.every((t) => FINAL.has(lastAttempt(t).state));
  return { cursor: c, changes, merged, complete };
}

function queueEntryOf(queue: readonly QueueEntry[], jobId: string, index: number | null): QueueEntry | undefined {
  return queue.find((q) => q.arrayJobId === jobId && (index === null || q.taskIds === null || q.taskIds.includes(index)));
}

/** SLURM's final states as error classes (a job that ended without the task's exitcode). */
const CLASS_OF: Partial<Record<string, string>> = {
  timeout: 'walltime', out_of_memory: 'out_of_memory', node_failure: 'node_failure', cancelled: 'cancelled', preempted: 'cancelled',
};

/**
 * Tasks whose job left the queue without their exitcode: ask the accounts (one sacct, or
 * sacct -c) why, when the cluster keeps them. Without accounts they stay 'unknown'.
 */
async function explainVanished(ctx: PollContext, vanished: Array<{ task: string; jobId: string }>, updated: Map<string, AttemptRecord>): Promise<void> {
  if (vanished.length === 0 || ctx.executor.accounting === undefined) return;
  const attempts = vanished.map((v) => ({ ...v, a: updated.get(v.task) as AttemptRecord }));
  const acct = await ctx.executor.accounting([...new Set(vanished.map((v) => v.jobId))], attempts.map((x) => x.a.slurm_id).filter((x): x is string => typeof x === 'string'));
  for (const { task, jobId, a } of attempts) {
    const e = acct.get(`${jobId}_${a.array_index}`) ?? (a.slurm_id == null ? undefined : acct.get(a.slurm_id)) ?? (a.array_index === null ? acct.get(jobId) : undefined);
    if (e === undefined) continue;
    const cls = CLASS_OF[e.state] ?? 'unknown';
    updated.set(task, { ...a, state: 'failed', error_class: cls, message: `SLURM accounts: ${e.rawState}${e.exitCode === null ? '' : ` (exit ${e.exitCode})`}, without the task's exitcode` });
  }
}

/**
 * An attempt without an exit code, from what SLURM says of its job. A job that has left the
 * queue without the task's exitcode did not finish: it was killed (time, memory, node) or
 * cancelled; never "done".
 */
function fromQueue(e: QueueEntry | undefined, jobId: string, index: number | null, started: boolean): Pick<AttemptRecord, 'state' | 'error_class' | 'message'> {
  if (e === undefined) {
    return { state: 'failed', error_class: 'unknown', message: `job ${jobId}${index === null ? '' : `_${index}`} left SLURM without the task's exitcode (${started ? 'killed while running' : 'never started'})` };
  }
  switch (e.state) {
    case 'pending': return { state: 'pending', error_class: null, message: null };
    case 'running':
    case 'completed': // SLURM says done but the sentinel is not there yet (shared filesystems lag): wait
    case 'unknown': return { state: started ? 'running' : 'pending', error_class: null, message: null };
    case 'timeout': return { state: 'failed', error_class: 'walltime', message: `SLURM: TIMEOUT (${e.reason})` };
    case 'out_of_memory': return { state: 'failed', error_class: 'out_of_memory', message: 'SLURM: OUT_OF_MEMORY' };
    case 'node_failure': return { state: 'failed', error_class: 'node_failure', message: `SLURM: ${e.rawState}` };
    case 'preempted':
    case 'cancelled': return { state: 'failed', error_class: 'cancelled', message: `SLURM: ${e.rawState}` };
    case 'failed': return { state: 'failed', error_class: 'unknown', message: `SLURM: ${e.rawState} (${e.reason}) without the task's exitcode` };
  }
}
