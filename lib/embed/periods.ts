/**
 * The crystal periods of a frame, found from the frame itself: along each cell vector a_i, the
 * shortest a_i / n that is a translation of the structure (most atoms have an atom near r + a_i / n).
 * An MD frame of a crystal with a defect, at any temperature below melting, keeps its lattice:
 * thermal displacements (~0.2–0.3 Å per atom) stay below the ~1.4 Å or more by which the
 * multiples of a translation that is not a period miss every site. A box made of whole periods (`embedding.box: lattice`)
 * joins at its seam atoms that sit where the crystal repeats anyway, instead of the arbitrary
 * contacts a cube makes. Pure: a frame and its index in, periods out.
 */
import type { Atoms } from '../atoms/atoms.js';
import { natoms } from '../atoms/atoms.js';
import type { PeriodicIndex } from '../atoms/periodic-index.js';

/** No crystal repeats more often than this along a line (Å): the shortest period tried. */
export const SHORTEST_PERIOD = 2.0;
/**
 * An atom counts as repeated when an atom sits this close (Å) to its translated position. Two
 * atoms' thermal displacements differ by 0.6–0.7 Å for one pair in ten in EAM Al at 700 K
 * (bench/embedding-fidelity's parent); a translation that is not a period has multiples that
 * miss every site by more (half a period, ~1.4 Å and up).
 */
export const MATCH_TOLERANCE = 1.0;
/** A translation is a period when this share of the sampled atoms is repeated (vacancies,
 *  interstitials and thermal tails miss; a wrong translation's multiples match almost none). */
export const MATCH_SHARE = 0.85;
/** Atoms sampled per candidate translation, spread over the frame. */
const SAMPLE = 64;

export interface FramePeriods {
  /** a_i / divisions[i], three row vectors (Å). */
  periods: Float64Array;
  /** How many periods the frame's cell holds along each of its vectors (1: none found). */
  divisions: [number, number, number];
}

/** Whether the translation t maps at least MATCH_SHARE of the sampled atoms onto atoms. */
export function isTranslation(frame: Atoms, index: PeriodicIndex, t: readonly number[]): boolean {
  const n = natoms(frame);
  const step = Math.max(1, Math.floor(n / SAMPLE));
  let tried = 0, matched = 0;
  for (let a = 0; a < n && tried < SAMPLE; a += step) {
    tried++;
    const p = frame.positions;
    if (index.nearestWithin(p[3 * a] + t[0], p[3 * a + 1] + t[1], p[3 * a + 2] + t[2], MATCH_TOLERANCE) <= MATCH_TOLERANCE) matched++;
  }
  return matched >= MATCH_SHARE * tried;
}

/**
 * The frame's periods: along each cell vector the largest n (vector length / n ≥ SHORTEST_PERIOD)
 * whose a_i / n is a translation, and so are its multiples. n = 1 means that no period shorter than the cell was found
 * along that vector (an amorphous or liquid frame, or a cell of one period).
 */
export function framePeriods(frame: Atoms, index: PeriodicIndex): FramePeriods {
  const periods = new Float64Array(9);
  const divisions = [1, 1, 1] as [number, number, number];
  for (let i = 0; i < 3; i++) {
    const a = Array.from(frame.cell.subarray(3 * i, 3 * i + 3));
    const length = Math.hypot(a[0], a[1], a[2]);
    for (let n = Math.floor(length / SHORTEST_PERIOD); n >= 2; n--) {
      // a/n close to a true period a/N (n = N + 1 in a large cell) maps atoms onto atoms within
      // the tolerance; its multiples k·a/n drift from the lattice and some miss by half a period
      let all = true;
      for (let k = 1; k < n && all; k++) all = isTranslation(frame, index, a.map((x) => (k * x) / n));
      if (all) { divisions[i] = n; break; }
    }
    for (let x = 0; x < 3; x++) periods[3 * i + x] = a[x] / divisions[i];
  }
  return { periods, divisions };
}
