/** `autopipe db add | import | levels | ls | export | check`. */
import type { Argv } from 'yargs';
import { natoms, hillFormula, makeAtoms, type Atoms } from '../../atoms/atoms.js';
import { parsePwOutput } from '../../formats/espresso-out.js';
import { writeExtxyz } from '../../formats/extxyz.js';
import { existsSync } from 'node:fs';
import { openDatabaseFile, checkDbPath, memoryDatabase } from '../../db/db-file.js';
import { parseKvpArg, type Kvp } from '../../db/keys.js';
import { parseSelection } from '../../db/query.js';
import type { DataObject } from '../../db/ase-data.js';
import { prepareRow } from '../../db/prepare-row.js';
import { readImport, unlabelled } from '../../db/import.js';
import { rowAtomsWithData, type AseDatabase, type AseRow } from '../../db/ase-db.js';
import { levelSummary } from '../../level/level.js';
import { declareLevel, importLevels, levelsOf } from './db-levels.js';
import { detectFormat, readStructures, readText } from '../../structures/read-any.js';
import { writeFileAtomic } from '../../fsutil/atomic.js';
import { PartialFailure, UsageError, AutopipeError, DatabaseError } from '../../errors/errors.js';
import { out, jsonArrayWriter, printJson } from '../output.js';
import { logger } from '../../log/logger.js';
import type { CliContext } from '../context.js';

interface Candidate { label: string; atoms?: Atoms; skip?: string }

/** Structures a file offers to the database: converged pw.x results, or extxyz/dump frames. */
function candidatesOf(file: string, types?: string[]): Candidate[] {
  try {
    if (detectFormat(file) === 'pw-out') {
      const r = parsePwOutput(readText(file));
      if (r.status !== 'ok' || r.atoms === undefined) {
        return [{ label: file, skip: `${r.status}${r.line === undefined ? '' : ` at line ${r.line}`}: ${r.message}` }];
      }
      return [{ label: file, atoms: r.atoms }];
    }
    const frames = [...readStructures(file, { types })];
    if (frames.length === 0) return [{ label: file, skip: 'no frames' }];
    return frames.map((atoms, i) => ({ label: frames.length > 1 ? `${file} frame ${i + 1}` : file, atoms }));
  } catch (err) {
    if (err instanceof AutopipeError) return [{ label: file, skip: err.message }];
    throw err;
  }
}

function parseKvps(args: string[] | undefined): Kvp {
  const kvp: Kvp = {};
  const problems: string[] = [];
  for (const a of args ?? []) {
    const r = parseKvpArg(a);
    if ('problem' in r) problems.push(r.problem);
    else kvp[r.key] = r.value;
  }
  if (problems.length > 0) throw new UsageError(`--kv: ${problems.join('; ')}`, { hint: 'keys are letters, digits and _, not ASE names such as energy, id, natoms or an element symbol' });
  return kvp;
}

function rowSummary(row: AseRow) {
  return {
    id: row.id,
    formula: hillFormula(row.atoms.numbers),
    natoms: natoms(row.atoms),
    energy: row.atoms.results.energy ?? null,
    key_value_pairs: row.kvp,
    data: Object.keys(row.data),
  };
}

interface RowToAdd { label: string; atoms: Atoms; kvp: Kvp; data: DataObject }

/** Every input file's rows, checked and ready to write (nothing is written yet). */
function rowsToAdd(files: string[], kvp: Kvp, types: string[] | undefined): { rows: RowToAdd[]; skipped: string[] } {
  const rows: RowToAdd[] = [];
  const skipped: string[] = [];
  for (const file of files) {
    for (const c of candidatesOf(file, types)) {
      if (c.atoms === undefined) {
        skipped.push(`${c.label}: ${c.skip}`);
        continue;
      }
      const prepared = prepareRow(c.atoms, kvp, { source: file });
      if (!prepared.ok) skipped.push(`${c.label}: ${prepared.reason}`);
      else rows.push({ label: c.label, atoms: c.atoms, kvp: prepared.kvp, data: prepared.data });
    }
  }
  return { rows, skipped };
}

/** Rows written in one transaction (all of them or none); how many were new. */
function writeRows(db: AseDatabase, rows: readonly RowToAdd[], ctx: CliContext, verb: string): number {
  let added = 0;
  db.transaction(() => {
    for (const r of rows) {
      const w = db.write(r.atoms, { kvp: r.kvp, data: r.data, now: ctx.now(), user: ctx.user });
      if (w.added) added++;
      logger.debug(`${w.added ? verb : 'already present'}: ${r.label} (id ${w.id})`);
    }
  });
  return added;
}

