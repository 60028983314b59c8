/**
 * What to do about a task whose last attempt failed, and the retry arrays (pure). The kind's
 * own ladder goes first (label: pw.x's mixing); then the rules every kind shares, recovery.* in
 * autopipe.yaml:
 *
 *   class                           remedy
 *   walltime                        time × factor, capped at max; `retries` at most
 *   out_of_memory                   mem × factor, capped at max; `retries` at most
 *   node_failure, cancelled,        the same again, that many times at most
 *   unknown
 *   corrupt_output                  the same again, as often as recovery.unknown
 *   anything else                   never: the same input fails the same way
 *
 * and never more than max_attempts attempts in all. Retries are grouped by what they need
 * (parameters, resources), each group one or more job arrays like a first submission.
 */
import { posix } from 'node:path';
import type { Config } from '../config/types.js';
import type { FetchedFiles, PlannedCopy, PlannedFile } from '../exec/executor.js';
import type { AttemptRecord, Parameters, ResourceChange, StageRecord, TaskRecord } from '../state/cursor.js';
import type { FailureClass } from '../state/failure-class.js';
import type { StageContext, JobStageKind } from '../stages/kind.js';
import { stageDirOf } from '../stages/kind.js';
import { formatMemory, formatTimeLimit, parseMemory, parseTimeLimit } from '../slurm/limits.js';
import { planArrays, type ArrayGroup, type ArrayInputs } from './arrays.js';
import { lastAttempt, phaseOf, replaceLastAttempt } from '../state/tasks.js';

export type Step =
  | { kind: 'retry'; parameters: Parameters; resources: ResourceChange; restartFrom: string | null; copies: PlannedCopy[]; action: string }
  | { kind: 'give_up'; reason: string };

/** value × factor, capped; undefined when already at the cap (nothing left to give). */
function scale(value: number | undefined, factor: number, cap: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  const scaled = cap === undefined ? value * factor : Math.min(value * factor, cap);
  return scaled > value ? scaled : undefined;
}

const REPEATED: Partial<Record<FailureClass, 'node_failure' | 'cancelled' | 'unknown'>> = {
  node_failure: 'node_failure', cancelled: 'cancelled', unknown: 'unknown',
  // an output that is not a result (NaN, *****) is as unexplained as no output: rerun it like unknown
  corrupt_output: 'unknown',
};

export function nextStep(task: TaskRecord, kind: JobStageKind, config: Config): Step {
  const last = lastAttempt(task);
  const cls: FailureClass = last.error_class ?? 'unknown';
  const r = config.recovery;
  const never = kind.neverRetried?.[cls];
  if (never !== undefined) return { kind: 'give_up', reason: `${cls} is never retried: ${never}` };
  if (task.attempts.length >= r.max_attempts) return { kind: 'give_up', reason: `${cls}, and all recovery.max_attempts (${r.max_attempts}) attempts are used` };
  const own = kind.escalate?.(task, config);
  if (own !== undefined) return own.kind === 'give_up' ? own : { ...own, resources: { ...(last.resources ?? {}) } };
  const n = task.attempts.filter((a) => a.error_class === cls).length; // this failure included
  const next = task.attempts.length + 1;
  const resources: ResourceChange = { ...(last.resources ?? {}) };
  const base = kind.resources(config);
  const parameters = kind.carry?.(last) ?? last.parameters;
  const retry = (res: ResourceChange, action: string): Step => ({ kind: 'retry', parameters, resources: res, restartFrom: null, copies: [], action });
  switch (cls) {
    case 'walltime': {
      if (n > r.walltime.retries) return { kind: 'give_up', reason: `walltime, and all recovery.walltime.retries (${r.walltime.retries}) are used` };
      const current = resources.time ?? base.time;
      const scaled = scale(parseTimeLimit(current), r.walltime.factor, r.walltime.max === undefined ? undefined : parseTimeLimit(r.walltime.max));
      if (scaled === undefined) return { kind: 'give_up', reason: `walltime, and the time limit ${current} is already recovery.walltime.max (${r.walltime.max ?? '-'})` };
      const time = formatTimeLimit(scaled);
      return retry({ ...resources, time }, `retried as a${next} with time ${time} (was ${current})`);
    }
    case 'out_of_memory': {
      if (n > r.out_of_memory.retries) return { kind: 'give_up', reason: `out_of_memory, and all recovery.out_of_memory.retries (${r.out_of_memory.retries}) are used` };
      const current = resources.mem ?? base.mem;
      if (current === null) return { kind: 'give_up', reason: `out_of_memory, and ${kind.resourcesField}.mem is not set, so there is nothing to scale (set it, e.g. 4G)` };
      const scaled = scale(parseMemory(current), r.out_of_memory.factor, r.out_of_memory.max === undefined ? undefined : parseMemory(r.out_of_memory.max));
      if (scaled === undefined) return { kind: 'give_up', reason: `out_of_memory, and the memory ${current} is already recovery.out_of_memory.max (${r.out_of_memory.max ?? '-'})` };
      const mem = formatMemory(scaled);
      return retry({ ...resources, mem }, `retried as a${next} with mem ${mem} (was ${current})`);
    }
    default: {
      const setting = REPEATED[cls];
      if (setting === undefined) return { kind: 'give_up', reason: `${cls} is never retried: the same input fails the same way` };
      const allowed = r[setting];
      if (n > allowed) return { kind: 'give_up', reason: `${cls}, and all recovery.${setting} (${allowed}) retries are used` };
      return retry(resources, `retried as a${next} unchanged (${cls} ${n} of ${allowed})`);
    }
  }
}

