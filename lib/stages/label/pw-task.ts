/**
 * A pw.x task as the kinds that run one (labelling, the embedding check) declare it: what runs
 * in its folder, what shows it alive, what comes back, where its resources are set, how a retry
 * is made from the failed attempt's structure, and pw.x's recovery ladder.
 */
import type { Config } from '../../config/types.js';
import type { FetchedFiles, PlannedFile } from '../../exec/executor.js';
import type { Parameters, TaskRecord } from '../../state/cursor.js';
import type { StageContext } from '../kind.js';
import { carried, escalateLabel } from './escalate.js';
import { retryFromStructure } from './plan.js';
import { pwDisk } from './disk.js';
import { JOB_LOG } from '../../exec/manifest.js';

export const pwTask = {
  template: 'label.sh.hbs',
  progressFile: 'pw.out',
  // the structure too: a retry starts from it (pw.x's output does not carry the mask)
  // and the job log, quoted when pw.x left no output
  outputs: ['pw.out', 'pw.err', 'structure.extxyz', JOB_LOG],
  resourcesField: 'dft.resources',
  resources: (config: Config) => config.dft.resources,
  // pw_disk: the lines around the pw.x line that put ./out on dft.scratch and keep what dft.keep keeps
  scriptContext: (config: Config) => ({ dft_command: config.dft.command, pw_disk: pwDisk(config.dft) }),
  retryFiles: (task: Pick<TaskRecord, 'attempts'>, failed: FetchedFiles, dir: string, parameters: Parameters, ctx: StageContext): PlannedFile[] | string => retryFromStructure(task, failed, dir, parameters, ctx.config),
  neverRetried: {
    input_error: 'pw.x rejected its input (fix the structure or dft.parameters)',
    pw_error: 'pw.x stopped with an error autopipe has no remedy for',
  },
  carry: carried,
  escalate: escalateLabel,
} as const;
