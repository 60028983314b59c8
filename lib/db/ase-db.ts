/**
 * ASE's SQLite database (`.db`, schema version 9) on the real SQLite library (better-sqlite3):
 * SQLite's own file locks, transactions, hot-journal rollback and WAL, and writes that touch
 * only the pages that change. Opening a file (checks, busy timeout, errors) is in db-file.ts; the
 * columns of one row are in row.ts; selections become SQL in query.ts.
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { Atoms } from '../atoms/atoms.js';
import { DatabaseError } from '../errors/errors.js';
import { kvpProblems, type Kvp } from './keys.js';
import { contentUniqueId } from './unique-id.js';
import { INSERT_COLUMNS, ROW_COLUMNS, rowFromStored, rowValues, speciesCounts, type AseRow, type StoredRow } from './row.js';
import { selectionSql, type Selection } from './query.js';
import type { DataObject } from './ase-data.js';

export type { AseRow } from './row.js';
export { rowAtomsWithData } from './row.js';

/** A labelled structure as autopipe's keys describe it (what `status` and the report count). */
export interface LabelledCell { id: number; natoms: number; iteration: number | null; embedded: boolean | null; parent_natoms: number | null; set?: string | null }

const LABELLED_SQL = "SELECT id, natoms, json_extract(key_value_pairs, '$.iteration') AS iteration, json_extract(key_value_pairs, '$.embedded') AS embedded, " +
  "json_extract(key_value_pairs, '$.parent_natoms') AS parent_natoms, json_extract(key_value_pairs, '$.set') AS \"set\" FROM systems WHERE json_valid(key_value_pairs) ORDER BY id";

export interface WriteOptions {
  kvp?: Kvp;
  data?: DataObject;
  /** Default: derived from the content (contentUniqueId). */
  uniqueId?: string;
  /** Creation time, Unix seconds (injected: no hidden clock). */
  now: number;
  user?: string | null;
}

// One statement inserts and returns the new id, or returns nothing when the unique_id exists.
const INSERT_SQL = `INSERT OR IGNORE INTO systems (${INSERT_COLUMNS.join(', ')}) VALUES (${INSERT_COLUMNS.map(() => '?').join(', ')}) RETURNING id`;
const SELECT_ROWS = `SELECT ${ROW_COLUMNS.map((c) => `systems.${c}`).join(', ')} FROM systems`;

export class AseDatabase {
  /** Compiled once per statement text. */
  private readonly statements = new Map<string, BetterSqlite3.Statement>();

  /**
   * `name` is used in messages; `onError` turns a SQLite error into one of ours (db-file.ts knows
   * which file it was and what the codes mean).
   */
  constructor(private readonly db: BetterSqlite3.Database, readonly name: string, private readonly onError: (err: unknown) => Error) {}

