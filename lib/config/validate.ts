/**
 * validateConfig(unknown) → typed Config, or every problem as `path: message`. Pure: no file
 * reading (load.ts does that and adds line numbers). Two layers: the JSON Schema (types, ranges,
 * unknown keys, defaults) and the checks a schema cannot express (pw.x variable names, element
 * symbols, lo < hi).
 */
import type { Ajv as AjvClass, ErrorObject, ValidateFunction } from 'ajv';
import { createRequire } from 'node:module';
import { hasValidation, type Config } from './types.js';
import { parseSelection } from '../db/query.js';
import { namelistOf, AUTOPIPE_OWNED, PER_SPECIES, NAMELIST_OF, CONTROL_CHARACTER, pwValueProblem } from '../formats/espresso-params.js';
import { isElementSymbol } from '../atoms/elements.js';
import { closest } from './suggest.js';
import { shown } from '../errors/errors.js';

export interface Problem { path: string; message: string }
export type ValidationResult =
  | { ok: true; config: Config; warnings: Problem[] }
  | { ok: false; problems: Problem[] };

const require = createRequire(import.meta.url);
export const CONFIG_SCHEMA = require('../../../schemas/config.schema.json') as Record<string, unknown>;

// Loaded and compiled on first use: commands that never read a config (db, qe parse) skip the cost.
let compiled: ValidateFunction | undefined;
function validateSchema(input: unknown): boolean {
  const Ajv = (require('ajv') as { Ajv: typeof AjvClass }).Ajv;
  compiled ??= new Ajv({ allErrors: true, useDefaults: true, allowUnionTypes: true, strict: true, verbose: true }).compile(CONFIG_SCHEMA);
  return compiled(input);
}

function schemaErrors(): ErrorObject[] {
  return compiled?.errors ?? [];
}

export function validateConfig(raw: unknown): ValidationResult {
  // An empty file parses as null/undefined: report it as the missing `dft` section.
  const input = structuredClone(raw ?? {});
  const valid: boolean = validateSchema(input);
  // A value that cannot be used (a newline, .inf) says so at its path, and nothing else is said
  // of that path ("does not have the expected form", "must be a number" would only hide it).
  const values = [...valueProblems(input, '')];
  const at = new Set(values.map((p) => p.path));
  const others = (problems: Iterable<Problem>) => [...problems].filter((p) => !at.has(p.path));
  if (!valid) {
    // pw.x names and types are checked even then: a typo there is as likely as one in the schema
    return { ok: false, problems: dedupe([...values, ...others(schemaErrors().map(schemaProblem)), ...others(allPwProblems(input))]) };
  }
  const config = input as Config;
  const problems = [...values, ...others(allPwProblems(config)), ...others(semanticProblems(config))];
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, config, warnings: warnings(config) };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function pathOf(instancePath: string): string {
  return instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')).join('.');
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** The schema node of a config path (for the list of allowed keys in suggestions). */
function schemaAt(path: string): Record<string, unknown> | undefined {
  let node = CONFIG_SCHEMA as Record<string, unknown>;
  for (const seg of path === '' ? [] : path.split('.')) {
    const props = node.properties as Record<string, Record<string, unknown>> | undefined;
    let next = props?.[seg];
    if (next?.$ref !== undefined) next = (CONFIG_SCHEMA.definitions as Record<string, Record<string, unknown>>)[String(next.$ref).split('/').pop() as string];
    if (next === undefined) return undefined;
    node = next;
  }
  return node;
}

function schemaProblem(e: ErrorObject): Problem {
  const path = pathOf(e.instancePath);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(p.additionalProperty);
      const known = Object.keys((schemaAt(path)?.properties as object | undefined) ?? {});
      const guess = closest(key, known);
      return { path: join(path, key), message: `unknown field${guess === undefined ? '' : ` (did you mean '${guess}'?)`}${known.length > 0 ? `; ${path === '' ? 'top-level fields' : `fields of ${path}`}: ${known.join(', ')}` : ''}` };
    }
    case 'required':
      return { path: join(path, String(p.missingProperty)), message: 'is required' };
    case 'enum':
      return { path, message: `must be one of: ${(p.allowedValues as unknown[]).join(', ')}` };
    case 'const':
      return { path, message: `must be ${JSON.stringify(p.allowedValue)}` };
    case 'type':
      return { path, message: `must be ${String(p.type).split(',').map((t) => (t === 'null' ? 'null' : `a${/^[aeiou]/.test(t) ? 'n' : ''} ${t}`)).join(' or ')}` };
    case 'pattern':
      if (path.includes('.extra.') && jobLogOption(String(e.data)) !== undefined) return { path, message: jobLogOption(String(e.data)) as string };
      return { path, message: `'${shown(String(e.data))}' does not have the expected form (${patternHint(path)})` };
    default:
      return { path, message: e.message ?? 'is invalid' };
  }
}

