/**
 * A finished training attempt from its outputs, pure: the potential and its metrics, or why
 * there is none. pacemaker, pace_activeset and pace_yaml2yace run in one script whose output
 * goes to pacemaker.out and pacemaker.err; their last error line is the message.
 */
import type { FetchedFiles } from '../../exec/executor.js';
import type { Failure } from '../../state/failure-class.js';
import type { Judged } from '../kind.js';
import { exitFailure, lastErrorLine, missingModule } from '../error-line.js';
import { parseValidation, type ValidationErrors } from './validation.js';

/** What a successful fit leaves, fetched in the poll's one download and kept in the work folder. */
export const POTENTIAL_FILES = ['output_potential.yaml', 'output_potential.yace', 'output_potential.asi', 'metrics.json', 'log.txt', 'input.yaml', 'reference_energy.json'] as const;
/** Kept when the fit wrote them: pacemaker's metrics at each iteration of the fit (the report's loss curve). */
export const FIT_CURVE_FILES = ['metrics.txt', 'test_metrics.txt'] as const;
/** Kept when the fit had validation rows: its potential's errors on them. */
export const VALIDATION_FILES = ['validation.json'] as const;

export interface SplitMetrics { structures: number; core_atoms: number; energy_rmse_per_atom: number | null; force_rmse_core: number | null }
export interface FitMetrics { loss: number | null; seconds: number; finite: boolean; train: SplitMetrics; test?: SplitMetrics }
/** `referenceEnergy`: the per-element energies the fit subtracted (eV), kept with the potential so that its energies turn back into DFT totals. */
/** `validation`: the potential's errors on the validation rows (meV), null when the job wrote none although it had rows (a project's train.sh.hbs from before validation), undefined when there were none. */
export interface FitResult { metrics: FitMetrics; files: Map<string, Buffer>; referenceEnergy: Record<string, number>; validation?: ValidationErrors | null }

function referenceEnergyOf(text: string | undefined): Record<string, number> | undefined {
  try {
    const v = JSON.parse(text ?? '') as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'number' && Number.isFinite(x)) ? (v as Record<string, number>) : undefined;
  } catch {
    return undefined;
  }
}

function parseMetrics(text: string | undefined): FitMetrics | undefined {
  if (text === undefined) return undefined;
  try {
    const m = JSON.parse(text) as FitMetrics;
    return typeof m === 'object' && m !== null && typeof m.train === 'object' ? m : undefined;
  } catch {
    return undefined;
  }
}

function failed(failure: Failure): Judged<FitResult> {
  return { ok: false, failure };
}

/** `validated`: the fit had validation rows, so its job evaluates them. */
export function judgeTrain(files: FetchedFiles, exitcode: number, validated = false): Judged<FitResult> {
  const text = (n: string) => files.get(n)?.toString('utf8');
  const err = lastErrorLine(text('pacemaker.err'), text('pacemaker.out'), text('log.txt'));
  const stopped = exitFailure(exitcode, err, { cls: 'pacemaker_error', program: 'a training command', settings: 'train.command and train.python', run: 'the fit' });
  if (stopped !== undefined) return failed(stopped);
  const metrics = parseMetrics(text('metrics.json'));
  if (exitcode !== 0 || metrics === undefined) {
    const module = missingModule(err, 'train.python (or train.command\'s Python)');
    if (module !== undefined) return failed({ cls: 'pacemaker_error', message: module });
    if (err !== undefined) return failed({ cls: 'pacemaker_error', message: `exit ${exitcode}: ${err}` });
    if (!files.has('output_potential.yaml')) return failed({ cls: 'no_potential', message: `the job ended (exit ${exitcode}) without output_potential.yaml and without an error line; see pacemaker.out` });
    return failed({ cls: 'unknown', message: `the job ended (exit ${exitcode}) without metrics.json; see pacemaker.out` });
  }
  if (!metrics.finite) return failed({ cls: 'nonfinite_loss', message: `the fit's loss or errors are not finite (loss ${metrics.loss ?? 'NaN'}); see log.txt` });
  const missing = POTENTIAL_FILES.filter((n) => !files.has(n));
  if (missing.length > 0) return failed({ cls: 'no_potential', message: `the fit left no ${missing.join(', ')}` });
  const referenceEnergy = referenceEnergyOf(text('reference_energy.json'));
  if (referenceEnergy === undefined) return failed({ cls: 'corrupt_output', message: 'reference_energy.json is not a map of element to a finite energy in eV' });
  const validation = validated ? parseValidation(text('validation.json')) ?? null : undefined;
  if (validated && files.has('validation.json') && validation === null) return failed({ cls: 'corrupt_output', message: 'validation.json is not the evaluation autopipe_train.py validate writes' });
  const kept = [...POTENTIAL_FILES, ...[...FIT_CURVE_FILES, ...VALIDATION_FILES].filter((n) => files.has(n))];
  return { ok: true, result: { metrics, files: new Map(kept.map((n) => [n, files.get(n) as Buffer])), referenceEnergy, ...(validation === undefined ? {} : { validation }) } satisfies FitResult };
}
