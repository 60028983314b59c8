import { expect } from 'chai';
import { makeAtoms, type Atoms } from '../lib/atoms/atoms.js';
import { selectInFrame, BestCandidates } from '../lib/select/select.js';
import { EmbeddingError } from '../lib/errors/errors.js';

const A = 4.05;

/** fcc 5×5×5 with a grade column: 0 everywhere except where given (atom index → grade). */
function graded(grades: Record<number, number>): Atoms {
  const pos: number[] = [];
  for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) for (let k = 0; k < 5; k++) {
    for (const [x, y, z] of [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]) pos.push((i + x) * A, (j + y) * A, (k + z) * A);
  }
  const g = new Float64Array(500);
  for (const [k, v] of Object.entries(grades)) g[Number(k)] = v;
  return makeAtoms({
    numbers: new Array(500).fill(13), positions: pos, cell: [5 * A, 0, 0, 0, 5 * A, 0, 0, 0, 5 * A], pbc: [true, true, true],
    arrays: { c_gamma: { kind: 'float', width: 1, values: g }, id: { kind: 'int', width: 1, values: Float64Array.from({ length: 500 }, (_, k) => k + 1) } },
  });
}

/** Index of the atom at fractional fcc site (cell i,j,k; basis b). */
const site = (i: number, j: number, k: number, b = 0) => 4 * (i * 25 + j * 5 + k) + b;
const embed = { rcut: 3, buffer: 1.5, minDistance: 0 };

