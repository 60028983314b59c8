/** The labelling stage: one pw.x task per structure, as job arrays, retried up pw.x's ladder. */
import { readExtxyz } from '../../formats/extxyz.js';
import { StageError } from '../../errors/errors.js';
import { phaseOf, stageCoreSeconds, stageCounts } from '../../state/tasks.js';
import { defineJobKind, type Candidate, type StageContext } from '../kind.js';
import { selectedFile } from '../kept.js';
import { gammaOnlyMetalWarning, planLabelTasks, type LabelSpec } from './plan.js';
import { pwTask } from './pw-task.js';
import { judgeLabel, levelsAdded, mergeLabel, type LabelData, type LabelRow } from './merge.js';

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
  plan(ctx, stageDir) {
    const structures = structuresToLabel(ctx);
    const tasks = planLabelTasks(structures, ctx.config, stageDir, ctx.configFile);
    const gamma = gammaOnlyMetalWarning(structures.map((c) => c.atoms), ctx.config);
    return { tasks, shared: [], data: {}, notes: gamma === undefined ? [] : [`iteration ${ctx.iteration}: ${gamma}`] };
  },
  judge: judgeLabel,
  merge: (done, sink) => mergeLabel(done, sink),
  record: (stage, done) => ({ levels: levelsAdded(stage.data, done) }),
  // training may start while stragglers run, once enough are labelled
  followsEarly: (stage, config) => stage.tasks.filter((t) => phaseOf(t) === 'done').length >= config.train.min_new_structures,
  summaryLine(stage) {
    const n = stageCounts(stage);
    return `${n.done} structure(s) labelled${n.failed > 0 ? `, ${n.failed} failed for good` : ''}; ${(stageCoreSeconds(stage) / 3600).toFixed(3)} core-hours`;
  },
  iterationPart(stage, view) {
    const mine = view.cells.filter((x) => x.iteration === stage.iteration);
    return {
      labelled: { full: mine.filter((x) => x.embedded !== true).length, sub: mine.filter((x) => x.embedded === true).length },
      dft_core_hours: stageCoreSeconds(stage) / 3600,
    };
  },
});
