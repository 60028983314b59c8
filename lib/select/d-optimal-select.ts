/**
 * selection.method d-optimal over an iteration's frames, pure: every candidate atom (γ in
 * [lo, hi), in a frame with no γ ≥ hi) of every run goes into one pool with its coefficients
 * against the active set (candidates.json); the greedy of lib/select/d-optimal.ts takes them one
 * at a time, each cut into its sub-cell (or its whole frame: selection.embed false) in the order
 * chosen, until max_candidates structures or no candidate adds volume. As with method gamma:
 * after an atom is chosen, the candidates of its frame within the suppression radius
 * (embedding.mask_radius, else rcut) are passed over (they sit in its core already), and an atom
 * whose sub-cell the seam rejects is skipped, the active set unchanged.
 */
import { natoms, symbolsOf, type Atoms } from '../atoms/atoms.js';
import { EmbeddingError } from '../errors/errors.js';
import { PeriodicIndex } from '../atoms/periodic-index.js';
import { embedAtom, embedWarnings, checkSubcellSize, indexFrame, type EmbedParams, type EmbedSource } from '../embed/extract.js';
import { wholeFrame } from '../embed/whole.js';
import { gradesOf, type Selected, type SelectionSummary } from './select.js';
import { ActiveSetGrowth } from './d-optimal.js';
import type { CandidateAtom } from './candidates.js';

export interface PoolFrame { atoms: Atoms; source: EmbedSource & { file: string; frame: number } }
/** A candidate of candidates.json with the index of its frame among the PoolFrames. */
export type PoolCandidate = CandidateAtom & { at: number };

export interface DOptimalParams { column: string; lo: number; hi: number; max: number; embed: EmbedParams; whole: boolean }

export interface DOptimalSummary extends SelectionSummary {
  /** Candidates passed over as neighbours of a chosen atom in its frame. */
  passed_over: number;
  /** Candidates left whose environments the grown active set spans (grade ≤ 1): adding them adds no volume. */
  spanned: number;
}

/** Grades in candidates.json are recomputed from the dump's positions: they agree with its column to far better than this. */
const GRADE_TOLERANCE = 1e-4;

/** Candidate k of the frame's list → the others within `radius` of it (periodic images too), built once per frame. */
function neighbours(frame: Atoms, atoms: readonly number[], radius: number): (k: number) => number[] {
  const edges = [0, 1, 2].reduce((sum, i) => sum + Math.hypot(frame.cell[3 * i], frame.cell[3 * i + 1], frame.cell[3 * i + 2]), 0);
  // beyond half the sum of the edges every point is that close to an image of any other (selectInFrame)
  if (radius > edges / 2) return (k) => atoms.map((_, o) => o).filter((o) => o !== k);
  const pos = new Float64Array(3 * atoms.length);
  atoms.forEach((a, k) => pos.set(frame.positions.subarray(3 * a, 3 * a + 3), 3 * k));
  const index = new PeriodicIndex(pos, frame.cell, Math.max(radius, 1.0));
  return (k) => {
    const out = new Set<number>();
    index.forEachInCube(k, radius, (o, _s0, _s1, _s2, dx, dy, dz) => {
      if (o !== k && dx * dx + dy * dy + dz * dz < radius * radius) out.add(o);
    });
    return [...out];
  };
}

