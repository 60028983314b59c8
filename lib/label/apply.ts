/** Writing a plan: staged files first (each atomically), then the cursor that records them. */
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../fsutil/atomic.js';
import { writeCursor, CURSOR_VERSION, type Cursor } from '../state/cursor.js';
import type { LabelPlan, PlannedCopy } from './plan.js';

/** Stage files under a local root (the run root, for executors on this machine). */
export function stageFilesLocally(root: string, files: readonly LabelPlan['files'][number][]): void {
  for (const f of files) {
    const path = join(root, f.path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileAtomic(path, f.content);
  }
}

/** Copy folders under a local root; a missing source is skipped (pw.x then starts from atoms). */
function copyFoldersLocally(root: string, copies: readonly PlannedCopy[]): void {
  for (const c of copies) {
    const from = join(root, c.from);
    if (existsSync(from)) cpSync(from, join(root, c.to), { recursive: true });
  }
}

/** Staging on this machine's filesystem: the files, then the copies. */
export function stageLocally(root: string, files: readonly LabelPlan['files'][number][], copies: readonly PlannedCopy[]): void {
  stageFilesLocally(root, files);
  copyFoldersLocally(root, copies);
}

/** The cursor of a freshly planned labelling stage (every submission an intent: no job id). */
export function plannedCursor(project: string, iteration: number, plan: LabelPlan, now: number): Cursor {
  return { version: CURSOR_VERSION, project, iteration, stage: 'label', updated_at: now, tasks: plan.tasks, submissions: plan.submissions };
}

export function saveCursor(path: string, cursor: Cursor, now: number): void {
  writeCursor(path, { ...cursor, updated_at: now });
}
