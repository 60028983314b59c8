/**
 * ASE's SQLite database (`.db`, schema version 9) read and written with sql.js, on bytes:
 * `AseDatabase.fromBytes(bytes)` … `toBytes()`. Files are read and saved elsewhere (db-file.ts).
 *
 * What goes where: the structure and results in their columns; scalar facts as key-value pairs
 * (queryable); per-atom arrays other than ASE's own (tags, momenta, masses, initial_magmoms,
 * initial_charges), such as `force_mask`, as ndarrays in `data`.
 */
import initSqlJs, { type Database, type SqlJsStatic, type SqlValue, type Statement } from 'sql.js';
import { makeAtoms, maxForce, maxStress, type Atoms, type PerAtomArray } from '../atoms/atoms.js';
import { ATOMIC_MASSES } from '../atoms/elements.js';
import { cellVolume } from '../atoms/cell.js';
import { DatabaseError } from '../errors/errors.js';
import { SCHEMA_SQL, ASE_DB_VERSION, unixToAseTime, aseTimeToUnix } from './schema.js';
import { float64Blob, int32Blob, blobToFloat64, blobToInt32 } from './blobs.js';
import { dataToBytes, dataFromColumn, NdArray, type DataObject, type DataValue } from './ase-data.js';
import { pyJsonDumps, pyJsonLoads } from './pyjson.js';
import { kvpProblems, type Kvp, type KvpValue } from './keys.js';
import { contentUniqueId } from './unique-id.js';

let sqlJs: Promise<SqlJsStatic> | undefined;
function loadSqlJs(): Promise<SqlJsStatic> {
  sqlJs ??= initSqlJs();
  return sqlJs;
}

export interface WriteOptions {
  kvp?: Kvp;
  data?: DataObject;
  /** Default: derived from the content (contentUniqueId). */
  uniqueId?: string;
  /** Creation time, Unix seconds (injected: no hidden clock). */
  now: number;
  user?: string | null;
}

export interface AseRow {
  id: number;
  uniqueId: string | null;
  /** Unix seconds. */
  ctime: number;
  user: string | null;
  calculator: string | null;
  atoms: Atoms;
  kvp: Record<string, KvpValue>;
  data: DataObject;
}

/** Per-atom arrays that have columns of their own in ASE's schema. */
const COLUMN_ARRAYS = ['initial_magmoms', 'initial_charges', 'masses', 'tags', 'momenta'] as const;

const INSERT_COLUMNS = [
  'unique_id', 'ctime', 'mtime', 'username', 'numbers', 'positions', 'cell', 'pbc',
  'initial_magmoms', 'initial_charges', 'masses', 'tags', 'momenta', 'calculator', 'calculator_parameters',
  'energy', 'free_energy', 'forces', 'stress', 'key_value_pairs', 'data',
  'natoms', 'fmax', 'smax', 'volume', 'mass', 'charge',
];
// One statement inserts and returns the new id, or returns nothing when the unique_id exists.
const INSERT_SQL = `INSERT OR IGNORE INTO systems (${INSERT_COLUMNS.join(', ')}) VALUES (${INSERT_COLUMNS.map(() => '?').join(', ')}) RETURNING id`;

export class AseDatabase {
  /** Prepared once per statement text: sql.js would otherwise compile the SQL on every call. */
  private readonly statements = new Map<string, Statement>();

  private constructor(private readonly db: Database) {}

