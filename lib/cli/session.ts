/**
 * What every loop command does around its work: the project's lock (taken, or waited for by
 * `run`), the executor and the loop's context (opened and always closed), and the campaign's
 * checkpoint read and checked against what is on disk.
 */
import { mkdirSync, statSync } from 'node:fs';
import type { Project } from '../project/project.js';
import { openExecutor, type OpenExecutor } from '../exec/factory.js';
import { readCursor, type Cursor } from '../state/cursor.js';
import { acquireLock } from '../state/lock.js';
import { REGISTRY } from '../stages/registry.js';
import { FileAccessError, LockHeldError, UsageError } from '../errors/errors.js';
import { logger } from '../log/logger.js';
import { loopContext } from './loop-context.js';
import { checkCampaign } from './campaign.js';
import type { CliContext } from './context.js';

/** The work folder, made when missing; a file in its place is a clear error. */
export function workFolder(p: Project): void {
  const st = statSync(p.workdir, { throwIfNoEntry: false });
  if (st !== undefined && !st.isDirectory()) {
    throw new FileAccessError(`${p.workdir} is not a folder: autopipe keeps the campaign's checkpoint, database and kept files there`, {
      hint: `move that file away (mv ${p.workdir} ${p.workdir}.file), or set workdir: in autopipe.yaml to another folder`,
    });
  }
  try {
    mkdirSync(p.workdir, { recursive: true });
  } catch (err) {
    throw new FileAccessError(`cannot make the work folder ${p.workdir}: ${(err as Error).message}`, { hint: 'check the folder\'s permissions, or set workdir: in autopipe.yaml', cause: err });
  }
}

/** How long `run` waits for a lock another autopipe holds (a cron poll takes seconds) before it gives up. */
export const LOCK_WAIT_S = 600;

/**
 * fn under the project's lock. `wait`: when another autopipe holds it (a cron poll beside
 * `run`), wait for it, saying so once, instead of exiting 75 at once.
 */
export async function withLock<T>(p: Project, ctx: CliContext, fn: () => Promise<T>, opts: { wait?: boolean } = {}): Promise<T> {
  workFolder(p);
  const since = ctx.now();
  let said = false;
  for (;;) {
    let lock;
    try {
      lock = acquireLock(p.lockPath, ctx.now());
    } catch (err) {
      if (!(err instanceof LockHeldError) || opts.wait !== true || ctx.now() - since > LOCK_WAIT_S) throw err;
      if (!said) logger.info(`waiting for the project's lock: ${err.message}`);
      said = true;
      await new Promise((res) => setTimeout(res, 1000));
      continue;
    }
    try {
      return await fn();
    } finally {
      lock.release();
    }
  }
}

export type Loop = ReturnType<typeof loopContext>;

/** Open the executor (an SSH connection with a host) and the loop's context, run fn, always close both. */
export async function withLoop<T>(p: Project, ctx: CliContext, fn: (l: Loop, x: OpenExecutor) => Promise<T>): Promise<T> {
  const x = await openExecutor(p, ctx.now);
  const l = loopContext(p, x, ctx);
  try {
    return await fn(l, x);
  } finally {
    l.closeDb();
    x.close();
  }
}

/** The campaign's checkpoint, checked against the disk (a copy, a missing database); the lines to say about it (a move). */
export function openCampaign(p: Project, what: string): { cursor: Cursor; notes: string[] } {
  const cursor = readCursor(p.cursorPath);
  if (cursor === undefined) throw new UsageError(`nothing to ${what} in ${p.dir}: no cursor yet`, { hint: 'run autopipe submit (or autopipe run) first' });
  const { moved } = checkCampaign(p, cursor, REGISTRY);
  return { cursor, notes: moved === null ? [] : [moved] };
}