export function dbCommands(y: Argv, ctx: CliContext): Argv {
  return y
    .command('add <db> <files..>', 'add converged pw.x outputs and extxyz frames to an ASE database', (a) => a
      .positional('db', { type: 'string', demandOption: true, describe: 'database file (.db); created if missing' })
      .positional('files', { type: 'string', array: true, demandOption: true, describe: 'pw.x outputs, extxyz files' })
      .option('kv', { type: 'string', array: true, describe: 'key=value stored with every row (repeatable)' })
      .option('types', { type: 'string', describe: 'elements of LAMMPS types, for dumps' })
      .option('level', { type: 'string', describe: 'the level of theory of rows with energies: a level id of the database (autopipe db levels), a JSON file of one, or none (never fitted)' }),
    (argv) => {
      const kvp = parseKvps(argv.kv);
      checkDbPath(argv.db);
      // every input is read and checked first: the database's write lock is then held briefly
      const { rows, skipped } = rowsToAdd(argv.files as string[], kvp, argv.types?.split(','));
      for (const s of skipped) logger.warn(`skipped ${s}`);
      if (rows.length > 0) {
        const db = openDatabaseFile(argv.db, { create: true, busyTimeoutMs: ctx.dbBusyTimeoutMs });
        try {
          declareLevel(rows, argv.level, db);
          const added = writeRows(db, rows, ctx, 'added');
          logger.info(`${argv.db}: ${added} added, ${rows.length - added} already present, ${skipped.length} skipped; ${db.count()} rows in all`);
        } finally {
          db.close();
        }
      } else {
        logger.info(`${argv.db}: nothing to add (${skipped.length} skipped); the database is unchanged`);
      }
      if (skipped.length > 0) throw new PartialFailure(`${skipped.length} input(s) skipped (listed above)`, { hint: 'fix or leave out the skipped inputs; what was added stays added' });
    })
    .command('import <db> <file>', 'import labelled rows (energy and forces) from an ASE database or an extxyz, each with its level of theory, all or none', (a) => a
      .positional('db', { type: 'string', demandOption: true, describe: 'database file (.db); created if missing' })
      .positional('file', { type: 'string', demandOption: true, describe: 'an ASE database (.db) or an extxyz (.extxyz, .xyz) with energies and forces' })
      .option('kv', { type: 'string', array: true, describe: 'key=value stored with every row (repeatable)' })
      .option('level', { type: 'string', describe: "the rows' level of theory: a level id of the database (autopipe db levels), a JSON file of one, or none (never fitted); default: each row's own" }),
    (argv) => {
      const kvp = parseKvps(argv.kv);
      checkDbPath(argv.db);
      const file = argv.file as string;
      // every row is read and checked first: one bad row refuses the import, and nothing is written
      const rows = readImport(file);
      if (rows.length === 0) throw new UsageError(`${file} holds no row to import`, { hint: 'give a file with labelled structures' });
      const bare = unlabelled(rows);
      if (bare.length > 0) throw new UsageError(`${file}: ${bare.length} of ${rows.length} row(s) have no energy and forces, which db import is for; nothing was imported: ${bare.slice(0, 5).join(', ')}${bare.length > 5 ? ', …' : ''}`, { hint: 'import labelled rows only; structures without results go in with autopipe db add' });
      for (const r of rows) Object.assign(r.kvp, kvp);
      // a refused import leaves no new file behind: the levels are resolved before one is made
      if (!existsSync(argv.db)) {
        const empty = memoryDatabase();
        try {
          importLevels(rows, argv.level, empty, file, argv.db);
        } finally {
          empty.close();
        }
      }
      const db = openDatabaseFile(argv.db, { create: true, busyTimeoutMs: ctx.dbBusyTimeoutMs });
      try {
        importLevels(rows, argv.level, db, file, argv.db);
        const added = writeRows(db, rows, ctx, 'imported');
        const levels = [...new Set(rows.map((r) => (typeof r.kvp.level === 'string' ? r.kvp.level : 'none')))];
        logger.info(`${argv.db}: ${added} imported, ${rows.length - added} already present, from ${file} (level ${levels.join(', ')}); ${db.count()} rows in all`);
      } finally {
        db.close();
      }
    })
    .command('levels <db>', 'the levels of theory of the database\'s rows: id, rows, what defines each', (a) => a
      .positional('db', { type: 'string', demandOption: true })
      .option('json', { type: 'boolean', default: false }),
    (argv) => {
      const db = openDatabaseFile(argv.db, { busyTimeoutMs: ctx.dbBusyTimeoutMs });
      try {
        const levels = levelsOf(db);
        if (argv.json) printJson(levels.map((l) => ({ id: l.id, rows: l.rows, level: l.level ?? null })));
        else for (const l of levels) out(`${(l.id ?? 'none').padEnd(8)}  ${String(l.rows).padStart(6)} row(s)  ${l.level === undefined ? (l.id === null ? 'no level of theory (an older autopipe, or --level none)' : '-') : levelSummary(l.level)}\n`);
      } finally {
        db.close();
      }
    })
    .command('ls <db> [query]', 'list rows: id, formula, natoms, energy, key-value pairs, data entries', (a) => a
      .positional('db', { type: 'string', demandOption: true })
      .positional('query', { type: 'string', describe: 'selection, e.g. iteration=3,Al,natoms<10' })
      .option('json', { type: 'boolean', default: false }),
    (argv) => {
      const selection = parseSelection(queryOf(argv), ctx.now());
      const db = openDatabaseFile(argv.db, { busyTimeoutMs: ctx.dbBusyTimeoutMs });
      try {
        const list = argv.json ? jsonArrayWriter() : undefined;
        let n = 0;
        for (const row of db.select(selection)) {
          const r = rowSummary(row);
          const open = list !== undefined ? list.item(r) : out(summaryText(r));
          n++;
          if (!open) return; // the reader went away (| head): stop quietly
        }
        list?.end();
        logger.info(`${n} row(s)`);
      } finally {
        db.close();
      }
    })
    .command('export <db> [query]', 'write rows as extxyz (energy, forces, stress, key-value pairs, force_mask)', (a) => a
      .positional('db', { type: 'string', demandOption: true })
      .positional('query', { type: 'string' })
      .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'extxyz file to write' }),
    (argv) => {
      const selection = parseSelection(queryOf(argv), ctx.now());
      const db = openDatabaseFile(argv.db, { busyTimeoutMs: ctx.dbBusyTimeoutMs });
      try {
        let n = 0;
        // one frame at a time from the database to the file: an export of every row stays small in memory
        writeFileAtomic(argv.out, (function* () {
          for (const row of db.select(selection)) {
            n++;
            yield writeExtxyz([exportAtoms(row)]);
          }
        })());
        logger.info(`wrote ${n} structure(s) to ${argv.out}`);
      } finally {
        db.close();
      }
    })
    .command('check <db>', "SQLite's whole integrity check: every page, every index against its table", (a) => a
      .positional('db', { type: 'string', demandOption: true }),
    (argv) => {
      const db = openDatabaseFile(argv.db, { busyTimeoutMs: ctx.dbBusyTimeoutMs });
      try {
        const problems = db.integrityProblems();
        if (problems.length > 0) {
          for (const p of problems.slice(0, 20)) logger.warn(p);
          throw new DatabaseError(`${argv.db}: the database is damaged (${problems.length} problem(s), the first listed above)`, {
            hint: 'restore it from a backup, or save what is readable with `sqlite3 FILE .recover | sqlite3 NEW.db`',
          });
        }
        logger.info(`${argv.db}: ok (${db.count()} rows)`);
      } finally {
        db.close();
      }
    })
    .demandCommand(1, 'name a db command: add, import, levels, ls, export or check');
}

/**
 * The query, with the terms given after `--`: a term such as `-masked` (rows without the key)
 * would otherwise be read as options (`autopipe db ls x.db -- -masked`).
 */
function queryOf(argv: { query?: string; _: Array<string | number> }): string {
  return [argv.query, ...argv._.slice(2).map(String)].filter((t) => t !== undefined && t !== '').join(',');
}

function summaryText(r: ReturnType<typeof rowSummary>): string {
  const kv = Object.entries(r.key_value_pairs).map(([k, v]) => `${k}=${String(v)}`).join(' ');
  const e = r.energy === null ? '-' : r.energy.toFixed(6);
  return `${String(r.id).padStart(5)}  ${r.formula.padEnd(12)} ${String(r.natoms).padStart(6)}  ${e.padStart(14)}  ${kv}${r.data.length > 0 ? `  data: ${r.data.join(',')}` : ''}\n`;
}

/** A row as extxyz-ready Atoms: key-value pairs in info, per-atom data (force_mask) as arrays. */
export function exportAtoms(row: AseRow): Atoms {
  return makeAtoms({ ...rowAtomsWithData(row), info: { ...row.kvp } });
}
