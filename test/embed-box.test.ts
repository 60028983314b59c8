/**
 * The sub-cell's box against brute-force oracles of its geometry: a frame's crystal periods, a
 * lattice box whose vectors are lattice vectors of the parent, every site of the crystal in it
 * exactly once, and no pair across the seam closer than min_distance, for cubes and lattice
 * boxes, orthogonal and tilted cells.
 */
import { expect } from 'chai';
import { rng } from './support/random.js';
import { makeAtoms, type Atoms } from '../lib/atoms/atoms.js';
import { embedAtom, indexFrame, type EmbedParams } from '../lib/embed/extract.js';
import { boxFor, faceBetweenPlanes } from '../lib/embed/box.js';
import { framePeriods } from '../lib/embed/periods.js';
import { closePairs, invert3 } from '../lib/embed/seam.js';

const FCC = [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]];
const DIAMOND = [...FCC, ...FCC.map(([x, y, z]) => [x + 0.25, y + 0.25, z + 0.25])];

/** n0×n1×n2 periods of a basis (fractional in the period) on period vectors P (rows), rattled by ±rattle, without the atoms in `vacancies`. */
function crystal(P: number[], basis: number[][], n: [number, number, number], rattle: number, seed: number, vacancies: number[] = []): Atoms {
  const r = rng(seed);
  const pos: number[] = [];
  let k = 0;
  for (let i = 0; i < n[0]; i++) for (let j = 0; j < n[1]; j++) for (let l = 0; l < n[2]; l++) {
    for (const b of basis) {
      const f = [i + b[0], j + b[1], l + b[2]];
      if (!vacancies.includes(k++)) pos.push(...[0, 1, 2].map((x) => f[0] * P[x] + f[1] * P[3 + x] + f[2] * P[6 + x] + rattle * (2 * r() - 1)));
    }
  }
  const cell = [0, 1, 2].flatMap((i) => [0, 1, 2].map((x) => n[i] * P[3 * i + x]));
  return makeAtoms({ numbers: new Array(pos.length / 3).fill(13), positions: pos, cell, pbc: [true, true, true] });
}

const cubic = (a: number) => [a, 0, 0, 0, a, 0, 0, 0, a];
const fccPrimitive = (a: number) => [0, a / 2, a / 2, a / 2, 0, a / 2, a / 2, a / 2, 0];

/** M · P⁻¹: the rows of M in the basis of P's rows. */
function inBasis(M: ArrayLike<number>, P: ArrayLike<number>): number[] {
  const inv = invert3(P);
  return [0, 1, 2].flatMap((i) => [0, 1, 2].map((k) => M[3 * i] * inv[k] + M[3 * i + 1] * inv[3 + k] + M[3 * i + 2] * inv[6 + k]));
}

function expectIntegers(xs: number[], what: string): void {
  for (const x of xs) expect(Math.abs(x - Math.round(x)), `${what}: ${xs.map((v) => v.toFixed(6)).join(' ')}`).to.be.below(1e-9);
}

/** Every pair closer than r through any of the 27 images of the box (brute force), with whether its shortest vector wraps. */
function pairsBrute(atoms: Atoms, r: number): Array<[number, number, number, boolean]> {
  const B = atoms.cell, p = atoms.positions, n = atoms.numbers.length;
  const out: Array<[number, number, number, boolean]> = [];
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) {
    let best = Infinity, wraps = false;
    for (let a = -2; a <= 2; a++) for (let b = -2; b <= 2; b++) for (let c = -2; c <= 2; c++) {
      const d = [0, 1, 2].map((x) => p[3 * j + x] - p[3 * i + x] + a * B[x] + b * B[3 + x] + c * B[6 + x]);
      const len = Math.hypot(d[0], d[1], d[2]);
      if (len < best - 1e-12) { best = len; wraps = a !== 0 || b !== 0 || c !== 0; }
    }
    if (best < r) out.push([i, j, best, wraps]);
  }
  return out;
}

