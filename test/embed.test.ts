import { expect } from 'chai';
import { rng } from './support/random.js';
import { makeAtoms, type Atoms } from '../lib/atoms/atoms.js';
import { embedAtom, indexFrame, atomIndexOfId, type EmbedParams } from '../lib/embed/extract.js';
import { closePairs } from '../lib/embed/seam.js';
import { EmbeddingError } from '../lib/errors/errors.js';

const A = 4.05;
const FCC = [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]];

function fcc(nx: number, ny: number, nz: number): Atoms {
  const pos: number[] = [];
  for (let i = 0; i < nx; i++) for (let j = 0; j < ny; j++) for (let k = 0; k < nz; k++) {
    for (const [x, y, z] of FCC) pos.push((i + x) * A, (j + y) * A, (k + z) * A);
  }
  return makeAtoms({ numbers: new Array(pos.length / 3).fill(13), positions: pos, cell: [nx * A, 0, 0, 0, ny * A, 0, 0, 0, nz * A], pbc: [true, true, true] });
}

/** The reference: every image of every atom, by brute force over a range of shifts wide enough. */
function bruteForce(frame: Atoms, centre: number, L: number): Map<string, number[]> {
  const c = frame.cell, p = frame.positions;
  const out = new Map<string, number[]>();
  const reach = 2 + Math.ceil(L / Math.min(...[0, 1, 2].map((i) => heightOf(c, i))));
  const tol = 1e-9 * L / 2;
  for (let a = 0; a < frame.numbers.length; a++) {
    for (let s0 = -reach; s0 <= reach; s0++) for (let s1 = -reach; s1 <= reach; s1++) for (let s2 = -reach; s2 <= reach; s2++) {
      const d = [0, 1, 2].map((x) => p[3 * a + x] + s0 * c[x] + s1 * c[3 + x] + s2 * c[6 + x] - p[3 * centre + x]);
      if (d.every((v) => v >= -L / 2 - tol && v < L / 2 - tol)) out.set(`${a}:${s0},${s1},${s2}`, d);
    }
  }
  return out;
}

function heightOf(c: Float64Array, i: number): number {
  const r = (k: number) => [c[3 * k], c[3 * k + 1], c[3 * k + 2]];
  const [u, v] = [r((i + 1) % 3), r((i + 2) % 3)];
  const cr = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
  const vol = Math.abs(r(0)[0] * (c[4] * c[8] - c[5] * c[7]) - r(0)[1] * (c[3] * c[8] - c[5] * c[6]) + r(0)[2] * (c[3] * c[7] - c[4] * c[6]));
  return vol / Math.hypot(cr[0], cr[1], cr[2]);
}

/** Compare a sub-cell with the brute force, atom by atom (parent, image, position, mask). */
function expectMatchesBruteForce(frame: Atoms, centre: number, p: EmbedParams): Atoms {
  const r = embedAtom(frame, centre, p, indexFrame(frame, p));
  expect(r.kind).to.equal('subcell');
  const sub = (r as { atoms: Atoms }).atoms;
  const L = 2 * (p.rcut + p.buffer);
  const ref = bruteForce(frame, centre, L);
  expect(sub.numbers.length).to.equal(ref.size);
  const ids = sub.arrays.parent_id.values as Float64Array;
  const img = sub.arrays.image.values as Float64Array;
  const mask = sub.arrays.force_mask.values as Float64Array;
  for (let k = 0; k < sub.numbers.length; k++) {
    const key = `${ids[k] - 1}:${img[3 * k]},${img[3 * k + 1]},${img[3 * k + 2]}`;
    const d = ref.get(key);
    expect(d, `sub-cell atom ${k} (${key}) is not in the brute-force set`).to.not.equal(undefined);
    for (let x = 0; x < 3; x++) expect(sub.positions[3 * k + x]).to.be.closeTo(d![x] + L / 2, 1e-9);
    expect(mask[k], `mask of atom ${k}`).to.equal(Math.hypot(...d!) < (p.maskRadius ?? p.rcut) ? 1 : 0);
    expect(sub.numbers[k]).to.equal(frame.numbers[ids[k] - 1]);
  }
  return sub;
}

