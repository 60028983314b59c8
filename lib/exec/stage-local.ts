/** Staging on this machine's filesystem (the run root of the local and login-node executors). */
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../fsutil/atomic.js';
import type { PlannedCopy, PlannedFile } from './executor.js';

/** Each file atomically, under root. */
export function stageFilesLocally(root: string, files: readonly PlannedFile[]): void {
  for (const f of files) {
    const path = join(root, f.path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileAtomic(path, f.content);
  }
}

/** The files, then the folder copies; a copy whose source is missing is skipped (pw.x then starts from atoms). */
export function stageLocally(root: string, files: readonly PlannedFile[], copies: readonly PlannedCopy[]): void {
  stageFilesLocally(root, files);
  for (const c of copies) {
    const from = join(root, c.from);
    if (existsSync(from)) cpSync(from, join(root, c.to), { recursive: true });
  }
}
