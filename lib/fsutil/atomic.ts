/**
 * Atomic file replacement: write a temporary file in the same folder, fsync it, rename it over
 * the target, fsync the folder. A crash at any instant leaves either the old file or the new
 * one, never a half-written one.
 */
import { openSync, writeSync, fsyncSync, closeSync, renameSync, unlinkSync, mkdirSync, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AutopipeError, FileAccessError } from '../errors/errors.js';

/**
 * Write `data` to `path` atomically. Given pieces (an iterable), each is written as it comes, so
 * a long output never sits whole in memory; an error from the pieces themselves passes through
 * unchanged (after the temporary file is removed).
 */
export function writeFileAtomic(path: string, data: string | Uint8Array | Iterable<string | Uint8Array>): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', 0o644);
    for (const piece of typeof data === 'string' || data instanceof Uint8Array ? [data] : data) {
      const bytes = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece;
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // the temporary file was never created or is already gone
    }
    if (err instanceof AutopipeError) throw err;
    throw new FileAccessError(`cannot write ${path}: ${(err as Error).message}`, {
      hint: 'check that the folder exists and is writable',
      cause: err,
    });
  }
  fsyncDir(dir);
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * mkdir -p, one level at a time from the deepest folder that exists. (Node's own recursive
 * mkdir spins forever where a parent exists but refuses children with ENOENT, as under /proc.)
 * Throws the errno error of the level that failed.
 */
export function makeDirs(path: string): void {
  const missing: string[] = [];
  for (let p = path; !existsSync(p); p = dirname(p)) {
    missing.push(p);
    if (dirname(p) === p) break;
  }
  for (const p of missing.reverse()) mkdirSync(p);
}

/**
 * A file autopipe keeps or reads back (a potential, a run's dump): its bytes, or undefined when
 * there is none. Anything else in its place (a folder, no permission) is a FileAccessError
 * that names it and says what to do, never an internal error.
 */
export function readKeptFile(path: string, what = 'a file autopipe keeps'): Buffer | undefined {
  const st = statSync(path, { throwIfNoEntry: false });
  if (st === undefined) return undefined;
  if (!st.isFile()) throw new FileAccessError(`${path} is not a file (${st.isDirectory() ? 'a folder' : 'not a regular file'}), but ${what}`, { hint: `move it away (mv ${path} ${path}.moved) and restore the file from a backup, or from the task folder it came from` });
  try {
    return readFileSync(path);
  } catch (err) {
    throw new FileAccessError(`cannot read ${path} (${what}): ${(err as Error).message}`, { hint: `give it back its read permission (chmod u+r ${path})`, cause: err });
  }
}
