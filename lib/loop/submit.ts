/**
 * Submitting what is only an intent, for every open stage. An intent (a submission without a
 * job) may have gone in already when a crash came between sbatch and saving: SLURM is asked
 * for its job name first, and when SLURM has forgotten it, its tasks' sentinels prove it ran.
 * The cursor is saved once the batch went in; a crash before that is resolved by the job names.
 * A queue limit (sbatch: QOSMaxSubmitJobPerUserLimit …) is no error of the campaign: what went
 * in is recorded, the refused intent and those after it stay intents marked `waiting`, and the
 * next pass tries them again (its interval is the back-off). Any other refusal is thrown.
 */
import { posix } from 'node:path';
import type { Executor, SubmitRequest } from '../exec/executor.js';
import type { Config } from '../config/types.js';
import type { Cursor, QueueWait, StageRecord, SubmissionRecord } from '../state/cursor.js';
import type { JobRef } from '../slurm/job-ref.js';
import { showJob } from '../slurm/job-ref.js';
import type { JobStageKind, Registry } from '../stages/kind.js';
import { measurementsLast, stageDirOf } from '../stages/kind.js';
import { arraySpec, elementsOf } from './arrays.js';
import { lastAttempt, phaseOf, updateLastAttempts } from '../state/tasks.js';
import { ownSentinels } from './observe.js';
import { StageError } from '../errors/errors.js';

export interface SubmitContext {
  executor: Executor;
  config: Config;
  registry: Registry;
  now: number;
  saveCursor: (c: Cursor) => void;
}

type How = 'found' | 'ran' | 'submitted';

interface Intent { stage: StageRecord; s: SubmissionRecord; kind: JobStageKind }

/** What is to be submitted, in the loop's order, but measurements (the embedding check) after the stages that carry the loop on, so that a queue taking jobs in order runs those first. */
function intentsOf(ctx: SubmitContext, c: Cursor): Intent[] {
  const intents = c.stages.flatMap((stage) => stage.submissions.filter((s) => s.job === null).map((s) => {
    const kind = ctx.registry.get(stage.kind);
    if (kind === undefined) throw new StageError(`the cursor has an open ${stage.kind} stage, which this autopipe does not have`, { hint: 'use the autopipe version that started it' });
    if (kind.runs !== 'jobs') throw new StageError(`the cursor has a submission in a ${stage.kind} stage, which runs no jobs`);
    return { stage, s, kind };
  }));
  return measurementsLast(intents);
}

/** Intents SLURM no longer knows but whose tasks' sentinels exist: they ran (SLURM forgets finished jobs after MinJobAge). */
async function ranAlready(ctx: SubmitContext, intents: readonly Intent[]): Promise<Set<string>> {
  if (ctx.executor.kind !== 'slurm' || intents.length === 0) return new Set();
  const dirs = intents.flatMap(({ stage, s, kind }) => stage.tasks.filter((t) => s.tasks.includes(t.id) && lastAttempt(t).submission === s.token).map((t) => ({ token: s.token, attempt: lastAttempt(t).token, dir: lastAttempt(t).dir, progress: kind.progressFile })));
  const seen = await ctx.executor.sentinels(dirs);
  // only the attempt's own sentinels prove it ran: stale ones in its folder do not
  return new Set(dirs.filter((d) => { const x = ownSentinels(seen.get(d.dir), d.attempt); return x.started !== undefined || x.exitcode !== undefined; }).map((d) => d.token));
}

function requestOf(ctx: SubmitContext, { stage, s, kind }: Intent): SubmitRequest {
  const stageDir = stageDirOf(stage.iteration, stage.kind);
  return {
    jobName: s.job_name, script: posix.join(stageDir, `${s.token}.sbatch`), array: arraySpec(elementsOf(s), ctx.config.executor.array_throttle), chdir: stageDir,
    resources: s.resources ?? kind.resources(ctx.config), resourcesField: kind.resourcesField,
    ...(s.per_element === undefined ? {} : { perElement: s.per_element }),
  };
}

function describe(s: SubmissionRecord, job: JobRef, how: How, kind: string): string {
  switch (how) {
    case 'submitted': return `submitted ${s.job_name} as job ${showJob(job)} (${s.tasks.length} task${s.tasks.length === 1 ? '' : 's'}${s.per_element === undefined ? '' : ` in ${elementsOf(s)} array element${elementsOf(s) === 1 ? '' : 's'} of up to ${s.per_element}`}; ${kind})`;
    case 'found': return `found ${s.job_name} already submitted as job ${showJob(job)}`;
    case 'ran': return `found ${s.job_name} already run (its tasks' sentinels exist; SLURM no longer knows the job): not submitting it again`;
  }
}

/** A submission without its `waiting` mark. */
function unmarked(x: SubmissionRecord): SubmissionRecord {
  const { waiting: _, ...rest } = x;
  return rest;
}

/** The cursor with these intents' jobs recorded and their planned attempts submitted, and those refused for a queue limit marked waiting. */
function record(c: Cursor, resolved: ReadonlyMap<string, JobRef>, waiting: ReadonlyMap<string, QueueWait>, now: number): Cursor {
  return {
    ...c,
    stages: c.stages.map((stage) => {
      if (!stage.submissions.some((x) => resolved.has(x.token) || waiting.has(x.token))) return stage;
      const tokens = new Set(stage.submissions.filter((x) => resolved.has(x.token)).map((x) => x.token));
      const mark = (x: SubmissionRecord): SubmissionRecord => {
        const w = waiting.get(x.token);
        return w === undefined ? x : { ...x, waiting: w };
      };
      return {
        ...stage,
        submissions: stage.submissions.map((x) => (resolved.has(x.token) ? { ...unmarked(x), job: resolved.get(x.token) ?? null, submitted_at: now } : mark(x))),
        tasks: updateLastAttempts(stage.tasks, (_t, a) => (a.submission !== null && tokens.has(a.submission) && a.state === 'planned' ? { ...a, state: 'submitted' } : undefined)),
      };
    }),
  };
}

