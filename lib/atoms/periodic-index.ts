/**
 * A cell list over a fully periodic frame, built once: atoms are binned by fractional
 * coordinate, bins at least `binSize` thick along each lattice direction. A query for the
 * axis-aligned cube around a point visits only the bins the cube overlaps, with every periodic
 * image they stand for, so its cost depends on the cube's size and the density, not on the
 * number of atoms in the frame. Any cell shape, including strongly tilted ones, and cubes wider
 * than the cell (several images of one atom) work.
 */
import { mat3, vec3 } from 'gl-matrix';

export interface ImageVisitor {
  /** atom index; image shift in lattice vectors, such that offset = r_atom − r_centre + shift · C
   *  for the positions as given; and the Cartesian offset (dx, dy, dz) of that image */
  (atom: number, s0: number, s1: number, s2: number, dx: number, dy: number, dz: number): void;
}

export class PeriodicIndex {
  /** Fractional coordinates wrapped into [0, 1), 3 per atom. */
  readonly frac: Float64Array;
  /** How many lattice vectors each given position lies outside the cell: raw = wrapped + wrap. */
  private readonly wrap: Int32Array;
  private readonly cell: Float64Array;
  private readonly inv: Float64Array;
  private readonly n: [number, number, number];
  private readonly binStart: Int32Array;
  private readonly binAtoms: Int32Array;

  constructor(positions: Float64Array, cell: Float64Array, binSize: number) {
    this.cell = Float64Array.from(cell);
    // gl-matrix reads a row-major C as Cᵀ; (Cᵀ)⁻¹ read row-major is C⁻¹ (f = r · C⁻¹).
    const inv = mat3.invert(new Float64Array(9), this.cell);
    if (inv === null) throw new RangeError('the cell is singular (zero volume)');
    this.inv = inv as Float64Array;
    const count = positions.length / 3;
    const volume = Math.abs(mat3.determinant(this.cell));
    const cross = new Float64Array(3);
    const row = (i: number) => this.cell.subarray(3 * i, 3 * i + 3);
    this.n = [0, 1, 2].map((i) => {
      vec3.cross(cross, row((i + 1) % 3), row((i + 2) % 3));
      const height = volume / vec3.length(cross); // thickness of the cell along axis i
      // cap the bin count so that a huge cell with a tiny bin size cannot exhaust memory
      return Math.max(1, Math.min(1024, Math.floor(height / binSize)));
    }) as [number, number, number];
    const [n0, n1, n2] = this.n;
    this.frac = new Float64Array(3 * count);
    this.wrap = new Int32Array(3 * count);
    const binOf = new Int32Array(count);
    const sizes = new Int32Array(n0 * n1 * n2 + 1);
    const m = this.inv;
    for (let a = 0; a < count; a++) {
      const x = positions[3 * a], y = positions[3 * a + 1], z = positions[3 * a + 2];
      let f0 = x * m[0] + y * m[3] + z * m[6];
      let f1 = x * m[1] + y * m[4] + z * m[7];
      let f2 = x * m[2] + y * m[5] + z * m[8];
      const w0 = Math.floor(f0), w1 = Math.floor(f1), w2 = Math.floor(f2);
      f0 -= w0; f1 -= w1; f2 -= w2;
      this.wrap[3 * a] = w0; this.wrap[3 * a + 1] = w1; this.wrap[3 * a + 2] = w2;
      // f - floor(f) can round up to exactly 1.0 for tiny negative f
      if (f0 >= 1) { f0 = 0; this.wrap[3 * a]++; }
      if (f1 >= 1) { f1 = 0; this.wrap[3 * a + 1]++; }
      if (f2 >= 1) { f2 = 0; this.wrap[3 * a + 2]++; }
      this.frac[3 * a] = f0; this.frac[3 * a + 1] = f1; this.frac[3 * a + 2] = f2;
      const b = (Math.min(n0 - 1, Math.floor(f0 * n0)) * n1 + Math.min(n1 - 1, Math.floor(f1 * n1))) * n2 + Math.min(n2 - 1, Math.floor(f2 * n2));
      binOf[a] = b;
      sizes[b + 1]++;
    }
    for (let b = 0; b < n0 * n1 * n2; b++) sizes[b + 1] += sizes[b];
    this.binStart = sizes;
    this.binAtoms = new Int32Array(count);
    const fill = sizes.slice(0, n0 * n1 * n2);
    for (let a = 0; a < count; a++) this.binAtoms[fill[binOf[a]]++] = a;
  }

  /** Cartesian position of an atom's wrapped image. */
  wrappedPosition(atom: number): [number, number, number] {
    const f = this.frac, c = this.cell, i = 3 * atom;
    return [
      f[i] * c[0] + f[i + 1] * c[3] + f[i + 2] * c[6],
      f[i] * c[1] + f[i + 1] * c[4] + f[i + 2] * c[7],
      f[i] * c[2] + f[i + 1] * c[5] + f[i + 2] * c[8],
    ];
  }

