/**
 * validateConfig(unknown) → typed Config, or every problem as `path: message`. Pure: no file
 * reading (load.ts does that and adds line numbers). Two layers: the JSON Schema (types, ranges,
 * unknown keys, defaults) and the checks a schema cannot express (pw.x variable names, element
 * symbols, lo < hi).
 */
import type { Ajv as AjvClass, ErrorObject, ValidateFunction } from 'ajv';
import { createRequire } from 'node:module';
import type { Config } from './types.js';
import { namelistOf, AUTOPIPE_OWNED, PER_SPECIES, NAMELIST_OF, CONTROL_CHARACTER, pwValueProblem } from '../formats/espresso-params.js';
import { isElementSymbol } from '../atoms/elements.js';
import { closest } from './suggest.js';
import { semanticProblems, jobLogOption, cutoffReach } from './semantic.js';
import { shown } from '../errors/errors.js';

export type { Problem } from './types.js';
import type { Problem } from './types.js';
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
function warnings(c: Config): Problem[] {
  const out: Problem[] = cutoffReach(c);
  const { rcut, buffer } = c.embedding;
  if (buffer < rcut) {
    out.push({ path: 'embedding.buffer', message: `${buffer} < rcut (${rcut}): atoms between ${buffer} and ${rcut} Å from the centre have the periodic seam within the potential's cutoff; the embedding check (embedding.check) measures whether their labels still agree with their frame's DFT` });
  }
  return out;
}
