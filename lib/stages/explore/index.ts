/** The exploration stage: MD runs with the iteration's potential, as job arrays (engine ase). */
import { posix } from 'node:path';
import type { Config } from '../../config/types.js';
import type { StageRecord } from '../../state/cursor.js';
import { readExtxyz } from '../../formats/extxyz.js';
import { StageError } from '../../errors/errors.js';
import { defineJobKind, recordedSection, type Candidate, type StageContext, type StageShape, type Typed } from '../kind.js';
import { elementsOf, keptPotential, runDir, runResultsOf, runTotals, stageOf } from '../kept.js';
import { planExplore, type Continued, type ExploreData, type ExploreSpec } from './plan.js';
import { ASE_SCRIPT, RUN_INPUTS, type Engine } from './engines.js';
import { judgeExplore, type RunResult } from './judge.js';
import { judgeLammps } from './judge-lammps.js';
import { quoteJobLog } from '../error-line.js';
import { JOB_LOG } from '../../exec/manifest.js';
import { conditionsLine, runList, runRecord } from './runs.js';

/** explore.structures, else the initial structures. */
function startsOf(ctx: StageContext): Candidate[] {
  const file = ctx.config.explore.structures;
  if (file === null) return ctx.initialStructures();
  const b = ctx.readFile(file, 'project');
  if (b === undefined) throw new StageError(`explore.structures: ${file} does not exist`, { hint: 'give an extxyz of starting structures, or null for the initial structures' });
  return readExtxyz(b.toString('utf8'), file).map((atoms, k) => ({ atoms, source: { file, frame: k } }));
}

/**
 * explore.continue: each run of iteration k starts from the last good frame of the run of k − 1
 * with the same start, temperature and replica (its velocities too), when there is one.
 */
function continuedFrom(ctx: StageContext): { continued: Continued; previousRuns: number } {
  const none: Continued = () => undefined;
  if (!ctx.config.explore.continue || ctx.iteration === 0) return { continued: none, previousRuns: 0 };
  const prev = stageOf(ctx.cursor, 'explore', ctx.iteration - 1);
  const runs = (prev?.data.runs ?? {}) as Record<string, string>;
  const byKey = new Map(Object.entries(runs).map(([id, key]) => [key, id]));
  return { previousRuns: byKey.size, continued: (key) => {
    const id = byKey.get(key);
    if (id === undefined) return undefined;
    const file = `${runDir(ctx.iteration - 1, id)}/last.extxyz`;
    const b = ctx.readFile(file, 'work');
    const atoms = b === undefined ? undefined : readExtxyz(b.toString('utf8'), file)[0];
    return atoms === undefined ? undefined : { atoms, from: file };
  } };
}

function engineOf(ctx: StageContext): Engine {
  // the lammps engine needs the script only for `candidates` after lmp (selection.method d-optimal)
  return ctx.config.explore.engine === 'lammps'
    ? { kind: 'lammps', render: (c) => ctx.render('explore.lammps.hbs', c), ...(ctx.config.selection.method === 'd-optimal' ? { script: ctx.asset(ASE_SCRIPT) } : {}) }
    : { kind: 'ase', script: ctx.asset(ASE_SCRIPT) };
}

function engineOfTask(t: { spec: ExploreSpec }): Engine['kind'] {
  return t.spec.engine === 'lammps' ? 'lammps' : 'ase';
}

/** The thresholds an exploration ran with (what it recorded; today's config for a stage planned before autopipe recorded it). */
function thresholdsOf(s: StageShape): { collect: number | null; stop: number | null } {
  const e = recordedSection(s, 'explore');
  return { collect: e?.gamma_collect ?? null, stop: e?.gamma_stop ?? null };
}

/** The convergence rules of iterations.* (today's), on a settled exploration with the thresholds it ran with (pure). */
export function convergedReason(s: Typed<StageRecord, ExploreData>, config: Config): string | undefined {
  const results = Object.values(runResultsOf(s.data));
  if (results.length === 0) return undefined;
  const { explored, collected } = runTotals(results);
  const allRan = results.length === s.tasks.length && results.every((r) => !r.stopped_early);
  const g = thresholdsOf(s).collect ?? config.explore.gamma_collect;
  if (config.iterations.stop_when_no_candidates && allRan && collected === 0) {
    return `converged: every exploration run of iteration ${s.iteration} (${results.length}) ran its full length with no frame at γ ≥ ${g} (iterations.stop_when_no_candidates)`;
  }
  const f = config.iterations.accurate_fraction;
  if (f !== null && explored > 0 && (explored - collected) / explored >= f) {
    return `converged: ${explored - collected} of ${explored} explored frames of iteration ${s.iteration} (${(100 * (explored - collected) / explored).toFixed(1)}%) stayed below γ ${g}, at least iterations.accurate_fraction (${f})`;
  }
  return undefined;
}

