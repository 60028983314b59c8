/**
 * The embedding check's figures from what its stage recorded, pure: per setting the core-force
 * error of its sub-cells against the reference and their DFT time against the reference's, and
 * the cheapest setting within embedding.target_force_error. A setting counts once every one of
 * its sub-cells and their references has finished.
 */
import { cheapestWithin, fidelityBySetting, reference, type LabelledSubcell, type Reference, type SettingFidelity } from '../../embed/fidelity.js';
import type { CheckData, CheckForces } from './plan.js';

export interface CheckFigures {
  rows: SettingFidelity[];
  /** Settings whose sub-cells or references have not all finished. */
  pending: string[];
  configured?: SettingFidelity;
  cheapest?: SettingFidelity;
}

function referenceOf(r: CheckForces): Reference {
  return reference(r.ids, r.f, r.seconds, r.natoms);
}

export function checkFigures(d: CheckData): CheckFigures {
  const done = Object.values(d.forces ?? {});
  const refs = done.filter((r) => r.role === 'reference');
  const refFor = (centre: number | null) => refs.find((r) => r.centre === null || r.centre === centre);
  const centres = d.frame?.centres ?? [];
  const complete = (setting: string) => centres.every((c) => done.some((r) => r.role === 'subcell' && r.setting === setting && r.centre === c) && refFor(c) !== undefined);
  const settings = (d.settings ?? []).map((s) => s.setting);
  const ready = settings.filter(complete);
  const runs: Array<LabelledSubcell & { centre: number | null }> = done
    .filter((r) => r.role === 'subcell' && r.setting !== null && ready.includes(r.setting))
    .sort((a, b) => ready.indexOf(a.setting as string) - ready.indexOf(b.setting as string))
    .map((r) => ({ setting: r.setting as string, centre: r.centre, natoms: r.natoms, coreIds: r.ids, coreForces: r.f, seconds: r.seconds }));
  const rows = fidelityBySetting(runs, (run) => referenceOf(refFor(run.centre) as CheckForces));
  const target = d.target ?? Infinity;
  return {
    rows, pending: settings.filter((s) => !ready.includes(s)),
    configured: rows.find((r) => r.setting === d.configured),
    cheapest: cheapestWithin(rows, target),
  };
}

function figure(r: SettingFidelity): string {
  return `core force RMSE ${r.rmse.toFixed(0)} meV/Å (largest ${r.max.toFixed(0)}) in ${r.atoms.toFixed(0)}-atom sub-cells at ${r.costShare.toFixed(2)} of the reference's DFT time`;
}

/** One line of what the check found (the poll's output, status); `failed`: its tasks whose last attempt failed (their settings wait on a retry, or never finish). */
export function checkLine(d: CheckData, failed = 0): string {
  if (d.skipped !== undefined) return `embedding check: none (${d.skipped})`;
  const f = checkFigures(d);
  const where = d.frame === undefined ? '' : ` on frame ${d.frame.index} of ${d.frame.source} (${d.frame.natoms} atoms, ${d.frame.centres.length} centre(s), reference: ${d.reference === 'frame' ? 'the whole frame' : 'a large sub-cell per centre'})`;
  const target = d.target ?? NaN;
  const own = f.configured === undefined
    ? (f.pending.includes(d.configured ?? '') ? `the configured setting (${d.configured}) is not labelled yet` : `the configured setting (${d.configured}) was not checked (${(d.left_out ?? []).find((x) => x.startsWith(d.configured ?? '\0')) ?? 'see left_out'})`)
    : `the configured setting (${d.configured}): ${figure(f.configured)}, ${f.configured.rmse <= target ? 'within' : 'ABOVE'} the target of ${target} meV/Å`;
  const best = f.rows.length === 0 ? '' : f.cheapest === undefined
    ? `; no checked setting reaches ${target} meV/Å (best: ${[...f.rows].sort((a, b) => a.rmse - b.rmse)[0].setting}, ${[...f.rows].sort((a, b) => a.rmse - b.rmse)[0].rmse.toFixed(0)} meV/Å)`
    : f.cheapest.setting === d.configured ? '; it is the cheapest that does' : `; the cheapest within it: ${f.cheapest.setting} (${figure(f.cheapest)})`;
  const pending = f.pending.length === 0 ? '' : failed > 0
    ? ` [${f.pending.length} of ${(d.settings ?? []).length} settings not measured: ${failed} task(s) failed${f.rows.length === 0 ? ', the reference among them or every sub-cell' : ''}]`
    : ` [${f.pending.length} of ${(d.settings ?? []).length} settings still labelling]`;
  return `embedding check${where}: ${own}${best}${pending}`;
}