describe('periodic embedding', () => {
  const p: EmbedParams = { rcut: 4, buffer: 2, minDistance: 0 };

  it('fcc 5×5×5: the cube around an atom deep inside holds exactly the lattice points in [-L/2, L/2)³', () => {
    const frame = fcc(5, 5, 5);
    const centre = 4 * (2 * 25 + 2 * 5 + 2); // the first atom of cell (2, 2, 2)
    const L = 12;
    // Independent count: fcc points relative to an atom are (a/2)(i, j, k) with i + j + k even.
    let expected = 0;
    for (let i = -10; i <= 10; i++) for (let j = -10; j <= 10; j++) for (let k = -10; k <= 10; k++) {
      const inside = [i, j, k].every((m) => (m * A) / 2 >= -L / 2 && (m * A) / 2 < L / 2);
      if (inside && (i + j + k) % 2 === 0) expected++;
    }
    expect(expected).to.equal(63);
    const r = embedAtom(frame, centre, p, indexFrame(frame, p));
    expect(r.kind).to.equal('subcell');
    const sub = (r as { atoms: Atoms }).atoms;
    expect(sub.numbers.length).to.equal(expected);
    expect(Array.from(sub.cell)).to.deep.equal([L, 0, 0, 0, L, 0, 0, 0, L]);
    expect(sub.pbc).to.deep.equal([true, true, true]);
    expect(Array.from(sub.positions.subarray(0, 3))).to.deep.equal([L / 2, L / 2, L / 2]); // the centre, exactly
    expect(sub.info).to.deep.include({ centre_id: centre + 1, embedded: true, L, rcut: 4, buffer: 2, mask_radius: 4, n_removed: 0, parent_natoms: frame.numbers.length });
    // The count depends on where the cube is centred: around an octahedral hole it differs.
    const shifted = makeAtoms({ ...frame, numbers: [...frame.numbers, 13], positions: [...frame.positions, 2.5 * A, 2.5 * A, 2 * A + A / 2 + A / 2] });
    const r2 = embedAtom(shifted, 500, p, indexFrame(shifted, p));
    expect((r2 as { atoms: Atoms }).atoms.numbers.length).to.not.equal(expected);
  });

  it('an atom at a corner of the parent: atoms from the far side of every boundary, at the right places', () => {
    const frame = fcc(5, 5, 5);
    const sub = expectMatchesBruteForce(frame, 0, p);
    // the atom at x = 4.5a (parent index of cell (4,0,0) + [0.5, 0.5, 0]) sits at -a/2 along x, one period back
    const ids = Array.from(sub.arrays.parent_id.values as Float64Array);
    const k = ids.findIndex((id, n) => id === 4 * (4 * 25) + 2 && (sub.arrays.image.values as Float64Array)[3 * n] === -1);
    expect(k).to.be.greaterThan(-1);
    expect(sub.positions[3 * k]).to.be.closeTo(6 - A / 2, 1e-12);
    expect(sub.positions[3 * k + 1]).to.be.closeTo(6 + A / 2, 1e-12);
    const imgs = sub.arrays.image.values as Float64Array;
    for (const axis of [0, 1, 2]) expect(Array.from({ length: sub.numbers.length }, (_, n) => imgs[3 * n + axis])).to.include(-1);
  });

  it('mask: 1.0 inside mask_radius, 0.0 outside, atom by atom', () => {
    const frame = fcc(5, 5, 5);
    for (const maskRadius of [2.9, 3.0, 4.5]) expectMatchesBruteForce(frame, 137, { ...p, maskRadius });
  });

  it('strongly tilted triclinic parents, parents thinner than the cube (images), random cells: equal to brute force', () => {
    const rand = rng(7);
    const cases: Array<{ cell: number[]; n: number }> = [
      { cell: [10, 0, 0, 9, 8, 0, -7, 6, 9], n: 60 },           // strongly tilted
      { cell: [3.1, 0, 0, 0, 3.3, 0, 0, 0, 40], n: 30 },         // thinner than the cube along x and y
      { cell: [6, 1, -2, 2.5, 5.5, 1.5, -1, 3, 14], n: 40 },     // general, not lower triangular
    ];
    for (let t = 0; t < 5; t++) {
      cases.push({ cell: Array.from({ length: 9 }, (_, i) => ([0, 4, 8].includes(i) ? 8 + 10 * rand() : 6 * (rand() - 0.5))), n: 20 + Math.floor(40 * rand()) });
    }
    for (const { cell, n } of cases) {
      const positions: number[] = [];
      for (let a = 0; a < n; a++) {
        const f = [rand(), rand(), rand()];
        // some atoms a little outside the cell, as LAMMPS dumps have them
        if (a % 7 === 0) f[0] += 1;
        for (let x = 0; x < 3; x++) positions.push(f[0] * cell[x] + f[1] * cell[3 + x] + f[2] * cell[6 + x]);
      }
      const frame = makeAtoms({ numbers: new Array(n).fill(14), positions, cell, pbc: [true, true, true] });
      const params = { rcut: 2, buffer: 1.5, minDistance: 0, maskRadius: 2.2 };
      const count = bruteForce(frame, 0, 7).size;
      if (count >= n) continue; // the parent would be labelled instead: covered below
      for (const centre of [0, Math.floor(n / 2), n - 1]) expectMatchesBruteForce(frame, centre, params);
    }
  });

  it('the seam: buffer atoms too close across the new boundary are removed, farthest first; the core stays', () => {
    const frame = fcc(5, 5, 5);
    const params = { rcut: 3, buffer: 2.2, minDistance: 2.5 }; // L = 10.4: planes at ±4.05 end 2.3 Å apart
    const plain = embedAtom(frame, 312, { ...params, minDistance: 0 }, indexFrame(frame, params));
    const r = embedAtom(frame, 312, params, indexFrame(frame, params));
    expect(r.kind).to.equal('subcell');
    const sub = (r as { atoms: Atoms; nRemoved: number }).atoms;
    const before = (plain as { atoms: Atoms }).atoms;
    expect(closePairs(before.positions, 10.4, 2.5).length).to.be.greaterThan(0);
    expect(closePairs(sub.positions, 10.4, 2.5)).to.deep.equal([]);
    expect((r as { nRemoved: number }).nRemoved).to.equal(before.numbers.length - sub.numbers.length).and.to.be.greaterThan(0);
    expect(sub.info.n_removed).to.equal((r as { nRemoved: number }).nRemoved);
    const coreBefore = Array.from(before.arrays.force_mask.values as Float64Array).filter((m) => m === 1).length;
    const coreAfter = Array.from(sub.arrays.force_mask.values as Float64Array).filter((m) => m === 1).length;
    expect(coreAfter).to.equal(coreBefore);
    // two core atoms that clash cannot be mended: rejected with the reason
    const rejected = embedAtom(frame, 312, { ...params, maskRadius: 5 }, indexFrame(frame, params));
    expect(rejected.kind).to.equal('rejected');
    expect((rejected as { reason: string }).reason).to.match(/core atoms \d+ and \d+ of the sub-cell are 2\.300 Å apart across the seam \(min_distance 2\.5 Å\)/);
  });

  it('the seam check leaves pairs that are close in the parent itself (real bonds), even in the buffer', () => {
    const frame = fcc(5, 5, 5);
    // An H 0.7 Å from the buffer Al at (4.05, 2.025, 2.025) from the centre, on the side of the
    // centre: close to two Al of the parent (0.7 and 2.42 Å), far from every face.
    const c = [frame.positions[3 * 312], frame.positions[3 * 312 + 1], frame.positions[3 * 312 + 2]];
    const withBond = makeAtoms({ ...frame, numbers: [...frame.numbers, 1], positions: [...frame.positions, c[0] + 3.35, c[1] + 2.025, c[2] + 2.025] });
    const params = { rcut: 3, buffer: 3.075, minDistance: 2.5 }; // L = 3a: the seam is perfect, every contact across it is the bulk's 2.86 Å
    const r = embedAtom(withBond, 312, params, indexFrame(withBond, params));
    expect(r.kind).to.equal('subcell');
    expect((r as { nRemoved: number }).nRemoved).to.equal(0);
    expect(Array.from((r as { atoms: Atoms }).atoms.numbers)).to.include(1);
  });

  it('a cube holding as many atoms as the parent: the parent itself, mask all 1, and why', () => {
    const frame = fcc(2, 2, 2); // 32 atoms; the cube would hold 63
    const r = embedAtom(frame, 5, p, indexFrame(frame, p));
    expect(r.kind).to.equal('parent');
    const atoms = (r as { atoms: Atoms }).atoms;
    expect(atoms.numbers.length).to.equal(32);
    expect(Array.from(atoms.arrays.force_mask.values as Float64Array)).to.deep.equal(new Array(32).fill(1));
    expect(atoms.info).to.deep.include({ embedded: false, centre_id: 6 });
    expect((r as { reason: string }).reason).to.match(/would hold 63 atoms, the parent only 32/);
  });

  it('warns when buffer < rcut', () => {
    const frame = fcc(5, 5, 5);
    const r = embedAtom(frame, 0, { rcut: 5, buffer: 3, minDistance: 0 }, indexFrame(frame, { rcut: 5, buffer: 3, minDistance: 0 }));
    expect(r.warnings).to.have.length(1);
    expect(r.warnings[0]).to.match(/buffer \(3 Å\) < rcut \(5 Å\): atoms between 3 and 5 Å from the centre have neighbours across the periodic seam/);
    const fine = { rcut: 3, buffer: 3, minDistance: 0 };
    expect(embedAtom(frame, 0, fine, indexFrame(frame, fine)).warnings).to.deep.equal([]);
  });

  it('bad input: non-periodic frame, unknown atom id, rcut ≤ 0, no atoms', () => {
    const frame = fcc(5, 5, 5);
    const slab = makeAtoms({ ...frame, pbc: [true, true, false] });
    expect(() => indexFrame(slab, p)).to.throw(EmbeddingError, /not periodic along z/);
    expect(() => atomIndexOfId(frame, 501)).to.throw(EmbeddingError, /atom 501 is not in this frame \(it has atoms 1\.\.500/);
    const withIds = makeAtoms({ ...frame, arrays: { id: { kind: 'int', width: 1, values: Float64Array.from({ length: 500 }, (_, k) => 1000 + k) } } });
    expect(atomIndexOfId(withIds, 1007)).to.equal(7);
    expect(() => atomIndexOfId(withIds, 7)).to.throw(EmbeddingError, /no atom has id 7/);
    expect(() => embedAtom(frame, 0, { ...p, rcut: 0 }, indexFrame(frame, p))).to.throw(EmbeddingError, /rcut must be a finite number > 0/);
    expect(() => indexFrame(makeAtoms({ numbers: [], positions: [], cell: [5, 0, 0, 0, 5, 0, 0, 0, 5], pbc: [true, true, true] }), p)).to.throw(EmbeddingError, /no atoms/);
  });
});
