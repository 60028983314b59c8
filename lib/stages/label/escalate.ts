/**
 * pw.x's own remedies, pure: the n-th failure of a ladder class takes rung n of its ladder
 * (recovery.scf_not_converged, .diagonalization, .charge_wrong in autopipe.yaml); rungs add up
 * on top of the failed attempt's parameters; an exhausted ladder gives up. A failed SCF restarts
 * from its charge density when recovery.restart_from_charge_density says so. Other classes are
 * left to the rules every kind shares (lib/loop/retries.ts).
 */
import { posix } from 'node:path';
import type { Config } from '../../config/types.js';
import type { AttemptRecord, Parameters, TaskRecord } from '../../state/cursor.js';
import type { KindStep } from '../kind.js';

type Ladder = 'scf_not_converged' | 'diagonalization' | 'charge_wrong';
const LADDERS: ReadonlySet<string> = new Set<Ladder>(['scf_not_converged', 'diagonalization', 'charge_wrong']);

/** A retry's parameters carry over; starting from a density holds only for the attempt that restarts. */
export function carried(a: AttemptRecord): Parameters {
  const { startingpot: _dropped, ...rest } = a.parameters;
  void _dropped;
  return rest;
}

function describe(p: Parameters): string {
  return Object.entries(p).map(([k, v]) => `${k}=${typeof v === 'string' ? `'${v}'` : String(v)}`).join(', ');
}

export function escalateLabel(task: Pick<TaskRecord, 'attempts'>, config: Config): KindStep | undefined {
  const last = task.attempts[task.attempts.length - 1];
  const cls = last.error_class ?? 'unknown';
  if (!LADDERS.has(cls)) return undefined;
  const ladder = config.recovery[cls as Ladder];
  const n = task.attempts.filter((a) => a.error_class === cls).length; // this failure included
  const rung = ladder[n - 1];
  if (rung === undefined) return { kind: 'give_up', reason: `${cls}, and all ${ladder.length} rung(s) of recovery.${cls} are tried` };
  const parameters: Parameters = { ...carried(last), ...rung };
  // A failed SCF leaves its charge density in out/pwscf.save: the closest start there is
  const restartFrom = cls === 'scf_not_converged' && config.recovery.restart_from_charge_density ? last.dir : null;
  if (restartFrom !== null) parameters.startingpot = 'file';
  const next = task.attempts.length + 1;
  const dir = posix.join(posix.dirname(last.dir), `a${next}`);
  return {
    kind: 'retry', parameters, restartFrom,
    copies: restartFrom === null ? [] : [{ from: posix.join(restartFrom, 'out', 'pwscf.save'), to: posix.join(dir, 'out', 'pwscf.save') }],
    action: `retried as a${next} with rung ${n} of recovery.${cls} (${describe(rung)})${restartFrom === null ? '' : `, from a${last.attempt}'s charge density`}`,
  };
}
