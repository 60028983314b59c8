/** Reading and saving database files (the format itself is in ase-db.ts, on bytes). */
import { readFileSync, existsSync } from 'node:fs';
import { extname } from 'node:path';
import { AseDatabase } from './ase-db.js';
import { writeFileAtomic } from '../fsutil/atomic.js';
import { DatabaseError, FileAccessError } from '../errors/errors.js';

export function checkDbPath(path: string): void {
  // ASE picks its backend from the ending: anything but .db is not opened as SQLite.
  if (extname(path) !== '.db') {
    throw new DatabaseError(`${path}: an ASE database file must end in .db`, { hint: `name it ${path.replace(/\.[^./]*$/, '')}.db` });
  }
}

/** Open an existing database, or (with create) a new empty one when the file does not exist. */
export async function openDatabaseFile(path: string, opts: { create?: boolean } = {}): Promise<AseDatabase> {
  checkDbPath(path);
  if (!existsSync(path)) {
    if (opts.create === true) return AseDatabase.create();
    throw new FileAccessError(`${path}: no such database`, { hint: 'check the path (`autopipe db add` creates a new one)' });
  }
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new FileAccessError(`${path}: cannot read (${(err as Error).message})`, { cause: err });
  }
  if (bytes.length === 0) {
    if (opts.create === true) return AseDatabase.create();
    throw new DatabaseError(`${path}: the file is empty, not an ASE database`);
  }
  return AseDatabase.fromBytes(bytes, path);
}

/** Save atomically: a crash mid-save leaves the previous file intact. */
export function saveDatabaseFile(path: string, db: AseDatabase): void {
  writeFileAtomic(path, db.toBytes());
}
