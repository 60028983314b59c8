/**
 * One pass over every open stage (the caller holds the lock), in the order that makes a pass
 * killed at any instant harmless: submit what is only an intent → one queue query for all jobs
 * → one sentinel scan (only what each attempt's own job wrote counts) → one download → judge and
 * merge, each task isolated (database and kept files first) → retries → a rule's stop taken again
 * with today's autopipe.yaml → the next stage → save → submit. Merging is idempotent and an
 * intent is resolved by job name before any new sbatch, so the next pass repeats what this one
 * did not finish, once.
 */
import type { Executor, FetchedFiles, Sentinels, StageClaim, StageResult } from '../exec/executor.js';
import type { Config } from '../config/types.js';
import type { AttemptRecord, Cursor, StageRecord, Stop } from '../state/cursor.js';
import { reexamine, stopLine } from './stop.js';
import { settle } from './settle.js';
import { measurementsLast, type JobStageKind, type MergeSink, type Registry, type StageContext, type StageKind } from '../stages/kind.js';
import { StageError } from '../errors/errors.js';
import { explainVanished, foreignSentinels, fromQueue, ownSentinels, queueEntryOf, type Vanished } from './observe.js';
import { planRetries } from './retries.js';
import { submitIntents } from './submit.js';
import { transitions } from './transition.js';
import { planStage, runLocalStage, scriptRenderer, summarize, type ArrayContext } from './enter.js';
import { lastAttempt, phaseOf, replaceLastAttempt, stageSettled } from '../state/tasks.js';

export interface PassContext {
  executor: Executor;
  registry: Registry;
  config: Config;
  now: number;
  /** Save the cursor now (after each submission, so a crash cannot submit twice). */
  saveCursor: (c: Cursor) => void;
  /** What planning a stage or a retry may read. */
  stageContext: (c: Cursor) => StageContext;
  /** Where merging writes (the campaign's id is the cursor's). */
  sink: Omit<MergeSink, 'campaign'>;
  /** Write a file of the work folder atomically, replacing it (what a local stage leaves for the next one). */
  writeWork: (path: string, content: string) => void;
  /** What the run root's marker says of this campaign besides its id: the project and where it is. */
  about: string;
  /** MaxArraySize is asked only when something is planned. */
  arrays: Omit<ArrayContext, 'maxArraySize'> & { maxArraySize: () => Promise<number> };
}

/**
 * changes: every line of what the pass did, in order (what `poll` prints); routine: those of
 * them that are a task's move without a failure (submitted → pending → running → done), which
 * a terminal's progress line shows as counts instead.
 */
export interface PassResult { cursor: Cursor; changes: string[]; routine: ReadonlySet<string>; merged: number; finished: boolean }

function kindOf(ctx: PassContext, s: StageRecord): StageKind {
  const k = ctx.registry.get(s.kind);
  if (k === undefined) throw new StageError(`the cursor has an open ${s.kind} stage, which this autopipe does not have`, { hint: 'use the autopipe version that started it' });
  return k;
}

/** The kind of a stage that runs jobs; a local stage (select) has no task to poll. */
function jobKindOf(ctx: PassContext, s: StageRecord): JobStageKind | undefined {
  const k = kindOf(ctx, s);
  return k.runs === 'jobs' ? k : undefined;
}

function jobStages(ctx: PassContext, c: Cursor): Array<{ s: StageRecord; kind: JobStageKind }> {
  return c.stages.flatMap((s) => { const kind = jobKindOf(ctx, s); return kind === undefined ? [] : [{ s, kind }]; });
}

