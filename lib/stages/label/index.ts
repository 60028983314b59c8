/** The labelling stage: one pw.x task per structure, as job arrays, retried up pw.x's ladder. */
import { readExtxyz } from '../../formats/extxyz.js';
import { StageError } from '../../errors/errors.js';
import { phaseOf, stageCoreSeconds, stageCounts } from '../../state/tasks.js';
import { defineJobKind, type Candidate, type StageContext } from '../kind.js';
import { selectedFile } from '../kept.js';
import { gammaOnlyMetalWarning, planLabelTasks, type LabelSpec } from './plan.js';
import { pwTask } from './pw-task.js';
import { judgeLabel, levelsAdded, mergeLabel, type LabelData, type LabelRow } from './merge.js';
import { quoteJobLog } from '../error-line.js';
import { JOB_LOG } from '../../exec/manifest.js';

/** A validation structure's name in the records: file#frame. */
const sourceKey = (c: Candidate) => `${c.source.file}#${c.source.frame}`;

/**
 * The structures of validation.structures no labelling has planned yet: all of them with the
 * first labelling (iteration 0), or with the first one after they were named.
 */
function validationToLabel(ctx: StageContext): Candidate[] {
  const all = ctx.validationStructures();
  if (all.length === 0) return [];
  const planned = new Set([...ctx.cursor.done, ...ctx.cursor.stages].filter((s) => s.kind === 'label').flatMap((s) => (Array.isArray(s.data.validation) ? s.data.validation.map(String) : [])));
  return all.filter((c) => !planned.has(sourceKey(c)));
}

/** A task of validation.structures. */
const forValidation = (t: { spec: unknown }) => (t.spec as Partial<LabelSpec>).set === 'validation';

/** Iteration 0 labels the user's structures; iteration k + 1 what the select stage of k chose. */
function structuresToLabel(ctx: StageContext): Candidate[] {
  if (ctx.iteration === 0) return ctx.initialStructures();
  const file = selectedFile(ctx.iteration - 1);
  const b = ctx.readFile(file, 'work');
  if (b === undefined) throw new StageError(`iteration ${ctx.iteration - 1}'s selection (${file}) is missing from the work folder`, { hint: 'it is written when the select stage is entered; restore it from a backup of the work folder' });
  // each sub-cell says where it was cut (source: the kept dump, frame, centre_id)
  return readExtxyz(b.toString('utf8'), file).map((atoms, k) => ({
    atoms,
    source: { file: typeof atoms.info.source === 'string' ? atoms.info.source : file, frame: typeof atoms.info.frame === 'number' ? atoms.info.frame : k },
  }));
}

export const labelKind = defineJobKind<LabelSpec, LabelData, LabelRow>({
  kind: 'label',
  noun: 'labelling',
  runs: 'jobs',
  configSections: ['dft', 'recovery'],
  next: { kind: 'train', nextIteration: false },
  spendsDft: true,
  ...pwTask,
  // packed labelling only: the embedding check's tasks are a measurement, each in its own element
  tasksPerElement: (config) => config.dft.tasks_per_element,
  plan(ctx, stageDir) {
    const structures = structuresToLabel(ctx);
    const validation = validationToLabel(ctx);
    const tasks = planLabelTasks([...structures, ...validation], ctx.config, stageDir, ctx.configFile, validation.length);
    const gamma = gammaOnlyMetalWarning([...structures, ...validation].map((c) => c.atoms), ctx.config);
    return {
      tasks, shared: [], data: validation.length === 0 ? {} : { validation: validation.map(sourceKey) },
      notes: [
        ...(validation.length === 0 ? [] : [`iteration ${ctx.iteration}: ${validation.length} validation structure(s) labelled beside it, once (set=validation: no fit ever sees them)`]),
        ...(gamma === undefined ? [] : [`iteration ${ctx.iteration}: ${gamma}`]),
      ],
    };
  },
  // a job that stopped before pw.x wrote anything: what pw.x's stderr and the job log say
  judge: (files, exitcode, t, a, stage) => quoteJobLog(judgeLabel(files, exitcode, t, a, stage), files, ['pw.out'], ['pw.err', JOB_LOG]),
  merge: (done, sink) => mergeLabel(done, sink),
  record: (stage, done) => ({
    levels: levelsAdded(stage.data, done),
    ...(stage.data.validation === undefined ? {} : { validation_done: (stage.data.validation_done ?? 0) + done.filter((d) => forValidation(d.task)).length }),
  }),
  // training may start while stragglers run, once enough are labelled; the validation
  // structures are waited for, so that every potential is measured on the same set
  followsEarly: (stage, config) => stage.tasks.filter((t) => forValidation(t)).every((t) => ['done', 'gave_up'].includes(phaseOf(t)))
    && stage.tasks.filter((t) => !forValidation(t) && phaseOf(t) === 'done').length >= config.train.min_new_structures,
  summaryLine(stage) {
    const n = stageCounts(stage);
    const planned = stage.data.validation?.length ?? 0;
    const vDone = stage.data.validation_done ?? 0;
    return `${n.done - vDone} structure(s) labelled${planned === 0 ? '' : `, and ${vDone} of ${planned} validation structure(s)`}${n.failed > 0 ? `, ${n.failed} failed for good` : ''}; ${(stageCoreSeconds(stage) / 3600).toFixed(3)} core-hours`;
  },
  iterationPart(stage, view) {
    const mine = view.cells.filter((x) => x.iteration === stage.iteration);
    return {
      labelled: { full: mine.filter((x) => x.embedded !== true && x.set !== 'validation').length, sub: mine.filter((x) => x.embedded === true && x.set !== 'validation').length },
      dft_core_hours: stageCoreSeconds(stage) / 3600,
    };
  },
});
