/**
 * The select stage: no job. Entering it reads the dumps the iteration's exploration runs kept
 * (only the collected frames travelled back), picks atoms with γ in [selection.lo, .hi),
 * suppresses neighbours, keeps the best selection.max_candidates and cuts each one's periodic
 * sub-cell with its force mask (lib/select, lib/embed). The sub-cells are kept in
 * select/iter-KKK/selected.extxyz, which the next iteration's labelling stage reads.
 */
import type { JsonObject } from '../../state/cursor.js';
import { readDumpFrames } from '../../formats/lammps-dump.js';
import { writeExtxyz } from '../../formats/extxyz.js';
import { BestCandidates } from '../../select/select.js';
import { AutopipeError, StageError } from '../../errors/errors.js';
import { defineLocalKind, recordedSection, type LocalOutcome, type StageContext, type StageShape } from '../kind.js';
import { elementsOf, keptPotential, runDir, runResultsOf, runTotals, selectedFile, stageOf } from '../kept.js';

/** What a selection records: what it read, found and chose, with the thresholds it chose by. */
export interface SelectData {
  frames_explored: number; frames_collected: number; largest_gamma: number; frames_read: number; frames_dropped: number;
  candidates: number; after_suppression: number; selected: number; subcells: number; parents_whole: number;
  atoms_per_subcell: { min: number; mean: number; max: number } | null;
  rejected_at_seam: number; atoms_removed_at_seams: number; rejections: JsonObject[]; file: string;
  /** The exploration's gamma_collect and selection.lo / hi, as they were (absent in selections of an older autopipe). */
  gamma_collect?: number; lo?: number; hi?: number;
}

function selectionOf(ctx: StageContext): LocalOutcome<SelectData> {
  const { selection: sel, embedding: e } = ctx.config;
  const exploration = stageOf(ctx.cursor, 'explore', ctx.iteration);
  if (exploration === undefined) throw new StageError(`iteration ${ctx.iteration} has no exploration to select from`);
  const gammaCollect = recordedSection(exploration, 'explore')?.gamma_collect ?? ctx.config.explore.gamma_collect;
  const results = Object.entries(runResultsOf(exploration.data)).sort(([a], [b]) => a.localeCompare(b));
  // the dumps' atom types are the elements of the potential that wrote them, in its order
  const elements = elementsOf(keptPotential(ctx, ctx.iteration).yaml);
  if (sel.types !== null && sel.types.join(' ') !== elements.join(' ')) {
    throw new StageError(`selection.types [${sel.types.join(', ')}] are not the elements of the potential that wrote iteration ${ctx.iteration}'s dumps ([${elements.join(', ')}]): its atoms would be labelled as other elements`, { hint: 'set selection.types: null (the potential\'s elements are used)' });
  }
  const types = elements;
  const best = new BestCandidates(sel.column, sel.lo, sel.hi, sel.max_candidates, { rcut: e.rcut, buffer: e.buffer, maskRadius: e.mask_radius ?? undefined, minDistance: e.min_distance, box: e.box });
  for (const [id, r] of results) {
    if (r.collected === 0) continue;
    const file = `${runDir(ctx.iteration, id)}/frames.dump`;
    const dump = ctx.readFile(file, 'work');
    if (dump === undefined) throw new StageError(`${file} is missing from the work folder (the run collected ${r.collected} frame(s))`, { hint: 'restore it from the run\'s attempt folder' });
    let k = 0;
    for (const frame of readDumpFrames([dump], { types, requiredColumns: [sel.column] }, file)) {
      // k: the frame's index as ASE's read(file, index=k) takes it (the parent of its sub-cells)
      best.offer(frame, { file, frame: k, timestep: typeof frame.info.timestep === 'number' ? frame.info.timestep : undefined });
      k++;
    }
  }
  const { selected, summary } = best.result();
  // the runs' own summaries: what they explored, not only the frames that came back
  const { explored, collected, maxGamma } = runTotals(results.map(([, r]) => r));
  const data: SelectData = {
    frames_explored: explored, frames_collected: collected, largest_gamma: maxGamma,
    frames_read: summary.frames_read, frames_dropped: summary.frames_dropped,
    candidates: summary.candidates_in_range, after_suppression: summary.centres_after_suppression, selected: summary.selected,
    subcells: summary.selected - summary.parents_labelled_whole, parents_whole: summary.parents_labelled_whole,
    atoms_per_subcell: summary.atoms_per_subcell === null ? null : { ...summary.atoms_per_subcell },
    rejected_at_seam: summary.rejected_at_seam, atoms_removed_at_seams: summary.atoms_removed_at_seams,
    rejections: summary.rejections.slice(0, 20) as unknown as JsonObject[], file: selectedFile(ctx.iteration),
    gamma_collect: gammaCollect, lo: sel.lo, hi: sel.hi,
  };
  return { data, notes: [`iteration ${ctx.iteration}: ${selectionLine(data, data)}`, ...summary.warnings], keep: [{ path: selectedFile(ctx.iteration), content: writeExtxyz(selected.map((s) => s.atoms)) }] };
}