/** Attempts without their exitcode, from SLURM (queue, then accounts); keyed by attempt folder. */
async function observe(ctx: PassContext, c: Cursor, exitcodes: ReadonlyMap<string, number | undefined>, started: ReadonlyMap<string, Vanished['sentinels']>): Promise<Map<string, AttemptRecord>> {
  const updated = new Map<string, AttemptRecord>();
  const vanished: Vanished[] = [];
  // as they were submitted: the local executor starts waiting tasks in the order it is asked about them
  const open = measurementsLast(jobStages(ctx, c)).flatMap(({ s, kind }) => s.tasks.filter((t) => phaseOf(t) === 'open').map((t) => ({ kind, t, a: lastAttempt(t) })));
  const jobOf = new Map(c.stages.flatMap((s) => s.submissions.map((x) => [x.token, x.job] as const)));
  // submissions whose elements run several tasks one after another: those tasks share an element's queue entry
  const packed = new Map(c.stages.flatMap((s) => s.submissions.flatMap((x) => ((x.per_element ?? 1) > 1 ? [[x.token, x] as const] : []))));
  const jobs = [...new Map(open.flatMap(({ a }) => { const j = jobOf.get(a.submission ?? ''); return j == null ? [] : [[JSON.stringify(j), j] as const]; })).values()];
  const queue = await ctx.executor.queue(jobs);
  for (const { kind, a } of open) {
    const job = jobOf.get(a.submission ?? '') ?? null;
    if (exitcodes.get(a.dir) !== undefined || job === null) continue;
    const sent = started.get(a.dir) ?? {};
    const e = queueEntryOf(queue, job, a.array_index);
    const element = packed.get(a.submission ?? '');
    const next: AttemptRecord = { ...a, ...fromQueue(e, job, a.array_index, sent.started !== undefined, element !== undefined) };
    // a task's own id shows once it runs (a pending range shows the array's): sacct -c needs it
    if (e !== undefined && e.state !== 'pending' && e.taskIds?.length === 1 && a.array_index !== null) next.slurm_id = e.jobId;
    // a packed task ran under its element's limit (its mates' time included)
    const timeLimit = element?.resources?.time ?? a.resources?.time ?? kind.resources(ctx.config).time;
    if (e === undefined) vanished.push({ task: a.dir, job, attempt: next, sentinels: sent, timeLimit, progressFile: kind.progressFile, ...(element === undefined ? {} : { packed: true }) });
    if (next.state !== a.state || next.slurm_id !== a.slurm_id) updated.set(a.dir, next);
  }
  for (const [dir, a] of await explainVanished(ctx.executor, vanished)) updated.set(dir, a);
  return updated;
}

/** Seconds an attempt ran, from its sentinels: started → the last change of its progress file. */
function ranSeconds(s: Sentinels | undefined): number | undefined {
  return s?.started === undefined || s.output === undefined ? undefined : Math.max(0, s.output - s.started);
}

function applyUpdates(c: Cursor, updated: ReadonlyMap<string, AttemptRecord>, sentinels: ReadonlyMap<string, Sentinels>, changes: string[], routine: Set<string>): Cursor {
  return {
    ...c,
    stages: c.stages.map((s) => ({
      ...s,
      tasks: s.tasks.map((t) => {
        const a = lastAttempt(t);
        let next = updated.get(a.dir);
        if (next === undefined) return t;
        const ran = ranSeconds(sentinels.get(a.dir));
        if ((next.state === 'done' || next.state === 'failed') && ran !== undefined) next = { ...next, ran_s: ran };
        if (next.state !== a.state) {
          const line = `${s.kind} ${t.id}: ${a.state} → ${next.state}${next.error_class === null ? '' : ` (${next.error_class}: ${next.message})`}`;
          changes.push(line);
          if (next.error_class === null && next.state !== 'failed') routine.add(line);
        }
        return replaceLastAttempt(t, next);
      }),
    })),
  };
}

async function retries(ctx: PassContext, c: Cursor, fetched: ReadonlyMap<string, FetchedFiles>, changes: string[]): Promise<Cursor> {
  if (!c.stages.some((s) => s.tasks.some((t) => phaseOf(t) === 'deciding'))) return c;
  const sc = ctx.stageContext(c);
  const maxArraySize = await ctx.arrays.maxArraySize();
  const stages: StageRecord[] = [];
  for (const s of c.stages) {
    if (!s.tasks.some((t) => phaseOf(t) === 'deciding')) {
      stages.push(s);
      continue;
    }
    const kind = jobKindOf(ctx, s);
    if (kind === undefined) throw new StageError(`a ${s.kind} stage has tasks to retry, but runs no jobs`);
    const plan = planRetries(s, kind, fetched, { ...sc, iteration: s.iteration }, { ...ctx.arrays, maxArraySize, renderScript: scriptRenderer(kind, sc, s.iteration) });
    if (plan.files.length > 0) changes.push(...movedAside(await ctx.executor.stage(plan.files, plan.copies, claim(ctx, c, newAttempts(plan.stage)))));
    changes.push(...plan.changes);
    stages.push(plan.stage);
  }
  return { ...c, stages };
}