export interface RetryPlan { stage: StageRecord; files: PlannedFile[]; copies: PlannedCopy[]; changes: string[] }

function groupKey(parameters: Parameters, resources: ResourceChange): string {
  const sorted = (o: object) => Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([sorted(parameters), sorted(resources)]);
}

/** Every task of the stage whose last attempt failed and is undecided: its next attempt, or giving up. */
export function planRetries(stage: StageRecord, kind: JobStageKind, fetched: ReadonlyMap<string, FetchedFiles>, ctx: StageContext, arrays: Omit<ArrayInputs, 'stageDir' | 'renderScript'> & Pick<ArrayInputs, 'renderScript'>): RetryPlan {
  const files: PlannedFile[] = [];
  const copies: PlannedCopy[] = [];
  const changes: string[] = [];
  const groups = new Map<string, { resources: ResourceChange; tasks: Array<{ id: string; dir: string; token: string }> }>();
  const decided = new Map<string, TaskRecord>();
  for (const t of stage.tasks) {
    if (phaseOf(t) !== 'deciding') continue;
    const last = lastAttempt(t);
    // resumed after its cause was fixed: a fresh attempt, from the kind's first parameters
    let step: Step = t.resumed === true
      ? { kind: 'retry', parameters: {}, resources: {}, restartFrom: null, copies: [], action: `retried as a${last.attempt + 1} on autopipe resume` }
      : nextStep(t, kind, ctx.config);
    const dir = posix.join(posix.dirname(last.dir), `a${last.attempt + 1}`);
    const made = step.kind === 'retry' ? kind.retryFiles(t, fetched.get(last.dir) ?? new Map(), dir, step.parameters, ctx, stage) : [];
    if (typeof made === 'string') step = { kind: 'give_up', reason: `${last.error_class ?? 'unknown'}, and ${made}` };
    if (step.kind === 'give_up') {
      decided.set(t.id, { ...replaceLastAttempt(t, { ...last, action: `gave up: ${step.reason}` }), gave_up: step.reason });
      changes.push(`${stage.kind} ${t.id}: gave up (${step.reason}); last error in ${last.dir}: ${last.message ?? '-'}`);
      continue;
    }
    files.push(...(made as PlannedFile[]));
    copies.push(...step.copies);
    const token = arrays.token();
    const next: AttemptRecord = {
      attempt: last.attempt + 1, dir, submission: null, array_index: null, parameters: step.parameters, state: 'planned', error_class: null, message: null, token,
      ...(Object.keys(step.resources).length > 0 ? { resources: step.resources } : {}),
      ...(step.restartFrom !== null ? { restart_from: step.restartFrom } : {}),
    };
    const { resumed: _resumed, ...task } = t;
    void _resumed;
    decided.set(t.id, replaceLastAttempt(task, { ...last, action: step.action }, next));
    const key = groupKey(step.parameters, step.resources);
    const g = groups.get(key) ?? { resources: step.resources, tasks: [] };
    g.tasks.push({ id: t.id, dir, token });
    groups.set(key, g);
    changes.push(`${stage.kind} ${t.id}: ${last.error_class ?? 'unknown'} in a${last.attempt}, ${step.action}`);
  }
  const base = kind.resources(ctx.config);
  // retries pack as the stage's first attempts do; each group's resources are a task's (planArrays gives an element its multiple)
  const perElement = kind.tasksPerElement?.(ctx.config) ?? 1;
  const arrayGroups: ArrayGroup[] = [...groups.values()].map((g) => ({ tasks: g.tasks, resources: { ...base, ...g.resources }, perElement }));
  const planned = planArrays(arrayGroups, { ...arrays, stageDir: stageDirOf(stage.iteration, stage.kind) });
  const placed = (t: TaskRecord): TaskRecord => {
    const at = planned.placement.get(t.id);
    return at === undefined ? t : replaceLastAttempt(t, { ...lastAttempt(t), submission: at.token, array_index: at.index });
  };
  return {
    stage: { ...stage, tasks: stage.tasks.map((t) => placed(decided.get(t.id) ?? t)), submissions: [...stage.submissions, ...planned.submissions] },
    files: [...files, ...planned.files],
    copies,
    changes,
  };
}
