/**
 * selection.method d-optimal on synthetic coefficients, pure: the greedy's rank-one update
 * against the active set recomputed by hand (B · A′⁻¹), and the selection over frames
 * (suppression, whole frames, the two files of a run agreeing). The same on python-ace's real
 * projections: d-optimal-real.test.ts.
 */
import { expect } from 'chai';
import { makeAtoms, type Atoms } from '../lib/atoms/atoms.js';
import { ActiveSetGrowth, dOptimalOrder } from '../lib/select/d-optimal.js';
import { selectDOptimal, type PoolCandidate } from '../lib/select/d-optimal-select.js';
import { EmbeddingError } from '../lib/errors/errors.js';
import { rng } from './support/random.js';

type Matrix = number[][];

/** x · M⁻¹ for each row x of X, by Gauss-Jordan on M (small, well conditioned). */
function rightDivide(X: Matrix, M: Matrix): Matrix {
  const n = M.length;
  const a = M.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let col = 0; col < n; col++) {
    let p = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r][col]) > Math.abs(a[p][col])) p = r;
    [a[col], a[p]] = [a[p], a[col]];
    const d = a[col][col];
    a[col] = a[col].map((v) => v / d);
    for (let r = 0; r < n; r++) if (r !== col) { const f = a[r][col]; a[r] = a[r].map((v, k) => v - f * a[col][k]); }
  }
  const inv = a.map((row) => row.slice(n));
  return X.map((x) => inv[0].map((_, j) => x.reduce((s, xi, i) => s + xi * inv[i][j], 0)));
}

const maxAbs = (v: ArrayLike<number>) => Math.max(...Array.from(v, Math.abs));

describe('d-optimal: the greedy on coefficients (MaxVol\'s swap on the candidates)', () => {
  it('after every swap each candidate\'s grade is that of B · A′⁻¹ recomputed from the grown active set, and the grade at choice is the volume gain |det A′| / |det A|', () => {
    const draw = rng(7);
    const n = 5;
    let A: Matrix = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 2 : 0) + 0.3 * (draw() - 0.5)));
    const B: Matrix = Array.from({ length: 12 }, () => Array.from({ length: n }, () => 10 * (draw() - 0.5)));
    const growth = new ActiveSetGrowth(rightDivide(B, A).map((c) => ({ element: 'Al', c })));
    const det = (M: Matrix) => {
      // |det| by elimination, enough for the ratio
      const a = M.map((r) => [...r]);
      let d = 1;
      for (let c = 0; c < a.length; c++) {
        let p = c;
        for (let r = c + 1; r < a.length; r++) if (Math.abs(a[r][c]) > Math.abs(a[p][c])) p = r;
        [a[c], a[p]] = [a[p], a[c]];
        d *= a[c][c];
        for (let r = c + 1; r < a.length; r++) { const f = a[r][c] / a[c][c]; a[r] = a[r].map((v, k) => v - f * a[c][k]); }
      }
      return Math.abs(d);
    };
    const chosen: number[] = [];
    for (let step = 0; step < 3; step++) {
      const i = growth.best();
      if (i === undefined) throw new Error(`nothing to choose at step ${step}`);
      const c = rightDivide([B[i]], A)[0];
      const j = c.reduce((m, x, l) => (Math.abs(x) > Math.abs(c[m]) ? l : m), 0);
      const next = A.map((row, r) => (r === j ? [...B[i]] : row));
      expect(det(next) / det(A)).to.be.closeTo(growth.grade(i), 1e-9 * growth.grade(i));
      growth.swapIn(i);
      chosen.push(i);
      A = next;
      const fresh = rightDivide(B, A);
      for (let k = 0; k < B.length; k++) if (growth.inPlay(k)) expect(growth.grade(k), `candidate ${k} after step ${step}`).to.be.closeTo(maxAbs(fresh[k]), 1e-9);
    }
    expect(new Set(chosen).size).to.equal(3);
  });

  it('of two identical environments one is chosen, the other then has grade 1 and never is; an environment of the active set (c = e_j) never is; another element\'s candidates are untouched by a swap', () => {
    const cands = [
      { element: 'Al', c: [0.2, 3, -0.5] }, // a new environment
      { element: 'Al', c: [0.2, 3, -0.5] }, // the same again (the next MD frame)
      { element: 'Al', c: [0, 0, 1] },      // an atom of the active set itself
      { element: 'Al', c: [1.5, 0.4, 0.1] }, // a different one, lower γ
      { element: 'Ni', c: [2.5, 0] },       // another element: its own active set
    ];
    const order = dOptimalOrder(cands, 10);
    expect(order.map((o) => o.index)).to.deep.equal([0, 4, 3]);
    expect(order[0].gain).to.equal(3);
    expect(order[1].gain).to.equal(2.5); // Ni's coefficients unchanged by Al's swap
    const g = new ActiveSetGrowth(cands);
    g.swapIn(0);
    expect(g.grade(1)).to.equal(1);
    expect(g.grade(2)).to.equal(1);
    expect(g.spanned()).to.equal(2);
    // by the gamma ordering the two copies come first
    expect(cands.map((c, k) => [maxAbs(c.c), k]).sort((a, b) => b[0] - a[0]).slice(0, 2).map(([, k]) => k)).to.deep.equal([0, 1]);
    expect(() => new ActiveSetGrowth([{ element: 'Al', c: [1, 2] }, { element: 'Al', c: [1] }])).to.throw(EmbeddingError, /one element's must be as many as its basis functions/);
  });
});

