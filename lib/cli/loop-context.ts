/**
 * The stage machine's context for one project: the executor, the registry of kinds, the
 * database (opened when first needed), kept files in the work folder, templates and the helper
 * scripts shipped with autopipe. The only place lib/loop meets the filesystem and the kinds.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { homeOf, type Project } from '../project/project.js';
import { validationFiles } from '../config/types.js';
import type { OpenExecutor } from '../exec/factory.js';
import { maxArraySize } from '../exec/factory.js';
import type { PassContext } from '../loop/pass.js';
import type { Candidate, StageContext } from '../stages/kind.js';
import { REGISTRY } from '../stages/registry.js';
import { loadTemplate, type Render } from '../templates/render.js';
import { readStructures } from '../structures/read-any.js';
import { openDatabaseFile } from '../db/db-file.js';
import type { AseDatabase } from '../db/ase-db.js';
import { writeCursor, type Cursor } from '../state/cursor.js';
import { makeDirs, readKeptFile, writeFileAtomic } from '../fsutil/atomic.js';
import { ConfigError, FileAccessError } from '../errors/errors.js';
import type { CliContext } from './context.js';

/** Helper scripts that run where the jobs run (python/…), shipped with autopipe. */
export const ASSETS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'python');

/** Submission tokens: random, lowercase (they go into SLURM job names and file names). */
export function newToken(): string {
  return randomBytes(8).toString('hex').slice(0, 10);
}

export function candidatesOf(p: Project): Candidate[] {
  const file = p.config.structures;
  if (file === null) throw new ConfigError(p.configFile, ['structures: is required to label iteration 0 (an extxyz file of starting structures)']);
  const path = isAbsolute(file) ? file : join(p.dir, file);
  return [...readStructures(path)].map((atoms, k) => ({ atoms, source: { file, frame: k } }));
}

/** The structures of validation.structures, each file read whole (a missing one is named by its field). */
export function validationCandidatesOf(p: Project): Candidate[] {
  return validationFiles(p.config).flatMap((file, i) => {
    const path = isAbsolute(file) ? file : join(p.dir, file);
    if (!existsSync(path)) throw new ConfigError(p.configFile, [`validation.structures${typeof p.config.validation.structures === 'string' ? '' : `.${i}`}: ${file} does not exist`]);
    return [...readStructures(path)].map((atoms, k) => ({ atoms, source: { file, frame: k } }));
  });
}

/** A file kept in the work folder: written atomically once; a repeated merge of the same content is a no-op. */
function keep(workdir: string, path: string, content: Buffer): void {
  const full = join(workdir, path);
  const there = readKeptFile(full, 'a file this merge keeps');
  if (there !== undefined) {
    if (there.equals(content)) return;
    throw new FileAccessError(`${full} exists with other content; autopipe never overwrites a kept file`, { hint: 'move it away if it is not from this run' });
  }
  makeDirs(dirname(full));
  writeFileAtomic(full, content);
}

export interface LoopHandles { pass: PassContext; closeDb: () => void }

export function loopContext(p: Project, x: OpenExecutor, ctx: CliContext): LoopHandles {
  // the clock, read once for the pass: every stage it plans and runs carries the same time
  const now = ctx.now();
  let db: AseDatabase | undefined;
  const openDb = () => (db ??= openDatabaseFile(p.dbPath, { create: true, busyTimeoutMs: ctx.dbBusyTimeoutMs }));
  const templates = new Map<string, Render>();
  const render = (name: string, context: object) => {
    let r = templates.get(name);
    if (r === undefined) templates.set(name, (r = loadTemplate(name, join(p.dir, p.config.executor.templates))));
    return r(context);
  };
  const stageContext = (c: Cursor): StageContext => ({
    cursor: c, iteration: c.iteration, config: p.config, configFile: p.configFile, now, db: openDb, render,
    asset: (name) => readFileSync(join(ASSETS, name), 'utf8'),
    readFile: (path, base) => readKeptFile(isAbsolute(path) ? path : join(base === 'work' ? p.workdir : p.dir, path), base === 'work' ? 'a file the campaign kept' : 'a file autopipe.yaml names'),
    initialStructures: () => candidatesOf(p),
    validationStructures: () => validationCandidatesOf(p),
  });
  let arraySize: number | undefined;
  const pass: PassContext = {
    executor: x.executor, registry: REGISTRY, config: p.config, now,
    about: `project ${JSON.stringify(p.config.name)} at ${hostname()}:${p.dir}`,
    saveCursor: (c) => writeCursor(p.cursorPath, { ...c, updated_at: ctx.now(), home: homeOf(p) }),
    stageContext,
    writeWork: (path, content) => {
      const full = join(p.workdir, path);
      makeDirs(dirname(full));
      writeFileAtomic(full, content);
    },
    sink: { db: openDb, keep: (path, content) => keep(p.workdir, path, content), config: p.config, now, user: ctx.user },
    arrays: {
      project: p.config.name, now, token: newToken,
      maxArraySize: async () => (arraySize ??= await maxArraySize(p, x.runner)),
    },
  };
  return { pass, closeDb: () => db?.close() };
}
