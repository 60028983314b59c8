/**
 * Retry arrays, pure: for every task whose last attempt failed (and that has not given up),
 * the escalation step; the retries grouped by what they need (pw.x parameters and SLURM
 * resources), each group one or more job arrays like the first submission; the new attempt
 * folders' files and the charge-density copies for restarts. Nothing is written here.
 */
import { posix } from 'node:path';
import type { Atoms } from '../atoms/atoms.js';
import type { Config } from '../config/types.js';
import type { AttemptRecord, Cursor, ResourceChange, TaskRecord } from '../state/cursor.js';
import { attemptFiles, planArrays, iterationDir, type PlanInputs, type PlannedFile, type PlannedCopy, type ArrayGroup } from '../label/plan.js';
import { nextStep, type Parameters } from './escalate.js';

export interface RetryInputs extends Pick<PlanInputs, 'runRoot' | 'maxArraySize' | 'now' | 'token' | 'renderScript'> {
  cursor: Cursor;
  config: Config;
  /** The structure of each task with a failed attempt, read from that attempt's folder. */
  structures: ReadonlyMap<string, Atoms>;
}

export interface RetryPlan {
  cursor: Cursor;
  files: PlannedFile[];
  copies: PlannedCopy[];
  changes: string[];
}

/** Tasks whose last attempt failed and that may still be retried. */
export function awaitingDecision(t: TaskRecord): boolean {
  return t.attempts[t.attempts.length - 1].state === 'failed' && (t.gave_up ?? null) === null;
}

function groupKey(parameters: Parameters, resources: ResourceChange): string {
  const sorted = (o: object) => Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([sorted(parameters), sorted(resources)]);
}

export function planRetries(p: RetryInputs): RetryPlan {
  const files: PlannedFile[] = [];
  const copies: PlannedCopy[] = [];
  const changes: string[] = [];
  const groups = new Map<string, { resources: ResourceChange; tasks: Array<{ id: string; dir: string }> }>();
  const tasks = new Map<string, TaskRecord>();
  for (const t of p.cursor.tasks) {
    if (!awaitingDecision(t)) continue;
    const last = t.attempts[t.attempts.length - 1];
    let step = nextStep(t, p.config);
    const atoms = p.structures.get(t.id);
    if (step.kind === 'retry' && atoms === undefined) {
      step = { kind: 'give_up', reason: `${last.error_class ?? 'unknown'}, and ${last.dir}/structure.extxyz cannot be read, so there is nothing to retry from` };
    }
    if (step.kind === 'give_up') {
      tasks.set(t.id, { ...t, gave_up: step.reason, attempts: [...t.attempts.slice(0, -1), { ...last, action: `gave up: ${step.reason}` }] });
      changes.push(`${t.id}: gave up (${step.reason}); last error in ${last.dir}: ${last.message ?? '-'}`);
      continue;
    }
    const dir = posix.join(posix.dirname(last.dir), `a${last.attempt + 1}`);
    files.push(...attemptFiles(atoms as Atoms, dir, step.parameters, p.config));
    if (step.restartFrom !== null) copies.push({ from: posix.join(step.restartFrom, 'out', 'pwscf.save'), to: posix.join(dir, 'out', 'pwscf.save') });
    const next: AttemptRecord = {
      attempt: last.attempt + 1, dir, submission: null, array_index: null, parameters: step.parameters, state: 'planned', error_class: null, message: null,
      ...(Object.keys(step.resources).length > 0 ? { resources: step.resources } : {}),
      ...(step.restartFrom !== null ? { restart_from: step.restartFrom } : {}),
    };
    tasks.set(t.id, { ...t, attempts: [...t.attempts.slice(0, -1), { ...last, action: step.action }, next] });
    const key = groupKey(step.parameters, step.resources);
    const g = groups.get(key) ?? { resources: step.resources, tasks: [] };
    g.tasks.push({ id: t.id, dir });
    groups.set(key, g);
    changes.push(`${t.id}: ${last.error_class ?? 'unknown'} in a${last.attempt}, ${step.action}`);
  }
  const arrayGroups: ArrayGroup[] = [...groups.values()].map((g) => ({ tasks: g.tasks, resources: { ...p.config.dft.resources, ...g.resources } }));
  const stageDir = posix.join(iterationDir(p.cursor.iteration), 'label');
  const arrays = planArrays(arrayGroups, { ...p, stageDir });
  const placed = (t: TaskRecord): TaskRecord => {
    const at = arrays.placement.get(t.id);
    if (at === undefined) return t;
    const last = t.attempts[t.attempts.length - 1];
    return { ...t, attempts: [...t.attempts.slice(0, -1), { ...last, submission: at.token, array_index: at.index }] };
  };
  return {
    cursor: {
      ...p.cursor,
      tasks: p.cursor.tasks.map((t) => placed(tasks.get(t.id) ?? t)),
      submissions: [...p.cursor.submissions, ...arrays.submissions],
    },
    files: [...files, ...arrays.files],
    copies,
    changes,
  };
}
