/** Read structures from any format autopipe uses, chosen by the file's ending or content. */
import { readFileSync, openSync, readSync, closeSync } from 'node:fs';
import { extname } from 'node:path';
import type { Atoms } from '../atoms/atoms.js';
import { readExtxyz } from '../formats/extxyz.js';
import { readDumpFrames } from '../formats/lammps-dump.js';
import { parsePwOutput } from '../formats/espresso-out.js';
import { fileChunks } from '../fsutil/chunks.js';
import { FileAccessError, InputFormatError, UsageError } from '../errors/errors.js';

export type StructureFormat = 'extxyz' | 'lammps-dump' | 'pw-out';

export const FORMATS_BY_ENDING: Record<string, StructureFormat> = {
  '.xyz': 'extxyz', '.extxyz': 'extxyz', '.dump': 'lammps-dump', '.lammpstrj': 'lammps-dump',
  '.out': 'pw-out', '.pwo': 'pw-out', '.log': 'pw-out',
};

export function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new FileAccessError(`${path}: cannot read (${code === 'ENOENT' ? 'no such file' : code ?? (err as Error).message})`, { cause: err });
  }
}

/** The first bytes of a file as text (a format is told from its start; no need to read it all). */
function readHead(path: string, bytes: number): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const buf = Buffer.alloc(bytes);
    return buf.subarray(0, readSync(fd, buf, 0, bytes, 0)).toString('utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new FileAccessError(`${path}: cannot read (${code === 'ENOENT' ? 'no such file' : code ?? (err as Error).message})`, { cause: err });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Format by ending; for unknown endings, by the first line. */
export function detectFormat(path: string, given?: string): StructureFormat {
  if (given !== undefined) {
    if (!['extxyz', 'lammps-dump', 'pw-out'].includes(given)) throw new UsageError(`unknown input format '${given}' (extxyz, lammps-dump, pw-out)`);
    return given as StructureFormat;
  }
  const byEnding = FORMATS_BY_ENDING[extname(path).toLowerCase()];
  if (byEnding !== undefined) return byEnding;
  const head = readHead(path, 4096);
  if (head.startsWith('ITEM: TIMESTEP')) return 'lammps-dump';
  if (head.includes('Program PWSCF')) return 'pw-out';
  if (/^\s*\d+\s*\n/.test(head)) return 'extxyz';
  throw new UsageError(`${path}: cannot tell the format from the name or content; give --format (extxyz, lammps-dump, pw-out)`);
}

export interface ReadOptions {
  format?: string;
  types?: readonly string[];
  /** Columns each LAMMPS dump frame must have (checked at its ITEM: ATOMS line). */
  requiredColumns?: readonly string[];
}

/** Every frame of a file (for a pw.x output: its one structure, with results when converged). */
export function* readStructures(path: string, opts: ReadOptions = {}): Generator<Atoms> {
  const format = detectFormat(path, opts.format);
  if (format === 'extxyz') {
    yield* readExtxyz(readText(path), path);
  } else if (format === 'lammps-dump') {
    try {
      yield* readDumpFrames(fileChunks(path), { types: opts.types, requiredColumns: opts.requiredColumns }, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== undefined) throw new FileAccessError(`${path}: cannot read (${(err as Error).message})`, { cause: err });
      throw err;
    }
  } else {
    const out = parsePwOutput(readText(path));
    if (out.atoms === undefined) throw new InputFormatError(`no structure in this pw.x output (${out.message || out.status})`, { file: path, line: out.line });
    yield out.atoms;
  }
}
