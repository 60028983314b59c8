/**
 * Selection of uncertain atoms. Per frame: atoms graded in [lo, hi) are candidates; a frame with
 * any grade ≥ hi is dropped as broken; the best candidate is taken, the others within
 * `suppressRadius` of it dropped (they sit in its core already), and so on. Across frames and
 * files, the best `max` candidates by grade are kept, each cut into its sub-cell, or (whole:
 * selection.embed false) each frame's best candidate with its whole frame, every force trained
 * on. Pure. (selection.method d-optimal chooses otherwise: lib/select/d-optimal-select.ts.)
 */
import { natoms, type Atoms } from '../atoms/atoms.js';
import { EmbeddingError } from '../errors/errors.js';
import { PeriodicIndex } from '../atoms/periodic-index.js';
import { embedAtom, indexFrame, embedWarnings, checkSubcellSize, type EmbedParams, type EmbedSource } from '../embed/extract.js';
import { wholeFrame } from '../embed/whole.js';

export interface Centre { index: number; gamma: number }

export type FrameSelection =
  | { dropped: true; maxGamma: number }
  | { dropped: false; maxGamma: number; inRange: number; centres: Centre[] };

/** The grades of a frame's column; an error naming the column when it is missing. */
export function gradesOf(frame: Atoms, column: string): Float64Array {
  const a = frame.arrays[column];
  if (a === undefined) throw new EmbeddingError(`the frame has no column '${column}' (it has: ${Object.keys(frame.arrays).join(' ') || 'none'})`);
  if (a.kind === 'string' || a.width !== 1) throw new EmbeddingError(`column '${column}' is not one number per atom`);
  return a.values as Float64Array;
}

/** Candidates of one frame after suppression, best first. */
export function selectInFrame(frame: Atoms, column: string, lo: number, hi: number, suppressRadius: number): FrameSelection {
  const g = gradesOf(frame, column);
  let maxGamma = -Infinity;
  const picked: number[] = [];
  for (let i = 0; i < g.length; i++) {
    if (g[i] > maxGamma) maxGamma = g[i];
    if (g[i] >= lo && g[i] < hi) picked.push(i);
  }
  if (maxGamma >= hi) return { dropped: true, maxGamma };
  if (picked.length === 0) return { dropped: false, maxGamma, inRange: 0, centres: [] };
  picked.sort((a, b) => g[b] - g[a] || a - b);
  // Every point lies within half the sum of the cell's edges of an image of any other point: a
  // radius beyond that suppresses every candidate but the best (and a query that wide would
  // visit (radius / cell)³ images).
  const edges = [0, 1, 2].reduce((sum, i) => sum + Math.hypot(frame.cell[3 * i], frame.cell[3 * i + 1], frame.cell[3 * i + 2]), 0);
  if (suppressRadius > edges / 2) return { dropped: false, maxGamma, inRange: picked.length, centres: [{ index: picked[0], gamma: g[picked[0]] }] };
  // A cell list over the candidates alone: suppression costs O(candidates), not O(candidates²).
  const pos = new Float64Array(3 * picked.length);
  picked.forEach((atom, k) => pos.set(frame.positions.subarray(3 * atom, 3 * atom + 3), 3 * k));
  const index = new PeriodicIndex(pos, frame.cell, Math.max(suppressRadius, 1.0));
  const suppressed = new Uint8Array(picked.length);
  const centres: Centre[] = [];
  const r2 = suppressRadius * suppressRadius;
  for (let k = 0; k < picked.length; k++) {
    if (suppressed[k]) continue;
    centres.push({ index: picked[k], gamma: g[picked[k]] });
    index.forEachInCube(k, suppressRadius, (other, _s0, _s1, _s2, dx, dy, dz) => {
      if (other !== k && dx * dx + dy * dy + dz * dz < r2) suppressed[other] = 1;
    });
  }
  return { dropped: false, maxGamma, inRange: picked.length, centres };
}

/** A chosen structure; kind parent: labelled whole (a sub-cell as large as its frame, or selection.embed false). */
export interface Selected {
  gamma: number; atoms: Atoms; kind: 'subcell' | 'parent'; order: number;
  /** method d-optimal: the chosen atom's grade against the active set grown by the atoms chosen before it (its volume gain). */
  gain?: number;
}

