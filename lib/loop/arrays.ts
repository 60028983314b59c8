/**
 * Job arrays for groups of attempt folders, pure: chunked to the cluster's MaxArraySize, one
 * manifest (one line per attempt folder) and one job script each, every submission an intent
 * (no job yet). Layout: <stage>/<token>.manifest and <stage>/<token>.sbatch.
 *
 * A group may pack k tasks into each array element (a kind's tasksPerElement): element i runs
 * manifest lines i·k … i·k + k − 1 one after another, so an array of n tasks is ceil(n / k)
 * elements (what a queue limit and MaxArraySize count), each asking for k times a task's time.
 * With k = 1 (the default) nothing differs from one task per element: same manifest, same script.
 */
import { posix } from 'node:path';
import type { Resources } from '../config/types.js';
import type { PlannedFile } from '../exec/executor.js';
import type { SubmissionRecord } from '../state/cursor.js';
import { manifestText } from '../exec/manifest.js';
import { formatTimeLimit, parseTimeLimit } from '../slurm/limits.js';

/** The array spec of one submission: "0-9%4". */
export function arraySpec(count: number, throttle: number | null): string {
  return `0-${count - 1}${throttle === null ? '' : `%${throttle}`}`;
}

/** Array elements of a submission of `tasks` tasks, `perElement` (absent: 1) in each. */
export function elementsOf(s: { tasks: readonly unknown[]; per_element?: number }): number {
  return Math.ceil(s.tasks.length / (s.per_element ?? 1));
}

/**
 * What an element of k tasks asks SLURM for: a task's resources with k times its time, so that
 * dft.resources.time (and recovery.walltime's scaling of it) stays a task's.
 */
export function elementResources(r: Resources, perElement: number): Resources {
  if (perElement === 1) return r;
  const seconds = parseTimeLimit(r.time);
  if (seconds === undefined) throw new RangeError(`cannot read the time limit '${r.time}' to give an element of ${perElement} tasks ${perElement} times it`);
  return { ...r, time: formatTimeLimit(seconds * perElement) };
}

/**
 * Tasks that run with the same job script (same resources): one or more arrays; each task is an
 * attempt's folder and token. `perElement`: tasks run one after another in each array element
 * (absent: 1); `resources` are a task's.
 */
export interface ArrayGroup { tasks: ReadonlyArray<{ id: string; dir: string; token: string }>; resources: Resources; perElement?: number }

export interface ArraysPlan {
  submissions: SubmissionRecord[];
  files: PlannedFile[];
  /** Where each task landed: submission token and array index (its element's, shared by the element's tasks). */
  placement: Map<string, { token: string; index: number }>;
}

export interface ArrayInputs {
  project: string;
  stageDir: string;
  maxArraySize: number;
  now: number;
  /** A fresh submission token ([a-z0-9]{10}), e.g. from crypto randomness. */
  token: () => string;
  /**
   * The job script for one submission (autopipe's wrapper around the kind's template); `manifest`
   * is its file name in the stage folder, `resources` an element's, `perElement` tasks run in each.
   */
  renderScript: (context: { resources: Resources; manifest: string; perElement: number }) => string;
}

export function planArrays(groups: readonly ArrayGroup[], p: ArrayInputs): ArraysPlan {
  const out: ArraysPlan = { submissions: [], files: [], placement: new Map() };
  for (const g of groups) {
    const k = g.perElement ?? 1;
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`tasks per array element must be a whole number ≥ 1, got ${k}`);
    // MaxArraySize bounds the elements (array indices), each holding k tasks
    const size = Math.max(1, p.maxArraySize) * k;
    const resources = elementResources(g.resources, k);
    for (let start = 0; start < g.tasks.length; start += size) {
      const chunk = g.tasks.slice(start, start + size);
      const token = p.token();
      if (!/^[a-z0-9]{8,}$/.test(token)) throw new RangeError(`a submission token must be [a-z0-9]{8,}, got '${token}'`);
      // Paths relative to the stage folder: names we generate, so one per line is safe even when
      // the run root holds a newline.
      out.files.push({ path: posix.join(p.stageDir, `${token}.manifest`), content: manifestText(chunk.map((t) => ({ dir: posix.relative(p.stageDir, t.dir), token: t.token }))) });
      out.files.push({ path: posix.join(p.stageDir, `${token}.sbatch`), content: p.renderScript({ resources, manifest: `${token}.manifest`, perElement: k }) });
      chunk.forEach((t, j) => out.placement.set(t.id, { token, index: Math.floor(j / k) }));
      out.submissions.push({ token, job_name: `${p.project}-${token}`, tasks: chunk.map((t) => t.id), job: null, resources, ...(k === 1 ? {} : { per_element: k }), intent_at: p.now, submitted_at: null });
    }
  }
  return out;
}