export const exploreKind = defineJobKind<ExploreSpec, ExploreData, RunResult>({
  kind: 'explore',
  noun: 'exploration',
  runs: 'jobs',
  // selection: its method, lo and hi decide whether and how the runs write candidates.json
  configSections: ['explore', 'selection'],
  next: { kind: 'select', nextIteration: false },
  template: 'explore.sh.hbs',
  progressFile: 'explore.out',
  // the run's inputs too: a retry starts from them
  outputs: ['explore.out', 'explore.err', 'explore.log', 'summary.json', 'frames.dump', 'last.extxyz', 'good.dump', 'candidates.json', ...RUN_INPUTS.lammps, JOB_LOG],
  resourcesField: 'explore.resources',
  resources: (config: Config) => config.explore.resources,
  scriptContext: (config: Config) => ({ python: config.explore.python, lmp: config.explore.command, lammps: config.explore.engine === 'lammps', candidates: config.selection.method === 'd-optimal' }),
  plan(ctx, stageDir) {
    const pot = keptPotential(ctx, ctx.iteration);
    return planExplore({
      starts: startsOf(ctx), ...continuedFrom(ctx), config: ctx.config, iteration: ctx.iteration, stageDir, engine: engineOf(ctx),
      potential: { dir: pot.record.dir, yaml: pot.yaml, asi: pot.asi }, elements: elementsOf(pot.yaml),
    });
  },
  retryFiles(task, failed, dir) {
    const names = RUN_INPUTS[engineOfTask(task)];
    const missing = names.filter((n) => !failed.has(n));
    if (missing.length > 0) return `${task.attempts.at(-1)?.dir ?? task.id} has no ${missing.join(', ')} to retry from`;
    return names.map((n) => ({ path: posix.join(dir, n), content: (failed.get(n) as Buffer).toString('utf8') }));
  },
  // a job that stopped before the MD wrote anything: what its log says
  judge: (files, exitcode, task) => quoteJobLog(engineOfTask(task) === 'lammps' ? judgeLammps(files, exitcode) : judgeExplore(files, exitcode), files, ['explore.out', 'explore.err']),
  merge(done, sink, stage) {
    if (done.length === 0) return [];
    let explored = 0;
    let collected = 0;
    let top = 0;
    for (const d of done) {
      const r = d.result;
      for (const [name, content] of r.files) sink.keep(posix.join(runDir(stage.iteration, d.task.id), name), content);
      explored += r.summary.frames_explored;
      collected += r.summary.frames_collected;
      top = Math.max(top, r.summary.max_gamma);
    }
    const blown = done.filter((d) => d.result.summary.blew_up !== undefined).map((d) => `${d.task.id} at step ${d.result.summary.blew_up?.step} (${d.result.summary.blew_up?.why})`);
    return [
      `explored ${done.length} run(s) of iteration ${stage.iteration}: ${explored} frames, ${collected} with γ ≥ ${thresholdsOf(stage).collect ?? sink.config.explore.gamma_collect} collected, largest γ ${top.toFixed(2)}`,
      ...(blown.length > 0 ? [`the MD blew up in ${blown.join(', ')}: the frames collected before are kept (check explore.timestep and explore.tdamp, or the potential)`] : []),
    ];
  },
  record(stage, done) {
    const results = { ...runResultsOf(stage.data) };
    for (const d of done) results[d.task.id] = runRecord(d.task.spec, d.result.summary);
    return { results };
  },
  stopReason: convergedReason,
  summaryLine(stage) {
    const r = Object.values(runResultsOf(stage.data));
    const t = runTotals(r);
    const { collect } = thresholdsOf(stage);
    const blown = r.filter((x) => typeof x.blew_up === 'string').length;
    const conditions = conditionsLine(stage);
    return `${r.length} run(s): ${t.explored} frames explored, ${t.collected} collected${collect === null ? '' : ` (γ ≥ ${collect})`}, largest γ ${t.maxGamma.toFixed(2)}, ${r.filter((x) => x.stopped_early && typeof x.blew_up !== 'string').length} stopped early at gamma_stop${blown > 0 ? `, ${blown} ended when the MD blew up (their frames kept)` : ''}${conditions === null ? '' : `; ${conditions}`}`;
  },
  iterationPart(stage) {
    const results = runResultsOf(stage.data);
    const t = runTotals(Object.values(results));
    const { collect, stop } = thresholdsOf(stage);
    return {
      explore: {
        runs: Object.keys(results).length, frames_explored: t.explored, frames_collected: t.collected, largest_gamma: t.maxGamma, gamma_collect: collect, gamma_stop: stop,
        summaries: Object.keys(results).sort().map((task) => `${runDir(stage.iteration, task)}/summary.json`),
        conditions: conditionsLine(stage), run_list: runList(stage),
      },
    };
  },
  neverRetried: {
    explore_error: 'the MD engine stopped with an error; the same start, seed and potential fail the same way (see its last error line)',
    zero_gamma: 'a broken active set stays broken: retrain, or check python-ace',
  },
});
