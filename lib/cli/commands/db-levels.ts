/**
 * The level of theory rows with energies go into a database with (`db add --level`, `db import`):
 * a fit uses only rows of one level, so every such row declares its own, or is refused.
 */
import type { Kvp } from '../../db/keys.js';
import type { DataObject } from '../../db/ase-data.js';
import type { AseDatabase } from '../../db/ase-db.js';
import type { ImportRow } from '../../db/import.js';
import { asLevel, LEVEL_ID, levelId, type LevelOfTheory } from '../../level/level.js';
import { readText } from '../../structures/read-any.js';
import { AutopipeError, UsageError } from '../../errors/errors.js';
import type { Atoms } from '../../atoms/atoms.js';

/** A row about to be written: its level goes into its key-value pairs (the id) and data (the level). */
interface LevelledRow { atoms: Atoms; kvp: Kvp; data: DataObject }

/** Each level of theory of a database's rows with energies: its id (null: none), how many rows, and what defines it. */
export function levelsOf(db: AseDatabase): Array<{ id: string | null; rows: number; level: LevelOfTheory | undefined }> {
  const by = new Map<string | null, { id: string | null; rows: number; level: LevelOfTheory | undefined }>();
  for (const row of db.select()) {
    if (row.atoms.results.energy === undefined) continue;
    const id = typeof row.kvp.level === 'string' ? row.kvp.level : null;
    const l = by.get(id) ?? { id, rows: 0, level: asLevel(row.data.level) };
    l.rows++;
    by.set(id, l);
  }
  return [...by.values()].sort((a, b) => b.rows - a.rows);
}

/**
 * Rows with energies declare the level of theory they were computed at, or are refused: a level
 * id the database has, a JSON file of one (as `db levels --json` prints them), or `none` (kept,
 * never fitted). Rows without an energy need none.
 */
const LEVEL_HINT = 'give --level ID (one of `autopipe db levels DB`), --level FILE.json (a level as `autopipe db levels DB --json` prints it), or --level none (kept, never fitted)';

/** The level --level names: one the database has (by id), or one in a JSON file; 'none': rows kept, never fitted. */
function givenLevel(given: string, db: AseDatabase): LevelOfTheory | 'none' {
  const hint = LEVEL_HINT;
  if (given === 'none') return 'none';
  let level: LevelOfTheory | undefined;
  if (LEVEL_ID.test(given)) {
    level = levelsOf(db).find((l) => l.id === given)?.level;
    if (level === undefined) throw new UsageError(`--level ${given}: the database has no row of that level`, { hint });
    return level;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readText(given));
  } catch (err) {
    if (err instanceof AutopipeError) throw err;
    throw new UsageError(`--level ${given}: not JSON (${(err as Error).message})`, { hint });
  }
  level = asLevel(Array.isArray(raw) ? (raw[0] as { level?: unknown })?.level : (raw as { level?: unknown })?.level ?? raw);
  if (level === undefined) throw new UsageError(`--level ${given}: not a level of theory (code, pseudopotentials, parameters, kpoints)`, { hint });
  return level;
}

function setLevel(r: { kvp: Kvp; data: DataObject }, level: LevelOfTheory | 'none'): void {
  if (level === 'none') {
    delete r.kvp.level;
    delete r.data.level;
    return;
  }
  r.kvp.level = levelId(level);
  r.data.level = level as unknown as DataObject;
}

/**
 * Rows with energies declare the level of theory they were computed at, or are refused: a level
 * id the database has, a JSON file of one (as `db levels --json` prints them), or `none` (kept,
 * never fitted). Rows without an energy need none.
 */
export function declareLevel(rows: LevelledRow[], given: string | undefined, db: AseDatabase): void {
  const labelled = rows.filter((r) => r.atoms.results.energy !== undefined);
  if (labelled.length === 0) return;
  if (given === undefined) throw new UsageError(`${labelled.length} input row(s) carry energies, and a row with an energy must declare the level of theory it was computed at: a fit uses only rows of one level`, { hint: LEVEL_HINT });
  const level = givenLevel(given, db);
  if (level === 'none') return;
  for (const r of labelled) setLevel(r, level);
}

/**
 * The level of each imported row: --level's for all (a row that says another is refused), else
 * the row's own (its data.level, as autopipe's rows keep it; or its key level, when the database
 * has that level). A row without one refuses the whole import, listed.
 */
export function importLevels(rows: ImportRow[], given: string | undefined, db: AseDatabase, file: string, dbFile: string): void {
  const problems: string[] = [];
  const known = new Map(levelsOf(db).flatMap((l) => (l.id !== null && l.level !== undefined ? [[l.id, l.level] as const] : [])));
  const level = given === undefined ? undefined : givenLevel(given, db);
  for (const r of rows) {
    const said = typeof r.kvp.level === 'string' ? r.kvp.level : undefined;
    const own = asLevel(r.data.level);
    if (level !== undefined) {
      const id = level === 'none' ? undefined : levelId(level);
      if (said !== undefined && id !== undefined && said !== id) problems.push(`${r.label} says level ${said}, --level gives ${id}`);
      else setLevel(r, level);
    } else if (own !== undefined) {
      if (said !== undefined && said !== levelId(own)) problems.push(`${r.label}: its key level ${said} is not the id of the level in its data (${levelId(own)})`);
      else setLevel(r, own);
    } else if (said !== undefined && known.has(said)) {
      setLevel(r, known.get(said) as LevelOfTheory);
    } else {
      problems.push(`${r.label}: ${said === undefined ? 'no level of theory' : `level ${said}, which ${dbFile} has no row of (its full level is not in ${file})`}`);
    }
  }
  if (problems.length > 0) {
    throw new UsageError(`${file}: ${problems.length} of ${rows.length} row(s) cannot be imported, for their level of theory (a fit uses only rows of one level); nothing was imported: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? '; …' : ''}`, { hint: LEVEL_HINT });
  }
}

