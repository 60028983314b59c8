/**
 * What comes after the open stages, pure: (cursor, config, the kinds there are) → actions.
 *
 *   open stage                       action
 *   label k, not followed, and       enter train k (the labelling stage stays open: its
 *     settled, or at least             stragglers are merged by later passes and count for
 *     train.min_new_structures done    the next fit)
 *   a stage settled, none done       stop: the stage gave up, with its reason (a local stage,
 *                                    select, has no task and never gives up this way)
 *   a stage settled, done            the kind's stopReason (explore: converged; select: no
 *                                    candidate), then iterations.stop_after, then:
 *     train k                          enter explore k
 *     explore k                        enter select k
 *     select k                         stop if k + 1 = iterations.max, or if labelling its
 *                                      selection would exceed iterations.max_dft_core_hours;
 *                                      else enter label k + 1
 *   the next kind missing            stop, saying this autopipe has none
 *   any stage settled and followed   close it (a summary goes to `done`); the stage the loop
 *                                    stopped at stays open, for status to show its tasks
 */
import type { Config } from '../config/types.js';
import type { Cursor, StageKindName, StageRecord } from '../state/cursor.js';
import type { StageKind } from '../stages/kind.js';
import { coreSeconds, lastAttempt, phaseOf, stageSettled } from './tasks.js';

export type Action =
  | { kind: 'enter'; stage: StageKindName; iteration: number; after: number }
  | { kind: 'close'; index: number }
  | { kind: 'stop'; reason: string };

/** What the transition asks of a kind: whether it runs jobs, and its own stop rule. */
export type KindRules = Pick<StageKind, 'runs' | 'stopReason'>;

const NEXT: Readonly<Record<StageKindName, StageKindName>> = { label: 'train', train: 'explore', explore: 'select', select: 'label' };
const NAME: Readonly<Record<StageKindName, string>> = { label: 'labelling', train: 'training', explore: 'exploration', select: 'selection' };

function doneCount(s: StageRecord): number {
  return s.tasks.filter((t) => phaseOf(t) === 'done').length;
}

function gaveUpReason(s: StageRecord): string {
  const t = s.tasks.find((x) => phaseOf(x) === 'gave_up');
  return t === undefined ? 'no task finished' : `${t.gave_up ?? 'gave up'}; last error: ${lastAttempt(t).message ?? '-'}`;
}

/** DFT spent so far (every labelling stage, open or done), and what one labelled structure cost on average. */
export function dftSpent(c: Cursor): { coreHours: number; labelled: number } {
  const open = c.stages.filter((s) => s.kind === 'label');
  const done = c.done.filter((s) => s.kind === 'label');
  const seconds = open.reduce((n, s) => n + coreSeconds(s), 0) + done.reduce((n, s) => n + (s.core_s ?? 0), 0);
  const labelled = open.reduce((n, s) => n + doneCount(s), 0) + done.reduce((n, s) => n + s.counts.done, 0);
  return { coreHours: seconds / 3600, labelled };
}

/** The budget rule before labelling iteration k + 1 with `n` structures. */
function overBudget(c: Cursor, config: Config, k: number, n: number): string | undefined {
  const budget = config.iterations.max_dft_core_hours;
  if (budget === null) return undefined;
  const { coreHours, labelled } = dftSpent(c);
  const projected = labelled === 0 ? 0 : (coreHours / labelled) * n;
  if (coreHours + projected <= budget) return undefined;
  return `the DFT budget: ${coreHours.toFixed(2)} core-hours spent on ${labelled} labelled structures, and labelling iteration ${k + 1}'s ${n} would take about ${projected.toFixed(2)} more, beyond iterations.max_dft_core_hours (${budget})`;
}

function after(c: Cursor, s: StageRecord, index: number, config: Config, kinds: ReadonlyMap<StageKindName, KindRules>): Action | undefined {
  const settled = stageSettled(s);
  const done = doneCount(s);
  const k = s.iteration;
  const local = kinds.get(s.kind)?.runs === 'local';
  if (s.kind === 'label' && !settled) {
    // training may start while stragglers run
    if (done < config.train.min_new_structures || config.iterations.stop_after === 'label') return undefined;
  } else if (!settled) {
    return undefined;
  }
  if (settled && done === 0 && !local) return { kind: 'stop', reason: `${NAME[s.kind]} of iteration ${k} gave up${s.kind === 'label' ? ` on every task (${s.tasks.length})` : ''}: ${gaveUpReason(s)}` };
  const own = settled ? kinds.get(s.kind)?.stopReason?.(s, config) : undefined;
  if (own !== undefined) return { kind: 'stop', reason: own };
  if (config.iterations.stop_after === s.kind) return { kind: 'stop', reason: `iteration ${k} is through ${s.kind}, and iterations.stop_after is ${s.kind}` };
  const next = NEXT[s.kind];
  if (next === 'label') {
    if (k + 1 >= config.iterations.max) return { kind: 'stop', reason: `iterations.max (${config.iterations.max}) reached: iteration ${k}'s selection is kept for a next iteration, unlabelled` };
    const budget = overBudget(c, config, k, Number(s.data.selected ?? 0));
    if (budget !== undefined) return { kind: 'stop', reason: budget };
  }
  if (!kinds.has(next)) return settled ? { kind: 'stop', reason: `iteration ${k} is through ${s.kind}; this autopipe has no ${next} stage, so the loop stops here` } : undefined;
  return { kind: 'enter', stage: next, iteration: next === 'label' ? k + 1 : k, after: index };
}

export function transitions(c: Cursor, config: Config, kinds: ReadonlyMap<StageKindName, KindRules>): Action[] {
  const actions: Action[] = [];
  let stopping = c.stopped !== null;
  c.stages.forEach((s, index) => {
    if (!s.followed && !stopping) {
      const a = after(c, s, index, config, kinds);
      if (a !== undefined) actions.push(a);
      if (a?.kind === 'stop') stopping = true;
      // a stage that stops the loop stays open, so that status shows its tasks
      if (a?.kind === 'enter' && stageSettled(s)) actions.push({ kind: 'close', index });
    } else if (s.followed && stageSettled(s)) {
      actions.push({ kind: 'close', index });
    }
  });
  return actions;
}
