/**
 * The seam check. A box cut out of a crystal and made periodic brings atoms from opposite
 * faces next to each other, sometimes far closer than any real bond (1.9 Å in fcc Al against
 * 2.86 Å in the bulk). Find every pair that the new periodicity brings closer than
 * `minDistance` (a pair whose shortest vector in the cube wraps through a face; pairs that are
 * close without wrapping are the parent's own, such as real bonds, and stay); remove buffer
 * atoms, farthest from the centre first, until no pair is left; a pair of two core atoms cannot
 * be mended and rejects the candidate.
 */
import { cellHeights } from '../atoms/cell.js';

export type SeamResult =
  | { ok: true; removed: Set<number> }
  | { ok: false; reason: string };

/** A box's three edge vectors as rows (Å), or the side of a cube. */
export type Box = number | ArrayLike<number>;

function boxMatrix(box: Box): Float64Array {
  return typeof box === 'number' ? Float64Array.of(box, 0, 0, 0, box, 0, 0, 0, box) : Float64Array.from(box);
}

/**
 * `pos`: positions in the box; `dist`: distance of each atom from the centre;
 * `core`: whether each atom is in the core (never removed).
 */
export function resolveSeam(pos: Float64Array, box: Box, dist: Float64Array, core: Uint8Array, minDistance: number): SeamResult {
  const n = dist.length;
  if (minDistance <= 0 || n < 2) return { ok: true, removed: new Set() };
  const pairs = closePairs(pos, box, minDistance, true);
  if (pairs.length === 0) return { ok: true, removed: new Set() };
  // Only atoms in a close pair matter; usually there are few or none.
  const partners = new Map<number, number[]>();
  const link = (a: number, b: number) => {
    const list = partners.get(a);
    if (list === undefined) partners.set(a, [b]);
    else list.push(b);
  };
  for (const [i, j, d] of pairs) {
    if (core[i] && core[j]) {
      return { ok: false, reason: `core atoms ${i + 1} and ${j + 1} of the sub-cell are ${d.toFixed(3)} Å apart across the seam (min_distance ${minDistance} Å); use a larger buffer or a smaller mask_radius` };
    }
    link(i, j);
    link(j, i);
  }
  // Going down the buffer atoms by distance, each one that still has a close partner is the
  // farthest such atom left: removing it is the rule "farthest first".
  const active = new Map<number, number>();
  for (const [a, list] of partners) active.set(a, list.length);
  const order = [...partners.keys()].filter((i) => !core[i]).sort((a, b) => dist[b] - dist[a] || a - b);
  const removed = new Set<number>();
  for (const i of order) {
    if ((active.get(i) ?? 0) === 0) continue;
    removed.add(i);
    for (const j of partners.get(i) ?? []) if (!removed.has(j)) active.set(j, (active.get(j) ?? 0) - 1);
    active.set(i, 0);
  }
  return { ok: true, removed };
}

/**
 * Pairs (i < j) closer than r in the periodic box, by binning in fractional coordinates: O(n).
 * With `seamOnly`, only pairs whose shortest vector wraps through a face of the box.
 * A vector shorter than half the box's smallest height has fractional components in (-½, ½),
 * so rounding the fractional difference finds the image of every pair closer than such an r;
 * a larger r (a box barely wider than two bonds) is checked over all 27 neighbouring images.
 */
