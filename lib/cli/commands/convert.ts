/** `autopipe convert`: structures between extxyz, LAMMPS dump/data and pw.x output. */
import type { Argv } from 'yargs';
import { extname } from 'node:path';
import { readStructures } from '../../structures/read-any.js';
import { writeExtxyz } from '../../formats/extxyz.js';
import { writeLammpsData } from '../../formats/lammps-data.js';
import { writeFileAtomic } from '../../fsutil/atomic.js';
import { InputFormatError, UsageError } from '../../errors/errors.js';
import { logger } from '../../log/logger.js';

const OUTPUT_FORMATS: Record<string, 'extxyz' | 'lammps-data'> = { '.xyz': 'extxyz', '.extxyz': 'extxyz', '.data': 'lammps-data', '.lmp': 'lammps-data' };

export function convertCommand(y: Argv): Argv {
  return y.command('convert <input>', 'convert structures: extxyz, LAMMPS dump, pw.x output → extxyz or LAMMPS data', (a) => a
    .positional('input', { type: 'string', demandOption: true })
    .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'output file (.extxyz/.xyz or .data/.lmp)' })
    .option('format', { type: 'string', describe: 'input format when the ending does not tell: extxyz, lammps-dump, pw-out' })
    .option('to', { choices: ['extxyz', 'lammps-data'] as const, describe: 'output format when the ending does not tell' })
    .option('types', { type: 'string', describe: 'elements of LAMMPS types in order, e.g. Al,Cu (dump input, data output)' })
    .option('frame', { type: 'string', describe: 'frame to take, as ASE\'s read(file, index=…) takes it: 0 the first, -1 the last, or "all" (default: all for extxyz, last for LAMMPS data)' }),
  (argv) => {
    const to = argv.to ?? OUTPUT_FORMATS[extname(argv.out).toLowerCase()];
    if (to === undefined) throw new UsageError(`cannot tell the output format of ${argv.out}; use an ending .extxyz or .data, or --to`);
    const types = argv.types?.split(',').map((s) => s.trim());
    const frames = [...readStructures(argv.input, { format: argv.format, types })];
    if (frames.length === 0) throw new InputFormatError('no structures', { file: argv.input });
    const which = argv.frame ?? (to === 'extxyz' ? 'all' : '-1');
    let chosen = frames;
    if (which !== 'all') {
      const k = Number(which);
      const idx = k < 0 ? frames.length + k : k;
      if (which.trim() === '' || !Number.isInteger(k) || idx < 0 || idx >= frames.length) {
        throw new UsageError(`--frame ${which}: ${argv.input} has ${frames.length} frame(s); give 0..${frames.length - 1} (ASE's index), -1 for the last, or all`);
      }
      chosen = [frames[idx]];
    }
    if (to === 'extxyz') {
      writeFileAtomic(argv.out, writeExtxyz(chosen));
    } else {
      if (chosen.length !== 1) throw new UsageError('a LAMMPS data file holds one structure: give --frame N');
      const data = writeLammpsData(chosen[0], { types });
      writeFileAtomic(argv.out, data.text);
      logger.info(`atom types: ${data.types.map((s, i) => `${i + 1}=${s}`).join(' ')}`);
    }
    logger.info(`wrote ${chosen.length} structure(s) to ${argv.out}`);
  });
}
