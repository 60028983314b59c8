/**
 * The select stage: no job. Entering it reads the dumps the iteration's exploration runs kept
 * (only the collected frames travelled back), picks atoms with γ in [selection.lo, .hi) and
 * chooses up to selection.max_candidates of them, by selection.method:
 *   gamma      per frame the best, neighbours suppressed; then the best over all frames (lib/select/select.ts)
 *   d-optimal  those that add most volume to the active set, from each run's candidates.json
 *              (lib/select/d-optimal-select.ts)
 * Each chosen atom is cut into its periodic sub-cell with its force mask (lib/embed), or with
 * selection.embed false its frame is taken whole, once. They are kept in
 * select/iter-KKK/selected.extxyz, which the next iteration's labelling stage reads.
 */
import type { JsonObject } from '../../state/cursor.js';
import { readDumpFrames } from '../../formats/lammps-dump.js';
import { writeExtxyz } from '../../formats/extxyz.js';
import { BestCandidates, type Selected, type SelectionSummary } from '../../select/select.js';
import { selectDOptimal, type PoolCandidate, type PoolFrame } from '../../select/d-optimal-select.js';
import { parseCandidates } from '../../select/candidates.js';
import type { Atoms } from '../../atoms/atoms.js';
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
  /** selection.method and .embed as chosen by (absent in selections of an older autopipe: gamma, embedded). */
  method?: 'gamma' | 'd-optimal'; embed?: boolean;
  /** d-optimal: each chosen atom's grade against the active set grown by those chosen before it (its volume gain), in selected.extxyz's order. */
  gains?: number[];
  /** d-optimal: candidates passed over as neighbours of a chosen atom, and those left that the grown active set spans (grade ≤ 1). */
  passed_over?: number; spanned?: number;
}

interface Run { id: string; file: string; frames: Atoms[] }

/** The candidates of every run, each pointing at its frame among `frames` (all runs' frames, in order). */
function candidatesOf(ctx: StageContext, runs: readonly Run[], exploration: StageShape): PoolCandidate[] {
  const planned = recordedSection(exploration, 'selection')?.method ?? 'gamma';
  const out: PoolCandidate[] = [];
  let offset = 0;
  for (const r of runs) {
    const file = `${runDir(ctx.iteration, r.id)}/candidates.json`;
    const b = ctx.readFile(file, 'work');
    if (b === undefined) {
      throw new StageError(planned === 'd-optimal'
        ? `${file} is missing from the work folder (selection.method d-optimal needs each run's candidate atoms and their coefficients)`
        : `${file} is missing: iteration ${ctx.iteration}'s exploration ran with selection.method gamma, so its runs wrote no candidate coefficients for d-optimal`, {
        hint: planned === 'd-optimal' ? 'restore it from the run\'s attempt folder' : 'set selection.method: gamma and resume (explorations planned from now on write candidates.json for d-optimal)',
      });
    }
    const parsed = parseCandidates(b.toString('utf8'), file);
    if (parsed.frames !== r.frames.length) throw new StageError(`${file} was written for ${parsed.frames} frame(s), but ${r.file} holds ${r.frames.length}`, { hint: 'the two files are not of the same run: restore both from the run\'s attempt folder' });
    for (const c of parsed.candidates) out.push({ ...c, at: offset + c.frame });
    offset += r.frames.length;
  }
  return out;
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
  const embed = { rcut: e.rcut, buffer: e.buffer, maskRadius: e.mask_radius ?? undefined, minDistance: e.min_distance, box: e.box };
  // each run's collected frames, read when asked for: method gamma offers them one at a time (a dump's frames need not all be in memory)
  const dumps = results.filter(([, r]) => r.collected > 0).map(([id, r]) => ({ id, collected: r.collected, file: `${runDir(ctx.iteration, id)}/frames.dump` }));
  const framesOf = (d: (typeof dumps)[number]): Iterable<Atoms> => {
    const dump = ctx.readFile(d.file, 'work');
    if (dump === undefined) throw new StageError(`${d.file} is missing from the work folder (the run collected ${d.collected} frame(s))`, { hint: 'restore it from the run\'s attempt folder' });
    return readDumpFrames([dump], { types, requiredColumns: [sel.column] }, d.file);
  };
  // k: each frame's index as ASE's read(file, index=k) takes it (the parent of its sub-cells)
  const sourceOf = (file: string, k: number, f: Atoms) => ({ file, frame: k, timestep: typeof f.info.timestep === 'number' ? f.info.timestep : undefined });
  let chosen: { selected: Selected[]; summary: SelectionSummary & { passed_over?: number; spanned?: number } };
  if (sel.method === 'd-optimal') {
    // the greedy goes back and forth between frames of every run: all of them in memory
    const runs: Run[] = dumps.map((d) => ({ id: d.id, file: d.file, frames: [...framesOf(d)] }));
    const frames: PoolFrame[] = runs.flatMap((r) => r.frames.map((atoms, k) => ({ atoms, source: sourceOf(r.file, k, atoms) })));
    chosen = selectDOptimal(frames, candidatesOf(ctx, runs, exploration), { column: sel.column, lo: sel.lo, hi: sel.hi, max: sel.max_candidates, embed, whole: !sel.embed });
  } else {
    const best = new BestCandidates(sel.column, sel.lo, sel.hi, sel.max_candidates, embed, !sel.embed);
    for (const d of dumps) {
      let k = 0;
      for (const atoms of framesOf(d)) best.offer(atoms, sourceOf(d.file, k++, atoms));
    }
    chosen = best.result();
  }
  const { selected, summary } = chosen;
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
    gamma_collect: gammaCollect, lo: sel.lo, hi: sel.hi, method: sel.method, embed: sel.embed,
    ...(sel.method === 'd-optimal' ? { gains: selected.map((s) => Number((s.gain ?? 0).toPrecision(5))), passed_over: summary.passed_over ?? 0, spanned: summary.spanned ?? 0 } : {}),
  };
  return { data, notes: [`iteration ${ctx.iteration}: ${selectionLine(data, data)}`, ...summary.warnings], keep: [{ path: selectedFile(ctx.iteration), content: writeExtxyz(selected.map((s) => s.atoms)) }] };
}