/** The thresholds a selection chose by, as it recorded them (selection.lo / hi recorded with its config for an older one; unknown: null). */
function thresholdsOf(s: StageShape & { data: SelectData }): { collect: number | null; lo: number | null; hi: number | null } {
  const sel = recordedSection(s, 'selection');
  return { collect: s.data.gamma_collect ?? null, lo: s.data.lo ?? sel?.lo ?? null, hi: s.data.hi ?? sel?.hi ?? null };
}

/** One line of what a selection did (the poll's output, status), with the thresholds it recorded. */
export function selectionLine(d: SelectData, t: { gamma_collect?: number | null; lo?: number | null; hi?: number | null }): string {
  const a = d.atoms_per_subcell;
  const n = (k: keyof SelectData) => Number(d[k] ?? 0);
  const v = (x: number | null | undefined) => (x === null || x === undefined ? '?' : String(x));
  return `${n('frames_explored')} frames explored, ${n('frames_collected')} collected${t.gamma_collect === null || t.gamma_collect === undefined ? '' : ` (γ ≥ ${t.gamma_collect})`}, ` +
    `${n('candidates')} candidate atoms in [${v(t.lo)}, ${v(t.hi)}) (${n('frames_dropped')} frames dropped at γ ≥ ${v(t.hi)}), ${n('after_suppression')} after suppression, ` +
    `${n('selected')} selected: ${n('subcells')} sub-cells${a === null ? '' : ` of ${a.min}–${a.max} atoms (mean ${a.mean.toFixed(0)})`}` +
    `${n('parents_whole') > 0 ? `, ${n('parents_whole')} whole parents` : ''}, ${n('rejected_at_seam')} rejected at the seam`;
}

export const selectKind = defineLocalKind<SelectData>({
  kind: 'select',
  noun: 'selection',
  runs: 'local',
  configSections: ['selection', 'embedding'],
  next: { kind: 'check', nextIteration: false },
  labelsNext: (s) => Number(s.data.selected ?? 0),
  summaryLine(stage) {
    const t = thresholdsOf(stage);
    return selectionLine(stage.data, { gamma_collect: t.collect, lo: t.lo, hi: t.hi });
  },
  iterationPart: (stage) => ({ select: { candidates: Number(stage.data.candidates ?? 0), selected: Number(stage.data.selected ?? 0) } }),
  run(ctx) {
    try {
      return selectionOf(ctx);
    } catch (err) {
      // a dump that cannot be read, a cube too large: the loop stops with the reason
      if (err instanceof AutopipeError && !(err instanceof StageError)) throw new StageError(err.message, { hint: err.hint, cause: err });
      throw err;
    }
  },
  stopReason(s) {
    if (Number(s.data.selected ?? 0) > 0) return undefined;
    const t = thresholdsOf(s);
    const v = (x: number | null) => (x === null ? '?' : String(x));
    const why = Number(s.data.frames_collected ?? 0) === 0
      ? `no frame reached γ ${v(t.collect)}`
      : `of ${String(s.data.frames_collected)} collected frames, ${String(s.data.frames_dropped)} had an atom at γ ≥ ${v(t.hi)} (dropped as broken) and the rest no atom with γ in [${v(t.lo)}, ${v(t.hi)})${Number(s.data.rejected_at_seam ?? 0) > 0 ? `, or their sub-cells were rejected at the seam (${String(s.data.rejected_at_seam)})` : ''}`;
    return `no candidates to label after iteration ${s.iteration}: ${why}`;
  },
});
