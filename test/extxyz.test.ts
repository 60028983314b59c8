import { expect } from 'chai';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readExtxyz, writeExtxyz } from '../lib/formats/extxyz.js';
import { makeAtoms } from '../lib/atoms/atoms.js';
import { InputFormatError } from '../lib/errors/errors.js';
import { python, pythonJson, tmpDir } from './support/tools.js';

const FRAME = makeAtoms({
  numbers: [13, 29, 13],
  positions: [0.1, 0.2, 0.3, 1.123456789012345, 2.5, 3.5, 3.9, 0.05, 1e-12],
  cell: [4.05, 0, 0, 0.5, 4.1, 0, 0.2, -0.3, 4.2],
  pbc: [true, true, true],
  arrays: {
    force_mask: { kind: 'float', width: 1, values: Float64Array.from([1, 0, 1]) },
    id: { kind: 'int', width: 1, values: Float64Array.from([11, 12, 13]) },
    core: { kind: 'bool', width: 1, values: Uint8Array.from([1, 0, 1]) },
    label: { kind: 'string', width: 1, values: ['a', 'b', 'c'] },
  },
  info: { iteration: 3, source: 'embed', gamma: 4.25, centre: 2, shift: [1, 0, -1], done: true, note: 'two words' },
  results: { energy: -12.5, forces: Float64Array.from([0.1, -0.2, 0.3, 0, 0, 0, -0.1, 0.2, -0.3]), stress: Float64Array.from([0.1, 0.2, 0.3, 0.04, 0.05, 0.06]) },
});

describe('extxyz (ASE 3.22 as judge)', function () {
  this.timeout(60000);

  it('ASE reads what we write: cell, pbc, positions, arrays, info, energy, forces, stress', () => {
    const dir = tmpDir();
    const path = join(dir, 'f.extxyz');
    writeFileSync(path, writeExtxyz([FRAME, FRAME]));
    const r = pythonJson<Record<string, unknown>>(`
import sys, json, ase.io
fs = ase.io.read(sys.argv[1], index=':')
a = fs[0]
print(json.dumps({'n': len(fs), 'symbols': a.get_chemical_symbols(), 'cell': a.cell.array.tolist(), 'pbc': a.pbc.tolist(),
  'positions': a.positions.tolist(), 'mask': a.arrays['force_mask'].tolist(), 'id': a.arrays['id'].tolist(),
  'core': a.arrays['core'].tolist(), 'label': a.arrays['label'].tolist(),
  'info': {k: (v.tolist() if hasattr(v, 'tolist') else v) for k, v in a.info.items()},
  'energy': a.get_potential_energy(), 'forces': a.get_forces().tolist(), 'stress': a.get_stress().tolist()}))`, [path]);
    expect(r.n).to.equal(2);
    expect(r.symbols).to.deep.equal(['Al', 'Cu', 'Al']);
    expect((r.cell as number[][]).flat()).to.deep.equal(Array.from(FRAME.cell));
    expect(r.pbc).to.deep.equal([true, true, true]);
    expect((r.positions as number[][]).flat()).to.deep.equal(Array.from(FRAME.positions)); // exact: we write shortest round-trip digits
    expect(r.mask).to.deep.equal([1, 0, 1]);
    expect(r.id).to.deep.equal([11, 12, 13]);
    expect(r.core).to.deep.equal([true, false, true]);
    expect(r.label).to.deep.equal(['a', 'b', 'c']);
    // ASE 3.22 keeps copies of energy and the 3×3 stress in info as well as in its calculator
    delete (r.info as Record<string, unknown>).stress;
    delete (r.info as Record<string, unknown>).energy;
    expect(r.info).to.deep.equal({ iteration: 3, source: 'embed', gamma: 4.25, centre: 2, shift: [1, 0, -1], done: true, note: 'two words' });
    expect(r.energy).to.equal(-12.5);
    expect((r.forces as number[][]).flat()).to.deep.equal(Array.from(FRAME.results.forces!));
    expect(r.stress).to.deep.equal(Array.from(FRAME.results.stress!));
  });

  it('we read what ASE writes, and our write of it reads back the same', () => {
    const dir = tmpDir();
    const path = join(dir, 'ase.extxyz');
    python(`
import sys, numpy as np, ase.io
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
a = bulk('Si', 'diamond', a=5.43) * (1, 1, 2)
a.rattle(0.05, seed=1)
a.set_array('force_mask', np.array([1.0, 0, 1, 0]))
a.set_array('kind', np.array([1, 2, 3, 4]))
a.info['iteration'] = 2; a.info['source'] = 'md run'; a.info['flag'] = False
a.calc = SinglePointCalculator(a, energy=-43.2, forces=np.arange(12.0).reshape(4, 3) / 10, stress=[1, 2, 3, 4, 5, 6])
b = a.copy(); b.pbc = [True, True, False]
ase.io.write(sys.argv[1], [a, b], format='extxyz')
`, [path]);
    const frames = readExtxyz(readFileSync(path, 'utf8'), path);
    expect(frames).to.have.length(2);
    const a = frames[0];
    expect(Array.from(a.numbers)).to.deep.equal([14, 14, 14, 14]);
    expect(Array.from(a.arrays.force_mask.values as Float64Array)).to.deep.equal([1, 0, 1, 0]);
    expect(a.arrays.kind.kind).to.equal('int');
    expect(a.info).to.deep.equal({ iteration: 2, source: 'md run', flag: false });
    expect(a.results.energy).to.equal(-43.2);
    expect(Array.from(a.results.stress!)).to.deep.equal([1, 2, 3, 4, 5, 6]);
    expect(Array.from(a.results.forces!)).to.deep.equal(Array.from({ length: 12 }, (_, i) => i / 10));
    expect(frames[1].pbc).to.deep.equal([true, true, false]);
    const again = readExtxyz(writeExtxyz(frames));
    expect(Array.from(again[0].positions)).to.deep.equal(Array.from(a.positions));
    expect(again[0].info).to.deep.equal(a.info);
  });

  it('bad input: a clear error naming the file and line', () => {
    const bad = (text: string, re: RegExp) => expect(() => readExtxyz(text, 'x.extxyz')).to.throw(InputFormatError, re);
    bad('2\nProperties=species:S:1:pos:R:3\nAl 0 0 0\n', /x\.extxyz:3: frame 1 declares 2 atoms but the file ends first/);
    bad('1\nProperties=species:S:1:pos:R:3\nAl 0 0\n', /x\.extxyz:3: atom 1 has 3 fields; Properties needs 4/);
    bad('1\nProperties=species:S:1:pos:R:3\nQq 0 0 0\n', /x\.extxyz:3: 'Qq' is not a chemical symbol/);
    bad('1\nLattice="1 2 3" Properties=species:S:1:pos:R:3\nAl 0 0 0\n', /x\.extxyz:2: comment line: Lattice must have 9 finite numbers/);
    bad('one\n', /x\.extxyz:1: expected the number of atoms/);
    bad('1\nProperties=species:S:1:pos:R:3\nAl 0 0 x\n', /'x' in column pos is not a number/);
  });
});
