/** The stage machine wired for tests: a registry, a database, a fake or real executor, no CLI. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Executor, PlannedFile } from '../../lib/exec/executor.js';
import type { Config } from '../../lib/config/types.js';
import type { AseDatabase } from '../../lib/db/ase-db.js';
import type { Cursor, StageRecord } from '../../lib/state/cursor.js';
import { emptyCursor } from '../../lib/state/cursor.js';
import type { PassContext } from '../../lib/loop/pass.js';
import { enterFirstStage } from '../../lib/loop/pass.js';
import { planStage } from '../../lib/loop/enter.js';
import type { Candidate, Registry } from '../../lib/stages/kind.js';
import { labelKind } from '../../lib/stages/label/index.js';
import { loadTemplate } from '../../lib/templates/render.js';
import { ASSETS } from '../../lib/cli/loop-context.js';

export const LABEL_ONLY: Registry = new Map([[labelKind.kind, labelKind]]);

export interface TestLoop {
  executor: Executor;
  config: Config;
  db: () => AseDatabase;
  now: number;
  token: () => string;
  runRoot: string;
  maxArraySize: number;
  candidates: Candidate[];
  saveCursor: (c: Cursor) => void;
  registry?: Registry;
  /** Templates by name; default: autopipe's own. */
  render?: (name: string, context: object) => string;
  kept?: Map<string, Buffer>;
}

export function passContext(t: TestLoop): PassContext {
  const render = t.render ?? ((name: string, context: object) => loadTemplate(name)(context));
  return {
    executor: t.executor, registry: t.registry ?? LABEL_ONLY, config: t.config, now: t.now, saveCursor: t.saveCursor, about: 'project under test',
    stageContext: (c) => ({
      cursor: c, iteration: c.iteration, config: t.config, configFile: 'autopipe.yaml', now: t.now, db: t.db, render,
      asset: (name) => readFileSync(join(ASSETS, name), 'utf8'),
      readFile: (path) => t.kept?.get(path),
      initialStructures: () => t.candidates, validationStructures: () => [],
    }),
    writeWork: (path, content) => t.kept?.set(path, Buffer.from(content, 'utf8')),
    sink: { db: t.db, keep: (path, content) => t.kept?.set(path, content), config: t.config, now: t.now, user: 'test' },
    arrays: { project: t.config.name, now: t.now, token: t.token, maxArraySize: async () => t.maxArraySize },
  };
}

export async function startLabelling(t: TestLoop): Promise<Cursor> {
  return enterFirstStage(passContext(t), emptyCursor(t.config.name, t.now, 'c0ffee000001'), []);
}

/** The labelling stage of iteration 0 while it is open. */
export function labelOf(c: Cursor): StageRecord {
  const s = c.stages.find((x) => x.kind === 'label');
  if (s === undefined) throw new Error('no open labelling stage');
  return s;
}

/** A cursor whose labelling stage of iteration 0 is planned (every submission an intent), with the files to stage. */
export function plannedLabelCursor(t: Omit<TestLoop, 'executor' | 'saveCursor' | 'db'>): { cursor: Cursor; files: PlannedFile[] } {
  const ctx = passContext({ ...t, executor: undefined as unknown as Executor, db: () => { throw new Error('no database in planning'); }, saveCursor: () => {} });
  const planned = planStage(labelKind, 0, ctx.stageContext(emptyCursor(t.config.name, t.now, 'c0ffee000001')), { ...ctx.arrays, maxArraySize: t.maxArraySize });
  return { cursor: { ...emptyCursor(t.config.name, t.now, 'c0ffee000001'), stages: [planned.stage] }, files: planned.files };
}
