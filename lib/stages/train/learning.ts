/**
 * The learning curve and the rules that stop on it, pure: each potential's force RMSE on the
 * validation set, in loop order. A potential without an evaluation (no validation rows at its
 * level, or a job that wrote none) is a gap, not a zero: the rules skip it.
 */
import type { Config } from '../../config/types.js';
import { hasValidation } from '../../config/types.js';
import type { ValidationErrors } from '../kind.js';

export interface CurvePoint { iteration: number; validation: ValidationErrors | null | undefined }

const f1 = (v: number) => v.toFixed(1);

function measured(curve: readonly CurvePoint[]): Array<{ iteration: number; rmse: number }> {
  return curve.flatMap((p) => (typeof p.validation?.force_rmse === 'number' ? [{ iteration: p.iteration, rmse: p.validation.force_rmse }] : []));
}

/** iterations.target_force_rmse: the newest potential is at or below it. */
function targetReached(last: { iteration: number; rmse: number }, config: Config): string | undefined {
  const target = config.iterations.target_force_rmse;
  if (target === null || last.rmse > target) return undefined;
  return `done: iteration ${last.iteration}'s potential has a validation force RMSE of ${f1(last.rmse)} meV/Å, at or below iterations.target_force_rmse (${target})`;
}

/**
 * iterations.patience: the last `patience` potentials each failed to lower the best validation
 * force RMSE before them by min_improvement (a fraction of that best).
 */
function outOfPatience(points: ReadonlyArray<{ iteration: number; rmse: number }>, config: Config): string | undefined {
  const { patience, min_improvement: fraction } = config.iterations;
  if (patience === null || points.length <= patience) return undefined;
  let best = points[0];
  let since = 0;
  for (const p of points.slice(1)) {
    if (p.rmse < best.rmse * (1 - fraction)) {
      best = p;
      since = 0;
    } else {
      since++;
    }
  }
  if (since < patience) return undefined;
  const recent = points.slice(-since).map((p) => `${f1(p.rmse)} (iteration ${p.iteration})`).join(', ');
  return `the loop stopped learning: the best validation force RMSE is ${f1(best.rmse)} meV/Å (iteration ${best.iteration}), and the ${since} potential(s) since (${recent}) did not lower it by iterations.min_improvement (${100 * fraction}%), iterations.patience (${patience})`;
}

/** Why the curve stops the loop after its newest point, or undefined. */
export function learningStop(curve: readonly CurvePoint[], config: Config): string | undefined {
  const points = measured(curve);
  const last = points.at(-1);
  if (last === undefined || last.iteration !== curve.at(-1)?.iteration) return undefined;
  return targetReached(last, config) ?? outOfPatience(points, config);
}

/** The learning curve in one line (status, the end of `run`), or that learning is not measured. */
export function learningLine(curve: readonly CurvePoint[], config: Config): string | undefined {
  const points = measured(curve);
  if (points.length === 0) {
    if (curve.length === 0) return undefined;
    return hasValidation(config)
      ? 'learning: no potential has been measured on the validation set yet (its rows are labelled with the first labelling)'
      : 'learning is not measured: there is no validation set, so nothing says whether a potential is better than the one before (give validation.structures or validation.rows in autopipe.yaml)';
  }
  const best = points.reduce((a, b) => (b.rmse < a.rmse ? b : a));
  const last = curve.at(-1)?.validation ?? undefined;
  const target = config.iterations.target_force_rmse;
  return `learning: validation force RMSE ${points.map((p) => `${f1(p.rmse)}`).join(' → ')} meV/Å over iteration${points.length > 1 ? 's' : ''} ${points.map((p) => p.iteration).join(', ')}` +
    ` (best ${f1(best.rmse)}, iteration ${best.iteration}${target === null ? '' : `; target ${target}`})${last === undefined ? '' : `; on ${last.core_atoms} core atoms of ${last.rows} validation rows`}`;
}
