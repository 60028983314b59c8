/**
 * What to do about a task whose last attempt failed, pure: the next attempt's pw.x parameters,
 * resources and restart folder, or why to give up. The rules are recovery.* in autopipe.yaml:
 *
 *   class                                     remedy
 *   scf_not_converged, diagonalization,       the class's ladder: the n-th failure of the class
 *   charge_wrong                              takes rung n; rungs add up on top of the failed
 *                                             attempt's parameters; exhausted ladder: give up
 *   walltime                                  time × factor, capped at max; `retries` at most
 *   out_of_memory                             mem × factor, capped at max; `retries` at most
 *   node_failure, cancelled, unknown          the same again, that many times at most
 *   corrupt_output                            the same again, as often as recovery.unknown
 *   input_error, pw_error                     never: the same input fails the same way
 *
 * and never more than max_attempts attempts in all.
 */
import type { Config } from '../config/types.js';
import type { AttemptRecord, ResourceChange, TaskRecord } from '../state/cursor.js';
import type { FailureClass } from './classes.js';
import { formatMemory, formatTimeLimit, parseMemory, parseTimeLimit } from '../slurm/limits.js';

export type Parameters = AttemptRecord['parameters'];

export type Step =
  | { kind: 'retry'; parameters: Parameters; resources: ResourceChange; restartFrom: string | null; action: string }
  | { kind: 'give_up'; reason: string };

type Ladder = 'scf_not_converged' | 'diagonalization' | 'charge_wrong';

/** A retry's parameters carry over; starting from a density holds only for the attempt that restarts. */
function carried(a: AttemptRecord): Parameters {
  const { startingpot: _dropped, ...rest } = a.parameters;
  void _dropped;
  return rest;
}

function describe(p: Parameters): string {
  return Object.entries(p).map(([k, v]) => `${k}=${typeof v === 'string' ? `'${v}'` : String(v)}`).join(', ');
}

export function nextStep(task: TaskRecord, config: Config): Step {
  const last = task.attempts[task.attempts.length - 1];
  const cls: FailureClass = last.error_class ?? 'unknown';
  const r = config.recovery;
  if (cls === 'input_error') return { kind: 'give_up', reason: 'input_error is never retried: pw.x rejected its input (fix the structure or dft.parameters)' };
  if (cls === 'pw_error') return { kind: 'give_up', reason: 'pw_error is never retried: pw.x stopped with an error autopipe has no remedy for' };
  if (task.attempts.length >= r.max_attempts) return { kind: 'give_up', reason: `${cls}, and all recovery.max_attempts (${r.max_attempts}) attempts are used` };
  const n = task.attempts.filter((a) => a.error_class === cls).length; // this failure included
  const next = task.attempts.length + 1;
  const resources: ResourceChange = { ...(last.resources ?? {}) };
  const same = (what: string): Step => ({ kind: 'retry', parameters: carried(last), resources, restartFrom: null, action: `retried as a${next} unchanged (${what})` });
  switch (cls) {
    case 'scf_not_converged':
    case 'diagonalization':
    case 'charge_wrong':
      return ladderStep(last, cls as Ladder, n, next, resources, config);
    case 'walltime': {
      if (n > r.walltime.retries) return { kind: 'give_up', reason: `walltime, and all recovery.walltime.retries (${r.walltime.retries}) are used` };
      const current = resources.time ?? config.dft.resources.time;
      const scaled = scale(parseTimeLimit(current), r.walltime.factor, r.walltime.max === undefined ? undefined : parseTimeLimit(r.walltime.max));
      if (scaled === undefined) return { kind: 'give_up', reason: `walltime, and the time limit ${current} is already recovery.walltime.max (${r.walltime.max ?? '-'})` };
      const time = formatTimeLimit(scaled);
      return { kind: 'retry', parameters: carried(last), resources: { ...resources, time }, restartFrom: null, action: `retried as a${next} with time ${time} (was ${current})` };
    }
    case 'out_of_memory': {
      if (n > r.out_of_memory.retries) return { kind: 'give_up', reason: `out_of_memory, and all recovery.out_of_memory.retries (${r.out_of_memory.retries}) are used` };
      const current = resources.mem ?? config.dft.resources.mem;
      if (current === null) return { kind: 'give_up', reason: 'out_of_memory, and dft.resources.mem is not set, so there is nothing to scale (set it, e.g. 4G)' };
      const scaled = scale(parseMemory(current), r.out_of_memory.factor, r.out_of_memory.max === undefined ? undefined : parseMemory(r.out_of_memory.max));
      if (scaled === undefined) return { kind: 'give_up', reason: `out_of_memory, and the memory ${current} is already recovery.out_of_memory.max (${r.out_of_memory.max ?? '-'})` };
      const mem = formatMemory(scaled);
      return { kind: 'retry', parameters: carried(last), resources: { ...resources, mem }, restartFrom: null, action: `retried as a${next} with mem ${mem} (was ${current})` };
    }
    case 'node_failure':
    case 'cancelled':
    case 'unknown':
    case 'corrupt_output': {
      // an output that is not a label (NaN, *****) is as unexplained as no output: rerun it like unknown
      const setting = cls === 'corrupt_output' ? 'unknown' : cls;
      const allowed = r[setting];
      if (n > allowed) return { kind: 'give_up', reason: `${cls}, and all recovery.${setting} (${allowed}) retries are used` };
      return same(`${cls} ${n} of ${allowed}`);
    }
  }
}

function ladderStep(last: AttemptRecord, cls: Ladder, n: number, next: number, resources: ResourceChange, config: Config): Step {
  const ladder = config.recovery[cls];
  const rung = ladder[n - 1];
  if (rung === undefined) return { kind: 'give_up', reason: `${cls}, and all ${ladder.length} rung(s) of recovery.${cls} are tried` };
  const parameters: Parameters = { ...carried(last), ...rung };
  // A failed SCF leaves its charge density in out/pwscf.save: the closest start there is
  const restartFrom = cls === 'scf_not_converged' && config.recovery.restart_from_charge_density ? last.dir : null;
  if (restartFrom !== null) parameters.startingpot = 'file';
  return {
    kind: 'retry', parameters, resources, restartFrom,
    action: `retried as a${next} with rung ${n} of recovery.${cls} (${describe(rung)})${restartFrom === null ? '' : `, from a${last.attempt}'s charge density`}`,
  };
}

/** value × factor, capped; undefined when already at the cap (nothing left to give). */
function scale(value: number | undefined, factor: number, cap: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  const scaled = cap === undefined ? value * factor : Math.min(value * factor, cap);
  return scaled > value ? scaled : undefined;
}
