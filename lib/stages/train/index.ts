/** The training stage: one pacemaker fit of every labelled row, then its active set. */
import { posix } from 'node:path';
import type { Config } from '../../config/types.js';
import type { JsonObject } from '../../state/cursor.js';
import { StageError } from '../../errors/errors.js';
import { defineJobKind, type FitErrors, type StageContext } from '../kind.js';
import { currentLevel, potentialDir, potentialLine, potentialsOf, type PotentialRecord } from '../kept.js';
import { HELPER, inputYaml, planTrain, type TrainData, type TrainInputs, type TrainSpec } from './plan.js';
import { FIT_CURVE_FILES, judgeTrain, POTENTIAL_FILES, VALIDATION_FILES, type FitResult } from './judge.js';
import { quoteJobLog } from '../error-line.js';
import { JOB_LOG } from '../../exec/manifest.js';
import { validationIds, validationLine } from './validation.js';
import { learningLine, learningStop, type CurvePoint } from './learning.js';
import { noStartLevelText, startLevel } from './start.js';
import type { AseRow } from '../../db/ase-db.js';

/**
 * The level of theory of the fit: the newest labelling's; in a campaign that has labelled
 * nothing yet (it started from data: iterations.start train), the level of today's dft settings
 * that the database's rows are at, refused when none is.
 */
function fitLevel(ctx: StageContext, rows: readonly AseRow[]): string | null {
  const labelled = [...ctx.cursor.done, ...ctx.cursor.stages].some((s) => s.kind === 'label' && s.iteration <= ctx.iteration);
  if (labelled || ctx.config.iterations.start !== 'train') return currentLevel(ctx.cursor, ctx.iteration);
  const start = startLevel(rows, ctx.config.dft);
  if (start.level === undefined) {
    throw new StageError(`iteration ${ctx.iteration}'s fit: ${noStartLevelText(start, 'the database')}`, {
      hint: 'import rows computed at these settings (autopipe db import FILE --level …), set dft: to the settings of the rows, or start at labelling (iterations.start: label with structures:)',
    });
  }
  return start.level;
}

/** The potential a fit of `iteration` starts from: the last one kept (with the input that made it), else train.initial_potential. */
function previousPotential(ctx: StageContext): TrainInputs['previous'] {
  if (!ctx.config.train.warm_start) return null;
  const last = potentialsOf(ctx.cursor).filter((p) => p.iteration < ctx.iteration).at(-1);
  if (last !== undefined) {
    const path = posix.join(last.dir, 'output_potential.yaml');
    const yaml = ctx.readFile(path, 'work');
    if (yaml === undefined) throw new StageError(`the previous potential ${path} is missing from the work folder`, { hint: 'restore it, or set train.warm_start: false' });
    const input = ctx.readFile(posix.join(last.dir, 'input.yaml'), 'work')?.toString('utf8');
    return { yaml: yaml.toString('utf8'), from: path, initial: false, ...(input === undefined ? {} : { input }) };
  }
  const initial = ctx.config.train.initial_potential;
  if (initial === null) return null;
  const yaml = ctx.readFile(initial, 'project');
  if (yaml === undefined) throw new StageError(`train.initial_potential: ${initial} does not exist`, { hint: 'give the path of a pacemaker potential (YAML), or null' });
  return { yaml: yaml.toString('utf8'), from: initial, initial: true };
}

/** The training job's tools: the folder of train.command when it is a path (the venv's bin). */
function toolsDir(command: string): string | null {
  return /^\/\S+$/.test(command) ? posix.dirname(command) : null;
}

function fitErrors(split: unknown): FitErrors | null {
  if (split === null || typeof split !== 'object') return null;
  const x = split as Record<string, unknown>;
  const m = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v * 1000 : null);
  return { energy_mev_per_atom: m(x.energy_rmse_per_atom), force_core_mev_per_a: m(x.force_rmse_core) };
}

