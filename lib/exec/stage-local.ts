/** Staging on this machine's filesystem (the run root of the local and login-node executors). */
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../fsutil/atomic.js';
import { CampaignError } from '../errors/errors.js';
import type { PlannedCopy, PlannedFile, StageClaim, StageResult } from './executor.js';
import { SENTINEL } from './manifest.js';

/** The run root's marker: the id of the campaign that staged there first, and who it is. */
export const CAMPAIGN_MARKER = '.autopipe-campaign';

/** The refusal when a run root is another campaign's (`where`: the run root as the user finds it; `marker`: what it says). */
export function otherCampaign(where: string, marker: string): CampaignError {
  return new CampaignError(`${where} holds another campaign's files (its ${CAMPAIGN_MARKER}: ${marker.trim().slice(0, 300)}); two campaigns in one run root would take each other's outputs, so nothing was staged`, {
    hint: `give this project a run root of its own (executor.remote_root); if that campaign is over and its files are not needed, remove them (rm -rf ${where})`,
  });
}

/** Each file atomically, under root. */
export function stageFilesLocally(root: string, files: readonly PlannedFile[]): void {
  for (const f of files) {
    const path = join(root, f.path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileAtomic(path, f.content);
  }
}

/** An attempt folder's next free stale name: a1.stale-1, a1.stale-2, … */
function staleName(dir: string): string {
  let n = 1;
  while (existsSync(`${dir}.stale-${n}`)) n++;
  return `${dir}.stale-${n}`;
}

/** The marker checked (written when there is none) and each fresh folder where a job ran moved aside. */
export function claimLocally(root: string, claim: StageClaim): StageResult {
  mkdirSync(root, { recursive: true });
  const marker = join(root, CAMPAIGN_MARKER);
  if (existsSync(marker)) {
    const text = readFileSync(marker, 'utf8');
    if (text.trim().split(/\s+/)[0] !== claim.campaign.id) throw otherCampaign(root, text);
  } else {
    writeFileAtomic(marker, `${claim.campaign.id} ${claim.campaign.about}\n`);
  }
  const movedAside: string[] = [];
  for (const d of claim.fresh) {
    const dir = join(root, d);
    if (!existsSync(join(dir, SENTINEL.started)) && !existsSync(join(dir, SENTINEL.exitcode))) continue;
    const to = staleName(dir);
    renameSync(dir, to);
    movedAside.push(`${d} → ${to.slice(root.length + 1)}`);
  }
  return { movedAside };
}

/** The claim, the files, then the folder copies; a copy whose source is missing is skipped (pw.x then starts from atoms). */
export function stageLocally(root: string, files: readonly PlannedFile[], copies: readonly PlannedCopy[], claim?: StageClaim): StageResult {
  const result = claim === undefined ? { movedAside: [] } : claimLocally(root, claim);
  stageFilesLocally(root, files);
  for (const c of copies) {
    const from = join(root, c.from);
    if (existsSync(from)) cpSync(from, join(root, c.to), { recursive: true });
  }
  return result;
}
