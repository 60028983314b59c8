/**
 * Submitting what is only an intent, for every open stage. An intent (a submission without a
 * job) may have gone in already when a crash came between sbatch and saving: SLURM is asked
 * for its job name first, and when SLURM has forgotten it, its tasks' sentinels prove it ran.
 * The cursor is saved after each submission, so a crash cannot submit twice.
 */
import { posix } from 'node:path';
import type { Executor } from '../exec/executor.js';
import type { Config } from '../config/types.js';
import type { Cursor, StageRecord, SubmissionRecord } from '../state/cursor.js';
import type { JobRef } from '../slurm/job-ref.js';
import { showJob } from '../slurm/job-ref.js';
import type { Registry } from '../stages/kind.js';
import { stageDirOf } from '../stages/kind.js';
import { arraySpec } from './arrays.js';
import { lastAttempt, updateLastAttempts } from './tasks.js';
import { StageError } from '../errors/errors.js';

export interface SubmitContext {
  executor: Executor;
  config: Config;
  registry: Registry;
  now: number;
  saveCursor: (c: Cursor) => void;
}

/** What became of one intent: found in SLURM, found to have run, or submitted now. */
async function resolve(ctx: SubmitContext, stage: StageRecord, s: SubmissionRecord): Promise<{ job: JobRef; how: 'found' | 'ran' | 'submitted' }> {
  const kind = ctx.registry.get(stage.kind);
  if (kind === undefined) throw new StageError(`the cursor has an open ${stage.kind} stage, which this autopipe does not have`, { hint: 'use the autopipe version that started it' });
  if (kind.runs !== 'jobs') throw new StageError(`the cursor has a submission in a ${stage.kind} stage, which runs no jobs`);
  const found = await ctx.executor.findSubmitted(s.job_name);
  if (found !== undefined) return { job: found, how: 'found' };
  if (ctx.executor.kind === 'slurm') {
    // SLURM forgets finished jobs after MinJobAge: sentinels of its tasks prove it ran anyway
    const dirs = stage.tasks.filter((t) => s.tasks.includes(t.id) && lastAttempt(t).submission === s.token).map((t) => ({ dir: lastAttempt(t).dir, progress: kind.progressFile }));
    const seen = await ctx.executor.sentinels(dirs);
    if ([...seen.values()].some((x) => x.started !== undefined || x.exitcode !== undefined)) return { job: { kind: 'forgotten' }, how: 'ran' };
  }
  const stageDir = stageDirOf(stage.iteration, stage.kind);
  const job = await ctx.executor.submit({
    jobName: s.job_name, script: posix.join(stageDir, `${s.token}.sbatch`), array: arraySpec(s.tasks.length, ctx.config.executor.array_throttle), chdir: stageDir,
    resources: s.resources ?? kind.resources(ctx.config), resourcesField: kind.resourcesField,
  });
  return { job, how: 'submitted' };
}

function describe(s: SubmissionRecord, job: JobRef, how: 'found' | 'ran' | 'submitted', kind: string): string {
  switch (how) {
    case 'submitted': return `submitted ${s.job_name} as job ${showJob(job)} (${s.tasks.length} task${s.tasks.length === 1 ? '' : 's'}; ${kind})`;
    case 'found': return `found ${s.job_name} already submitted as job ${showJob(job)}`;
    case 'ran': return `found ${s.job_name} already run (its tasks' sentinels exist; SLURM no longer knows the job): not submitting it again`;
  }
}

export async function submitIntents(ctx: SubmitContext, cursor: Cursor, changes: string[]): Promise<Cursor> {
  let c = cursor;
  for (let i = 0; i < c.stages.length; i++) {
    for (const s of c.stages[i].submissions) {
      if (s.job !== null) continue;
      const { job, how } = await resolve(ctx, c.stages[i], s);
      const stage = c.stages[i];
      const next: StageRecord = {
        ...stage,
        submissions: stage.submissions.map((x) => (x.token === s.token ? { ...x, job, submitted_at: ctx.now } : x)),
        tasks: updateLastAttempts(stage.tasks, (t, a) => (s.tasks.includes(t.id) && a.submission === s.token && a.state === 'planned' ? { ...a, state: 'submitted' } : undefined)),
      };
      c = { ...c, stages: c.stages.map((x, k) => (k === i ? next : x)) };
      changes.push(describe(s, job, how, stage.kind));
      ctx.saveCursor(c);
    }
  }
  return c;
}
