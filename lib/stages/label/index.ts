/** The labelling stage: one pw.x task per structure, as job arrays, retried up pw.x's ladder. */
import type { Config } from '../../config/types.js';
import { readExtxyz } from '../../formats/extxyz.js';
import type { StageKind } from '../kind.js';
import { attemptFiles, planLabelTasks } from './plan.js';
import { judgeLabel, mergeLabel } from './merge.js';
import { carried, escalateLabel } from './escalate.js';

export const labelKind: StageKind = {
  kind: 'label',
  template: 'label.sbatch.hbs',
  progressFile: 'pw.out',
  // the structure too: a retry starts from it (pw.x's output does not carry the mask)
  outputs: ['pw.out', 'structure.extxyz'],
  resourcesField: 'dft.resources',
  resources: (config: Config) => config.dft.resources,
  scriptContext: (config: Config) => ({ dft_command: config.dft.command }),
  plan(ctx, stageDir) {
    // iteration 0 labels the user's structures; later ones come from selection (issue 11)
    const tasks = planLabelTasks(ctx.initialStructures(), ctx.config, stageDir, ctx.configFile);
    return { tasks, shared: [], data: {}, notes: [] };
  },
  retryFiles(task, failed, dir, parameters, ctx) {
    const last = task.attempts[task.attempts.length - 1];
    const text = failed.get('structure.extxyz')?.toString('utf8');
    let atoms;
    try {
      atoms = text === undefined ? undefined : readExtxyz(text, `${last.dir}/structure.extxyz`)[0];
    } catch {
      atoms = undefined;
    }
    if (atoms === undefined) return `${last.dir}/structure.extxyz cannot be read, so there is nothing to retry from`;
    return attemptFiles(atoms, dir, parameters, ctx.config);
  },
  judge: judgeLabel,
  merge: (done, sink) => mergeLabel(done, sink),
  neverRetried: {
    input_error: 'pw.x rejected its input (fix the structure or dft.parameters)',
    pw_error: 'pw.x stopped with an error autopipe has no remedy for',
  },
  carry: carried,
  escalate: escalateLabel,
};