export function selectDOptimal(frames: readonly PoolFrame[], candidates: readonly PoolCandidate[], p: DOptimalParams): { selected: Selected[]; summary: DOptimalSummary } {
  if (!(p.lo < p.hi)) throw new EmbeddingError(`lo (${p.lo}) must be below hi (${p.hi})`);
  if (!(Number.isInteger(p.max) && p.max >= 1)) throw new EmbeddingError(`max must be a whole number ≥ 1 (got ${p.max})`);
  const dropped = frames.map((f) => {
    if (!p.whole) checkSubcellSize(f.atoms, p.embed);
    return gradesOf(f.atoms, p.column).some((g) => g >= p.hi);
  });
  const pool: PoolCandidate[] = [];
  for (const c of candidates) {
    const f = frames[c.at];
    if (f === undefined) throw new EmbeddingError(`candidate atom ${c.atom + 1} of frame ${c.frame} has no frame`);
    const where = `${f.source.file} frame ${f.source.frame} atom ${c.atom + 1}`;
    if (c.atom >= natoms(f.atoms)) throw new EmbeddingError(`${where}: candidates.json names an atom the frame (${natoms(f.atoms)} atoms) does not have`, { hint: 'candidates.json and frames.dump are not of the same run: run the exploration again' });
    const g = gradesOf(f.atoms, p.column)[c.atom];
    // the two files of a run must agree atom by atom: a mix-up would label the wrong environments
    if (Math.abs(g - c.gamma) > GRADE_TOLERANCE * Math.max(1, g) || symbolsOf(f.atoms)[c.atom] !== c.element) {
      throw new EmbeddingError(`${where}: candidates.json says ${c.element} with γ ${c.gamma}, frames.dump ${symbolsOf(f.atoms)[c.atom]} with γ ${g}`, { hint: 'candidates.json and frames.dump are not of the same run: run the exploration again' });
    }
    if (!dropped[c.at] && c.gamma >= p.lo && c.gamma < p.hi) pool.push(c);
  }
  const growth = new ActiveSetGrowth(pool.map((c) => ({ element: c.element, c: c.c })));
  const byFrame = new Map<number, number[]>();
  pool.forEach((c, k) => byFrame.set(c.at, [...(byFrame.get(c.at) ?? []), k]));
  const near = new Map<number, (k: number) => number[]>();
  const indexes = new Map<number, PeriodicIndex>();
  const whole = new Set<number>(); // frames labelled whole already
  const radius = p.embed.maskRadius ?? p.embed.rcut;
  const selected: Selected[] = [];
  const rejected: string[] = [];
  let passedOver = 0;
  const swapIn = (i: number) => {
    growth.swapIn(i);
    const at = pool[i].at;
    const mine = byFrame.get(at) as number[];
    if (!near.has(at)) near.set(at, neighbours(frames[at].atoms, mine.map((k) => pool[k].atom), radius));
    for (const o of (near.get(at) as (k: number) => number[])(mine.indexOf(i))) {
      if (!growth.inPlay(mine[o])) continue;
      growth.passOver(mine[o]);
      passedOver++;
    }
  };
  for (let i = growth.best(); i !== undefined && selected.length < p.max; i = growth.best()) {
    const c = pool[i];
    const f = frames[c.at];
    if (whole.has(c.at)) {
      // its frame is labelled whole already, this environment with it: it joins the active set, no new structure
      swapIn(i);
      continue;
    }
    const source = { ...f.source, gamma: c.gamma };
    let kind: Selected['kind'] = 'parent';
    let atoms: Atoms;
    if (p.whole) atoms = wholeFrame(f.atoms, c.atom, source);
    else {
      if (!indexes.has(c.at)) indexes.set(c.at, indexFrame(f.atoms, p.embed));
      const r = embedAtom(f.atoms, c.atom, p.embed, indexes.get(c.at) as PeriodicIndex, source);
      if (r.kind === 'rejected') {
        rejected.push(`${f.source.file} frame ${f.source.frame} atom ${c.atom + 1}: ${r.reason}`);
        growth.passOver(i);
        continue;
      }
      kind = r.kind;
      atoms = r.atoms;
    }
    if (kind === 'parent') whole.add(c.at);
    selected.push({ gamma: c.gamma, gain: growth.grade(i), atoms, kind, order: selected.length });
    swapIn(i);
  }
  const subcells = selected.filter((s) => s.kind === 'subcell').map((s) => natoms(s.atoms));
  return {
    selected,
    summary: {
      frames_read: frames.length,
      frames_dropped: dropped.filter(Boolean).length,
      candidates_in_range: pool.length,
      centres_after_suppression: pool.length - passedOver,
      selected: selected.length,
      parents_labelled_whole: selected.length - subcells.length,
      rejected_at_seam: rejected.length,
      atoms_per_subcell: subcells.length === 0 ? null : {
        min: Math.min(...subcells), mean: subcells.reduce((a, b) => a + b, 0) / subcells.length, max: Math.max(...subcells),
      },
      atoms_removed_at_seams: selected.reduce((sum, s) => sum + Number(s.atoms.info.n_removed ?? 0), 0),
      rejections: rejected,
      warnings: p.whole ? [] : embedWarnings(p.embed),
      passed_over: passedOver,
      spanned: growth.spanned(),
    },
  };
}
