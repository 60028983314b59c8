/**
 * Submitting what is only an intent, for every open stage. An intent (a submission without a
 * job) may have gone in already when a crash came between sbatch and saving: SLURM is asked
 * for its job name first, and when SLURM has forgotten it, its tasks' sentinels prove it ran.
 * The cursor is saved once the batch went in; a crash before that is resolved by the job names.
 */
import { posix } from 'node:path';
import type { Executor, SubmitRequest } from '../exec/executor.js';
import type { Config } from '../config/types.js';
import type { Cursor, StageRecord, SubmissionRecord } from '../state/cursor.js';
import type { JobRef } from '../slurm/job-ref.js';
import { showJob } from '../slurm/job-ref.js';
import type { JobStageKind, Registry } from '../stages/kind.js';
import { measurementsLast, stageDirOf } from '../stages/kind.js';
import { arraySpec } from './arrays.js';
import { lastAttempt, updateLastAttempts } from '../state/tasks.js';
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
    jobName: s.job_name, script: posix.join(stageDir, `${s.token}.sbatch`), array: arraySpec(s.tasks.length, ctx.config.executor.array_throttle), chdir: stageDir,
    resources: s.resources ?? kind.resources(ctx.config), resourcesField: kind.resourcesField,
  };
}

function describe(s: SubmissionRecord, job: JobRef, how: How, kind: string): string {
  switch (how) {
    case 'submitted': return `submitted ${s.job_name} as job ${showJob(job)} (${s.tasks.length} task${s.tasks.length === 1 ? '' : 's'}; ${kind})`;
    case 'found': return `found ${s.job_name} already submitted as job ${showJob(job)}`;
    case 'ran': return `found ${s.job_name} already run (its tasks' sentinels exist; SLURM no longer knows the job): not submitting it again`;
  }
}

/** The cursor with these intents' jobs recorded and their planned attempts submitted. */
function record(c: Cursor, resolved: ReadonlyMap<string, JobRef>, now: number): Cursor {
  return {
    ...c,
    stages: c.stages.map((stage) => {
      if (!stage.submissions.some((x) => resolved.has(x.token))) return stage;
      const tokens = new Set(stage.submissions.filter((x) => resolved.has(x.token)).map((x) => x.token));
      return {
        ...stage,
        submissions: stage.submissions.map((x) => (resolved.has(x.token) ? { ...x, job: resolved.get(x.token) ?? null, submitted_at: now } : x)),
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
  const toSubmit = intents.filter((i) => !resolved.has(i.s.token));
  const result = await ctx.executor.submit(toSubmit.map((i) => requestOf(ctx, i)));
  result.jobs.forEach((job, k) => { resolved.set(toSubmit[k].s.token, job); how.set(toSubmit[k].s.token, 'submitted'); });
  const c = record(cursor, resolved, ctx.now);
  for (const i of intents) {
    const job = resolved.get(i.s.token);
    const h = how.get(i.s.token);
    if (job !== undefined && h !== undefined) changes.push(describe(i.s, job, h, i.stage.kind));
  }
  ctx.saveCursor(c);
  if (result.refused !== undefined) throw result.refused;
  return c;
}