const A0 = 4.05;

/** fcc 5×5×5 Al (500 atoms, 20.25 Å) with a grade column: 0 except where given. */
function graded(grades: Record<number, number>): Atoms {
  const pos: number[] = [];
  for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) for (let k = 0; k < 5; k++) {
    for (const [x, y, z] of [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]) pos.push((i + x) * A0, (j + y) * A0, (k + z) * A0);
  }
  const g = new Float64Array(500);
  for (const [k, v] of Object.entries(grades)) g[Number(k)] = v;
  return makeAtoms({ numbers: new Array(500).fill(13), positions: pos, cell: [5 * A0, 0, 0, 0, 5 * A0, 0, 0, 0, 5 * A0], pbc: [true, true, true], arrays: { c_gamma: { kind: 'float', width: 1, values: g } } });
}

const site = (i: number, j: number, k: number, b = 0) => 4 * (i * 25 + j * 5 + k) + b;

describe('d-optimal: the selection over frames', () => {
  // X and its nearest neighbour X′ (2.86 Å) in frame 0, Y far from both; frame 1 repeats X's environment
  const X = site(1, 1, 1), Xn = site(1, 1, 1, 1), Y = site(3, 3, 3);
  const frames = [
    { atoms: graded({ [X]: 9, [Xn]: 8, [Y]: 3 }), source: { file: 'a.dump', frame: 0, timestep: 10 } },
    { atoms: graded({ [X]: 9 }), source: { file: 'b.dump', frame: 0, timestep: 10 } },
  ];
  const candidates: PoolCandidate[] = [
    { at: 0, frame: 0, atom: X, element: 'Al', gamma: 9, c: [9, 0, 0] },
    { at: 0, frame: 0, atom: Xn, element: 'Al', gamma: 8, c: [0, 8, 0] },
    { at: 0, frame: 0, atom: Y, element: 'Al', gamma: 3, c: [0, 0, 3] },
    { at: 1, frame: 0, atom: X, element: 'Al', gamma: 9, c: [9, 0, 0] },
  ];
  const embed = { rcut: 3, buffer: 1.5, maskRadius: 3, minDistance: 0 };

  it('in the order chosen, each cut into its sub-cell with its volume gain; a neighbour of a chosen atom is passed over; a repeat of a chosen environment is not chosen', () => {
    const { selected, summary } = selectDOptimal(frames, candidates, { column: 'c_gamma', lo: 2, hi: 25, max: 5, embed, whole: false });
    expect(selected.map((s) => [s.atoms.info.source, s.atoms.info.centre_id, s.gamma, s.gain, s.kind])).to.deep.equal([
      ['a.dump', X + 1, 9, 9, 'subcell'], ['a.dump', Y + 1, 3, 3, 'subcell'],
    ]);
    expect(selected[0].atoms.info).to.deep.include({ frame: 0, timestep: 10, embedded: true });
    expect(summary).to.deep.include({ frames_read: 2, frames_dropped: 0, candidates_in_range: 4, selected: 2, passed_over: 1, spanned: 1, parents_labelled_whole: 0 });
    // max 1: the best alone
    expect(selectDOptimal(frames, candidates, { column: 'c_gamma', lo: 2, hi: 25, max: 1, embed, whole: false }).selected).to.have.length(1);
    // hi at 8.5: frames with an atom at 9 are dropped, their candidates with them
    expect(selectDOptimal(frames, candidates, { column: 'c_gamma', lo: 2, hi: 8.5, max: 5, embed, whole: false }).summary).to.deep.include({ frames_dropped: 2, candidates_in_range: 0, selected: 0 });
  });

  it('selection.embed false: a frame is labelled whole once, masks all 1; a later choice in it joins the active set without a second structure', () => {
    const { selected, summary } = selectDOptimal(frames, candidates, { column: 'c_gamma', lo: 2, hi: 25, max: 5, embed, whole: true });
    expect(selected).to.have.length(1);
    expect(selected[0].kind).to.equal('parent');
    expect(selected[0].atoms.info).to.deep.equal({ source: 'a.dump', frame: 0, timestep: 10, centre_id: X + 1, gamma: 9, parent_natoms: 500, embedded: false, n_core: 500, n_removed: 0 });
    expect([...(selected[0].atoms.arrays.force_mask.values as Float64Array)].every((m) => m === 1)).to.equal(true);
    expect(summary).to.deep.include({ selected: 1, parents_labelled_whole: 1, spanned: 1, warnings: [] });
  });

  it('candidates.json and frames.dump of different runs: an error naming the atom, its two grades, and what to do', () => {
    const wrong = [{ ...candidates[0], gamma: 7 }];
    expect(() => selectDOptimal(frames, wrong, { column: 'c_gamma', lo: 2, hi: 25, max: 5, embed, whole: false }))
      .to.throw(EmbeddingError, new RegExp(`a\\.dump frame 0 atom ${X + 1}: candidates.json says Al with γ 7, frames.dump Al with γ 9`));
    expect(() => selectDOptimal(frames, [{ ...candidates[0], atom: 600 }], { column: 'c_gamma', lo: 2, hi: 25, max: 5, embed, whole: false }))
      .to.throw(EmbeddingError, /atom 601: candidates.json names an atom the frame \(500 atoms\) does not have/);
  });
});
