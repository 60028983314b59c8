/**
 * What finished, judged and merged, stage by stage, with each task isolated: a judge that
 * throws on one attempt's outputs (an unreadable file) makes that attempt a corrupt_output
 * failure, and a merge that fails for one task (a kept file in the way) leaves that task
 * unmerged, said in the pass's lines, to be merged once the cause is fixed; the others go on.
 */
import type { FetchedFiles } from '../exec/executor.js';
import type { AttemptRecord, Cursor, JsonObject, StageRecord, TaskRecord } from '../state/cursor.js';
import type { Finished, JobStageKind, Judged, MergeSink } from '../stages/kind.js';
import { lastAttempt, phaseOf } from '../state/tasks.js';

function judged(kind: JobStageKind, files: FetchedFiles, exitcode: number, t: TaskRecord, a: AttemptRecord, s: StageRecord): Judged {
  try {
    return kind.judge(files, exitcode, t, a, s);
  } catch (err) {
    return { ok: false, failure: { cls: 'corrupt_output', message: `its outputs could not be read: ${(err as Error).message}` } };
  }
}

/** Merge all at once (one transaction); when that fails, each alone, so that one task's trouble does not hold the others. */
function merged(kind: JobStageKind, done: readonly Finished[], sink: MergeSink, s: StageRecord, changes: string[]): Finished[] {
  try {
    changes.push(...kind.merge(done, sink, s));
    return [...done];
  } catch (err) {
    if (done.length === 1) {
      changes.push(`${s.kind} ${done[0].task.id}: finished, but not merged (${(err as Error).message}); it is merged at the next pass once that is fixed`);
      return [];
    }
  }
  return done.flatMap((d) => merged(kind, [d], sink, s, changes));
}

export interface Settled { cursor: Cursor; merged: number }

/**
 * Judge what finished and merge what succeeded; `updated` gets each attempt's new state (a
 * task that could not be merged keeps its state: the next pass judges and merges it again).
 * Merging is committed before the cursor that records it is saved: a pass killed in between
 * repeats it, and a repeated merge adds nothing (content ids, kept files).
 */
export function settle(stages: ReadonlyArray<{ s: StageRecord; kind: JobStageKind }>, c: Cursor, exitcodes: ReadonlyMap<string, number | undefined>, fetched: ReadonlyMap<string, FetchedFiles>, sink: MergeSink, updated: Map<string, AttemptRecord>, changes: string[]): Settled {
  let cursor = c;
  let count = 0;
  for (const { s, kind } of stages) {
    const done: Finished[] = [];
    for (const t of s.tasks) {
      const a = lastAttempt(t);
      const exitcode = exitcodes.get(a.dir);
      if (phaseOf(t) !== 'open' || exitcode === undefined) continue;
      const j = judged(kind, fetched.get(a.dir) ?? new Map(), exitcode, t, a, s);
      if (j.ok) done.push({ task: t, attempt: a, result: j.result });
      else updated.set(a.dir, { ...a, state: 'failed', error_class: j.failure.cls, message: j.failure.message });
    }
    if (done.length === 0) continue;
    const ok = merged(kind, done, sink, s, changes);
    for (const d of ok) updated.set(d.attempt.dir, { ...d.attempt, state: 'done', error_class: null, message: null });
    count += ok.length;
    if (kind.record !== undefined && ok.length > 0) cursor = patchData(cursor, s, kind.record(s, ok) as JsonObject);
  }
  return { cursor, merged: count };
}

/** The cursor with one open stage's data patched (what its kind records of itself). */
function patchData(c: Cursor, stage: StageRecord, patch: JsonObject): Cursor {
  return { ...c, stages: c.stages.map((s) => (s.kind === stage.kind && s.iteration === stage.iteration ? { ...s, data: { ...s.data, ...patch } } : s)) };
}
