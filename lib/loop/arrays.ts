/**
 * Job arrays for groups of attempt folders, pure: chunked to the cluster's MaxArraySize, one
 * manifest (array index → attempt folder) and one job script each, every submission an intent
 * (no job yet). Layout: <stage>/<token>.manifest and <stage>/<token>.sbatch.
 */
import { posix } from 'node:path';
import type { Resources } from '../config/types.js';
import type { PlannedFile } from '../exec/executor.js';
import type { SubmissionRecord } from '../state/cursor.js';

/** The array spec of one submission: "0-9%4". */
export function arraySpec(count: number, throttle: number | null): string {
  return `0-${count - 1}${throttle === null ? '' : `%${throttle}`}`;
}

/** Tasks that run with the same job script (same resources): one or more arrays. */
export interface ArrayGroup { tasks: ReadonlyArray<{ id: string; dir: string }>; resources: Resources }

export interface ArraysPlan {
  submissions: SubmissionRecord[];
  files: PlannedFile[];
  /** Where each task landed: submission token and array index. */
  placement: Map<string, { token: string; index: number }>;
}

export interface ArrayInputs {
  project: string;
  stageDir: string;
  runRoot: string;
  maxArraySize: number;
  now: number;
  /** A fresh submission token ([a-z0-9]{10}), e.g. from crypto randomness. */
  token: () => string;
  /** The kind's job script for one submission. */
  renderScript: (context: { resources: Resources; stage_dir: string; manifest: string }) => string;
}

export function planArrays(groups: readonly ArrayGroup[], p: ArrayInputs): ArraysPlan {
  const size = Math.max(1, p.maxArraySize);
  const out: ArraysPlan = { submissions: [], files: [], placement: new Map() };
  for (const g of groups) {
    for (let start = 0; start < g.tasks.length; start += size) {
      const chunk = g.tasks.slice(start, start + size);
      const token = p.token();
      if (!/^[a-z0-9]{8,}$/.test(token)) throw new RangeError(`a submission token must be [a-z0-9]{8,}, got '${token}'`);
      const manifest = posix.join(p.stageDir, `${token}.manifest`);
      // Paths relative to the stage folder: names we generate, so one per line is safe even when
      // the run root holds a newline.
      out.files.push({ path: manifest, content: chunk.map((t) => posix.relative(p.stageDir, t.dir)).join('\n') + '\n' });
      out.files.push({
        path: posix.join(p.stageDir, `${token}.sbatch`),
        content: p.renderScript({ resources: g.resources, stage_dir: posix.join(p.runRoot, p.stageDir), manifest: posix.join(p.runRoot, manifest) }),
      });
      chunk.forEach((t, index) => out.placement.set(t.id, { token, index }));
      out.submissions.push({ token, job_name: `${p.project}-${token}`, tasks: chunk.map((t) => t.id), job: null, resources: g.resources, intent_at: p.now, submitted_at: null });
    }
  }
  return out;
}
