/**
 * A stopped loop and how it goes on, pure. A stop by a rule (iterations.*, a kind's own) is a
 * decision taken on the configuration of its time: every pass takes it again with today's
 * autopipe.yaml, and the loop goes on once the rule no longer holds. A stop by a failure (a
 * stage gave up, or could not start) waits for `autopipe resume`, once its cause is fixed:
 * resuming gives each task that gave up a fresh attempt, and a stage that could not start is
 * entered again.
 */
import type { Config } from '../config/types.js';
import type { Cursor, Stop } from '../state/cursor.js';
import type { Registry } from '../stages/kind.js';
import { phaseOf } from '../state/tasks.js';
import { transitions } from './transition.js';

/** What to do about a stop, in every message that names one. */
export function howToGoOn(s: Stop): string {
  return s.by === 'failure'
    ? 'fix the cause named above, then run autopipe resume'
    : 'change that setting in autopipe.yaml; autopipe run or poll then goes on by itself';
}

/** A stop and how to go on, as one line. */
export function stopLine(s: Stop): string {
  return `${s.reason} (to go on: ${howToGoOn(s)})`;
}

/**
 * A rule's stop taken again with today's configuration: kept when the same rule still stops
 * the loop there, lifted otherwise (the pass then enters what comes next, or stops anew).
 */
export function reexamine(c: Cursor, config: Config, registry: Registry): { cursor: Cursor; change?: string } {
  if (c.stopped?.by !== 'rule') return { cursor: c };
  const again = transitions({ ...c, stopped: null }, config, registry).find((a) => a.kind === 'stop');
  if (again !== undefined && again.reason === c.stopped.reason) return { cursor: c };
  return { cursor: { ...c, stopped: null }, change: `the stop "${c.stopped.reason}" no longer holds with today's autopipe.yaml: going on` };
}

/** `autopipe resume`: the stop lifted; every task of an open stage that gave up marked for a fresh attempt (the next pass plans it). */
export function resume(c: Cursor): { cursor: Cursor; changes: string[] } {
  const changes: string[] = [];
  if (c.stopped !== null) changes.push(`resuming: the loop had stopped: ${c.stopped.reason}`);
  const stages = c.stages.map((s) => ({
    ...s,
    tasks: s.tasks.map((t) => {
      if (phaseOf(t) !== 'gave_up') return t;
      changes.push(`${s.kind} ${t.id}: gave up (${t.gave_up ?? '-'}); a fresh attempt on resume`);
      return { ...t, gave_up: null, resumed: true };
    }),
  }));
  return { cursor: { ...c, stages, stopped: null }, changes };
}
