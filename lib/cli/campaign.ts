/**
 * Before a loop command acts on a campaign, what is on disk must be what its checkpoint says:
 * the checkpoint is this project's (not a copy's), its database is where its merges went, and a
 * new campaign does not start among another campaign's files. Each refusal changes nothing and
 * says how to go on.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Project } from '../project/project.js';
import { homeOf } from '../project/project.js';
import { readCursor, type Cursor } from '../state/cursor.js';
import type { Registry } from '../stages/kind.js';
import { dftSpent } from '../loop/transition.js';
import { CAMPAIGN_MARKER } from '../exec/stage-local.js';
import { CampaignError } from '../errors/errors.js';

/** The project's campaign as its checkpoint says; `moved`: the project was moved here (said once, then recorded). */
export function checkCampaign(p: Project, c: Cursor, registry: Registry): { moved: string | null } {
  const moved = checkHome(p, c);
  checkDatabase(p, c, registry);
  return { moved };
}

/**
 * A checkpoint written elsewhere: a move goes on (the jobs find their folders relative to the
 * run root); a copy, while the original still holds this campaign's checkpoint, is refused, since
 * its job ids and remote folders are the original's.
 */
function checkHome(p: Project, c: Cursor): string | null {
  if (c.home === null) return null;
  const here = homeOf(p).workdir;
  if (c.home.workdir === here) return null;
  let original: Cursor | undefined;
  try {
    original = readCursor(join(c.home.workdir, 'cursor.json'));
  } catch {
    original = undefined; // unreadable there: not a live copy of this campaign
  }
  if (original?.id === c.id) {
    throw new CampaignError(`${p.cursorPath}: this checkpoint is campaign ${c.id} of the project at ${c.home.workdir}, which still runs it there; a copy cannot go on from it (its jobs and files are the original's)`, {
      hint: `go on in ${c.home.workdir}; to start a new campaign in this copy, move its work folder away first (mv ${p.workdir} ${p.workdir}.copied) and run autopipe submit`,
    });
  }
  return `the project moved from ${c.home.workdir} to ${here}: going on here`;
}

/** Labelled rows this campaign merged (done tasks of kinds that spend DFT): the database must hold them. */
function checkDatabase(p: Project, c: Cursor, registry: Registry): void {
  const merged = dftSpent(c, registry).labelled;
  if (merged === 0 || existsSync(p.dbPath)) return;
  throw new CampaignError(`${p.dbPath} is missing, but this campaign merged ${merged} labelled structure(s) into it; a new empty database would silently fit without them`, {
    hint: `restore the database from a backup (cp BACKUP ${p.dbPath}); or, to start the campaign over, move the work folder away (mv ${p.workdir} ${p.workdir}.old) and run autopipe submit`,
  });
}

/** What a work folder holds of an earlier campaign (its checkpoint gone): files a new one must not adopt. */
function leftovers(p: Project): string[] {
  if (!existsSync(p.workdir)) return [];
  const names = readdirSync(p.workdir);
  const found = names.filter((n) => /^cursor\.json\.bak\.\d+$/.test(n)).length > 0 ? ['cursor.json.bak.* (an earlier checkpoint)'] : [];
  for (const dir of ['potentials', 'explore', 'select']) if (names.includes(dir)) found.push(`${dir}/`);
  if (p.runRoot.startsWith(`${p.workdir}/`) && (existsSync(join(p.runRoot, CAMPAIGN_MARKER)) || (existsSync(p.runRoot) && readdirSync(p.runRoot).some((n) => n.startsWith('iter-'))))) {
    found.push(`${p.runRoot.slice(p.workdir.length + 1)}/ (task folders)`);
  }
  return found;
}

/** A new campaign starts only in a work folder without another campaign's files. */
export function checkFreshStart(p: Project): void {
  const found = leftovers(p);
  if (found.length === 0) return;
  throw new CampaignError(`${p.workdir} holds the files of an earlier campaign whose checkpoint (cursor.json) is gone: ${found.join(', ')}; a new campaign would take its outputs as its own, so nothing was submitted`, {
    hint: `to go on with that campaign, restore its checkpoint (cp ${p.cursorPath}.bak.1 ${p.cursorPath}); to start a new one, move the old files away (mv ${p.workdir} ${p.workdir}.old) and submit again`,
  });
}