/** The attempt folders a stage plans now: its tasks' planned last attempts. */
function newAttempts(s: StageRecord): string[] {
  return s.tasks.map(lastAttempt).filter((a) => a.state === 'planned').map((a) => a.dir);
}

function claim(ctx: PassContext, c: Cursor, fresh: readonly string[]): StageClaim {
  return { campaign: { id: c.id, about: ctx.about }, fresh };
}

function movedAside(r: StageResult): string[] {
  return r.movedAside.map((m) => `moved aside ${m}: another attempt's job ran there, and its outputs are never taken as the new attempt's`);
}

/** Enter one stage: plan it (or run it, when it runs no job), stage its files; the caller saves the cursor. */
async function enter(ctx: PassContext, cursor: Cursor, kind: StageKind, iteration: number): Promise<{ stage: StageRecord; notes: string[] }> {
  const sc = { ...ctx.stageContext(cursor), iteration };
  if (kind.runs === 'local') {
    const out = runLocalStage(kind, sc);
    // written before the cursor that records the stage; a pass killed in between runs it again and replaces them
    for (const f of out.keep) ctx.writeWork(f.path, f.content);
    return out;
  }
  const planned = planStage(kind, iteration, sc, { ...ctx.arrays, maxArraySize: await ctx.arrays.maxArraySize() });
  const staged = await ctx.executor.stage(planned.files, [], claim(ctx, cursor, newAttempts(planned.stage)));
  return { stage: planned.stage, notes: [`entered ${kind.kind} of iteration ${iteration} (${planned.stage.tasks.length} task${planned.stage.tasks.length === 1 ? '' : 's'})`, ...planned.notes, ...movedAside(staged)] };
}

/** One round of transitions: stages entered (staged, then saved with their intents), settled ones closed, or the loop stopped. */
async function advanceOnce(ctx: PassContext, c: Cursor, changes: string[]): Promise<{ cursor: Cursor; entered: boolean }> {
  let cursor = c;
  let entered = false;
  const actions = transitions(cursor, ctx.config, ctx.registry);
  const closing = new Set<number>();
  for (const a of actions) {
    if (a.kind === 'close') closing.add(a.index);
    if (a.kind === 'stop') {
      cursor = { ...cursor, stopped: { reason: a.reason, at: ctx.now, by: a.by } };
      changes.push(`the loop stops: ${stopLine(cursor.stopped as Stop)}`);
    }
    if (a.kind === 'enter') {
      const kind = ctx.registry.get(a.stage);
      if (kind === undefined) continue;
      let next;
      try {
        next = await enter(ctx, cursor, kind, a.iteration);
      } catch (err) {
        if (!(err instanceof StageError)) throw err;
        cursor = { ...cursor, stopped: { reason: `${kind.noun} of iteration ${a.iteration} cannot start: ${err.message}${err.hint === undefined ? '' : ` (${err.hint})`}`, at: ctx.now, by: 'failure' } };
        changes.push(`the loop stops: ${stopLine(cursor.stopped as Stop)}`);
        continue;
      }
      changes.push(...next.notes);
      entered = true;
      cursor = {
        ...cursor, iteration: Math.max(cursor.iteration, a.iteration),
        stages: [...cursor.stages.map((s, i) => (i === a.after ? { ...s, followed: true } : s)), next.stage],
      };
    }
  }
  if (closing.size > 0) {
    cursor = { ...cursor, stages: cursor.stages.filter((_, i) => !closing.has(i)), done: [...cursor.done, ...cursor.stages.filter((_, i) => closing.has(i)).map((s) => summarize(s, ctx.now))] };
  }
  return { cursor, entered };
}

/**
 * Transitions until none is due: a stage that runs no job (select) settles as it is entered,
 * so the stage after it is entered in the same pass. Each round is saved: its intents are on
 * disk before anything is submitted. Bounded: a round enters at least one stage, and the
 * stages of one iteration are four.
 */
async function advance(ctx: PassContext, c: Cursor, changes: string[]): Promise<Cursor> {
  let cursor = c;
  for (let round = 0; round < 8; round++) {
    const r = await advanceOnce(ctx, cursor, changes);
    cursor = r.cursor;
    if (!r.entered) break;
    ctx.saveCursor(cursor);
  }
  return cursor;
}