export interface SelectionSummary {
  frames_read: number;
  frames_dropped: number;
  candidates_in_range: number;
  centres_after_suppression: number;
  selected: number;
  parents_labelled_whole: number;
  rejected_at_seam: number;
  atoms_per_subcell: { min: number; mean: number; max: number } | null;
  atoms_removed_at_seams: number;
  rejections: string[];
  warnings: string[];
}

/** The best `max` candidates over any number of frames, offered one frame at a time. */
export class BestCandidates {
  private kept: Selected[] = [];
  private order = 0;
  private framesRead = 0;
  private framesDropped = 0;
  private inRange = 0;
  private centres = 0;
  private rejected: string[] = [];

  /** whole: selection.embed false (each frame's best candidate brings its whole frame). */
  constructor(private readonly column: string, private readonly lo: number, private readonly hi: number,
    private readonly max: number, private readonly embed: EmbedParams, private readonly whole = false) {
    if (!(lo < hi)) throw new EmbeddingError(`lo (${lo}) must be below hi (${hi})`);
    if (!(Number.isInteger(max) && max >= 1)) throw new EmbeddingError(`max must be a whole number ≥ 1 (got ${max})`);
  }

  /** The grade a new candidate must beat to be kept. */
  private threshold(): number {
    return this.kept.length < this.max ? -Infinity : this.kept[this.kept.length - 1].gamma;
  }

  offer(frame: Atoms, source: EmbedSource): void {
    this.framesRead++;
    if (!this.whole) checkSubcellSize(frame, this.embed); // an absurd cube is refused before any work on the frame
    const sel = selectInFrame(frame, this.column, this.lo, this.hi, this.embed.maskRadius ?? this.embed.rcut);
    if (sel.dropped) {
      this.framesDropped++;
      return;
    }
    this.inRange += sel.inRange;
    this.centres += sel.centres.length;
    let index: PeriodicIndex | undefined;
    let parentTaken = false;
    for (const c of sel.centres) {
      if (c.gamma <= this.threshold()) break; // best first: nothing later in this frame can enter
      if (this.whole) {
        // the frame is labelled once, for its best candidate: the others are in it
        this.insert({ gamma: c.gamma, atoms: wholeFrame(frame, c.index, { ...source, gamma: c.gamma }), kind: 'parent', order: this.order++ });
        break;
      }
      index ??= indexFrame(frame, this.embed);
      const r = embedAtom(frame, c.index, this.embed, index, { ...source, gamma: c.gamma });
      if (r.kind === 'rejected') {
        this.rejected.push(`${source.file ?? 'frame'} frame ${source.frame ?? '?'} atom ${c.index + 1}: ${r.reason}`);
        continue;
      }
      if (r.kind === 'parent') {
        // every centre of this frame would give the same whole parent: label it once
        if (parentTaken) continue;
        parentTaken = true;
      }
      this.insert({ gamma: c.gamma, atoms: r.atoms, kind: r.kind, order: this.order++ });
    }
  }

  private insert(s: Selected): void {
    // kept is sorted best first (ties: first offered first); max is small, so insertion is cheap
    let at = this.kept.length;
    while (at > 0 && this.kept[at - 1].gamma < s.gamma) at--;
    this.kept.splice(at, 0, s);
    if (this.kept.length > this.max) this.kept.pop();
  }

  result(): { selected: Selected[]; summary: SelectionSummary } {
    const subcells = this.kept.filter((s) => s.kind === 'subcell').map((s) => natoms(s.atoms));
    const removed = this.kept.reduce((sum, s) => sum + Number(s.atoms.info.n_removed ?? 0), 0);
    return {
      selected: this.kept,
      summary: {
        frames_read: this.framesRead,
        frames_dropped: this.framesDropped,
        candidates_in_range: this.inRange,
        centres_after_suppression: this.centres,
        selected: this.kept.length,
        parents_labelled_whole: this.kept.length - subcells.length,
        rejected_at_seam: this.rejected.length,
        atoms_per_subcell: subcells.length === 0 ? null : {
          min: Math.min(...subcells), mean: subcells.reduce((a, b) => a + b, 0) / subcells.length, max: Math.max(...subcells),
        },
        atoms_removed_at_seams: removed,
        rejections: this.rejected,
        warnings: this.whole ? [] : embedWarnings(this.embed),
      },
    };
  }
}
