/**
 * A level of theory: what defines the DFT a labelled row stands for, so that a fit never mixes
 * two unannounced. For pw.x: the code and its version, each pseudopotential (file and pw.x's MD5
 * of it), every pw.x parameter that changes what is computed (cutoffs, smearing and its width,
 * spin, functional, Hubbard, …) and the k-point rule (kspacing, or a fixed mesh). Parameters
 * that only steer the SCF to the same answer (mixing, diagonalization, thresholds, iteration
 * limits, restart choices) are left out: the recovery ladder changes them within one level.
 *
 * A level's id is 'L' and the first 7 hex digits of the SHA-256 of its canonical JSON (keys
 * sorted): the same settings give the same id in every database, so levels compare across
 * projects; the letter keeps it from ever looking like a number (ASE could not query it).
 */
import { createHash } from 'node:crypto';
import type { Config } from '../config/types.js';
import type { PwRunFacts } from '../formats/espresso-out.js';

type Scalar = number | string | boolean;

export interface LevelOfTheory {
  code: string | null;
  pseudopotentials: Record<string, { file: string; md5: string | null }>;
  parameters: Record<string, Scalar | Record<string, Scalar>>;
  kpoints: { kspacing: number; gamma_trick: boolean } | { mesh: [number, number, number] };
}

/** pw.x variables that change how the SCF gets there, not where it ends: not part of a level. */
export const CONVERGENCE_ONLY: ReadonlySet<string> = new Set([
  'conv_thr', 'mixing_beta', 'mixing_mode', 'mixing_ndim', 'mixing_fixed_ns', 'diagonalization', 'diago_thr_init',
  'diago_full_acc', 'diago_david_ndim', 'diago_cg_maxiter', 'diago_ppcg_maxiter', 'diago_rmm_ndim', 'diago_rmm_conv',
  'diago_gs_nblock', 'electron_maxstep', 'scf_must_converge', 'startingwfc', 'startingpot', 'max_seconds', 'disk_io',
  'verbosity', 'wf_collect', 'nbnd', 'tqr', 'real_space',
]);

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

export function levelId(l: LevelOfTheory): string {
  return `L${createHash('sha256').update(canonical(l)).digest('hex').slice(0, 7)}`;
}

export const LEVEL_ID = /^L[0-9a-f]{7}$/;

/**
 * The level of a pw.x run: its settings as the stage planned them (dft of autopipe.yaml, with
 * the attempt's own parameters on top) and the facts pw.x printed (its version, the MD5 of each
 * pseudopotential it read, the ecutrho it used when none was given).
 */
export function pwLevel(dft: Pick<Config['dft'], 'parameters' | 'pseudopotentials' | 'kspacing' | 'kpoints' | 'gamma_trick'>, attempt: Readonly<Record<string, Scalar>>, facts: PwRunFacts): LevelOfTheory {
  const parameters: LevelOfTheory['parameters'] = {};
  for (const [k, v] of Object.entries({ ...dft.parameters, ...attempt })) {
    if (!CONVERGENCE_ONLY.has(k)) parameters[k] = typeof v === 'object' ? { ...v } : v;
  }
  // ecutrho unset means 4 × ecutwfc: the same level either way
  const ecutrho = parameters.ecutrho ?? facts.ecutrho;
  if (ecutrho !== null && ecutrho !== undefined) parameters.ecutrho = ecutrho;
  const pseudopotentials: LevelOfTheory['pseudopotentials'] = {};
  for (const [el, file] of Object.entries(dft.pseudopotentials)) {
    const read = facts.pseudopotentials[el];
    if (read !== undefined) pseudopotentials[el] = { file, md5: read.md5 };
  }
  return {
    code: facts.code, pseudopotentials, parameters,
    kpoints: dft.kpoints !== null ? { mesh: [...dft.kpoints] } : { kspacing: dft.kspacing, gamma_trick: dft.gamma_trick },
  };
}

function leaves(v: unknown, path: string, out: Map<string, string>): Map<string, string> {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) leaves(x, path === '' ? k : `${path}.${k}`, out);
  else out.set(path, JSON.stringify(v));
  return out;
}

/** How level b differs from level a, one "what: a → b" each (pseudopotential elements only where both have them). */
export function levelDifferences(a: LevelOfTheory, b: LevelOfTheory): string[] {
  const x = leaves(a, '', new Map());
  const y = leaves(b, '', new Map());
  const shared = (k: string) => !k.startsWith('pseudopotentials.') || (x.has(k) && y.has(k));
  return [...new Set([...x.keys(), ...y.keys()])].filter((k) => shared(k) && x.get(k) !== y.get(k)).sort()
    .map((k) => `${k.replace(/^parameters\./, '')} ${x.get(k) ?? '(unset)'} → ${y.get(k) ?? '(unset)'}`);
}

/** A level in a few words, for messages: code, cutoffs, k-points. */
export function levelSummary(l: LevelOfTheory): string {
  const p = l.parameters;
  const k = 'mesh' in l.kpoints ? `k-mesh ${l.kpoints.mesh.join('×')}` : `kspacing ${l.kpoints.kspacing}`;
  const pp = Object.entries(l.pseudopotentials).map(([el, x]) => `${el} ${x.file}`).join(', ');
  return [l.code ?? 'pw.x', p.ecutwfc === undefined ? '' : `ecutwfc ${String(p.ecutwfc)}`, p.ecutrho === undefined ? '' : `ecutrho ${String(p.ecutrho)}`, k, pp].filter((s) => s !== '').join(', ');
}

/** A level as a row's data keeps it (and as `db levels --json` prints it), checked: undefined when it is not one. */
export function asLevel(v: unknown): LevelOfTheory | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const l = v as Partial<LevelOfTheory>;
  if (typeof l.pseudopotentials !== 'object' || l.pseudopotentials === null || typeof l.parameters !== 'object' || l.parameters === null) return undefined;
  if (typeof l.kpoints !== 'object' || l.kpoints === null || !(typeof l.code === 'string' || l.code === null)) return undefined;
  return l as LevelOfTheory;
}
