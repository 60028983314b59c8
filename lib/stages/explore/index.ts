/** The exploration stage: MD runs with the iteration's potential, as job arrays (engine ase). */
import { posix } from 'node:path';
import type { Config } from '../../config/types.js';
import type { PotentialRecord } from '../../state/cursor.js';
import { readExtxyz } from '../../formats/extxyz.js';
import { StageError } from '../../errors/errors.js';
import { iterationDir, type Candidate, type StageContext, type StageKind } from '../kind.js';
import { ENGINE, planExplore } from './plan.js';
import { judgeExplore, type RunResult } from './judge.js';

/** Where a run's kept files go in the work folder: explore/iter-000/t0003/. */
export function runDir(iteration: number, task: string): string {
  return `explore/${iterationDir(iteration)}/${task}`;
}

function potentialOf(ctx: StageContext): { record: PotentialRecord; yaml: Buffer; asi: Buffer } {
  const record = ctx.cursor.potentials.find((p) => p.iteration === ctx.iteration);
  if (record === undefined) throw new StageError(`iteration ${ctx.iteration} has no potential to explore with`, { hint: 'its training stage must finish first' });
  const read = (name: string) => {
    const path = posix.join(record.dir, name);
    const b = ctx.readFile(path, 'work');
    if (b === undefined) throw new StageError(`the potential's ${path} is missing from the work folder`, { hint: 'restore it from the training job\'s folder' });
    return b;
  };
  return { record, yaml: read('output_potential.yaml'), asi: read('output_potential.asi') };
}

/** The elements of a pacemaker potential, in its order: its one-element species blocks (`- speciesblock: Al`). */
export function elementsOf(yaml: Buffer): string[] {
  const out = [...yaml.toString('utf8').matchAll(/^\s*-\s*speciesblock:\s*([A-Z][a-z]?)\s*$/gm)].map((m) => m[1]);
  if (out.length === 0) throw new StageError('the potential\'s yaml has no species blocks', { hint: 'is it a pacemaker potential (output_potential.yaml)?' });
  return out;
}

/** explore.structures, else the initial structures. */
function startsOf(ctx: StageContext): Candidate[] {
  const file = ctx.config.explore.structures;
  if (file === null) return ctx.initialStructures();
  const b = ctx.readFile(file, 'project');
  if (b === undefined) throw new StageError(`explore.structures: ${file} does not exist`, { hint: 'give an extxyz of starting structures, or null for the initial structures' });
  return readExtxyz(b.toString('utf8'), file).map((atoms, k) => ({ atoms, source: { file, frame: k + 1 } }));
}

export const exploreKind: StageKind = {
  kind: 'explore',
  template: 'explore.sbatch.hbs',
  progressFile: 'explore.out',
  // the run's inputs too: a retry starts from them
  outputs: ['explore.out', 'explore.err', 'summary.json', 'frames.dump', 'last.extxyz', 'start.extxyz', 'task.json'],
  resourcesField: 'explore.resources',
  resources: (config: Config) => config.explore.resources,
  scriptContext: (config: Config) => ({ python: config.explore.python }),
  plan(ctx, stageDir) {
    const pot = potentialOf(ctx);
    return planExplore({
      starts: startsOf(ctx), config: ctx.config, iteration: ctx.iteration, stageDir, engine: ctx.asset(ENGINE),
      potential: { dir: pot.record.dir, yaml: pot.yaml, asi: pot.asi }, elements: elementsOf(pot.yaml),
    });
  },
  retryFiles(task, failed, dir) {
    const start = failed.get('start.extxyz');
    const settings = failed.get('task.json');
    if (start === undefined || settings === undefined) return `${task.attempts.at(-1)?.dir ?? task.id} has no start.extxyz and task.json to retry from`;
    return [{ path: posix.join(dir, 'start.extxyz'), content: start.toString('utf8') }, { path: posix.join(dir, 'task.json'), content: settings.toString('utf8') }];
  },
  judge: (files, exitcode) => judgeExplore(files, exitcode),
  merge(done, sink, stage) {
    if (done.length === 0) return [];
    let explored = 0;
    let collected = 0;
    let top = 0;
    for (const d of done) {
      const r = d.result as RunResult;
      for (const [name, content] of r.files) sink.keep(posix.join(runDir(stage.iteration, d.task.id), name), content);
      explored += r.summary.frames_explored;
      collected += r.summary.frames_collected;
      top = Math.max(top, r.summary.max_gamma);
    }
    return [`explored ${done.length} run(s) of iteration ${stage.iteration}: ${explored} frames, ${collected} with γ ≥ ${sink.config.explore.gamma_collect} collected, largest γ ${top.toFixed(2)}`];
  },
  neverRetried: {
    explore_error: 'the MD engine stopped with an error; the same start, seed and potential fail the same way (see its last error line)',
    zero_gamma: 'a broken active set stays broken: retrain, or check python-ace',
  },
};
