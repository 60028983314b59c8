/**
 * The box of a sub-cell: a cube of side L on the frame's Cartesian axes, or whole crystal
 * periods of the frame (lib/embed/periods.ts), as few along each period as make it at least L
 * thick, with its faces between atomic planes. Pure: a frame and its index in, the box and the
 * atoms in it out.
 */
import type { Atoms } from '../atoms/atoms.js';
import type { PeriodicIndex } from '../atoms/periodic-index.js';
import { boxHeights, invert3 } from './seam.js';
import { framePeriods, type FramePeriods } from './periods.js';

export type BoxShape = 'cube' | 'lattice';

/** The sub-cell's box for one frame: three edge vectors (rows, Å) and what chose them. */
export interface BoxChoice {
  vectors: Float64Array;
  kind: BoxShape;
  /** lattice: periods of the frame along each cell vector, and how many the box takes. */
  divisions?: [number, number, number];
  repeats?: [number, number, number];
}

const periodsOfIndex = new WeakMap<PeriodicIndex, FramePeriods>();

/** The box of every sub-cell cut from this frame (its periods are found once per index). */
export function boxFor(frame: Atoms, L: number, shape: BoxShape, index: PeriodicIndex): BoxChoice {
  if (shape === 'cube') return { kind: 'cube', vectors: Float64Array.of(L, 0, 0, 0, L, 0, 0, 0, L) };
  let found = periodsOfIndex.get(index);
  if (found === undefined) periodsOfIndex.set(index, (found = framePeriods(frame, index)));
  const { periods, divisions } = found;
  const heights = boxHeights(periods);
  // a box of m_i periods is m_i·h_i thick along axis i: the fewest periods that reach L, never more than the frame holds
  const repeats = heights.map((h, i) => Math.min(divisions[i], Math.max(1, Math.ceil(L / h - 1e-9)))) as [number, number, number];
  const vectors = Float64Array.from(periods, (x, k) => x * repeats[Math.floor(k / 3)]);
  return { kind: 'lattice', vectors, divisions, repeats };
}

export function describeBox(box: BoxChoice): string {
  if (box.kind === 'cube') return `side ${box.vectors[0]} Å`;
  const h = boxHeights(box.vectors).map((x) => x.toFixed(2));
  return `${(box.repeats ?? []).join('×')} periods, ${h.join(' × ')} Å thick`;
}

type Visitor = Parameters<PeriodicIndex['forEachInCube']>[2];

/**
 * Every image of every atom whose offset from the centre lies in the box; returns where the
 * centre sits in the box (Cartesian). The cube is centred on the centre atom (the index's own
 * query). A lattice box is placed so that its faces fall in the widest empty slab between
 * atomic planes nearest the centred position: a box of whole periods whose face cut through a
 * plane of atoms would take each of that plane's atoms, or its image one box away, as thermal
 * noise decides, making holes and pairs 0.1 Å apart at the seam. Fractional coordinates of
 * the offset in the box run over [t, t + 1) along each axis; both faces move by the same tiny
 * amount, so two images one box period apart, rounded differently, are never both inside.
 */
export function visitBox(index: PeriodicIndex, centre: number, box: BoxChoice, visit: Visitor): number[] {
  const B = box.vectors;
  const mid = [0, 1, 2].map((x) => (B[x] + B[3 + x] + B[6 + x]) / 2);
  if (box.kind === 'cube') { index.forEachInCube(centre, B[0] / 2, visit); return mid; }
  const inv = invert3(B);
  const repeats = box.repeats ?? [1, 1, 1];
  // the cube around the box, wide enough for the box moved by up to one period along each axis
  const half = Math.max(...[0, 1, 2].map((j) => [0, 1, 2].reduce((sum, i) => sum + Math.abs(B[3 * i + j]) * (0.5 + 1 / repeats[i]), 0)));
  const found: Array<[number, number, number, number, number, number, number]> = [];
  const frac: number[] = [];
  index.forEachInCube(centre, half, (a, s0, s1, s2, dx, dy, dz) => {
    found.push([a, s0, s1, s2, dx, dy, dz]);
    for (let k = 0; k < 3; k++) frac.push(dx * inv[k] + dy * inv[3 + k] + dz * inv[6 + k]);
  });
  const lower = [0, 1, 2].map((k) => faceBetweenPlanes(found.map((_, j) => frac[3 * j + k]), 1 / repeats[k]));
  const tol = 1e-9;
  found.forEach(([a, s0, s1, s2, dx, dy, dz], j) => {
    for (let k = 0; k < 3; k++) {
      const f = frac[3 * j + k];
      if (f < lower[k] - tol || f >= lower[k] + 1 - tol) return;
    }
    visit(a, s0, s1, s2, dx, dy, dz);
  });
  return [0, 1, 2].map((x) => -(lower[0] * B[x] + lower[1] * B[3 + x] + lower[2] * B[6 + x]));
}

/**
 * Where a box's lower face goes along one axis (box fraction): in the middle of the widest gap
 * between the atoms' coordinates folded into one period, the such gap nearest −½ (the face of
 * the box centred on the centre atom). Gaps within 80 % of the widest count as equally wide,
 * since thermal noise makes equivalent planes' gaps differ a little.
 */
export function faceBetweenPlanes(coords: readonly number[], period: number): number {
  const inner = coords.filter((u) => u >= -0.5 - period && u < 0.5 + period);
  const folded = inner.map((u) => ((u % period) + period) % period).sort((x, y) => x - y);
  if (folded.length < 2) return -0.5;
  const gaps: Array<{ mid: number; width: number }> = folded.map((u, i) => {
    const next = i + 1 < folded.length ? folded[i + 1] : folded[0] + period;
    return { mid: (u + next) / 2, width: next - u };
  });
  const widest = Math.max(...gaps.map((g) => g.width));
  let best = -0.5, bestMiss = Infinity;
  for (const g of gaps.filter((x) => x.width >= 0.8 * widest)) {
    // the copy of this gap's middle nearest −½
    const at = g.mid + period * Math.round((-0.5 - g.mid) / period);
    if (Math.abs(at + 0.5) < bestMiss) { bestMiss = Math.abs(at + 0.5); best = at; }
  }
  return best;
}
