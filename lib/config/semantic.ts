/**
 * The checks of a valid-shaped config that a JSON Schema cannot express, pure: element symbols,
 * lo < hi, what the job scripts own (their logs, pw.x's pools), exploration, learning and where
 * iteration 0 starts; and the reach of a sub-cell against the fit's cutoff (a warning).
 */
import { hasValidation, type Config, type Problem } from './types.js';
import { isElementSymbol } from '../atoms/elements.js';
import { shown } from '../errors/errors.js';
import { parseSelection } from '../db/query.js';

const MAX_TIMESTEP_PS = 0.01;

export function* semanticProblems(c: Config): Generator<Problem> {
  for (const [el, file] of Object.entries(c.dft.pseudopotentials)) {
    if (!isElementSymbol(el)) yield { path: `dft.pseudopotentials.${el}`, message: `'${shown(el, 20)}' is not an element symbol` };
    else if (/\s/.test(file) || file === '') yield { path: `dft.pseudopotentials.${el}`, message: "must be a file name without spaces (pw.x's ATOMIC_SPECIES card cannot carry one)" };
  }
  if (c.selection.lo >= c.selection.hi) yield { path: 'selection.lo', message: `must be below selection.hi (${c.selection.hi})` };
  if (c.explore.gamma_collect >= c.explore.gamma_stop) yield { path: 'explore.gamma_collect', message: `must be below explore.gamma_stop (${c.explore.gamma_stop})` };
  for (const [path, list] of [['selection.types', c.selection.types], ['train.elements', c.train.elements]] as const) {
    for (const [i, el] of (list ?? []).entries()) {
      if (!isElementSymbol(el)) yield { path: `${path}.${i}`, message: `'${shown(el, 20)}' is not an element symbol` };
    }
  }
  if (typeof c.train.reference_energy === 'string' && c.train.reference_energy !== 'auto') {
    yield { path: 'train.reference_energy', message: "must be 'auto' or a map of element energies" };
  }
  if (typeof c.train.reference_energy === 'object') {
    for (const el of Object.keys(c.train.reference_energy)) if (!isElementSymbol(el)) yield { path: `train.reference_energy.${el}`, message: `'${shown(el, 20)}' is not an element symbol` };
  }
  // the dump's atom types are the potential's elements in its order: other types would label atoms as other elements
  const { types } = c.selection;
  if (types !== null && c.train.elements !== null && types.join(' ') !== c.train.elements.join(' ')) {
    yield { path: 'selection.types', message: `[${types.join(', ')}] are not the elements of the potential (train.elements: [${c.train.elements.join(', ')}], in that order); the dumps' atom types are the potential's elements: set selection.types: null` };
  }
  const { timestep, tdamp } = c.explore;
  if (timestep > MAX_TIMESTEP_PS) yield { path: 'explore.timestep', message: `${timestep} ps is not an MD time step (1 fs is 0.001 ps); at most ${MAX_TIMESTEP_PS} ps (10 fs), usually 0.001–0.005` };
  else if (tdamp < 10 * timestep) yield { path: 'explore.tdamp', message: `${tdamp} ps is shorter than 10 time steps (${10 * timestep} ps): the thermostat would throw the MD apart; about 100 time steps (${100 * timestep} ps) is the usual choice` };
  yield* exploreProblems(c);
  yield* learningProblems(c);
  yield* poolProblems(c);
  yield* startProblems(c);
  yield* jobLogProblems(c);
  const e = c.executor;
  if (e.kind === 'local' && e.host !== null) yield { path: 'executor.host', message: 'is only used with kind: slurm' };
  if (e.host === null && e.identity !== null) yield { path: 'executor.identity', message: 'is only used with a host' };
  if (e.ssh_config !== null && e.ssh !== 'openssh') yield { path: 'executor.ssh_config', message: 'is only read by the OpenSSH client: set executor.ssh: openssh, or remove executor.ssh_config' };
  if (e.host === null && e.ssh === 'openssh') yield { path: 'executor.ssh', message: 'openssh is only used with a host (executor.host: the login node, or a Host alias of your ssh config)' };
}

/**
 * autopipe gives sbatch --output itself: each task's SLURM output goes to its attempt folder
 * (slurm.out, fetched and quoted when a task fails). An --output or --error in resources.extra
 * (or an abbreviation sbatch would take for one) would send it elsewhere, and a failure would
 * leave no trace autopipe can show.
 */
function* jobLogProblems(c: Config): Generator<Problem> {
  for (const section of ['dft', 'train', 'explore'] as const) {
    for (const [i, x] of c[section].resources.extra.entries()) {
      const message = jobLogOption(x);
      if (message !== undefined) yield { path: `${section}.resources.extra.${i}`, message };
    }
  }
}