export async function pollPass(ctx: PassContext, cursor: Cursor): Promise<PassResult> {
  const changes: string[] = [];
  const routine = new Set<string>();
  let c = await submitIntents(ctx, cursor, changes);
  const attempts = jobStages(ctx, c).flatMap(({ s, kind }) => s.tasks.filter((t) => phaseOf(t) === 'open').map((t) => ({ dir: lastAttempt(t).dir, progress: kind.progressFile, token: lastAttempt(t).token, what: `${s.kind} ${t.id}` })));
  const found = await ctx.executor.sentinels(attempts);
  // only what each attempt's own job wrote: stale files in its folder are never its results
  const sentinels = new Map(attempts.map((a) => [a.dir, ownSentinels(found.get(a.dir), a.token)]));
  for (const a of attempts) {
    const other = foreignSentinels(found.get(a.dir), a.token);
    if (other !== undefined) changes.push(`${a.what}: ${a.dir} holds another attempt's ${other}, not taken as this attempt's`);
  }
  const exitcodes = new Map([...sentinels].map(([d, s]) => [d, s.exitcode]));
  const updated = await observe(ctx, c, exitcodes, sentinels);

  // one download: outputs of what finished, and of what failed (a retry starts from it)
  const deciding = c.stages.flatMap((s) => s.tasks.filter((t) => phaseOf(t) === 'deciding').map((t) => lastAttempt(t).dir));
  const failedNow = [...updated.values()].filter((a) => a.state === 'failed').map((a) => a.dir);
  const finished = [...exitcodes].filter(([, e]) => e !== undefined).map(([d]) => d);
  const names = [...new Set(jobStages(ctx, c).flatMap(({ kind }) => kind.outputs))];
  const fetched = await ctx.executor.fetch([...new Set([...finished, ...deciding, ...failedNow])], names);

  const merge = settle(jobStages(ctx, c), c, exitcodes, fetched, { ...ctx.sink, campaign: c.id }, updated, changes);
  c = applyUpdates({ ...merge.cursor, updated_at: ctx.now }, updated, sentinels, changes, routine);
  c = await retries(ctx, c, fetched, changes);
  // a rule's stop is taken again with today's autopipe.yaml
  const again = reexamine(c, ctx.config, ctx.registry);
  c = again.cursor;
  if (again.change !== undefined) changes.push(again.change);
  ctx.saveCursor(c);
  c = await advance(ctx, c, changes);
  ctx.saveCursor(c);
  c = await submitIntents(ctx, c, changes);
  return { cursor: c, changes, routine, merged: merge.merged, finished: c.stopped !== null && c.stages.every(stageSettled) };
}

/** A campaign whose checkpoint is written but whose first stage is not (a submit killed in between, or about to enter it). */
export function unstarted(c: Cursor): boolean {
  return c.stages.length === 0 && c.done.length === 0 && c.stopped === null;
}

/**
 * The kind that starts iteration 0: iterations.start's (label by default; train for a campaign
 * that starts from labelled rows; explore for one that starts from a potential), else the
 * registry's first (its order is the loop's).
 */
export function firstKind(registry: Registry, config?: Pick<Config, 'iterations'>): JobStageKind {
  const kind = config === undefined ? [...registry.values()][0] : registry.get(config.iterations.start);
  if (kind === undefined || kind.runs !== 'jobs') throw new StageError(`this autopipe has no kind of stage that runs jobs to start a campaign with${config === undefined ? '' : ` (iterations.start: ${config.iterations.start})`}`);
  return kind;
}

/**
 * Enter the first stage of iteration 0: plan it, save the cursor with the campaign's id before
 * anything is staged (a submit killed after staging finds its own marker in the run root and
 * goes on as the same campaign), stage it, save the intents, submit them.
 */
export async function enterFirstStage(ctx: PassContext, cursor: Cursor, changes: string[]): Promise<Cursor> {
  const kind = firstKind(ctx.registry, ctx.config);
  // planned first: a plan refused (structures that cannot be labelled) writes nothing at all
  const planned = planStage(kind, 0, ctx.stageContext(cursor), { ...ctx.arrays, maxArraySize: await ctx.arrays.maxArraySize() });
  ctx.saveCursor(cursor);
  const staged = await ctx.executor.stage(planned.files, [], claim(ctx, cursor, newAttempts(planned.stage))); // one transfer
  const c: Cursor = { ...cursor, stages: [planned.stage] };
  // the intents go to disk before anything is submitted
  ctx.saveCursor(c);
  changes.push(...planned.notes, ...movedAside(staged));
  return submitIntents(ctx, c, changes);
}