describe('embedding boxes against brute-force oracles', () => {
  it('finds a frame\'s crystal periods from the frame: fcc and diamond with a vacancy and thermal noise, a tilted primitive cell, none in a gas', () => {
    const al = crystal(cubic(4.05), FCC, [4, 4, 4], 0.15, 1, [0]);
    expect(framePeriods(al, indexFrame(al, { rcut: 3, buffer: 1, minDistance: 0 })).divisions).to.deep.equal([4, 4, 4]);
    const si = crystal(cubic(5.431), DIAMOND, [4, 3, 3], 0.12, 2, [5]);
    expect(framePeriods(si, indexFrame(si, { rcut: 3, buffer: 1, minDistance: 0 })).divisions).to.deep.equal([4, 3, 3]);
    const tilted = crystal(fccPrimitive(4.05), [[0, 0, 0]], [5, 6, 4], 0.1, 3);
    const found = framePeriods(tilted, indexFrame(tilted, { rcut: 3, buffer: 1, minDistance: 0 }));
    expect(found.divisions).to.deep.equal([5, 6, 4]);
    expectIntegers(inBasis(found.periods, fccPrimitive(4.05)), 'the periods are lattice vectors');
    const r = rng(4);
    const gas = makeAtoms({ numbers: new Array(200).fill(13), positions: Array.from({ length: 600 }, () => 15 * r()), cell: cubic(15), pbc: [true, true, true] });
    expect(framePeriods(gas, indexFrame(gas, { rcut: 3, buffer: 1, minDistance: 0 })).divisions).to.deep.equal([1, 1, 1]);
  });

  for (const [name, P, basis, n] of [
    ['fcc, cubic cell', cubic(4.05), FCC, [5, 5, 5]],
    ['diamond, 5×4×4', cubic(5.431), DIAMOND, [5, 4, 4]],
    ['fcc, tilted primitive cell', fccPrimitive(4.05), [[0, 0, 0]], [9, 8, 10]],
  ] as Array<[string, number[], number[][], [number, number, number]]>) {
    it(`a lattice box (${name}): its vectors are lattice vectors of the parent, and every site of the crystal is in it once`, () => {
      const frame = crystal(P, basis, n, 0.15, 7, [0]);
      for (const buffer of [0.5, 2.5]) {
        const p: EmbedParams = { rcut: 3, buffer, minDistance: 0, box: 'lattice' };
        const index = indexFrame(frame, p);
        const box = boxFor(frame, 2 * (p.rcut + p.buffer), 'lattice', index);
        expectIntegers(inBasis(box.vectors, P), 'box vectors in the crystal\'s periods');
        expectIntegers(inBasis(frame.cell, P), 'the parent\'s cell in the crystal\'s periods');
        for (const centre of [0, 57, 200]) {
          const r = embedAtom(frame, centre, p, index);
          expect(r.kind).to.equal('subcell');
          const sub = (r as { atoms: Atoms }).atoms;
          expect(Array.from(sub.cell)).to.deep.equal(Array.from(box.vectors));
          // sites: the box holds |det| / |det P| periods of the basis, one site (the vacancy) at most missing
          const periods = Math.round(Math.abs(inBasis(box.vectors, P).reduce((d, _, k, m) => (k === 0 ? m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]) : d), 0)));
          expect(sub.numbers.length).to.be.within(periods * basis.length - 1, periods * basis.length);
          // one image of each parent atom at most (the box is smaller than the parent), and none at the seam closer than 1 Å
          const ids = Array.from(sub.arrays.parent_id.values as Float64Array);
          expect(new Set(ids).size).to.equal(ids.length);
          expect(pairsBrute(sub, 1.0)).to.deep.equal([]);
          // each atom is where its parent's image is, relative to the centre
          const img = sub.arrays.image.values as Float64Array;
          const c0 = [0, 1, 2].map((x) => sub.positions[x]);
          for (let k = 0; k < sub.numbers.length; k++) {
            const a = ids[k] - 1;
            for (let x = 0; x < 3; x++) {
              const parentOffset = frame.positions[3 * a + x] - frame.positions[3 * centre + x] + img[3 * k] * frame.cell[x] + img[3 * k + 1] * frame.cell[3 + x] + img[3 * k + 2] * frame.cell[6 + x];
              expect(sub.positions[3 * k + x] - c0[x]).to.be.closeTo(parentOffset, 1e-9);
            }
          }
        }
      }
    });
  }

  it('no pair across the seam closer than min_distance, for a cube and a lattice box (brute force over 125 images)', () => {
    const frame = crystal(cubic(4.05), FCC, [6, 6, 6], 0.2, 11, [3]);
    for (const box of ['cube', 'lattice'] as const) {
      for (const L of [8.08, 10, 12.5]) {
        const p: EmbedParams = { rcut: 3, buffer: L / 2 - 3, minDistance: 2.3, box };
        const r = embedAtom(frame, 100, p, indexFrame(frame, p));
        expect(r.kind).to.equal('subcell');
        const close = pairsBrute((r as { atoms: Atoms }).atoms, 2.3).filter(([, , , wraps]) => wraps);
        expect(close, `${box} ${L}`).to.deep.equal([]);
      }
    }
  });

  it('closePairs in a tilted box finds what brute force finds, wrapping or not', () => {
    const r = rng(5);
    const B = [9, 0, 0, 3, 8, 0, -2, 2.5, 7];
    const pos = Array.from({ length: 150 }, () => 0);
    for (let k = 0; k < 50; k++) {
      const f = [r(), r(), r()];
      for (let x = 0; x < 3; x++) pos[3 * k + x] = f[0] * B[x] + f[1] * B[3 + x] + f[2] * B[6 + x];
    }
    const atoms = makeAtoms({ numbers: new Array(50).fill(13), positions: pos, cell: B, pbc: [true, true, true] });
    for (const cut of [1.5, 3.4]) {
      const brute = pairsBrute(atoms, cut);
      const fast = closePairs(Float64Array.from(pos), B, cut);
      expect(fast.map(([i, j, d]) => [i, j, d.toFixed(9)]).sort()).to.deep.equal(brute.map(([i, j, d]) => [i, j, d.toFixed(9)]).sort());
      const seam = closePairs(Float64Array.from(pos), B, cut, true);
      expect(seam.map(([i, j]) => `${i}-${j}`).sort()).to.deep.equal(brute.filter((x) => x[3]).map(([i, j]) => `${i}-${j}`).sort());
    }
  });

  it('puts a lattice box\'s faces in the gap between atomic planes, nearest the centred face', () => {
    // planes every 0.25 of the box along an axis, atoms at 0.02 noise: the face goes half way between
    const coords = [-0.5, -0.25, 0, 0.25].flatMap((u) => [u - 0.02, u, u + 0.02]);
    const face = faceBetweenPlanes(coords, 0.25);
    expect(Math.abs(face + 0.5)).to.be.closeTo(0.125, 1e-9);
  });
});
