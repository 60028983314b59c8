/**
 * D-optimal choice of candidate atoms, pure: the greedy growth of the potential's active set
 * that MaxVol does (pyace.maxvol, pacemaker's pace_activeset / pace_select), applied to the
 * candidates only.
 *
 * Per element the active set is a square matrix A (one row per active environment's B-basis
 * projections) and each candidate k has its coefficients c_k = b_k · A⁻¹ (b_k: its projections;
 * the exploration job computes them with python-ace: python/autopipe_explore.py candidates).
 * Its extrapolation grade is γ_k = max_l |c_k[l]|, and |c_k[j]| is by how much the volume
 * |det A| grows when row j of A is replaced by b_k (Cramer's rule). So, greedily:
 *   1. take the candidate i of largest grade; stop when none exceeds 1 (SPANNED: no swap grows
 *      the volume; its environment is already spanned, as an atom of the active set itself is, γ = 1);
 *   2. swap it in: row j = argmax_l |c_i[l]| of A becomes b_i (MaxVol's swap step);
 *   3. update the coefficients of every other candidate of that element to the new A. From
 *      b_k = c_k · A and b_i = c_i · A, the new A' (row j replaced by b_i) gives
 *        c'_k[j] = c_k[j] / c_i[j],  c'_k[l] = c_k[l] − c_k[j] · c_i[l] / c_i[j]  (l ≠ j),
 *      a rank-one update: no matrix is inverted, and no B-basis is needed here;
 *   4. repeat.
 * An environment identical to one swapped in then has c' = e_j (grade 1): it is never taken again.
 * Each swap costs O(candidates of the element × basis size).
 */
import { EmbeddingError } from '../errors/errors.js';

/**
 * A grade at or below this adds no volume. Not 1 exactly: candidates.json holds 7 significant
 * digits, so an environment identical to one swapped in comes out at 1 ± ~1e-6, not 1; a gain
 * below 0.1 % of the volume is that rounding, not a new environment (pyace's maxvol stops at 1.05).
 */
export const SPANNED = 1 + 1e-3;

/** One candidate atom: its element and its coefficients against the active set (max |c| is its γ). */
export interface Coefficients { element: string; c: ArrayLike<number> }

/** The candidates' coefficients against an active set that grows as candidates are swapped in. */
export class ActiveSetGrowth {
  private readonly c: Float64Array[];
  private readonly grades: Float64Array;
  private readonly live: Uint8Array;
  private readonly byElement = new Map<string, number[]>();

  constructor(private readonly candidates: readonly Coefficients[]) {
    this.c = candidates.map((x) => Float64Array.from(x.c));
    this.grades = Float64Array.from(this.c, gradeOf);
    this.live = new Uint8Array(candidates.length).fill(1);
    candidates.forEach((x, k) => {
      const same = this.byElement.get(x.element);
      if (same === undefined) this.byElement.set(x.element, [k]);
      else if (this.c[same[0]].length !== this.c[k].length) {
        throw new EmbeddingError(`candidates ${same[0]} and ${k} (${x.element}) have ${this.c[same[0]].length} and ${this.c[k].length} coefficients: one element's must be as many as its basis functions`);
      } else same.push(k);
    });
  }

  /** Candidate k's grade against the active set as grown so far. */
  grade(k: number): number {
    return this.grades[k];
  }

  /** The candidate still in play that adds most volume (ties: the first given), or undefined when none adds any (grade ≤ SPANNED). */
  best(): number | undefined {
    let at: number | undefined;
    let top = SPANNED;
    for (let k = 0; k < this.grades.length; k++) {
      if (this.live[k] && this.grades[k] > top) {
        top = this.grades[k];
        at = k;
      }
    }
    return at;
  }

  /** Whether candidate k is still to be chosen from (not swapped in, not passed over). */
  inPlay(k: number): boolean {
    return this.live[k] === 1;
  }

  /** Candidates still in play whose grade is ≤ 1: the grown active set spans their environments already. */
  spanned(): number {
    let n = 0;
    for (let k = 0; k < this.grades.length; k++) if (this.live[k] && this.grades[k] <= SPANNED) n++;
    return n;
  }

  /** Leave candidate k out (its sub-cell rejected, or suppressed next to a chosen atom): the active set is unchanged. */
  passOver(k: number): void {
    this.live[k] = 0;
  }

  /** Swap candidate i into the active set (out of play), and bring its element's other candidates up to date. */
  swapIn(i: number): void {
    const ci = this.c[i];
    let j = 0;
    for (let l = 1; l < ci.length; l++) if (Math.abs(ci[l]) > Math.abs(ci[j])) j = l;
    const pivot = ci[j];
    if (!(Math.abs(pivot) > 0)) throw new EmbeddingError(`candidate ${i} has no non-zero coefficient: it cannot join the active set`);
    this.live[i] = 0;
    for (const k of this.byElement.get(this.candidates[i].element) ?? []) {
      if (!this.live[k]) continue;
      const ck = this.c[k];
      const f = ck[j] / pivot;
      if (f !== 0) for (let l = 0; l < ck.length; l++) if (l !== j) ck[l] -= f * ci[l];
      ck[j] = f;
      this.grades[k] = gradeOf(ck);
    }
  }
}

function gradeOf(c: Float64Array): number {
  let m = 0;
  for (const x of c) m = Math.max(m, Math.abs(x));
  return m;
}

/** The greedy alone, every choice accepted: up to `max` candidates in the order chosen, each with its grade when chosen (its volume gain). */
export function dOptimalOrder(candidates: readonly Coefficients[], max: number): Array<{ index: number; gain: number }> {
  const g = new ActiveSetGrowth(candidates);
  const out: Array<{ index: number; gain: number }> = [];
  for (let i = g.best(); i !== undefined && out.length < max; i = g.best()) {
    out.push({ index: i, gain: g.grade(i) });
    g.swapIn(i);
  }
  return out;
}