  private statement(sql: string): Statement {
    let stmt = this.statements.get(sql);
    if (stmt === undefined) {
      stmt = this.db.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }

  private run(sql: string, params: SqlValue[]): void {
    this.statement(sql).run(params);
  }

  private scalar(sql: string, params: SqlValue[] = []): SqlValue | undefined {
    const stmt = this.statement(sql);
    stmt.bind(params);
    const value = stmt.step() ? stmt.get()[0] : undefined;
    stmt.reset();
    return value;
  }

  /** A new, empty database with ASE's exact schema. */
  static async create(): Promise<AseDatabase> {
    const SQL = await loadSqlJs();
    const db = new SQL.Database();
    db.run(SCHEMA_SQL);
    return new AseDatabase(db);
  }

  /** Open database bytes; `name` is used in messages. Refuses files ASE would refuse. */
  static async fromBytes(bytes: Uint8Array, name: string): Promise<AseDatabase> {
    const SQL = await loadSqlJs();
    let db: Database;
    let version: string | undefined;
    try {
      db = new SQL.Database(bytes);
      const tables = db.exec("SELECT name FROM sqlite_master WHERE type='table'").at(0)?.values.map((r) => String(r[0])) ?? [];
      if (!tables.includes('systems') || !tables.includes('information')) {
        throw new DatabaseError(`${name}: an SQLite file, but not an ASE database (no 'systems' or 'information' table)`);
      }
      version = db.exec("SELECT value FROM information WHERE name='version'").at(0)?.values[0]?.[0]?.toString();
    } catch (err) {
      if (err instanceof DatabaseError) throw err;
      throw new DatabaseError(`${name}: not a readable SQLite database (${(err as Error).message})`, {
        hint: 'check the path; a database must be a .db file written by ASE or autopipe',
        cause: err,
      });
    }
    const v = Number(version);
    if (version === undefined || !Number.isInteger(v)) throw new DatabaseError(`${name}: ASE database without a version row`);
    if (v > ASE_DB_VERSION) {
      throw new DatabaseError(`${name}: written by a newer ASE (database version ${v}; this autopipe reads up to ${ASE_DB_VERSION})`);
    }
    if (v < 5) throw new DatabaseError(`${name}: an old ASE database (version ${v}); convert it with a current ASE first`);
    return new AseDatabase(db);
  }

  toBytes(): Uint8Array {
    return this.db.export();
  }

  close(): void {
    for (const stmt of this.statements.values()) stmt.free();
    this.statements.clear();
    this.db.close();
  }

  count(): number {
    return Number(this.scalar('SELECT count(*) FROM systems'));
  }

  /** The id of the row with this unique_id, or undefined. */
  idOf(uniqueId: string): number | undefined {
    const r = this.scalar('SELECT id FROM systems WHERE unique_id = ?', [uniqueId]);
    return r === undefined || r === null ? undefined : Number(r);
  }

  /** Run `fn` in one transaction (much faster for many writes). */
  transaction<T>(fn: () => T): T {
    this.db.run('BEGIN');
    try {
      const out = fn();
      this.db.run('COMMIT');
      return out;
    } catch (err) {
      this.db.run('ROLLBACK');
      throw err;
    }
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

    const n = atoms.numbers.length;
    const r = atoms.results;
    const hasResults = r.energy !== undefined || r.forces !== undefined || r.stress !== undefined || r.free_energy !== undefined;
    const columnArray = (name: (typeof COLUMN_ARRAYS)[number]): Uint8Array | null => {
      const a = atoms.arrays[name];
      if (a === undefined || a.kind === 'string' || a.kind === 'bool') return null;
      return name === 'tags' ? int32Blob(a.values) : float64Blob(a.values);
    };
    const masses = atoms.arrays.masses;
    let mass = 0;
    if (masses !== undefined && masses.kind === 'float') for (const m of masses.values) mass += m;
    else for (const z of atoms.numbers) mass += ATOMIC_MASSES[z] ?? 0;
    const charges = atoms.arrays.initial_charges;
    let charge = 0;
    if (charges !== undefined && charges.kind === 'float') for (const q of charges.values) charge += q;
    const volume = cellVolume(atoms.cell);
    const t = unixToAseTime(opts.now);
    const values: SqlValue[] = [
      uniqueId, t, t, opts.user ?? null,
      int32Blob(atoms.numbers), float64Blob(atoms.positions), float64Blob(atoms.cell),
      (atoms.pbc[0] ? 1 : 0) + (atoms.pbc[1] ? 2 : 0) + (atoms.pbc[2] ? 4 : 0),
      columnArray('initial_magmoms'), columnArray('initial_charges'), columnArray('masses'), columnArray('tags'), columnArray('momenta'),
      hasResults ? 'unknown' : null, hasResults ? '{}' : null,
      r.energy ?? null, r.free_energy ?? null,
      r.forces === undefined ? null : float64Blob(r.forces),
      r.stress === undefined ? null : float64Blob(r.stress),
      pyJsonDumps(kvp), dataToBytes({ ...perAtomData(atoms), ...(opts.data ?? {}) }),
      n, r.forces === undefined ? null : maxForce(r.forces),
      r.stress === undefined ? null : maxStress(r.stress),
      volume === 0 ? null : volume, mass, charge,
    ];
    const inserted = this.scalar(INSERT_SQL, values);
    if (inserted === undefined) return { id: this.idOf(uniqueId) as number, added: false };
    const id = Number(inserted);
    this.writeSideTables(id, atoms.numbers, kvp);
    return { id, added: true };
  }

  private writeSideTables(id: number, numbers: Int32Array, kvp: Kvp): void {
    const counts = new Map<number, number>();
    for (const z of numbers) counts.set(z, (counts.get(z) ?? 0) + 1);
    for (const [z, c] of counts) this.run('INSERT INTO species VALUES (?, ?, ?)', [z, c, id]);
    for (const [k, v] of Object.entries(kvp)) {
      this.run('INSERT INTO keys VALUES (?, ?)', [k, id]);
      if (typeof v === 'string') this.run('INSERT INTO text_key_values VALUES (?, ?, ?)', [k, v, id]);
      else this.run('INSERT INTO number_key_values VALUES (?, ?, ?)', [k, typeof v === 'boolean' ? (v ? 1 : 0) : v, id]);
    }
  }

  /** Every row, in id order. */
  *rows(): Generator<AseRow> {
    const stmt = this.db.prepare(`SELECT ${ROW_COLUMNS.join(', ')} FROM systems ORDER BY id`);
    try {
      while (stmt.step()) yield rowFromValues(stmt.get());
    } finally {
      stmt.free();
    }
  }

  get(id: number): AseRow | undefined {
    const stmt = this.db.prepare(`SELECT ${ROW_COLUMNS.join(', ')} FROM systems WHERE id = ?`);
    try {
      stmt.bind([id]);
      return stmt.step() ? rowFromValues(stmt.get()) : undefined;
    } finally {
      stmt.free();
    }
  }
}

/** Per-atom arrays without a column of their own, as ndarrays for `data`. */
function perAtomData(atoms: Atoms): DataObject {
  const out: DataObject = {};
  const n = atoms.numbers.length;
  for (const [name, a] of Object.entries(atoms.arrays)) {
    if ((COLUMN_ARRAYS as readonly string[]).includes(name)) continue;
    const shape = a.width === 1 ? [n] : [n, a.width];
    if (a.kind === 'float') out[name] = new NdArray('float64', shape, a.values);
    else if (a.kind === 'int') out[name] = new NdArray('int64', shape, BigInt64Array.from(a.values, (x) => BigInt(x)));
    else if (a.kind === 'bool') out[name] = new NdArray('bool', shape, a.values);
    else out[name] = a.values;
  }
  return out;
}

const ROW_COLUMNS = [
  'id', 'unique_id', 'ctime', 'username', 'numbers', 'positions', 'cell', 'pbc', 'initial_magmoms',
  'initial_charges', 'masses', 'tags', 'momenta', 'calculator', 'energy', 'free_energy', 'forces', 'stress',
  'key_value_pairs', 'data',
];

function rowFromValues(v: SqlValue[]): AseRow {
  const col = (name: string): SqlValue => v[ROW_COLUMNS.indexOf(name)];
  const blob = (name: string): Uint8Array | null => {
    const x = col(name);
    return x instanceof Uint8Array ? x : null;
  };
  const numbers = blobToInt32(blob('numbers') ?? new Uint8Array(0));
  const n = numbers.length;
  const arrays: Record<string, PerAtomArray> = {};
  for (const name of COLUMN_ARRAYS) {
    const b = blob(name);
    if (b === null) continue;
    if (name === 'tags') arrays.tags = { kind: 'int', width: 1, values: Float64Array.from(blobToInt32(b)) };
    else {
      const values = blobToFloat64(b);
      arrays[name] = { kind: 'float', width: n === 0 ? 1 : values.length / n, values };
    }
  }
  const forces = blob('forces');
  const stress = blob('stress');
  const pbc = Number(col('pbc') ?? 0);
  const energy = col('energy');
  const free = col('free_energy');
  const kvpText = col('key_value_pairs');
  const dataCol = col('data');
  const ctime = Number(col('ctime'));
  const atoms = makeAtoms({
    numbers,
    positions: blobToFloat64(blob('positions') ?? new Uint8Array(0)),
    cell: blob('cell') === null ? undefined : blobToFloat64(blob('cell') as Uint8Array),
    pbc: [(pbc & 1) !== 0, (pbc & 2) !== 0, (pbc & 4) !== 0],
    arrays,
    results: {
      energy: energy === null ? undefined : Number(energy),
      free_energy: free === null ? undefined : Number(free),
      forces: forces === null ? undefined : blobToFloat64(forces),
      stress: stress === null ? undefined : blobToFloat64(stress),
    },
  });
  return {
    id: Number(col('id')),
    uniqueId: col('unique_id') === null ? null : String(col('unique_id')),
    ctime: aseTimeToUnix(ctime),
    user: col('username') === null ? null : String(col('username')),
    calculator: col('calculator') === null ? null : String(col('calculator')),
    atoms,
    kvp: typeof kvpText === 'string' ? (pyJsonLoads(kvpText) as Record<string, KvpValue>) : {},
    data: dataFromColumn(dataCol instanceof Uint8Array || typeof dataCol === 'string' ? dataCol : null),
  };
}

/**
 * Atoms of a row with the per-atom entries of `data` (ndarrays whose first axis is the number
 * of atoms, e.g. `force_mask`) turned back into per-atom arrays: the inverse of `write`.
 */
export function rowAtomsWithData(row: AseRow): Atoms {
  const n = row.atoms.numbers.length;
  const arrays: Record<string, PerAtomArray> = { ...row.atoms.arrays };
  for (const [name, v] of Object.entries(row.data)) {
    const a = perAtomFromData(v, n);
    if (a !== undefined) arrays[name] = a;
  }
  return makeAtoms({ ...row.atoms, arrays });
}

function perAtomFromData(v: DataValue, n: number): PerAtomArray | undefined {
  if (v instanceof NdArray) {
    if (n === 0 || v.shape.length < 1 || v.shape.length > 2 || v.shape[0] !== n) return undefined;
    const width = v.shape.length === 2 ? v.shape[1] : 1;
    if (v.dtype === 'float64' || v.dtype === 'float32') return { kind: 'float', width, values: Float64Array.from(v.values as Float64Array) };
    if (v.dtype === 'int64') return { kind: 'int', width, values: Float64Array.from(v.values as BigInt64Array, Number) };
    if (v.dtype === 'int32') return { kind: 'int', width, values: Float64Array.from(v.values as Int32Array) };
    if (v.dtype === 'bool') return { kind: 'bool', width, values: v.values as Uint8Array };
    return undefined;
  }
  if (Array.isArray(v) && v.length === n && n > 0 && v.every((s) => typeof s === 'string')) {
    return { kind: 'string', width: 1, values: v as string[] };
  }
  return undefined;
}
