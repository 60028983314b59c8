/** `autopipe embed` and `autopipe select`: sub-cells around uncertain atoms. */
import type { Argv } from 'yargs';
import { readStructures } from '../../structures/read-any.js';
import { writeExtxyz } from '../../formats/extxyz.js';
import { writeFileAtomic } from '../../fsutil/atomic.js';
import { loadConfigFile } from '../../config/load.js';
import type { Config } from '../../config/types.js';
import { embedAtom, indexFrame, atomIndexOfId, embedParamProblems, type EmbedParams } from '../../embed/extract.js';
import { BestCandidates } from '../../select/select.js';
import { EmbeddingError, UsageError, InputFormatError, AutopipeError } from '../../errors/errors.js';
import type { Atoms } from '../../atoms/atoms.js';
import { logger } from '../../log/logger.js';
import { printJson } from '../output.js';

interface EmbedFlags { config?: string; rcut?: number; buffer?: number; 'mask-radius'?: number; 'min-distance'?: number; types?: string; box?: string }

const DEFAULT_MIN_DISTANCE = 1.5; // as the schema's embedding.min_distance
const DEFAULT_BOX = 'lattice'; // as the schema's embedding.box

function configOf(path: string | undefined): Config | undefined {
  if (path === undefined) return undefined;
  const { config, warnings } = loadConfigFile(path);
  for (const w of warnings) logger.warn(`${path}: ${w}`);
  return config;
}

/** Flags win over autopipe.yaml; without -c, --rcut and --buffer are required. */
function embedParams(a: EmbedFlags, c: Config | undefined): EmbedParams {
  const rcut = a.rcut ?? c?.embedding.rcut;
  const buffer = a.buffer ?? c?.embedding.buffer;
  if (rcut === undefined || buffer === undefined) throw new UsageError('give --rcut and --buffer (or -c autopipe.yaml with an embedding section)');
  const p: EmbedParams = {
    rcut, buffer,
    maskRadius: a['mask-radius'] ?? c?.embedding.mask_radius ?? undefined,
    minDistance: a['min-distance'] ?? c?.embedding.min_distance ?? DEFAULT_MIN_DISTANCE,
    box: (a.box ?? c?.embedding.box ?? DEFAULT_BOX) as 'cube' | 'lattice',
  };
  const problems = embedParamProblems(p);
  if (problems.length > 0) throw new UsageError(problems.join('; '));
  return p;
}

function typesOf(a: EmbedFlags, c: Config | undefined): string[] | undefined {
  return a.types?.split(',').map((s) => s.trim()) ?? c?.selection.types ?? undefined;
}

/** Wrap errors about a frame with the file (and frame) they concern. */
function inFrame<T>(file: string, frame: number | undefined, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof EmbeddingError) throw new EmbeddingError(`${file}${frame === undefined ? '' : ` frame ${frame}`}: ${err.message}`, { cause: err, hint: err.hint });
    throw err;
  }
}

function commonOptions(a: Argv): Argv<EmbedFlags> {
  return a
    .option('config', { alias: 'c', type: 'string', describe: 'take embedding/selection parameters from autopipe.yaml (flags win)' })
    .option('rcut', { type: 'number', describe: 'cutoff of the potential, Å' })
    .option('buffer', { type: 'number', describe: 'buffer beyond rcut, Å: the cube side is 2(rcut + buffer)' })
    .option('mask-radius', { type: 'number', describe: 'force_mask 1 within this distance of the centre (default rcut)' })
    .option('min-distance', { type: 'number', describe: `remove buffer atoms closer than this across the seam, Å (default ${DEFAULT_MIN_DISTANCE})` })
    .option('types', { type: 'string', describe: 'elements of LAMMPS types in order, e.g. Al,Cu' })
    .option('box', { type: 'string', choices: ['lattice', 'cube'], describe: `lattice: whole crystal periods of the frame; cube: side 2(rcut + buffer) (default ${DEFAULT_BOX})` }) as Argv<EmbedFlags>;
}

/**
 * Frame `which` of a file as ASE's read(file, index=which) takes it: 0 is the first frame, -1
 * the last. Dumps are read one frame at a time. Returns the frame's 0-based index.
 */
function pickFrame(file: string, which: number, types: string[] | undefined): { atoms: Atoms; number: number } {
  let count = 0;
  const recent: Atoms[] = [];
  for (const f of readStructures(file, { types })) {
    if (which >= 0 && count === which) return { atoms: f, number: count };
    count++;
    if (which < 0) {
      recent.push(f);
      if (recent.length > -which) recent.shift();
    }
  }
  if (which < 0 && recent.length === -which) return { atoms: recent[0], number: count + which };
  throw new UsageError(`--frame ${which}: ${file} has ${count} frame(s) (0 to ${count - 1}, or -1 to -${count} from the end, as ASE's read(..., index=) takes them)`);
}