/** The thresholds a selection chose by, as it recorded them (selection.lo / hi recorded with its config for an older one; unknown: null). */
function thresholdsOf(s: StageShape & { data: SelectData }): { collect: number | null; lo: number | null; hi: number | null } {
  const sel = recordedSection(s, 'selection');
  return { collect: s.data.gamma_collect ?? null, lo: s.data.lo ?? sel?.lo ?? null, hi: s.data.hi ?? sel?.hi ?? null };
}

/** One line of what a selection did (the poll's output, status), with the thresholds it recorded; the method when it is d-optimal, whole frames when not embedded. */
export function selectionLine(d: SelectData, t: { gamma_collect?: number | null; lo?: number | null; hi?: number | null }): string {
  const a = d.atoms_per_subcell;
  const n = (k: keyof SelectData) => Number(d[k] ?? 0);
  const v = (x: number | null | undefined) => (x === null || x === undefined ? '?' : String(x));
  const gains = d.gains ?? [];
  const chosen = d.method === 'd-optimal'
    ? `d-optimal: ${n('selected')} selected that add volume to the active set${gains.length > 0 ? ` (grades against the grown set ${Math.min(...gains)}–${Math.max(...gains)})` : ''}, ${n('passed_over')} passed over as neighbours, ${n('spanned')} left that it spans already`
    : `${n('after_suppression')} after suppression, ${n('selected')} selected`;
  const what = d.embed === false
    ? `${n('parents_whole')} whole frames (selection.embed false)`
    : `${n('subcells')} sub-cells${a === null ? '' : ` of ${a.min}–${a.max} atoms (mean ${a.mean.toFixed(0)})`}${n('parents_whole') > 0 ? `, ${n('parents_whole')} whole parents` : ''}, ${n('rejected_at_seam')} rejected at the seam`;
  return `${n('frames_explored')} frames explored, ${n('frames_collected')} collected${t.gamma_collect === null || t.gamma_collect === undefined ? '' : ` (γ ≥ ${t.gamma_collect})`}, ` +
    `${n('candidates')} candidate atoms in [${v(t.lo)}, ${v(t.hi)}) (${n('frames_dropped')} frames dropped at γ ≥ ${v(t.hi)}), ${chosen}: ${what}`;
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
    // d-optimal: candidates there were, but the active set spans them all
    const spanned = s.data.method === 'd-optimal' && Number(s.data.candidates ?? 0) > 0 && Number(s.data.rejected_at_seam ?? 0) === 0 ? `${String(s.data.candidates)} candidate atoms in [${v(t.lo)}, ${v(t.hi)}), none adding volume to the active set (selection.method d-optimal: every grade against it ≤ 1)` : undefined;
    return `no candidates to label after iteration ${s.iteration}: ${spanned ?? why}`;
  },
});
