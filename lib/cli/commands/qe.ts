/** `autopipe qe parse` and `autopipe qe input`. */
import type { Argv } from 'yargs';
import { existsSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { parsePwOutput, type PwOutput } from '../../formats/espresso-out.js';
import { writePwInput, type KPoints } from '../../formats/espresso-in.js';
import { symbolsOf, natoms } from '../../atoms/atoms.js';
import { readStructures, readText } from '../../structures/read-any.js';
import { loadConfigFile } from '../../config/load.js';
import { writeFileAtomic, makeDirs } from '../../fsutil/atomic.js';
import { ConfigError, FileAccessError, PartialFailure, StructureError, UsageError } from '../../errors/errors.js';
import { rows3 } from '../json.js';
import { out, printJson } from '../output.js';
import { logger } from '../../log/logger.js';

/** The shape users' scripts depend on (README: `autopipe qe parse --json`). */
export function parseResultJson(path: string, r: PwOutput): Record<string, unknown> {
  const a = r.atoms;
  return {
    path,
    status: r.status,
    error_class: r.errorClass,
    message: r.message,
    natoms: a === undefined ? null : natoms(a),
    symbols: a === undefined ? null : symbolsOf(a),
    cell: a === undefined ? null : rows3(a.cell),
    positions: a === undefined ? null : rows3(a.positions),
    energy: r.energy ?? null,
    forces: rows3(r.forces),
    stress: r.stress === undefined ? null : Array.from(r.stress),
    scf_iterations: r.scfIterations,
  };
}

/** The entry of a file that could not be read at all (the command then exits 74). */
function unreadable(err: FileAccessError): PwOutput {
  return { status: 'error', errorClass: 'not_pw_output', message: err.message, scfIterations: null, jobDone: false };
}

export function qeCommands(y: Argv): Argv {
  return y
    .command('parse <files..>', 'parse pw.x outputs: structure, energy, forces, stress, status', (a) => a
      .positional('files', { type: 'string', array: true, demandOption: true, describe: 'pw.x output files' })
      .option('json', { type: 'boolean', default: false, describe: 'one JSON array, one object per file' }),
    (argv) => {
      const files = argv.files as string[];
      const unread: string[] = [];
      const results = files.map((f) => {
        try {
          return [f, parsePwOutput(readText(f))] as const;
        } catch (err) {
          if (!(err instanceof FileAccessError)) throw err;
          unread.push(f);
          return [f, unreadable(err)] as const;
        }
      });
      if (argv.json) printJson(results.map(([f, r]) => parseResultJson(f, r)));
      else for (const [f, r] of results) out(summaryLine(f, r) + '\n');
      if (unread.length > 0) {
        throw new FileAccessError(`${unread.length} of ${files.length} file(s) cannot be read: ${unread.slice(0, 5).join(', ')}${unread.length > 5 ? ', …' : ''}`, { hint: 'check the paths and their permissions; the others are listed above' });
      }
      const bad = results.filter(([, r]) => r.status !== 'ok').length;
      if (bad > 0) throw new PartialFailure(`${bad} of ${results.length} file(s) did not give a converged result`, { hint: 'see the status and message of each file above' });
    })
    .command('input <structures..>', 'write pw.x inputs for structures, with the dft section of autopipe.yaml', (a) => a
      .positional('structures', { type: 'string', array: true, demandOption: true, describe: 'extxyz, LAMMPS dump or pw.x output files' })
      .option('config', { alias: 'c', type: 'string', default: 'autopipe.yaml', describe: 'configuration file' })
      .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'folder for the inputs' })
      .option('types', { type: 'string', describe: 'elements of LAMMPS types, e.g. Al,Cu' }),
    (argv) => {
      const { config } = loadConfigFile(argv.config);
      const dft = config.dft;
      const kpoints: KPoints = dft.kpoints !== null ? { kind: 'mesh', mesh: dft.kpoints } : { kind: 'spacing', spacing: dft.kspacing, gammaTrick: dft.gamma_trick };
      // every input is made (and refused, if it must be) before one file is written
      const inputs = new Map<string, { text: string; from: string; atoms: number }>();
      for (const file of argv.structures as string[]) {
        const frames = [...readStructures(file, { types: argv.types?.split(',') })];
        frames.forEach((atoms, i) => {
          const from = frames.length > 1 ? `${file} frame ${i}` : file; // ASE's index, as everywhere
          const missing = [...new Set(symbolsOf(atoms))].filter((s) => dft.pseudopotentials[s] === undefined);
          if (missing.length > 0) throw new ConfigError(argv.config, [`dft.pseudopotentials: no pseudopotential for ${missing.join(', ')} (needed by ${from})`]);
          const stem = stemOf(atoms.info.name, basename(file, extname(file)) + (frames.length > 1 ? `_${i + 1}` : ''));
          const before = inputs.get(stem);
          if (before !== undefined) {
            throw new UsageError(`${from} and ${before.from} would both be written to ${join(argv.out, `${stem}.in`)}`, { hint: 'give the structures distinct names (info name=…), or write them in separate runs; nothing was written' });
          }
          try {
            inputs.set(stem, { from, atoms: natoms(atoms), text: writePwInput(atoms, { parameters: dft.parameters, pseudopotentials: dft.pseudopotentials, pseudoDir: dft.pseudo_dir, kpoints, prefix: stem, outdir: `./out-${stem}` }) });
          } catch (err) {
            if (err instanceof StructureError) throw new StructureError(`${from}: ${err.message}`, { hint: `${err.hint ?? 'fix the structure'}; nothing was written`, cause: err });
            throw err;
          }
        });
      }
      makeFolder(argv.out);
      for (const [stem, input] of inputs) {
        const path = join(argv.out, `${stem}.in`);
        writeFileAtomic(path, input.text);
        logger.info(`wrote ${path} (${input.atoms} atoms)`);
      }
    })
    .demandCommand(1, 'name a qe command: parse or input');
}

/** The output folder, made if missing; a file of that name is a usage error, not a crash. */
function makeFolder(dir: string): void {
  try {
    if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UsageError(`-o ${dir}: is a file; give a folder for the inputs`);
    makeDirs(dir);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new FileAccessError(`cannot make the folder ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { hint: 'check the path and its permissions', cause: err });
  }
}

/** A file name from a structure's `name` (made safe), else the fallback. */
function stemOf(name: unknown, fallback: string): string {
  if (typeof name !== 'string') return fallback;
  const safe = name.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^[.-]+/, '');
  return safe === '' ? fallback : safe;
}

function summaryLine(f: string, r: PwOutput): string {
  if (r.status === 'ok') {
    const n = r.atoms === undefined ? 0 : natoms(r.atoms);
    return `${f}: ok, ${n} atoms, energy ${r.energy?.toFixed(6)} eV, ${r.scfIterations ?? '?'} SCF iterations`;
  }
  return `${f}${r.line === undefined ? '' : `:${r.line}`}: ${r.status} (${r.errorClass}): ${r.message}`;
}