describe('selection of uncertain atoms', () => {
  it('thresholds: [lo, hi) are candidates, best first', () => {
    const f = graded({ [site(0, 0, 0)]: 4.9, [site(2, 2, 2)]: 5, [site(4, 0, 2)]: 7.5, [site(0, 3, 3)]: 6 });
    const s = selectInFrame(f, 'c_gamma', 5, 25, 3);
    expect(s.dropped).to.equal(false);
    if (s.dropped) return;
    expect(s.inRange).to.equal(3);
    expect(s.centres.map((c) => c.gamma)).to.deep.equal([7.5, 6, 5]);
    expect(s.centres.map((c) => c.index)).to.deep.equal([site(4, 0, 2), site(0, 3, 3), site(2, 2, 2)]);
  });

  it('a frame with any grade at or above hi is dropped', () => {
    const f = graded({ [site(2, 2, 2)]: 6, [site(0, 0, 0)]: 25 });
    expect(selectInFrame(f, 'c_gamma', 5, 25, 3)).to.deep.equal({ dropped: true, maxGamma: 25 });
    const best = new BestCandidates('c_gamma', 5, 25, 10, embed);
    best.offer(f, { frame: 1 });
    best.offer(graded({ [site(2, 2, 2)]: 6 }), { frame: 2 });
    const { summary, selected } = best.result();
    expect(summary.frames_read).to.equal(2);
    expect(summary.frames_dropped).to.equal(1);
    expect(selected.map((s) => s.atoms.info.frame)).to.deep.equal([2]);
  });

  it('suppression: candidates closer than mask_radius to a better one are dropped, across periodic boundaries too', () => {
    // neighbours 2.86 Å apart (one nearest-neighbour distance), and a pair across the x boundary
    const f = graded({ [site(2, 2, 2)]: 9, [site(2, 2, 2, 1)]: 8, [site(0, 1, 1)]: 7, [site(4, 1, 1, 1)]: 6.5, [site(2, 0, 4)]: 6 });
    const near = selectInFrame(f, 'c_gamma', 5, 25, 3);
    if (near.dropped) throw new Error('dropped');
    // site(4,1,1,1) is at x = 4.5a, 2.86 Å from site(0,1,1) through the boundary at x = 5a ≡ 0
    expect(near.centres.map((c) => c.gamma)).to.deep.equal([9, 7, 6]);
    const far = selectInFrame(f, 'c_gamma', 5, 25, 2.5);
    if (far.dropped) throw new Error('dropped');
    expect(far.centres.map((c) => c.gamma)).to.deep.equal([9, 8, 7, 6.5, 6]);
  });

  it('the cap: the best max candidates over all frames, each cut into its sub-cell with provenance', () => {
    const best = new BestCandidates('c_gamma', 5, 25, 3, embed);
    best.offer(graded({ [site(1, 1, 1)]: 6, [site(3, 3, 3)]: 11 }), { file: 'a.dump', frame: 1, timestep: 100 });
    best.offer(graded({ [site(1, 1, 1)]: 9, [site(3, 3, 3)]: 5.5 }), { file: 'a.dump', frame: 2, timestep: 200 });
    best.offer(graded({ [site(2, 2, 2)]: 10 }), { file: 'b.dump', frame: 1, timestep: 0 });
    const { selected, summary } = best.result();
    expect(selected.map((s) => s.gamma)).to.deep.equal([11, 10, 9]);
    expect(selected.map((s) => [s.atoms.info.source, s.atoms.info.frame, s.atoms.info.timestep, s.atoms.info.centre_id])).to.deep.equal([
      ['a.dump', 1, 100, site(3, 3, 3) + 1], ['b.dump', 1, 0, site(2, 2, 2) + 1], ['a.dump', 2, 200, site(1, 1, 1) + 1],
    ]);
    expect(selected.every((s) => s.kind === 'subcell' && s.atoms.arrays.force_mask !== undefined)).to.equal(true);
    expect(summary).to.deep.include({ frames_read: 3, frames_dropped: 0, candidates_in_range: 5, centres_after_suppression: 5, selected: 3, parents_labelled_whole: 0 });
    expect(summary.atoms_per_subcell!.min).to.be.greaterThan(0);
  });

  it('selection.embed false: each chosen atom brings its whole frame, masks all 1, embedded false, with its provenance; a frame once however many of its atoms were chosen', () => {
    const best = new BestCandidates('c_gamma', 5, 25, 3, embed, true);
    // frame 1: two candidates far apart (both survive suppression), the frame still labelled once
    best.offer(graded({ [site(1, 1, 1)]: 6, [site(3, 3, 3)]: 11 }), { file: 'a.dump', frame: 1, timestep: 100 });
    best.offer(graded({ [site(1, 1, 1)]: 9 }), { file: 'a.dump', frame: 2, timestep: 200 });
    best.offer(graded({ [site(2, 2, 2)]: 30 }), { file: 'b.dump', frame: 0, timestep: 0 }); // γ ≥ hi: dropped
    const { selected, summary } = best.result();
    expect(selected.map((s) => s.gamma)).to.deep.equal([11, 9]);
    for (const s of selected) {
      expect(s.kind).to.equal('parent');
      expect(s.atoms.positions.length).to.equal(3 * 500);
      expect([...(s.atoms.arrays.force_mask.values as Float64Array)].every((m) => m === 1)).to.equal(true);
      expect([...(s.atoms.arrays.parent_id.values as Float64Array)].slice(0, 3)).to.deep.equal([1, 2, 3]);
      expect(s.atoms.arrays.image).to.equal(undefined);
    }
    expect(selected.map((s) => s.atoms.info)).to.deep.equal([
      { source: 'a.dump', frame: 1, timestep: 100, centre_id: site(3, 3, 3) + 1, gamma: 11, parent_natoms: 500, embedded: false, n_core: 500, n_removed: 0 },
      { source: 'a.dump', frame: 2, timestep: 200, centre_id: site(1, 1, 1) + 1, gamma: 9, parent_natoms: 500, embedded: false, n_core: 500, n_removed: 0 },
    ]);
    expect(summary).to.deep.include({ frames_read: 3, frames_dropped: 1, candidates_in_range: 3, selected: 2, parents_labelled_whole: 2, atoms_per_subcell: null, warnings: [] });
  });

  it('a frame without the grade column: a clear error', () => {
    const f = graded({});
    expect(() => selectInFrame(makeAtoms({ ...f, arrays: {} }), 'f_pace_gamma', 5, 25, 3)).to.throw(EmbeddingError, /no column 'f_pace_gamma'/);
    expect(() => new BestCandidates('c', 5, 5, 3, embed)).to.throw(EmbeddingError, /lo \(5\) must be below hi \(5\)/);
  });
});