  /**
   * Visit every image of every atom whose offset from atom `centre` (its wrapped image) lies in
   * the cube [-half, half)³, Cartesian axes. Offsets are computed from fractional differences,
   * so the centre itself is at exactly 0. `tol` moves both faces by the same amount so that two
   * images exactly one period apart, rounded differently, are never both inside.
   */
  forEachInCube(centre: number, half: number, visit: ImageVisitor, tol = 1e-9 * half): void {
    const f = this.frac, c = this.cell, m = this.inv;
    const fc0 = f[3 * centre], fc1 = f[3 * centre + 1], fc2 = f[3 * centre + 2];
    // The cube spans ±half·Σ_i |C⁻¹[i][j]| along fractional axis j.
    const e0 = half * (Math.abs(m[0]) + Math.abs(m[3]) + Math.abs(m[6]));
    const e1 = half * (Math.abs(m[1]) + Math.abs(m[4]) + Math.abs(m[7]));
    const e2 = half * (Math.abs(m[2]) + Math.abs(m[5]) + Math.abs(m[8]));
    const [n0, n1, n2] = this.n;
    const lo0 = Math.floor((fc0 - e0) * n0), hi0 = Math.floor((fc0 + e0) * n0);
    const lo1 = Math.floor((fc1 - e1) * n1), hi1 = Math.floor((fc1 + e1) * n1);
    const lo2 = Math.floor((fc2 - e2) * n2), hi2 = Math.floor((fc2 + e2) * n2);
    const lower = -half - tol, upper = half - tol;
    const w = this.wrap;
    const wc0 = w[3 * centre], wc1 = w[3 * centre + 1], wc2 = w[3 * centre + 2];
    for (let p = lo0; p <= hi0; p++) {
      const s0 = Math.floor(p / n0), b0 = p - s0 * n0;
      for (let q = lo1; q <= hi1; q++) {
        const s1 = Math.floor(q / n1), b1 = q - s1 * n1;
        for (let r = lo2; r <= hi2; r++) {
          const s2 = Math.floor(r / n2), b2 = r - s2 * n2;
          const bin = (b0 * n1 + b1) * n2 + b2;
          for (let k = this.binStart[bin]; k < this.binStart[bin + 1]; k++) {
            const a = this.binAtoms[k];
            const d0 = f[3 * a] + s0 - fc0, d1 = f[3 * a + 1] + s1 - fc1, d2 = f[3 * a + 2] + s2 - fc2;
            const dx = d0 * c[0] + d1 * c[3] + d2 * c[6];
            if (dx < lower || dx >= upper) continue;
            const dy = d0 * c[1] + d1 * c[4] + d2 * c[7];
            if (dy < lower || dy >= upper) continue;
            const dz = d0 * c[2] + d1 * c[5] + d2 * c[8];
            if (dz < lower || dz >= upper) continue;
            visit(a, s0 - w[3 * a] + wc0, s1 - w[3 * a + 1] + wc1, s2 - w[3 * a + 2] + wc2, dx, dy, dz);
          }
        }
      }
    }
  }
  /**
   * The distance from the point (x, y, z) to the nearest image of any atom, if one lies within
   * r; Infinity otherwise. Visits only the bins the cube of half-side r around the point overlaps.
   */
  nearestWithin(x: number, y: number, z: number, r: number): number {
    const f = this.frac, c = this.cell, m = this.inv;
    const p0 = x * m[0] + y * m[3] + z * m[6], p1 = x * m[1] + y * m[4] + z * m[7], p2 = x * m[2] + y * m[5] + z * m[8];
    const e = [0, 1, 2].map((j) => r * (Math.abs(m[j]) + Math.abs(m[3 + j]) + Math.abs(m[6 + j])));
    const [n0, n1, n2] = this.n;
    let best = r * r;
    let found = false;
    for (let p = Math.floor((p0 - e[0]) * n0); p <= Math.floor((p0 + e[0]) * n0); p++) {
      const s0 = Math.floor(p / n0), b0 = p - s0 * n0;
      for (let q = Math.floor((p1 - e[1]) * n1); q <= Math.floor((p1 + e[1]) * n1); q++) {
        const s1 = Math.floor(q / n1), b1 = q - s1 * n1;
        for (let t = Math.floor((p2 - e[2]) * n2); t <= Math.floor((p2 + e[2]) * n2); t++) {
          const s2 = Math.floor(t / n2), b2 = t - s2 * n2;
          const bin = (b0 * n1 + b1) * n2 + b2;
          for (let k = this.binStart[bin]; k < this.binStart[bin + 1]; k++) {
            const a = this.binAtoms[k];
            const d0 = f[3 * a] + s0 - p0, d1 = f[3 * a + 1] + s1 - p1, d2 = f[3 * a + 2] + s2 - p2;
            const dx = d0 * c[0] + d1 * c[3] + d2 * c[6], dy = d0 * c[1] + d1 * c[4] + d2 * c[7], dz = d0 * c[2] + d1 * c[5] + d2 * c[8];
            const d = dx * dx + dy * dy + dz * dz;
            if (d <= best) { best = d; found = true; }
          }
        }
      }
    }
    return found ? Math.sqrt(best) : Infinity;
  }
}
