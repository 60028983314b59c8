/**
 * The seam check. A cube cut out of a crystal and made periodic brings atoms from opposite
 * faces next to each other, sometimes far closer than any real bond (1.9 Å in fcc Al against
 * 2.86 Å in the bulk). Find every pair that the new periodicity brings closer than
 * `minDistance` (a pair whose shortest vector in the cube wraps through a face; pairs that are
 * close without wrapping are the parent's own, such as real bonds, and stay); remove buffer
 * atoms, farthest from the centre first, until no pair is left; a pair of two core atoms cannot
 * be mended and rejects the candidate.
 */

export type SeamResult =
  | { ok: true; removed: Set<number> }
  | { ok: false; reason: string };

/**
 * `pos`: positions in the cube [0, L)³; `dist`: distance of each atom from the centre;
 * `core`: whether each atom is in the core (never removed).
 */
export function resolveSeam(pos: Float64Array, L: number, dist: Float64Array, core: Uint8Array, minDistance: number): SeamResult {
  const n = dist.length;
  if (minDistance <= 0 || n < 2) return { ok: true, removed: new Set() };
  const pairs = closePairs(pos, L, minDistance, true);
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
 * Pairs (i < j) closer than r in the periodic cube of side L, by binning: O(n). With
 * `seamOnly`, only pairs whose shortest vector wraps through a face of the cube.
 */
export function closePairs(pos: Float64Array, L: number, r: number, seamOnly = false): Array<[number, number, number]> {
  const n = pos.length / 3;
  const out: Array<[number, number, number]> = [];
  const r2 = r * r;
  const nb = Math.min(64, Math.max(1, Math.floor(L / r)));
  const check = (i: number, j: number) => {
    let dx = pos[3 * j] - pos[3 * i], dy = pos[3 * j + 1] - pos[3 * i + 1], dz = pos[3 * j + 2] - pos[3 * i + 2];
    const wx = Math.round(dx / L), wy = Math.round(dy / L), wz = Math.round(dz / L);
    if (seamOnly && wx === 0 && wy === 0 && wz === 0) return;
    dx -= L * wx; dy -= L * wy; dz -= L * wz;
    const d2 = dx * dx + dy * dy + dz * dz;
    if (d2 < r2) out.push([i, j, Math.sqrt(d2)]);
  };
  if (nb < 3) {
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) check(i, j);
    return out;
  }
  // counting sort of atoms into nb³ bins
  const bin = new Int32Array(n);
  const start = new Int32Array(nb * nb * nb + 1);
  const cellOf = (x: number) => Math.min(nb - 1, Math.max(0, Math.floor((x / L) * nb)));
  for (let i = 0; i < n; i++) {
    bin[i] = (cellOf(pos[3 * i]) * nb + cellOf(pos[3 * i + 1])) * nb + cellOf(pos[3 * i + 2]);
    start[bin[i] + 1]++;
  }
  for (let b = 0; b < nb * nb * nb; b++) start[b + 1] += start[b];
  const members = new Int32Array(n);
  const fill = start.slice(0, nb * nb * nb);
  for (let i = 0; i < n; i++) members[fill[bin[i]]++] = i;
  for (let i = 0; i < n; i++) {
    const b = bin[i];
    const b0 = Math.floor(b / (nb * nb)), b1 = Math.floor(b / nb) % nb, b2 = b % nb;
    for (let d0 = -1; d0 <= 1; d0++) {
      const c0 = wrap(b0 + d0, nb);
      for (let d1 = -1; d1 <= 1; d1++) {
        const c1 = wrap(b1 + d1, nb);
        for (let d2 = -1; d2 <= 1; d2++) {
          const c = (c0 * nb + c1) * nb + wrap(b2 + d2, nb);
          for (let k = start[c]; k < start[c + 1]; k++) if (members[k] > i) check(i, members[k]);
        }
      }
    }
  }
  return out;
}

/** b in [-1, nb]: the bin index wrapped into [0, nb). */
function wrap(b: number, nb: number): number {
  return b < 0 ? b + nb : b >= nb ? b - nb : b;
}