export function embedCommands(y: Argv): Argv {
  return y
    .command('embed <input>', 'cut the periodic sub-cell around one atom, with its force mask', (a) => commonOptions(a)
      .positional('input', { type: 'string', demandOption: true, describe: 'LAMMPS dump or extxyz file with the frame' })
      .option('atom-id', { type: 'number', demandOption: true, describe: 'the atom: LAMMPS id, or 1-based index for extxyz' })
      .option('frame', { type: 'number', default: -1, describe: 'the frame, as ASE\'s read(file, index=…) takes it: 0 the first, -1 the last' })
      .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'extxyz file to write' }),
    (argv) => {
      const c = configOf(argv.config);
      const p = embedParams(argv, c);
      const file = argv.input;
      const which = argv.frame;
      if (!Number.isInteger(which)) throw new UsageError('--frame takes an integer, as ASE\'s index: 0 for the first frame, -1 for the last');
      const { atoms, number } = pickFrame(file, which, typesOf(argv, c));
      const r = inFrame(file, number, () => {
        const index = indexFrame(atoms, p); // checks the frame first: periodic, not empty
        return embedAtom(atoms, atomIndexOfId(atoms, argv['atom-id']), p, index, {
          file, frame: number, timestep: typeof atoms.info.timestep === 'number' ? atoms.info.timestep : undefined,
        });
      });
      for (const w of r.warnings) logger.warn(w);
      if (r.kind === 'rejected') throw new EmbeddingError(`${file} frame ${number}, atom ${argv['atom-id']}: ${r.reason}`);
      writeFileAtomic(argv.out, writeExtxyz([r.atoms]));
      if (r.kind === 'parent') logger.info(`${r.reason}; wrote it to ${argv.out}`);
      else logger.info(`wrote the sub-cell to ${argv.out}: ${r.atoms.numbers.length} atoms, ${r.nCore} in the core, ${r.nRemoved} removed at the seam, ${describeCell(r.atoms)}`);
    })
    .command('select <dumps..>', 'pick uncertain atoms from LAMMPS dumps and cut a sub-cell around each', (a) => commonOptions(a)
      .positional('dumps', { type: 'string', array: true, demandOption: true, describe: 'LAMMPS dumps (or extxyz files) with a grade column' })
      .option('column', { type: 'string', describe: 'per-atom grade column, e.g. f_pace_gamma' })
      .option('lo', { type: 'number', describe: 'grades in [lo, hi) are candidates' })
      .option('hi', { type: 'number', describe: 'a frame with any grade ≥ hi is dropped' })
      .option('max', { type: 'number', describe: 'keep at most this many candidates, best first (default 200)' })
      .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'extxyz file for the candidates' })
      .option('json', { type: 'boolean', default: false, describe: 'print a summary as JSON' }),
    (argv) => {
      const c = configOf(argv.config);
      const p = embedParams(argv, c);
      const column = argv.column ?? c?.selection.column;
      const lo = argv.lo ?? c?.selection.lo;
      const hi = argv.hi ?? c?.selection.hi;
      if (column === undefined || lo === undefined || hi === undefined) throw new UsageError('give --column, --lo and --hi (or -c autopipe.yaml with a selection section)');
      const max = argv.max ?? c?.selection.max_candidates ?? 200;
      const types = typesOf(argv, c);
      let best: BestCandidates;
      try {
        best = new BestCandidates(column, lo, hi, max, p);
      } catch (err) {
        if (err instanceof AutopipeError) throw new UsageError(err.message);
        throw err;
      }
      for (const file of argv.dumps as string[]) {
        const frames = readStructures(file, { types, requiredColumns: [column] });
        let k = 0;
        for (const frame of frames) {
          // k: the frame's index as ASE's read(file, index=k) takes it
          inFrame(file, k, () => best.offer(frame, { file, frame: k, timestep: typeof frame.info.timestep === 'number' ? frame.info.timestep : undefined }));
          k++;
        }
        if (k === 0) throw new InputFormatError('no frames', { file });
      }
      const { selected, summary } = best.result();
      for (const w of summary.warnings) logger.warn(w);
      writeFileAtomic(argv.out, writeExtxyz(selected.map((s) => s.atoms)));
      if (argv.json) printJson(summary);
      else {
        logger.info(`${summary.frames_read} frame(s) read, ${summary.frames_dropped} dropped (a grade ≥ ${hi}); ${summary.candidates_in_range} atom(s) in [${lo}, ${hi}), ${summary.centres_after_suppression} after suppression`);
        const s = summary.atoms_per_subcell;
        logger.info(`${summary.selected} candidate(s) written to ${argv.out}${s === null ? '' : `: ${s.min}–${s.max} atoms per sub-cell (mean ${s.mean.toFixed(0)}), ${summary.atoms_removed_at_seams} removed at seams`}${summary.parents_labelled_whole > 0 ? `, ${summary.parents_labelled_whole} whole parent(s)` : ''}${summary.rejected_at_seam > 0 ? `, ${summary.rejected_at_seam} rejected (core atoms too close)` : ''}`);
      }
      for (const r of summary.rejections) logger.debug(`rejected: ${r}`);
    });
}

function describeCell(a: Atoms): string {
  if (a.info.box === 'cube') return `a cube of side ${String(a.info.L)} Å`;
  const periods = Array.isArray(a.info.box_periods) ? a.info.box_periods.join('×') : '?';
  return `${periods} crystal periods of the frame (cell ${[0, 1, 2].map((i) => Math.hypot(a.cell[3 * i], a.cell[3 * i + 1], a.cell[3 * i + 2]).toFixed(2)).join(' × ')} Å)`;
}