function patternHint(path: string): string {
  if (path.endsWith('.time') || path.endsWith('walltime.max')) return 'SLURM time, e.g. 01:00:00 or 2-00:00:00';
  if (path.endsWith('.mem') || path.endsWith('out_of_memory.max')) return 'SLURM memory, e.g. 4G or 500M';
  if (path === 'database') return 'a file name ending in .db';
  if (path === 'name') return 'letters, digits, _ . -, at most 32';
  if (path.includes('.extra.')) return 'an sbatch option: --name or --name=value';
  if (path === 'dft.scratch') return 'an absolute path or one starting with a variable, e.g. $TMPDIR or /scratch/$USER/autopipe: letters, digits, / . _ - + , @ % : and $NAME or ${NAME} only';
  if (path === 'dft.pools') return "auto, or a whole number of pools";
  if (path.endsWith('.partition') || path.endsWith('.account')) return 'a SLURM name: letters, digits and _ . , : @ + -';
  return 'see docs/config.md';
}

function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.path}\u0000${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function* pwParameterProblems(path: string, params: Record<string, unknown>): Generator<Problem> {
  for (const [name, value] of Object.entries(params)) {
    const p = join(path, name);
    if (namelistOf(name) === undefined) {
      const guess = closest(name, [...NAMELIST_OF.keys()]);
      yield { path: p, message: `not a pw.x input variable${guess === undefined ? '' : ` (did you mean '${guess}'?)`}` };
    } else if (AUTOPIPE_OWNED.has(name)) {
      yield { path: p, message: 'is set by autopipe for every task; remove it' };
    } else if (typeof value === 'object' && value !== null && !PER_SPECIES.has(name)) {
      yield { path: p, message: 'takes one value, not a map per element' };
    } else if (typeof value === 'object' && value !== null) {
      for (const [el, v] of Object.entries(value)) {
        const bad = isElementSymbol(el) ? pwValueProblem(name, v) : `'${el}' is not an element symbol`;
        if (bad !== undefined) yield { path: join(p, el), message: bad };
      }
    } else {
      const bad = pwValueProblem(name, value);
      if (bad !== undefined) yield { path: p, message: bad };
    }
  }
}

/** pw.x variables in dft.parameters and in the recovery ladders; safe on unvalidated input. */
function* allPwProblems(input: unknown): Generator<Problem> {
  if (!isObject(input)) return;
  if (isObject(input.dft) && isObject(input.dft.parameters)) yield* pwParameterProblems('dft.parameters', input.dft.parameters);
  if (!isObject(input.recovery)) return;
  for (const cls of ['scf_not_converged', 'diagonalization', 'charge_wrong']) {
    const ladder = input.recovery[cls];
    if (!Array.isArray(ladder)) continue;
    for (const [i, rung] of ladder.entries()) if (isObject(rung)) yield* pwParameterProblems(`recovery.${cls}.${i}`, rung);
  }
}

/** Strings that are shell code by design (documented): they may hold anything, newlines too. */
const SHELL_CODE = /^(dft|explore|train)\.command$|\.resources\.modules\.\d+$/;

function controlName(ch: string): string {
  const names: Record<string, string> = { '\n': 'a newline', '\r': 'a carriage return', '\t': 'a tab', '\u0000': 'a NUL byte' };
  return names[ch] ?? `the control character U+${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Every number is finite, and every string that lands in an #SBATCH line, a pw.x input or a
 * file name holds no control characters. sbatch reads #SBATCH lines itself, not through a shell, so quoting cannot protect
 * them: a newline in a partition name would start a line of its own in the job script.
 */
function* valueProblems(value: unknown, path: string): Generator<Problem> {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    yield { path, message: `must be a finite number (got ${value})` }; // YAML's .inf and .nan
  } else if (typeof value === 'string') {
    const m = CONTROL_CHARACTER.exec(value);
    if (m !== null && !SHELL_CODE.test(path)) yield { path, message: `holds ${controlName(m[0])}; it would reach a job script, a pw.x input or a file name: remove it` };
  } else if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) yield* valueProblems(v, join(path, String(i)));
  } else if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) yield* valueProblems(v, join(path, k));
  }
}

/** Beyond 10 fs no MD of atoms holds together: a larger explore.timestep is a unit mistake (ps). */
const MAX_TIMESTEP_PS = 0.01;

function* semanticProblems(c: Config): Generator<Problem> {
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
function jobLogOption(x: string): string | undefined {
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
function cutoffReach(c: Config): Problem[] {
  const { rcut, buffer } = c.embedding;
  const cutoff = c.train.cutoff;
  if (!c.selection.embed || rcut + buffer >= cutoff) return [];
  return [{ path: 'embedding.rcut', message: `${rcut} + embedding.buffer (${buffer}) = ${+(rcut + buffer).toFixed(3)} Å is less than train.cutoff (${cutoff} Å): a sub-cell reaches ${+(rcut + buffer).toFixed(3)} Å from the uncertain atom, so its periodic seam lies inside the environment that atom's grade was over, and DFT labels another environment than the one explored; set embedding.buffer to at least ${+(cutoff - rcut).toFixed(3)} Å, or embedding.rcut to train.cutoff` }];
}

function warnings(c: Config): Problem[] {
  const out: Problem[] = cutoffReach(c);
  const { rcut, buffer } = c.embedding;
  if (buffer < rcut) {
    out.push({ path: 'embedding.buffer', message: `${buffer} < rcut (${rcut}): atoms between ${buffer} and ${rcut} Å from the centre have the periodic seam within the potential's cutoff; the embedding check (embedding.check) measures whether their labels still agree with their frame's DFT` });
  }
  return out;
}
