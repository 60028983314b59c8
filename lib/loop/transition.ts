/**
 * What comes after the open stages, pure: (cursor, config, the kinds there are) → actions. The
 * kinds declare what follows them; nothing here names one.
 *
 *   open stage                       action
 *   running, and its kind lets it    enter the next kind (the stage stays open: its stragglers
 *     be followed early (label:        are merged by later passes and count for the next fit)
 *     train.min_new_structures done)
 *   a job stage settled, none done   stop (a failure): the stage gave up, with its reason
 *   a stage settled, done            the kind's stopReason (explore: converged; select: no
 *                                    candidate), then iterations.stop_after, then:
 *     next kind in the same iteration  enter it
 *     next kind in the next one        stop if k + 1 = iterations.max, or if labelling what
 *                                      the stage chose would exceed iterations.max_dft_core_hours;
 *                                      else enter it in iteration k + 1
 *   the next kind missing            stop, saying this autopipe has none
 *   any stage settled and followed   close it (a summary goes to `done`); the stage the loop
 *                                    stopped at stays open, for status to show its tasks
 */
import type { Config } from '../config/types.js';
import type { Cursor, StageKindName, StageRecord, Stop } from '../state/cursor.js';
import type { Registry } from '../stages/kind.js';
import { coreSeconds, lastAttempt, phaseOf, stageSettled } from '../state/tasks.js';

export type Action =
  | { kind: 'enter'; stage: StageKindName; iteration: number; after: number }
  | { kind: 'close'; index: number }
  | { kind: 'stop'; reason: string; by: Stop['by'] };

function doneCount(s: StageRecord): number {
  return s.tasks.filter((t) => phaseOf(t) === 'done').length;
}

function gaveUpReason(s: StageRecord): string {
  const t = s.tasks.find((x) => phaseOf(x) === 'gave_up');
  return t === undefined ? 'no task finished' : `${t.gave_up ?? 'gave up'}; last error: ${lastAttempt(t).message ?? '-'}`;
}

/** DFT spent so far (every stage of a kind that spends it, open or done), and what one labelled structure cost on average. */
export function dftSpent(c: Cursor, kinds: Registry): { coreHours: number; labelled: number } {
  const dft = (kind: StageKindName) => kinds.get(kind)?.spendsDft === true;
  const open = c.stages.filter((s) => dft(s.kind));
  const done = c.done.filter((s) => dft(s.kind));
  const seconds = open.reduce((n, s) => n + coreSeconds(s), 0) + done.reduce((n, s) => n + (s.core_s ?? 0), 0);
  const labels = (kind: StageKindName) => kinds.get(kind)?.measures !== true;
  const labelled = open.filter((s) => labels(s.kind)).reduce((n, s) => n + doneCount(s), 0) + done.filter((s) => labels(s.kind)).reduce((n, s) => n + s.counts.done, 0);
  return { coreHours: seconds / 3600, labelled };
}

/** The budget rule before labelling iteration k + 1 with `n` structures. */
function overBudget(c: Cursor, config: Config, k: number, n: number, kinds: Registry): string | undefined {
  const budget = config.iterations.max_dft_core_hours;
  if (budget === null) return undefined;
  const { coreHours, labelled } = dftSpent(c, kinds);
  const projected = labelled === 0 ? 0 : (coreHours / labelled) * n;
  if (coreHours + projected <= budget) return undefined;
  return `the DFT budget: ${coreHours.toFixed(2)} core-hours spent on ${labelled} labelled structures, and labelling iteration ${k + 1}'s ${n} would take about ${projected.toFixed(2)} more, beyond iterations.max_dft_core_hours (${budget})`;
}

function after(c: Cursor, s: StageRecord, index: number, config: Config, kinds: Registry): Action | undefined {
  const kind = kinds.get(s.kind);
  if (kind === undefined) return { kind: 'stop', reason: `the cursor has an open ${s.kind} stage, which this autopipe does not have (use the autopipe version that started it)`, by: 'failure' };
  const settled = stageSettled(s);
  const k = s.iteration;
  if (!settled) {
    // the next stage may start while stragglers run
    const early = kind.runs === 'jobs' && kind.followsEarly?.(s, config) === true && config.iterations.stop_after !== s.kind;
    if (!early) return undefined;
  }
  // a job stage that planned no task (an embedding check with nothing to check) is simply through
  if (settled && doneCount(s) === 0 && kind.runs === 'jobs' && s.tasks.length > 0) {
    return { kind: 'stop', by: 'failure', reason: `${kind.noun} of iteration ${k} gave up${s.tasks.length > 1 ? ` on every task (${s.tasks.length})` : ''}: ${gaveUpReason(s)}` };
  }
  const earlier = [...c.done, ...c.stages].filter((x) => x.kind === s.kind && x !== s && x.iteration < k).sort((x, y) => x.iteration - y.iteration);
  const own = settled ? kind.stopReason?.(s, config, earlier) : undefined;
  if (own !== undefined) return { kind: 'stop', reason: own, by: 'rule' };
  if (config.iterations.stop_after === s.kind) return { kind: 'stop', reason: `iteration ${k} is through ${s.kind}, and iterations.stop_after is ${s.kind}`, by: 'rule' };
  const next = kind.next;
  if (next.nextIteration) {
    if (k + 1 >= config.iterations.max) return { kind: 'stop', reason: `iterations.max (${config.iterations.max}) reached: iteration ${k}'s candidates are kept for a next iteration`, by: 'rule' };
    const budget = overBudget(c, config, k, kind.labelsNext?.(s) ?? 0, kinds);
    if (budget !== undefined) return { kind: 'stop', reason: budget, by: 'rule' };
  }
  if (!kinds.has(next.kind)) return settled ? { kind: 'stop', reason: `iteration ${k} is through ${s.kind}; this autopipe has no ${next.kind} stage, so the loop stops here`, by: 'rule' } : undefined;
  return { kind: 'enter', stage: next.kind, iteration: next.nextIteration ? k + 1 : k, after: index };
}

export function transitions(c: Cursor, config: Config, kinds: Registry): Action[] {
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
