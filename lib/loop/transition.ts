/**
 * What comes after the open stages, pure: (cursor, config, the kinds there are) → actions.
 *
 *   open stage                       action
 *   label k, not followed, and       enter train k (the labelling stage stays open: its
 *     settled, or at least             stragglers are merged by later passes and count for
 *     train.min_new_structures done    the next fit)
 *   label k settled, none done       stop: every task of it gave up
 *   train k settled, a potential     enter explore k; without an explore kind: stop, saying so
 *   train k settled, none            stop: the fit gave up, with its reason
 *   any stage settled and followed   close it (a summary goes to `done`); the stage the loop
 *                                    stopped at stays open, for status to show its tasks
 *   label k or train k settled, and  stop: iterations.stop_after says so
 */
import type { Config } from '../config/types.js';
import type { Cursor, StageKindName, StageRecord } from '../state/cursor.js';
import { lastAttempt, phaseOf, stageSettled } from './tasks.js';

export type Action =
  | { kind: 'enter'; stage: StageKindName; iteration: number; after: number }
  | { kind: 'close'; index: number }
  | { kind: 'stop'; reason: string };

const NEXT: Readonly<Record<StageKindName, StageKindName>> = { label: 'train', train: 'explore', explore: 'select', select: 'label' };

function doneCount(s: StageRecord): number {
  return s.tasks.filter((t) => phaseOf(t) === 'done').length;
}

function gaveUpReason(s: StageRecord): string {
  const t = s.tasks.find((x) => phaseOf(x) === 'gave_up');
  return t === undefined ? 'no task finished' : `${t.gave_up ?? 'gave up'}; last error: ${lastAttempt(t).message ?? '-'}`;
}

function after(s: StageRecord, index: number, config: Config, available: ReadonlySet<StageKindName>): Action | undefined {
  const settled = stageSettled(s);
  const done = doneCount(s);
  const k = s.iteration;
  switch (s.kind) {
    case 'label':
      if (settled && done === 0) return { kind: 'stop', reason: `labelling of iteration ${k} gave up on every task (${s.tasks.length}): ${gaveUpReason(s)}` };
      if (!settled && done < config.train.min_new_structures) return undefined;
      if (settled && config.iterations.stop_after === 'label') return { kind: 'stop', reason: `iteration ${k} is labelled, and iterations.stop_after is label` };
      if (config.iterations.stop_after === 'label') return undefined;
      if (!available.has('train')) return settled ? { kind: 'stop', reason: `iteration ${k} is labelled; this autopipe has no train stage, so the loop stops here` } : undefined;
      return { kind: 'enter', stage: 'train', iteration: k, after: index };
    case 'train':
    case 'explore':
    case 'select': {
      if (!settled) return undefined;
      if (done === 0) return { kind: 'stop', reason: `${s.kind === 'train' ? 'training' : s.kind} of iteration ${k} gave up: ${gaveUpReason(s)}` };
      if (config.iterations.stop_after === s.kind) return { kind: 'stop', reason: `iteration ${k} is through ${s.kind}, and iterations.stop_after is ${s.kind}` };
      const next = NEXT[s.kind];
      if (!available.has(next)) return { kind: 'stop', reason: `iteration ${k} is ${s.kind === 'train' ? 'trained' : `through ${s.kind}`}; this autopipe has no ${next} stage yet, so the loop stops here` };
      return { kind: 'enter', stage: next, iteration: next === 'label' ? k + 1 : k, after: index };
    }
  }
}

export function transitions(c: Cursor, config: Config, available: ReadonlySet<StageKindName>): Action[] {
  const actions: Action[] = [];
  let stopping = c.stopped !== null;
  c.stages.forEach((s, index) => {
    if (!s.followed && !stopping) {
      const a = after(s, index, config, available);
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
