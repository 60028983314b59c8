/**
 * Job arrays for groups of attempt folders, pure: chunked to the cluster's MaxArraySize, one
 * manifest (array index → attempt folder) and one job script each, every submission an intent
 * (no job yet). Layout: <stage>/<token>.manifest and <stage>/<token>.sbatch.
 */
import { posix } from 'node:path';
import type { Resources } from '../config/types.js';
import type { PlannedFile } from '../exec/executor.js';
import type { SubmissionRecord } from '../state/cursor.js';
import { manifestText } from '../exec/manifest.js';

/** The array spec of one submission: "0-9%4". */
export function arraySpec(count: number, throttle: number | null): string {
  return `0-${count - 1}${throttle === null ? '' : `%${throttle}`}`;
}

/** Tasks that run with the same job script (same resources): one or more arrays; each task is an attempt's folder and token. */
export interface ArrayGroup { tasks: ReadonlyArray<{ id: string; dir: string; token: string }>; resources: Resources }

export interface ArraysPlan {
  submissions: SubmissionRecord[];
  files: PlannedFile[];
  /** Where each task landed: submission token and array index. */
  placement: Map<string, { token: string; index: number }>;
}

export interface ArrayInputs {
  project: string;
  stageDir: string;
  maxArraySize: number;
  now: number;
  /** A fresh submission token ([a-z0-9]{10}), e.g. from crypto randomness. */
  token: () => string;
  /** The job script for one submission (autopipe's wrapper around the kind's template); `manifest` is its file name in the stage folder. */
  renderScript: (context: { resources: Resources; manifest: string }) => string;
}

export function planArrays(groups: readonly ArrayGroup[], p: ArrayInputs): ArraysPlan {
  const size = Math.max(1, p.maxArraySize);
  const out: ArraysPlan = { submissions: [], files: [], placement: new Map() };
  for (const g of groups) {
    for (let start = 0; start < g.tasks.length; start += size) {
      const chunk = g.tasks.slice(start, start + size);
      const token = p.token();
      if (!/^[a-z0-9]{8,}$/.test(token)) throw new RangeError(`a submission token must be [a-z0-9]{8,}, got '${token}'`);
      // Paths relative to the stage folder: names we generate, so one per line is safe even when
      // the run root holds a newline.
      out.files.push({ path: posix.join(p.stageDir, `${token}.manifest`), content: manifestText(chunk.map((t) => ({ dir: posix.relative(p.stageDir, t.dir), token: t.token }))) });
      out.files.push({ path: posix.join(p.stageDir, `${token}.sbatch`), content: p.renderScript({ resources: g.resources, manifest: `${token}.manifest` }) });
      chunk.forEach((t, index) => out.placement.set(t.id, { token, index }));
      out.submissions.push({ token, job_name: `${p.project}-${token}`, tasks: chunk.map((t) => t.id), job: null, resources: g.resources, intent_at: p.now, submitted_at: null });
    }
  }
  return out;
}
