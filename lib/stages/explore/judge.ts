/**
 * A finished MD run from its outputs, pure: what it explored, or why it failed. A run whose every
 * extrapolation grade was exactly 0 failed: that is a broken active set or an evaluator that
 * computes no γ, never "nothing to learn".
 */
import type { FetchedFiles } from '../../exec/executor.js';
import type { Judged } from '../kind.js';
import { exitFailure, lastErrorLine, missingModule } from '../error-line.js';

/** What the engine writes (summary.json). */
export interface RunSummary {
  steps_run: number; frames_explored: number; frames_collected: number; max_gamma: number;
  stopped_early: boolean; all_gamma_zero: boolean; last_good_step: number | null;
  /** Each explored frame's largest grade, in order (the report's distribution; absent before it was written). */
  frame_gammas?: number[];
  /** Where and why the MD blew up (the run ended there; what it collected before is kept). */
  blew_up?: { step: number; why: string };
  /** The cell's volume per atom over the explored frames, Å³: [smallest, largest] (NPT changes it). */
  volume_per_atom?: [number, number];
  /** The instantaneous temperature of the last explored frame, K (a ramp's end), and of each explored frame. */
  temperature_last?: number;
  frame_temperatures?: number[];
}

export interface RunResult { summary: RunSummary; files: Map<string, Buffer> }

/**
 * Files a finished run leaves for the select stage and the next iteration, kept in the work
 * folder (those it wrote: candidates.json only with selection.method d-optimal).
 */
export const RUN_FILES = ['summary.json', 'frames.dump', 'last.extxyz', 'candidates.json'] as const;

function summaryOf(text: string | undefined): RunSummary | undefined {
  if (text === undefined) return undefined;
  try {
    const s = JSON.parse(text) as RunSummary;
    return typeof s.frames_explored === 'number' && typeof s.all_gamma_zero === 'boolean' ? s : undefined;
  } catch {
    return undefined;
  }
}

export function judgeExplore(files: FetchedFiles, exitcode: number): Judged<RunResult> {
  const text = (n: string) => files.get(n)?.toString('utf8');
  const err = lastErrorLine(text('explore.err'), text('explore.out'));
  const stopped = exitFailure(exitcode, err, { cls: 'explore_error', program: 'the MD engine', settings: 'explore.python', run: 'the run' });
  if (stopped !== undefined) return { ok: false, failure: stopped };
  const summary = summaryOf(text('summary.json'));
  if (exitcode !== 0 || summary === undefined) {
    const module = missingModule(err, 'explore.python');
    if (module !== undefined) return { ok: false, failure: { cls: 'explore_error', message: module } };
    if (err !== undefined) return { ok: false, failure: { cls: 'explore_error', message: `exit ${exitcode}: ${err}` } };
    return { ok: false, failure: { cls: 'unknown', message: `the run ended (exit ${exitcode}) without summary.json; see explore.out` } };
  }
  return judgeSummary(summary, files);
}

/** Whether the run's task.json asks for candidates.json (selection.method d-optimal). */
function wantsCandidates(task: Buffer | undefined): boolean {
  try {
    return task !== undefined && (JSON.parse(task.toString('utf8')) as { candidates?: unknown }).candidates != null;
  } catch {
    return false;
  }
}

/** Frames in a LAMMPS dump: its ITEM: TIMESTEP lines. */
function framesIn(dump: Buffer | undefined): number {
  if (dump === undefined) return 0;
  let n = 0;
  for (let i = dump.indexOf('ITEM: TIMESTEP'); i >= 0; i = dump.indexOf('ITEM: TIMESTEP', i + 14)) n++;
  return n;
}

/** A run's summary and files, judged alike for both engines: γ all zero is an error; what was collected must be there. */
export function judgeSummary(summary: RunSummary, files: FetchedFiles): Judged<RunResult> {
  if (summary.all_gamma_zero) {
    return { ok: false, failure: { cls: 'zero_gamma', message: `every extrapolation grade of ${summary.frames_explored} frame(s) was exactly 0: the active set is broken or the evaluator computes no γ` } };
  }
  if (summary.frames_collected > 0 && !files.has('frames.dump')) return { ok: false, failure: { cls: 'unknown', message: `the run collected ${summary.frames_collected} frame(s) but left no frames.dump` } };
  // what the summary claims must be there: a selection from a dump that lost frames would give a false reason to stop
  const dumped = framesIn(files.get('frames.dump'));
  if (summary.frames_collected !== dumped && files.has('frames.dump')) {
    return { ok: false, failure: { cls: 'corrupt_output', message: `summary.json says ${summary.frames_collected} frame(s) collected, but frames.dump holds ${dumped}` } };
  }
  // a run planned for d-optimal selection that left no candidates.json would stop the select stage later, with less to say
  if (summary.frames_collected > 0 && wantsCandidates(files.get('task.json')) && !files.has('candidates.json')) {
    return { ok: false, failure: { cls: 'unknown', message: `the run collected ${summary.frames_collected} frame(s) for selection.method d-optimal but left no candidates.json; see explore.err (autopipe_explore.py candidates)` } };
  }
  const kept = new Map(RUN_FILES.flatMap((n) => { const b = files.get(n); return b === undefined ? [] : [[n, b] as const]; }));
  return { ok: true, result: { summary, files: kept } satisfies RunResult };
}
