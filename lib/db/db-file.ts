/**
 * Opening database files: the checks before SQLite sees a file, making a new one (schema
 * complete or no file at all), the busy timeout, the check of a file about to be written, and
 * what SQLite's error codes mean to a user.
 *
 * SQLite writes in place: a symlinked database is written through the link (SQLite resolves it
 * and keeps its journal next to the target), and the file keeps its mode, owner and group.
 */
import Database from 'better-sqlite3';
import { statSync, lstatSync, linkSync, unlinkSync, type Stats } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AseDatabase } from './ase-db.js';
import { SCHEMA_SQL, ASE_DB_VERSION } from './schema.js';
import { AutopipeError, DatabaseBusyError, DatabaseError, FileAccessError, shown } from '../errors/errors.js';

/** How long a writer waits for another program's lock before giving up (ASE waits 20 s). */
export const DEFAULT_BUSY_TIMEOUT_MS = 30_000;

/**
 * A database opened for writing up to this size gets SQLite's whole `quick_check` (it reads
 * every page: about 1 ms per MiB here, so 60 ms at this size and a second at 1 GiB). A larger one
 * gets the checks whose cost does not grow with it: its size against its header (a cut or
 * padded copy), and SQLite's stricter check of every page the write reads (cell_size_check),
 * which a damaged page on the write's path fails. `autopipe db check` reads everything.
 */
export const FULL_CHECK_MAX_BYTES = 64 * 2 ** 20;

export interface OpenOptions {
  /** For writing: the file is checked (PRAGMA quick_check) first, and a damaged one refused. */
  write?: boolean;
  /** Make a new database when the file does not exist (or is empty). Implies write. */
  create?: boolean;
  /** Wait this long for another program's lock (default DEFAULT_BUSY_TIMEOUT_MS). */
  busyTimeoutMs?: number;
  /** Files up to this size get the whole quick_check when opened for writing (default FULL_CHECK_MAX_BYTES). */
  fullCheckMaxBytes?: number;
}

export function checkDbPath(path: string): void {
  // ASE picks its backend from the ending: anything but .db is not opened as SQLite.
  if (extname(path) !== '.db') {
    throw new DatabaseError(`${path}: an ASE database file must end in .db`, { hint: `name it ${path.replace(/\.[^./]*$/, '')}.db` });
  }
}

/** An empty database in memory (tests, benchmarks). */
export function memoryDatabase(): AseDatabase {
  const db = new Database(':memory:');
  db.exec(SCHEMA_SQL);
  return new AseDatabase(db, ':memory:', (err) => sqliteFailure(':memory:', err, 0));
}

/** Open an existing database, or (with create) a new one when the file does not exist. */
export function openDatabaseFile(path: string, opts: OpenOptions = {}): AseDatabase {
  checkDbPath(path);
  const timeout = opts.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  const write = opts.write === true || opts.create === true;
  const st = statOf(path);
  if (st === undefined) {
    if (opts.create !== true) throw new FileAccessError(`${path}: no such database`, { hint: 'check the path (`autopipe db add` creates a new one)' });
    createDatabaseFile(path);
  } else if (st.isDirectory()) {
    throw new FileAccessError(`${path}: is a folder, not a database file`, { hint: 'name a .db file' });
  } else if (!st.isFile()) {
    throw new FileAccessError(`${path}: not a regular file`, { hint: 'name a .db file' });
  } else if (st.size === 0 && opts.create !== true) {
    throw new DatabaseError(`${path}: the file is empty, not an ASE database`, { hint: '`autopipe db add` makes a database in it' });
  }
  let db: Database.Database;
  try {
    db = new Database(path, { fileMustExist: true, timeout });
  } catch (err) {
    throw sqliteFailure(path, err, timeout);
  }
  try {
    db.pragma('cell_size_check = ON'); // every page read is checked more strictly: damage is an error, not garbage
    awaitSchema(db, Math.min(timeout, SCHEMA_WAIT_MS));
    if (opts.create === true && tablesOf(db).length === 0) initialise(db); // an empty file is an empty SQLite database
    checkAseFile(db, path);
    if (write) checkBeforeWriting(db, path, opts.fullCheckMaxBytes ?? FULL_CHECK_MAX_BYTES);
  } catch (err) {
    db.close();
    throw sqliteFailure(path, err, timeout);
  }
  return new AseDatabase(db, path, (err) => sqliteFailure(path, err, timeout));
}

function statOf(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new FileAccessError(`${path}: cannot be read (${(err as Error).message})`, { cause: err });
    }
    let link = false;
    try {
      link = lstatSync(path).isSymbolicLink();
    } catch {
      // no such file and no link either
    }
    if (link) throw new FileAccessError(`${path}: a symbolic link to a file that does not exist`, { hint: 'fix the link or remove it' });
    return undefined;
  }
}

const ASE_TABLES = ['systems', 'species', 'keys', 'text_key_values', 'number_key_values', 'information'];
/** How long a half-made ASE schema is waited for (ASE creates its tables one statement at a time). */
const SCHEMA_WAIT_MS = 2000;

function tablesOf(db: Database.Database): string[] {
  return db.prepare("SELECT name FROM sqlite_master WHERE type='table'").pluck().all() as string[];
}

/**
 * ASE makes a new database's tables one by one, each committed on its own: another program
 * can see some of them. While the file holds some of ASE's tables and nothing else, its maker
 * is still at work: wait for the rest (a file that stays so is refused by checkAseFile).
 */
