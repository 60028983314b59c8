/**
 * The seam check. A cube cut out of a crystal and made periodic brings atoms from opposite
 * faces next to each other, sometimes far closer than any real bond (1.85 Å in fcc Al against
 * 2.86 Å in the bulk). Find every pair closer than `minDistance` under the cube's periodicity;
 * remove buffer atoms, farthest from the centre first, until no pair is left; a pair of two core
 * atoms cannot be mended and rejects the candidate.
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
  const pairs = closePairs(pos, L, minDistance);
  const partners: number[][] = Array.from({ length: n }, () => []);
  for (const [i, j, d] of pairs) {
    if (core[i] && core[j]) {
      return { ok: false, reason: `core atoms ${i + 1} and ${j + 1} of the sub-cell are ${d.toFixed(3)} Å apart (min_distance ${minDistance} Å); use a larger buffer or a smaller mask_radius` };
    }
    partners[i].push(j);
    partners[j].push(i);
  }
  // Going down the buffer atoms by distance, each one that still has a close partner is the
  // farthest such atom left: removing it is the rule "farthest first".
  const active = Int32Array.from(partners, (p) => p.length);
  const order = Array.from({ length: n }, (_, i) => i).filter((i) => !core[i] && active[i] > 0).sort((a, b) => dist[b] - dist[a]);
  const removed = new Set<number>();
  for (const i of order) {
    if (active[i] === 0) continue;
    removed.add(i);
    for (const j of partners[i]) if (!removed.has(j)) active[j]--;
    active[i] = 0;
  }
  return { ok: true, removed };
}

/** Pairs (i < j) closer than r in the periodic cube of side L, by binning: O(n). */
export function closePairs(pos: Float64Array, L: number, r: number): Array<[number, number, number]> {
  const n = pos.length / 3;
  const nb = Math.max(1, Math.floor(L / r));
  const out: Array<[number, number, number]> = [];
  const r2 = r * r;
  const mic = (d: number) => d - L * Math.round(d / L);
  const check = (i: number, j: number) => {
    const dx = mic(pos[3 * j] - pos[3 * i]), dy = mic(pos[3 * j + 1] - pos[3 * i + 1]), dz = mic(pos[3 * j + 2] - pos[3 * i + 2]);
    const d2 = dx * dx + dy * dy + dz * dz;
    if (d2 < r2) out.push([i, j, Math.sqrt(d2)]);
  };
  if (nb < 3) {
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) check(i, j);
    return out;
  }
  const binOf = (x: number) => Math.min(nb - 1, Math.max(0, Math.floor((x / L) * nb)));
  const bins = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const key = (binOf(pos[3 * i]) * nb + binOf(pos[3 * i + 1])) * nb + binOf(pos[3 * i + 2]);
    const list = bins.get(key);
    if (list === undefined) bins.set(key, [i]);
    else list.push(i);
  }
  const wrap = (b: number) => ((b % nb) + nb) % nb;
  for (let i = 0; i < n; i++) {
    const b0 = binOf(pos[3 * i]), b1 = binOf(pos[3 * i + 1]), b2 = binOf(pos[3 * i + 2]);
    for (let d0 = -1; d0 <= 1; d0++) for (let d1 = -1; d1 <= 1; d1++) for (let d2 = -1; d2 <= 1; d2++) {
      for (const j of bins.get((wrap(b0 + d0) * nb + wrap(b1 + d1)) * nb + wrap(b2 + d2)) ?? []) if (j > i) check(i, j);
    }
  }
  return out;
}
