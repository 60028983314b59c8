/**
 * A campaign that starts from data it was given (iterations.start: train) has no labelling of
 * its own to take the fit's level of theory from. Its level is then the one of the database's
 * rows that today's dft settings would compute: the same pw.x parameters that define a level
 * (ecutrho filled in as 4 × ecutwfc when unset, as pw.x does), the same k-point rule and the
 * same pseudopotential files. What only pw.x knows (its version, its MD5 of each pseudopotential)
 * cannot be compared before it runs: of several levels that differ only there, the one with
 * the most rows is taken and the others are left out and said, as any fit does. Pure.
 */
import type { Config } from '../../config/types.js';
import type { AseRow } from '../../db/ase-db.js';
import { asLevel, levelSummary, pwLevel, type LevelOfTheory } from '../../level/level.js';

type Dft = Pick<Config['dft'], 'parameters' | 'pseudopotentials' | 'kspacing' | 'kpoints' | 'gamma_trick'>;

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

/** Whether a level is what today's dft settings compute (pw.x's version and checksums aside). */
export function levelOfSettings(level: LevelOfTheory, dft: Dft): boolean {
  const ecutwfc = dft.parameters.ecutwfc;
  const expected = pwLevel(dft, {}, { code: null, pseudopotentials: {}, ecutwfc: null, ecutrho: typeof ecutwfc === 'number' ? 4 * ecutwfc : null } as Parameters<typeof pwLevel>[2]);
  if (canonical(level.parameters) !== canonical(expected.parameters) || canonical(level.kpoints) !== canonical(expected.kpoints)) return false;
  // each element the rows hold must have today's pseudopotential file
  return Object.entries(level.pseudopotentials).every(([el, p]) => dft.pseudopotentials[el] === p.file);
}

export interface StartLevel {
  /** The level id the first fit uses; undefined: no row is of today's settings. */
  level: string | undefined;
  /** Labelled rows (energy and forces) by level id (null: none), with one row's level to describe it. */
  levels: Array<{ id: string | null; rows: number; level: LevelOfTheory | undefined; matches: boolean }>;
}

/** The level of theory a campaign that starts at training fits at: today's settings' level with the most labelled rows. */
export function startLevel(rows: Iterable<AseRow>, dft: Dft): StartLevel {
  const by = new Map<string | null, StartLevel['levels'][number]>();
  for (const row of rows) {
    if (row.atoms.results.energy === undefined || row.atoms.results.forces === undefined) continue;
    const id = typeof row.kvp.level === 'string' ? row.kvp.level : null;
    let l = by.get(id);
    if (l === undefined) {
      const level = asLevel(row.data.level);
      l = { id, rows: 0, level, matches: id !== null && level !== undefined && levelOfSettings(level, dft) };
      by.set(id, l);
    }
    l.rows++;
  }
  const levels = [...by.values()].sort((a, b) => b.rows - a.rows || String(a.id).localeCompare(String(b.id)));
  return { level: levels.find((l) => l.matches)?.id ?? undefined, levels };
}

/** Why no row can start the fit, in words: what the database holds instead. */
export function noStartLevelText(s: StartLevel, db: string): string {
  if (s.levels.length === 0) return `${db} has no row with an energy and forces`;
  const held = s.levels.map((l) => `${l.rows} row(s) ${l.id === null ? 'without a level of theory' : `at level ${l.id} (${l.level === undefined ? '-' : levelSummary(l.level)})`}`);
  return `${db} has no labelled row at the level of theory of today's dft settings; it holds ${held.join('; ')}`;
}