/** Why an sbatch option is refused as one that moves the job's log (--output, --error, an abbreviation of either, -o, -e), else undefined. */
export function jobLogOption(x: string): string | undefined {
  const name = /^--([A-Za-z][A-Za-z0-9-]*)/.exec(x)?.[1];
  const taken = /^-[oe]/.test(x) ? (x[1] === 'o' ? 'output' : 'error') : name === undefined || name.length < 2 ? undefined : ['output', 'error'].find((o) => o.startsWith(name));
  if (taken === undefined) return undefined;
  return `'${shown(x, 60)}' would send SLURM's ${taken === 'output' ? 'output' : 'error output'} elsewhere, but autopipe keeps each task's SLURM output (stdout and stderr) in its attempt folder as slurm.out and quotes it when a task fails: remove this entry`;
}

/** Temperatures, ramps, pressures and the barostat: what an MD engine would refuse, or silently ignore. */
function* exploreProblems(c: Config): Generator<Problem> {
  const e = c.explore;
  for (const [i, item] of e.temperatures.entries()) {
    const path = `explore.temperatures.${i}`;
    if (typeof item !== 'number' && item.length !== 2) {
      yield { path, message: `a ramp is [start, stop] in K; [${item.join(', ')}] has ${item.length} value(s): give two, or one temperature as a plain number` };
    }
  }
  if (e.ensemble === 'nvt' && e.pressures !== null) {
    yield { path: 'explore.pressures', message: 'is for NPT runs, but explore.ensemble is nvt (the cell is fixed, so no pressure can be held): set explore.ensemble to npt, npt_aniso or npt_tri, or remove explore.pressures' };
  }
  if (e.ensemble !== 'nvt' && e.pdamp < 10 * e.timestep) {
    yield { path: 'explore.pdamp', message: `${e.pdamp} ps is shorter than 10 time steps (${10 * e.timestep} ps): the barostat would throw the cell apart; about 1000 time steps (${1000 * e.timestep} ps) is the usual choice` };
  }
}

/** pw.x's pools come from dft.pools per task ($AUTOPIPE_NPOOL in label.sh.hbs): a -nk in dft.command would be a second, fixed one; pools must divide the MPI ranks. */
function* poolProblems(c: Config): Generator<Problem> {
  const m = /(?:^|\s)(-nk|-npool|-npools|-nkpools|-pools?)(?:\s|=|$)/.exec(c.dft.command);
  if (m !== null) {
    yield { path: 'dft.command', message: `holds ${m[1]}, but autopipe gives each task its own pools (-nk "$AUTOPIPE_NPOOL" in label.sh.hbs, chosen from the task's k-points): remove ${m[1]} and its number from dft.command, and set dft.pools to a number if every task must have that many` };
  }
  const { pools, resources } = c.dft;
  if (typeof pools === 'number' && resources.ntasks % pools !== 0) {
    yield { path: 'dft.pools', message: `${pools} pools do not divide dft.resources.ntasks (${resources.ntasks} MPI ranks): pw.x needs the ranks split evenly; choose a divisor of ${resources.ntasks}, or auto` };
  }
}

/** The stop rules on the validation error need a validation set, and its row selection must parse. */
function* learningProblems(c: Config): Generator<Problem> {
  if (!hasValidation(c)) {
    for (const rule of ['target_force_rmse', 'patience'] as const) {
      if (c.iterations[rule] !== null) yield { path: `iterations.${rule}`, message: 'stops on the validation error, but there is no validation set: give validation.structures or validation.rows, or set it to null' };
    }
  }
  if (c.validation.rows !== null) {
    try {
      parseSelection(c.validation.rows, 0);
    } catch (err) {
      yield { path: 'validation.rows', message: err instanceof Error ? err.message : String(err) };
    }
  }
}

/** Where iteration 0 begins (iterations.start) against what that stage needs; the files themselves are checked before DFT (lib/cli/preflight.ts). */
function* startProblems(c: Config): Generator<Problem> {
  if (c.iterations.start === 'explore' && c.train.initial_potential === null) {
    yield { path: 'iterations.start', message: 'explore needs a potential to explore with: give train.initial_potential (a pacemaker output_potential.yaml, with its active set output_potential.asi beside it), or start at label or train' };
  }
}

/**
 * A sub-cell reaches rcut + buffer from its centre (its box is at least twice that thick); the
 * uncertain atom's grade γ is over its environment within train.cutoff. When the first is the
 * shorter, the seam cuts the very environment that was uncertain, and DFT labels another one.
 * Nothing is derived from the other: how far a label agrees with its frame's DFT depends on the
 * surroundings beyond the core, which the embedding check measures (docs/embedding.md), not on
 * the fit's cutoff; and a larger rcut only makes every sub-cell dearer.
 */
export function cutoffReach(c: Config): Problem[] {
  const { rcut, buffer } = c.embedding;
  const cutoff = c.train.cutoff;
  if (!c.selection.embed || rcut + buffer >= cutoff) return [];
  return [{ path: 'embedding.rcut', message: `${rcut} + embedding.buffer (${buffer}) = ${+(rcut + buffer).toFixed(3)} Å is less than train.cutoff (${cutoff} Å): a sub-cell reaches ${+(rcut + buffer).toFixed(3)} Å from the uncertain atom, so its periodic seam lies inside the environment that atom's grade was over, and DFT labels another environment than the one explored; set embedding.buffer to at least ${+(cutoff - rcut).toFixed(3)} Å, or embedding.rcut to train.cutoff` }];
}

