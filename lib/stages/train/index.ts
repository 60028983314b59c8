/** The training stage: one pacemaker fit of every labelled row, then its active set. */
import { posix } from 'node:path';
import type { Config } from '../../config/types.js';
import type { PotentialRecord } from '../../state/cursor.js';
import { StageError } from '../../errors/errors.js';
import type { JobStageKind, StageContext } from '../kind.js';
import { potentialDir } from '../kept.js';
import { HELPER, inputYaml, planTrain } from './plan.js';
import { FIT_CURVE_FILES, judgeTrain, POTENTIAL_FILES, type FitResult } from './judge.js';


/** The potential a fit of `iteration` starts from: the last one kept, else train.initial_potential. */
function previousPotential(ctx: StageContext): { yaml: string; from: string } | null {
  if (!ctx.config.train.warm_start) return null;
  const last = ctx.cursor.potentials.filter((p) => p.iteration < ctx.iteration).at(-1);
  if (last !== undefined) {
    const path = posix.join(last.dir, 'output_potential.yaml');
    const yaml = ctx.readFile(path, 'work');
    if (yaml === undefined) throw new StageError(`the previous potential ${path} is missing from the work folder`, { hint: 'restore it, or set train.warm_start: false' });
    return { yaml: yaml.toString('utf8'), from: path };
  }
  const initial = ctx.config.train.initial_potential;
  if (initial === null) return null;
  const yaml = ctx.readFile(initial, 'project');
  if (yaml === undefined) throw new StageError(`train.initial_potential: ${initial} does not exist`, { hint: 'give the path of a pacemaker potential (YAML), or null' });
  return { yaml: yaml.toString('utf8'), from: initial };
}

/** The training job's tools: the folder of train.command when it is a path (the venv's bin). */
function toolsDir(command: string): string | null {
  return /^\/\S+$/.test(command) ? posix.dirname(command) : null;
}

export const trainKind: JobStageKind = {
  kind: 'train',
  runs: 'jobs',
  configSections: ['train', 'embedding'],
  template: 'train.sbatch.hbs',
  progressFile: 'pacemaker.out',
  outputs: ['pacemaker.out', 'pacemaker.err', ...POTENTIAL_FILES, ...FIT_CURVE_FILES],
  resourcesField: 'train.resources',
  resources: (config: Config) => config.train.resources,
  scriptContext: (config: Config) => ({ pacemaker: config.train.command, python: config.train.python, tools_dir: toolsDir(config.train.command) }),
  plan(ctx, stageDir) {
    return planTrain({
      rows: ctx.db().select(), config: ctx.config, iteration: ctx.iteration, stageDir,
      helper: ctx.asset(HELPER), previous: previousPotential(ctx), render: ctx.render,
    });
  },
  retryFiles(task, _failed, dir, _parameters, ctx) {
    return [{ path: posix.join(dir, 'input.yaml'), content: inputYaml(ctx.config, task.spec.elements as string[], ctx.render) }];
  },
  judge: (files, exitcode) => judgeTrain(files, exitcode),
  merge(done, sink, stage) {
    const lines: string[] = [];
    for (const d of done) {
      const r = d.result as FitResult;
      const dir = potentialDir(stage.iteration);
      for (const [name, content] of r.files) sink.keep(posix.join(dir, name), content);
      const m = r.metrics.train;
      lines.push(`iteration ${stage.iteration} potential in ${dir}: energy RMSE ${fmt(m.energy_rmse_per_atom, 1000)} meV/atom, force RMSE ${fmt(m.force_rmse_core, 1000)} meV/Å on ${m.core_atoms} core atoms (train), ${r.metrics.seconds} s`);
    }
    return lines;
  },
  record(cursor, stage, done) {
    const kept: PotentialRecord[] = done.map((d) => {
      const r = d.result as FitResult;
      return {
        iteration: stage.iteration, dir: potentialDir(stage.iteration), rows: Number(stage.data.rows ?? 0),
        row_ids: Array.isArray(stage.data.row_ids) ? (stage.data.row_ids as Array<[number, number]>) : [],
        metrics: JSON.parse(JSON.stringify(r.metrics)), duration_s: r.metrics.seconds,
        warm_start_from: typeof stage.data.warm_start_from === 'string' ? stage.data.warm_start_from : null,
      };
    });
    return { ...cursor, potentials: [...cursor.potentials.filter((p) => p.iteration !== stage.iteration), ...kept] };
  },
  neverRetried: {
    pacemaker_error: 'pacemaker stopped with an error; the same rows and input fail the same way (see its last error line)',
    no_potential: 'the fit wrote no potential',
    nonfinite_loss: 'the same rows and input give the same non-finite loss',
  },
};

function fmt(v: number | null, scale: number): string {
  return v === null ? '-' : (v * scale).toFixed(1);
}
