/**
 * Entering a stage: plan it with its kind (pure but for what the context reads), lay its first
 * attempts out as job arrays, and return the stage record (every submission an intent) with the
 * files to stage. The caller stages the files, then saves the cursor holding the intents, then
 * submits: a crash in between is resolved like any other intent.
 */
import type { PlannedFile } from '../exec/executor.js';
import type { Config } from '../config/types.js';
import type { JobStageKind, LocalOutcome, LocalStageKind, StageContext, StageKind } from '../stages/kind.js';
import { attemptDir, stageDirOf } from '../stages/kind.js';
import type { JsonObject, StageRecord, StageSummary, TaskRecord } from '../state/cursor.js';
import { planArrays, type ArrayInputs } from './arrays.js';
import { jobScript } from './wrapper.js';
import { coreSeconds, countsOf, phaseOf } from '../state/tasks.js';
import { recoveryReport } from './report.js';

export type ArrayContext = Omit<ArrayInputs, 'stageDir' | 'renderScript'>;

/** The job script of one submission: autopipe's wrapper around the kind's template, rendered with the resources and the kind's own context. */
export function scriptRenderer(kind: JobStageKind, ctx: StageContext, iteration: number): ArrayInputs['renderScript'] {
  return (c) => jobScript({
    manifest: c.manifest, resources: c.resources, perElement: c.perElement, template: kind.template,
    payload: ctx.render(kind.template, { ...kind.scriptContext(ctx.config), resources: c.resources }),
    about: `autopipe ${kind.noun} job of project ${JSON.stringify(ctx.config.name)}, iteration ${iteration}`,
  });
}

/** The sections of autopipe.yaml a kind plans with, as the cursor records them. */
export function configOf(kind: StageKind, config: Config): JsonObject {
  return JSON.parse(JSON.stringify(Object.fromEntries(kind.configSections.map((k) => [k, config[k]])))) as JsonObject;
}

/** A stage that runs no job, run now: its record (settled: it has no task) and the files it keeps. */
export function runLocalStage(kind: LocalStageKind, ctx: StageContext): { stage: StageRecord; notes: string[]; keep: LocalOutcome['keep'] } {
  const out = kind.run(ctx);
  return {
    stage: { kind: kind.kind, iteration: ctx.iteration, planned_at: ctx.now, tasks: [], submissions: [], data: out.data, followed: false, config: configOf(kind, ctx.config) },
    notes: out.notes, keep: out.keep,
  };
}

export function planStage(kind: JobStageKind, iteration: number, ctx: StageContext, arrays: ArrayContext): { stage: StageRecord; files: PlannedFile[]; notes: string[] } {
  const stageDir = stageDirOf(iteration, kind.kind);
  const plan = kind.plan({ ...ctx, iteration }, stageDir);
  // each attempt's identity: its job writes it into the sentinels
  const tokens = new Map(plan.tasks.map((t) => [t.id, arrays.token()]));
  const laid = planArrays([{ tasks: plan.tasks.map((t) => ({ id: t.id, dir: attemptDir(stageDir, t.id, 1), token: tokens.get(t.id) as string })), resources: kind.resources(ctx.config), perElement: kind.tasksPerElement?.(ctx.config) ?? 1 }], {
    ...arrays, stageDir, renderScript: scriptRenderer(kind, ctx, iteration),
  });
  const tasks: TaskRecord[] = plan.tasks.map((t) => {
    const at = laid.placement.get(t.id);
    return {
      id: t.id, about: t.about, spec: t.spec,
      attempts: [{ attempt: 1, dir: attemptDir(stageDir, t.id, 1), submission: at?.token ?? null, array_index: at?.index ?? null, parameters: {}, state: 'planned', error_class: null, message: null, token: tokens.get(t.id) as string }],
    };
  });
  return {
    stage: { kind: kind.kind, iteration, planned_at: arrays.now, tasks, submissions: laid.submissions, data: plan.data, followed: false, config: configOf(kind, ctx.config) },
    files: [...plan.shared, ...plan.tasks.flatMap((t) => t.files), ...laid.files],
    notes: plan.notes,
  };
}

/** What `done` keeps of a settled stage. */
export function summarize(s: StageRecord, now: number): StageSummary {
  const report = recoveryReport(s.tasks);
  return {
    kind: s.kind, iteration: s.iteration, planned_at: s.planned_at, settled_at: now, tasks: s.tasks.length, counts: countsOf(s.tasks),
    // a stage that ran no job (select) has no task and is complete
    outcome: s.tasks.length === 0 || s.tasks.some((t) => phaseOf(t) === 'done') ? 'complete' : 'gave_up',
    failures: JSON.parse(JSON.stringify(report.failures)), gave_up: JSON.parse(JSON.stringify(report.gave_up)), data: s.data,
    core_s: coreSeconds(s), ...(s.config === undefined ? {} : { config: s.config }),
  };
}