export function closePairs(pos: Float64Array, box: Box, r: number, seamOnly = false): Array<[number, number, number]> {
  const B = boxMatrix(box);
  const inv = invert3(B);
  const n = pos.length / 3;
  const heights = boxHeights(B);
  const frac = new Float64Array(3 * n);
  for (let i = 0; i < n; i++) {
    const x = pos[3 * i], y = pos[3 * i + 1], z = pos[3 * i + 2];
    for (let k = 0; k < 3; k++) frac[3 * i + k] = x * inv[k] + y * inv[3 + k] + z * inv[6 + k];
  }
  const out: Array<[number, number, number]> = [];
  const r2 = r * r;
  const roundingExact = r < Math.min(...heights) / 2;
  const check = (i: number, j: number) => {
    const f0 = frac[3 * j] - frac[3 * i], f1 = frac[3 * j + 1] - frac[3 * i + 1], f2 = frac[3 * j + 2] - frac[3 * i + 2];
    const w0 = Math.round(f0), w1 = Math.round(f1), w2 = Math.round(f2);
    let best = Infinity, wrapped = false;
    const span = roundingExact ? 0 : 1;
    for (let a = -span; a <= span; a++) for (let b = -span; b <= span; b++) for (let c = -span; c <= span; c++) {
      const g0 = f0 - w0 - a, g1 = f1 - w1 - b, g2 = f2 - w2 - c;
      const dx = g0 * B[0] + g1 * B[3] + g2 * B[6], dy = g0 * B[1] + g1 * B[4] + g2 * B[7], dz = g0 * B[2] + g1 * B[5] + g2 * B[8];
      const d2 = dx * dx + dy * dy + dz * dz;
      if (d2 < best) { best = d2; wrapped = w0 + a !== 0 || w1 + b !== 0 || w2 + c !== 0; }
    }
    if (seamOnly && !wrapped) return;
    if (best < r2) out.push([i, j, Math.sqrt(best)]);
  };
  const nb = heights.map((h) => Math.min(64, Math.max(1, Math.floor(h / r)))) as [number, number, number];
  if (Math.min(...nb) < 3) {
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) check(i, j);
    return out;
  }
  // counting sort of atoms into nb0·nb1·nb2 bins, each at least r thick
  const [n0, n1, n2] = nb;
  const total = n0 * n1 * n2;
  const bin = new Int32Array(n);
  const start = new Int32Array(total + 1);
  const cellOf = (f: number, m: number) => Math.min(m - 1, Math.max(0, Math.floor((f - Math.floor(f)) * m)));
  for (let i = 0; i < n; i++) {
    bin[i] = (cellOf(frac[3 * i], n0) * n1 + cellOf(frac[3 * i + 1], n1)) * n2 + cellOf(frac[3 * i + 2], n2);
    start[bin[i] + 1]++;
  }
  for (let b = 0; b < total; b++) start[b + 1] += start[b];
  const members = new Int32Array(n);
  const fill = start.slice(0, total);
  for (let i = 0; i < n; i++) members[fill[bin[i]]++] = i;
  for (let i = 0; i < n; i++) {
    const b = bin[i];
    const b0 = Math.floor(b / (n1 * n2)), b1 = Math.floor(b / n2) % n1, b2 = b % n2;
    for (let d0 = -1; d0 <= 1; d0++) {
      const c0 = wrap(b0 + d0, n0);
      for (let d1 = -1; d1 <= 1; d1++) {
        const c1 = wrap(b1 + d1, n1);
        for (let d2 = -1; d2 <= 1; d2++) {
          const c = (c0 * n1 + c1) * n2 + wrap(b2 + d2, n2);
          for (let k = start[c]; k < start[c + 1]; k++) if (members[k] > i) check(i, members[k]);
        }
      }
    }
  }
  return out;
}

/** The box's thickness along each of its axes. */
export function boxHeights(B: ArrayLike<number>): [number, number, number] {
  return cellHeights(Float64Array.from(B));
}

export function det3(m: ArrayLike<number>): number {
  return m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]);
}

/** M⁻¹ of a row-major 3×3 matrix (rows are vectors: f = r · M⁻¹). */
export function invert3(m: ArrayLike<number>): Float64Array {
  const d = det3(m);
  if (!(Math.abs(d) > 0)) throw new RangeError('the box is singular (zero volume)');
  return Float64Array.of(
    (m[4] * m[8] - m[5] * m[7]) / d, (m[2] * m[7] - m[1] * m[8]) / d, (m[1] * m[5] - m[2] * m[4]) / d,
    (m[5] * m[6] - m[3] * m[8]) / d, (m[0] * m[8] - m[2] * m[6]) / d, (m[2] * m[3] - m[0] * m[5]) / d,
    (m[3] * m[7] - m[4] * m[6]) / d, (m[1] * m[6] - m[0] * m[7]) / d, (m[0] * m[4] - m[1] * m[3]) / d,
  );
}

/** b in [-1, nb]: the bin index wrapped into [0, nb). */
function wrap(b: number, nb: number): number {
  return b < 0 ? b + nb : b >= nb ? b - nb : b;
}