export const trainKind = defineJobKind<TrainSpec, TrainData, FitResult>({
  kind: 'train',
  noun: 'training',
  runs: 'jobs',
  configSections: ['train', 'embedding'],
  next: { kind: 'explore', nextIteration: false },
  template: 'train.sh.hbs',
  progressFile: 'pacemaker.out',
  outputs: ['pacemaker.out', 'pacemaker.err', ...POTENTIAL_FILES, ...FIT_CURVE_FILES, ...VALIDATION_FILES, JOB_LOG],
  resourcesField: 'train.resources',
  resources: (config: Config) => config.train.resources,
  scriptContext: (config: Config) => ({ pacemaker: config.train.command, python: config.train.python, tools_dir: toolsDir(config.train.command) }),
  plan(ctx, stageDir) {
    const rows = [...ctx.db().select()];
    return planTrain({
      rows, validation: validationIds(rows, ctx.db(), ctx.config, ctx.now), config: ctx.config, iteration: ctx.iteration, stageDir, level: fitLevel(ctx, rows),
      helper: ctx.asset(HELPER), previous: previousPotential(ctx), render: ctx.render,
    });
  },
  retryFiles(task, _failed, dir, _parameters, ctx) {
    return [{ path: posix.join(dir, 'input.yaml'), content: inputYaml(ctx.config, task.spec.elements, ctx.render) }];
  },
  // a job that stopped before the fit wrote anything: what its log says
  judge: (files, exitcode, _task, _attempt, stage) => quoteJobLog(judgeTrain(files, exitcode, (stage.data.validation?.rows ?? 0) > 0), files, ['pacemaker.out', 'pacemaker.err']),
  merge(done, sink, stage) {
    const lines: string[] = [];
    for (const d of done) {
      const dir = potentialDir(stage.iteration);
      for (const [name, content] of d.result.files) sink.keep(posix.join(dir, name), content);
      const m = d.result.metrics.train;
      lines.push(`iteration ${stage.iteration} potential in ${dir}: energy RMSE ${fmt(m.energy_rmse_per_atom, 1000)} meV/atom, force RMSE ${fmt(m.force_rmse_core, 1000)} meV/Å on ${m.core_atoms} core atoms (train), ${d.result.metrics.seconds} s`);
      const v = d.result.validation;
      if (v !== undefined) lines.push(v === null ? `iteration ${stage.iteration} potential: its job wrote no validation.json although the fit had validation rows: this project's templates/train.sh.hbs predates validation (copy autopipe's, or add its validate step)` : `iteration ${stage.iteration} potential: ${validationLine(v)}`);
    }
    return lines;
  },
  record(stage, done) {
    const d = done.at(-1);
    if (d === undefined) return {};
    const potential: PotentialRecord = {
      iteration: stage.iteration, dir: potentialDir(stage.iteration), rows: stage.data.rows, row_ids: stage.data.row_ids,
      metrics: JSON.parse(JSON.stringify(d.result.metrics)) as JsonObject, duration_s: d.result.metrics.seconds, warm_start_from: stage.data.warm_start_from,
      reference_energy: d.result.referenceEnergy, level: stage.data.level ?? null,
      ...(d.result.validation === undefined ? {} : { validation: d.result.validation }),
    };
    return { potential };
  },
  summaryLine(stage) {
    const p = stage.data.potential;
    const left = stage.data.left_out ?? [];
    const notes = [
      ...(left.length > 0 ? [`left out for their level of theory: ${left.join('; ')}`] : []),
      ...(stage.data.cold_start == null ? [] : [stage.data.cold_start]),
    ];
    return `${p === undefined ? 'no potential yet' : `${p.dir}: ${potentialLine(p)}`}${notes.map((n) => `; ${n}`).join('')}`;
  },
  iterationPart(stage) {
    const p = stage.data.potential;
    if (p === undefined) return {};
    const m = p.metrics as { train?: unknown; test?: unknown };
    return { fit: { train: fitErrors(m.train) ?? { energy_mev_per_atom: null, force_core_mev_per_a: null }, test: fitErrors(m.test), dir: p.dir, level: stage.data.level ?? null, left_out: stage.data.left_out_rows ?? 0, validation: p.validation ?? null } };
  },
  // the validation error's rules: iterations.target_force_rmse, iterations.patience
  stopReason: (stage, config, earlier) => learningStop(curveOf([...earlier, stage]), config),
  standing: (stages, config) => learningLine(curveOf(stages), config),
  neverRetried: {
    pacemaker_error: 'pacemaker stopped with an error; the same rows and input fail the same way (see its last error line)',
    no_potential: 'the fit wrote no potential',
    nonfinite_loss: 'the same rows and input give the same non-finite loss',
  },
});

/** Each fitted potential's validation errors, in loop order. */
function curveOf(stages: ReadonlyArray<{ iteration: number; data: TrainData }>): CurvePoint[] {
  return stages.flatMap((s) => (s.data.potential === undefined ? [] : [{ iteration: s.iteration, validation: s.data.potential.validation }]));
}

function fmt(v: number | null, scale: number): string {
  return v === null ? '-' : (v * scale).toFixed(1);
}
