/** The database's labelled cells for `status` and `report`: none before the first merge made the file. */
import { existsSync } from 'node:fs';
import type { Project } from '../project/project.js';
import { openDatabaseFile } from '../db/db-file.js';
import type { LabelledCell } from '../db/ase-db.js';
import type { CliContext } from './context.js';

export function labelledCellsOf(p: Project, ctx: CliContext): LabelledCell[] {
  if (!existsSync(p.dbPath)) return [];
  const db = openDatabaseFile(p.dbPath, { busyTimeoutMs: ctx.dbBusyTimeoutMs });
  try {
    return db.labelledCells();
  } finally {
    db.close();
  }
}