  private statement(sql: string): BetterSqlite3.Statement {
    let stmt = this.statements.get(sql);
    if (stmt === undefined) {
      stmt = this.db.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }

  /** Run fn, turning a SQLite failure into a DatabaseError/DatabaseBusyError/FileAccessError. */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw this.onError(err);
    }
  }

  close(): void {
    this.statements.clear();
    this.db.close();
  }

  /** SQLite's integrity_check: every page and every index against its table ([] when sound). */
  integrityProblems(): string[] {
    try {
      const rows = this.db.pragma('integrity_check') as Array<{ integrity_check: string }>;
      return rows.map((r) => r.integrity_check).filter((m) => m !== 'ok');
    } catch (err) {
      // a page too damaged to walk stops the check itself: that is its finding
      if (String((err as { code?: unknown }).code).startsWith('SQLITE_CORRUPT')) return [(err as Error).message];
      throw this.onError(err);
    }
  }

  count(): number {
    return this.guard(() => Number(this.statement('SELECT count(*) FROM systems').pluck().get()));
  }

  /** The id of the row with this unique_id, or undefined. */
  idOf(uniqueId: string): number | undefined {
    const r = this.guard(() => this.statement('SELECT id FROM systems WHERE unique_id = ?').pluck().get(uniqueId));
    return r === undefined || r === null ? undefined : Number(r);
  }

  /**
   * Run `fn` in one write transaction: all of its rows or none. BEGIN IMMEDIATE takes the write
   * lock first (waiting up to the busy timeout for another writer), so two writers queue
   * instead of one failing at commit.
   */
  transaction<T>(fn: () => T): T {
    return this.guard(() => this.db.transaction(fn).immediate());
  }

  /**
   * Add a row; returns its id and whether it was new. A row with the same unique_id is not
   * written again (idempotent merge). Throws DatabaseError for invalid key-value pairs.
   */
  write(atoms: Atoms, opts: WriteOptions): { id: number; added: boolean } {
    const kvp = opts.kvp ?? {};
    const problems = kvpProblems(kvp);
    if (problems.length > 0) throw new DatabaseError(`cannot store key-value pairs: ${problems.join('; ')}`);
    const uniqueId = opts.uniqueId ?? contentUniqueId(atoms);
    const values = rowValues(atoms, { uniqueId, kvp, data: opts.data ?? {}, now: opts.now, user: opts.user ?? null });
    return this.guard(() => {
      const inserted = this.statement(INSERT_SQL).pluck().get(values);
      if (inserted === undefined) return { id: this.idOf(uniqueId) as number, added: false };
      const id = Number(inserted);
      this.writeSideTables(id, atoms.numbers, kvp);
      return { id, added: true };
    });
  }

  private writeSideTables(id: number, numbers: Int32Array, kvp: Kvp): void {
    const species = this.statement('INSERT INTO species VALUES (?, ?, ?)');
    for (const [z, c] of speciesCounts(numbers)) species.run(z, c, id);
    const keys = this.statement('INSERT INTO keys VALUES (?, ?)');
    const text = this.statement('INSERT INTO text_key_values VALUES (?, ?, ?)');
    const number = this.statement('INSERT INTO number_key_values VALUES (?, ?, ?)');
    for (const [k, v] of Object.entries(kvp)) {
      keys.run(k, id);
      if (typeof v === 'string') text.run(k, v, id);
      else number.run(k, typeof v === 'boolean' ? (v ? 1 : 0) : v, id);
    }
  }

  /** The rows a selection matches (every row without one), in id order, decoded one at a time. */
  *select(selection?: Selection): Generator<AseRow> {
    const { where, args } = selectionSql(selection ?? { keys: [], comparisons: [] });
    const it = this.guard(() => this.db.prepare(`${SELECT_ROWS} ${where} ORDER BY systems.id`).iterate(...args));
    try {
      for (;;) {
        const next = this.guard(() => it.next());
        if (next.done === true) return;
        yield this.decode(next.value as StoredRow);
      }
    } finally {
      it.return?.(); // a consumer that stops early must not leave the connection busy
    }
  }

  /** Atoms of each element (by atomic number) over the rows with an energy, counted in SQLite (ASE's species table). */
  atomsPerElementLabelled(): Map<number, number> {
    const rows = this.guard(() => this.statement('SELECT species.Z AS z, SUM(species.n) AS n FROM species JOIN systems ON systems.id = species.id WHERE systems.energy IS NOT NULL GROUP BY species.Z').all() as Array<{ z: number; n: number }>);
    return new Map(rows.map((r) => [Number(r.z), Number(r.n)]));
  }

  /** Every row's size and autopipe's keys, read in SQLite without decoding the rows' arrays. */
  labelledCells(): LabelledCell[] {
    const num = (v: unknown) => (typeof v === 'number' || typeof v === 'bigint' ? Number(v) : null);
    return this.guard(() => this.statement(LABELLED_SQL).all() as Array<Record<string, unknown>>).map((r) => ({
      id: Number(r.id), natoms: Number(r.natoms), iteration: num(r.iteration),
      embedded: r.embedded === null || r.embedded === undefined ? null : Number(r.embedded) !== 0, parent_natoms: num(r.parent_natoms),
      set: typeof r.set === 'string' ? r.set : null,
    }));
  }

  get(id: number): AseRow | undefined {
    const v = this.guard(() => this.statement(`${SELECT_ROWS} WHERE id = ?`).get(id));
    return v === undefined ? undefined : this.decode(v as StoredRow);
  }

  private decode(v: StoredRow): AseRow {
    try {
      return rowFromStored(v);
    } catch (err) {
      throw new DatabaseError(`${this.name}: row ${String(v.id)} cannot be read (${(err as Error).message})`, {
        hint: 'the row is damaged; select around it (id!=N) or restore the file from a backup',
        cause: err,
      });
    }
  }
}
