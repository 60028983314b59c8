/**
 * One submit or poll at a time per project. The lock is a file created atomically with
 * link(2) (it fails if the file exists, on every filesystem we care about, NFS included);
 * it records pid, host and start time. A lock whose process is dead (same host) is taken over:
 * it is first renamed away, which only one contender can do.
 */
import { writeFileSync, linkSync, unlinkSync, readFileSync, renameSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { LockHeldError, FileAccessError } from '../errors/errors.js';
import { isProcessAlive } from './process.js';

export interface LockInfo { pid: number; host: string; since: number }

export interface Lock { release(): void }

function readInfo(path: string): LockInfo | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
  } catch {
    return undefined; // vanished, or half-written by a writer that died: treated as stale below
  }
}

/** Take the lock at `path` or throw LockHeldError (exit 75). `now`: Unix seconds. */
export function acquireLock(path: string, now: number, pid = process.pid): Lock {
  const me: LockInfo = { pid, host: hostname(), since: now };
  const tmp = join(dirname(path), `.lock.${pid}.${randomBytes(4).toString('hex')}`);
  try {
    writeFileSync(tmp, JSON.stringify(me));
  } catch (err) {
    throw new FileAccessError(`cannot create the lock in ${dirname(path)}: ${(err as Error).message}`, { cause: err });
  }
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(tmp, path);
        return { release: () => releaseIfOurs(path, me) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = readInfo(path);
      const stale = holder === undefined || (holder.host === me.host && !isProcessAlive(holder.pid));
      if (!stale) {
        const h = holder as LockInfo;
        throw new LockHeldError(`another autopipe (pid ${h.pid} on ${h.host}, since ${new Date(h.since * 1000).toISOString()}) is working on this project`, {
          hint: `try again later; if that process is gone from ${h.host}, remove ${path}`,
        });
      }
      try {
        renameSync(path, `${path}.stale.${pid}`); // only one contender gets to move it
        unlinkSync(`${path}.stale.${pid}`);
      } catch {
        // someone else took it over first: try to link again
      }
    }
    throw new LockHeldError(`could not take the lock ${path}: it keeps changing hands`, { hint: 'try again later' });
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
  }
}

function releaseIfOurs(path: string, me: LockInfo): void {
  const now = readInfo(path);
  if (now !== undefined && now.pid === me.pid && now.host === me.host && now.since === me.since) unlinkSync(path);
}