function awaitSchema(db: Database.Database, ms: number): void {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let waited = 0; waited < ms; waited += 20) {
    const tables = tablesOf(db);
    const partial = tables.length > 0 && tables.every((t) => ASE_TABLES.includes(t) || t === 'sqlite_sequence') && !ASE_TABLES.every((t) => tables.includes(t));
    if (!partial) return;
    Atomics.wait(pause, 0, 0, 20); // a synchronous pause: the database API is synchronous
  }
}

/**
 * ASE's schema in an empty database. Under the write lock, and only if nobody made it first:
 * another program (ASE creates its file empty, then the schema) may be a step ahead of us.
 */
function initialise(db: Database.Database): void {
  db.transaction(() => {
    if (db.prepare("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='systems'").pluck().get() === 0) db.exec(SCHEMA_SQL);
  }).immediate();
}

/**
 * A new database with the whole schema, or nothing: made under a temporary name in the same
 * folder, then linked into place (link(2) never replaces a file, so two programs creating the
 * same database at once end up sharing the first one's).
 */
function createDatabaseFile(path: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const db = new Database(tmp);
    try {
      initialise(db);
    } finally {
      db.close();
    }
    try {
      linkSync(tmp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  } catch (err) {
    if (err instanceof AutopipeError) throw err;
    throw new FileAccessError(`${path}: cannot create the database (${(err as Error).message})`, {
      hint: 'check that the folder exists and is writable', cause: err,
    });
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // never made
    }
  }
}

/** Refuse what ASE would refuse. */
function checkAseFile(db: Database.Database, path: string): void {
  const tables = tablesOf(db);
  if (!tables.includes('systems') || !tables.includes('information')) {
    throw new DatabaseError(`${path}: an SQLite file, but not an ASE database (no 'systems' or 'information' table)`, {
      hint: 'name a database written by ASE or autopipe, or a new file',
    });
  }
  const version = db.prepare("SELECT value FROM information WHERE name='version'").pluck().get();
  const v = Number(version);
  if (version === undefined || version === null || !Number.isInteger(v)) throw new DatabaseError(`${path}: ASE database without a version row`);
  if (v > ASE_DB_VERSION) {
    throw new DatabaseError(`${path}: written by a newer ASE (database version ${v}; this autopipe reads up to ${ASE_DB_VERSION})`);
  }
  if (v < 5) throw new DatabaseError(`${path}: an old ASE database (version ${v}); convert it with a current ASE first`);
}

const DAMAGED_HINT = 'restore it from a backup, or save what is readable with `sqlite3 FILE .recover | sqlite3 NEW.db`';

/** Appending to a damaged file buries good rows in it: refuse one before anything is written. */
function checkBeforeWriting(db: Database.Database, path: string, fullCheckMaxBytes: number): void {
  // read after the first query: a hot journal left by a crashed writer has been rolled back by now
  const size = statSync(path).size;
  if (size <= fullCheckMaxBytes) {
    const check = String(db.pragma('quick_check', { simple: true }));
    if (check !== 'ok') throw new DatabaseError(`${path}: the database is damaged (SQLite: ${shown(check, 200)}); nothing was written`, { hint: DAMAGED_HINT });
    return;
  }
  if (String(db.pragma('journal_mode', { simple: true })) === 'wal') return; // the newest pages are in the -wal file
  const pages = Number(db.pragma('page_count', { simple: true }));
  const pageSize = Number(db.pragma('page_size', { simple: true }));
  if (pages * pageSize !== size) {
    throw new DatabaseError(`${path}: the database is damaged (the file has ${size} bytes, its header says ${pages} pages of ${pageSize}: cut short or padded); nothing was written`, { hint: DAMAGED_HINT });
  }
}

/** What a SQLite error means for the user, as one of our errors (ours pass through). */
export function sqliteFailure(path: string, err: unknown, timeoutMs: number): Error {
  if (err instanceof AutopipeError) return err;
  const code = String((err as { code?: unknown }).code ?? '');
  const message = (err as Error)?.message ?? String(err);
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new DatabaseBusyError(`${path}: another program is writing it (waited ${timeoutMs / 1000} s for its lock)`, {
      hint: 'try again when it has finished (cron will); AUTOPIPE_DB_TIMEOUT=seconds waits longer', cause: err,
    });
  }
  if (code.startsWith('SQLITE_CORRUPT')) {
    return new DatabaseError(`${path}: the database is damaged (SQLite: ${message}); nothing was written`, { hint: DAMAGED_HINT, cause: err });
  }
  if (code === 'SQLITE_NOTADB') {
    return new DatabaseError(`${path}: not a readable SQLite database (${message})`, {
      hint: 'check the path; a database must be a .db file written by ASE or autopipe', cause: err,
    });
  }
  if (/^SQLITE_(CANTOPEN|READONLY|PERM|IOERR|FULL|AUTH)/.test(code)) {
    return new FileAccessError(`${path}: cannot ${code.startsWith('SQLITE_READONLY') ? 'write' : 'read or write'} the database (${message})`, {
      hint: code === 'SQLITE_FULL' ? 'the disk is full: free space and run again' : "check the file's and its folder's permissions", cause: err,
    });
  }
  if (code.startsWith('SQLITE_')) return new DatabaseError(`${path}: ${message}`, { cause: err });
  return err instanceof Error ? err : new Error(message);
}