/**
 * Every intent of every open stage, in a constant number of round trips: one query for their
 * job names, one sentinel scan for those SLURM does not know, one shell for all the sbatch
 * calls. A pass killed after sbatch and before the save finds them by name next time.
 */
export async function submitIntents(ctx: SubmitContext, cursor: Cursor, changes: string[]): Promise<Cursor> {
  const intents = intentsOf(ctx, cursor);
  if (intents.length === 0) return cursor;
  const found = await ctx.executor.findSubmitted(intents.map((i) => i.s.job_name));
  const ran = await ranAlready(ctx, intents.filter((i) => !found.has(i.s.job_name)));
  const resolved = new Map<string, JobRef>();
  const how = new Map<string, How>();
  for (const i of intents) {
    const job = found.get(i.s.job_name);
    if (job !== undefined) { resolved.set(i.s.token, job); how.set(i.s.token, 'found'); }
    else if (ran.has(i.s.token)) { resolved.set(i.s.token, { kind: 'forgotten' }); how.set(i.s.token, 'ran'); }
  }
  const unresolved = intents.filter((i) => !resolved.has(i.s.token));
  // refused for a queue limit earlier in this pass: nothing has left the queue since, so no second sbatch
  const refusedNow = unresolved.find((i) => i.s.waiting?.tried_at === ctx.now)?.s.waiting;
  const toSubmit = refusedNow === undefined ? unresolved : [];
  const result = toSubmit.length === 0 ? { jobs: [] } : await ctx.executor.submit(toSubmit.map((i) => requestOf(ctx, i)));
  result.jobs.forEach((job, k) => { resolved.set(toSubmit[k].s.token, job); how.set(toSubmit[k].s.token, 'submitted'); });
  const limit = 'queueLimit' in result ? result.queueLimit : refusedNow?.reason;
  const waiting = new Map<string, QueueWait>();
  if (limit !== undefined) {
    for (const i of unresolved.filter((x) => !resolved.has(x.s.token))) waiting.set(i.s.token, { since: i.s.waiting?.since ?? ctx.now, reason: limit, tried_at: ctx.now });
  }
  const c = record(cursor, resolved, waiting, ctx.now);
  for (const i of intents) {
    const job = resolved.get(i.s.token);
    const h = how.get(i.s.token);
    if (job !== undefined && h !== undefined) changes.push(describe(i.s, job, h, i.stage.kind));
  }
  ctx.saveCursor(c);
  if ('refused' in result && result.refused !== undefined && result.queueLimit === undefined) throw result.refused;
  if (limit !== undefined) changes.push(...waitLines(cursor, unresolved.filter((i) => waiting.has(i.s.token) && (refusedNow === undefined || i.s.waiting === undefined)), limit, result.jobs.length, refusedNow !== undefined));
  return c;
}

/**
 * What a poll says of intents refused for a queue limit. When none of the campaign's jobs is in
 * the queue and nothing went in, the limit is smaller than the refused array (or others' jobs
 * fill it): said every time, never waited on silently.
 */
function waitLines(before: Cursor, refused: readonly Intent[], limit: string, submittedNow: number, again: boolean): string[] {
  if (refused.length === 0) return [];
  const n = refused.reduce((k, i) => k + i.s.tasks.length, 0);
  const tasks = `${n} task${n === 1 ? '' : 's'}`;
  const head = again ? `${tasks} more wait${n === 1 ? 's' : ''} for the queue` : `${tasks} wait${n === 1 ? 's' : ''} for the queue`;
  const lines = [`${head}: sbatch refused ${refused[0].s.job_name} (${limit}); tried again at the next poll`];
  const queued = before.stages.some((st) => {
    const jobs = new Set(st.submissions.filter((x) => x.job !== null).map((x) => x.token));
    return st.tasks.some((t) => phaseOf(t) === 'open' && jobs.has(lastAttempt(t).submission ?? ''));
  });
  if (!again && !queued && submittedNow === 0) {
    lines.push(`none of this campaign's jobs is queued, yet ${refused[0].s.job_name} (${refused[0].s.tasks.length} tasks) does not fit: if ${limit} is smaller than one array, set executor.max_array_size below it (arrays planned from then on are that small; with dft.tasks_per_element each of their elements runs several labelling tasks), or ask for a QOS or account with a larger limit`);
  }
  return lines;
}

/** How many tasks wait for the queue (intents refused for a queue limit), since when and why; undefined when none does. */
export function queueWait(c: Cursor): { tasks: number; since: number; reason: string } | undefined {
  const w = c.stages.flatMap((st) => st.submissions.filter((x) => x.job === null && x.waiting !== undefined));
  if (w.length === 0) return undefined;
  return {
    tasks: w.reduce((k, x) => k + x.tasks.length, 0),
    since: Math.min(...w.map((x) => x.waiting?.since ?? Infinity)),
    reason: w[0].waiting?.reason ?? '',
  };
}
