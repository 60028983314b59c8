import { expect } from 'chai';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readDumpFrames } from '../lib/formats/lammps-dump.js';
import { writeLammpsData } from '../lib/formats/lammps-data.js';
import { fileChunks } from '../lib/fsutil/chunks.js';
import { makeAtoms } from '../lib/atoms/atoms.js';
import { InputFormatError } from '../lib/errors/errors.js';
import { pythonJson, runLmp, tmpDir, need, LMP } from './support/tools.js';

const EAM = '/usr/share/lammps/potentials/Al_zhou.eam.alloy';

/** A short real MD run dumping id type x y z c_csym fx fy fz, atoms in reverse id order. */
function lmpDump(dir: string, tilted: boolean): string {
  const region = tilted ? 'region box prism 0 3 0 3 0 3 1.2 0.7 -0.9 units lattice' : 'region box block 0 3 0 3 0 3 units lattice';
  writeFileSync(join(dir, 'in.md'), `
units metal
atom_style atomic
boundary p p p
lattice fcc 4.05
${region}
create_box 1 box
create_atoms 1 box
mass 1 26.98
pair_style eam/alloy
pair_coeff * * ${EAM} Al
velocity all create 800 42
compute csym all centro/atom fcc
fix nve all nve
dump d all custom 10 md.dump id type x y z c_csym fx fy fz
dump_modify d sort -1 format float %.10g
run 30
`);
  runLmp(dir, 'in.md');
  return join(dir, 'md.dump');
}

function aseDump(path: string): Array<{ positions: number[][]; cell: number[][]; celldisp: number[]; forces: number[][]; numbers: number[]; pbc: boolean[] }> {
  return pythonJson(`
import sys, json, ase.io
fs = ase.io.read(sys.argv[1], index=':', format='lammps-dump-text', specorder=['Al'])
print(json.dumps([{'positions': a.positions.tolist(), 'cell': a.cell.array.tolist(), 'celldisp': a.get_celldisp().flatten().tolist(),
  'forces': a.get_forces().tolist(), 'numbers': a.numbers.tolist(), 'pbc': a.pbc.tolist()} for a in fs]))`, [path]);
}

describe('LAMMPS dump reader (real lmp dumps, ASE 3.22 as judge)', function () {
  this.timeout(120000);

  for (const tilted of [false, true]) {
    it(`${tilted ? 'restricted triclinic' : 'orthogonal'} box: every frame equals ASE's, atoms sorted by id`, () => {
      const dir = tmpDir();
      const path = lmpDump(dir, tilted);
      expect(readFileSync(path, 'utf8')).to.include(tilted ? 'ITEM: BOX BOUNDS xy xz yz pp pp pp' : 'ITEM: BOX BOUNDS pp pp pp');
      const ours = [...readDumpFrames(fileChunks(path, 4096), { types: ['Al'], requiredColumns: ['c_csym'] }, path)];
      const ase = aseDump(path);
      expect(ours).to.have.length(4);
      expect(ase).to.have.length(4);
      ours.forEach((f, k) => {
        const a = ase[k];
        expect(f.info.timestep).to.equal(10 * k);
        expect(Array.from(f.numbers)).to.deep.equal(a.numbers);
        expect(f.pbc).to.deep.equal([true, true, true]);
        a.cell.flat().forEach((x, i) => expect(f.cell[i]).to.be.closeTo(x, 1e-9));
        a.positions.forEach((p, i) => p.forEach((x, c) => expect(f.positions[3 * i + c]).to.be.closeTo(x - a.celldisp[c], 1e-9)));
        const ids = Array.from(f.arrays.id.values as Float64Array);
        expect(ids).to.deep.equal(ids.slice().sort((x, y) => x - y));
        a.forces.forEach((fr, i) => expect(f.arrays.fx.values[i]).to.be.closeTo(fr[0], 1e-9));
        expect(f.arrays.c_csym.kind).to.equal('float');
      });
    });
  }

  it('reads frame by frame: the first frame arrives before a broken later frame is reached', () => {
    const dir = tmpDir();
    const text = readFileSync(lmpDump(dir, false), 'utf8');
    const lines = text.split('\n');
    const third = lines.findIndex((l, i) => l.startsWith('ITEM: TIMESTEP') && i > 0 && lines.slice(0, i).filter((x) => x.startsWith('ITEM: TIMESTEP')).length === 2);
    const cut = lines.slice(0, third + 12); // the third frame stops in the middle of its atoms
    const path = join(dir, 'cut.dump');
    writeFileSync(path, cut.join('\n'));
    const it = readDumpFrames(fileChunks(path, 1024), { types: ['Al'] }, path);
    expect(it.next().value!.info.timestep).to.equal(0);
    expect(it.next().value!.info.timestep).to.equal(10);
    expect(() => it.next()).to.throw(InputFormatError, new RegExp(`cut\\.dump:${cut.length}: the file ends after \\d+ of 108 atoms`));
  });

  it('general triclinic (abc origin) boxes and an element column', () => {
    const text = `ITEM: TIMESTEP
7
ITEM: NUMBER OF ATOMS
2
ITEM: BOX BOUNDS abc origin pp pp pp
4.0 0.0 0.0 1.0
1.0 4.0 0.0 2.0
0.5 0.5 4.0 3.0
ITEM: ATOMS id element x y z f_pace_gamma
2 Cu 3.0 4.0 5.0 7.5
1 Al 1.0 2.0 3.0 0.5
`;
    const [f] = [...readDumpFrames([Buffer.from(text)], {}, 'g.dump')];
    expect(Array.from(f.cell)).to.deep.equal([4, 0, 0, 1, 4, 0, 0.5, 0.5, 4]);
    expect(Array.from(f.numbers)).to.deep.equal([13, 29]);
    expect(Array.from(f.positions)).to.deep.equal([0, 0, 0, 2, 2, 2]);
    expect(Array.from(f.arrays.f_pace_gamma.values as Float64Array)).to.deep.equal([0.5, 7.5]);
  });

  it('bad dumps: a clear error with the file and line', () => {
    const head = 'ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n1\nITEM: BOX BOUNDS pp pp pp\n0 4\n0 4\n0 4\n';
    const bad = (text: string, opts: object, re: RegExp) => expect(() => [...readDumpFrames([Buffer.from(text)], opts, 'b.dump')]).to.throw(InputFormatError, re);
    bad(`${head}ITEM: ATOMS id type x y z\n1 1 0 0 0\n`, { types: ['Al'], requiredColumns: ['f_pace_gamma'] }, /b\.dump:9: column 'f_pace_gamma' is missing \(the dump has: id type x y z\)/);
    bad(`${head}ITEM: ATOMS id type\n1 1\n`, { types: ['Al'] }, /b\.dump:9: ITEM: ATOMS has no coordinate columns/);
    bad(`${head}ITEM: ATOMS id type x y z\n1 1 0 0 0\n`, {}, /b\.dump:9: .*give the element of each type \(e\.g\. --types Al,Cu\)/);
    bad(`${head}ITEM: ATOMS id type x y z\n1 2 0 0 0\n`, { types: ['Al'] }, /b\.dump:10: atom type 2 has no element/);
    bad(`${head}ITEM: ATOMS id type x y z\n1 1 0 0\n`, { types: ['Al'] }, /b\.dump:10: atom line has 4 values; ITEM: ATOMS names 5 columns/);
    bad('hello\n', {}, /b\.dump:1: expected 'ITEM: TIMESTEP'/);
  });
});

describe('LAMMPS data writer (real lmp)', function () {
  this.timeout(120000);

  /** Potential energy and atom count by lmp for a data file. */
  function lmpEnergy(dir: string, data: string, types: string): { pe: number; atoms: number; vol: number } {
    writeFileSync(join(dir, 'in.e'), `
units metal
atom_style atomic
boundary p p p
read_data ${data}
pair_style eam/alloy
pair_coeff * * ${EAM} ${types}
thermo_style custom pe atoms vol
thermo_modify format float %.12g
run 0
print "RESULT $(pe:%.12g) $(atoms) $(vol:%.12g)"
`);
    const out = runLmp(dir, 'in.e');
    const log = readFileSync(join(dir, 'log.lammps'), 'utf8') + out;
    const m = /RESULT (-?[\d.e+-]+) (\d+) ([\d.e+-]+)/.exec(log);
    expect(m, log.slice(-2000)).to.not.equal(null);
    return { pe: Number(m![1]), atoms: Number(m![2]), vol: Number(m![3]) };
  }

  it('lmp reads our data files for strongly tilted and rotated cells; energy equals that of ASE\'s data file', () => {
    need(LMP);
    const dir = tmpDir();
    const a = 4.05;
    // fcc Al, 2×2×2 conventional cells, rattled, then the cell given as a rotated, sheared (but same-lattice) basis
    const base: number[] = [];
    for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) for (let k = 0; k < 2; k++) {
      for (const [x, y, z] of [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]) base.push((i + x) * a, (j + y) * a, (k + z) * a);
    }
    const rattled = base.map((x, i) => x + 0.05 * Math.sin(7 * i));
    const L = 2 * a;
    // rotate by 30° about z and shear the basis: c' = c + a, b' = b + 2a (same lattice)
    const cs = Math.cos(Math.PI / 6), sn = Math.sin(Math.PI / 6);
    const rot = (v: number[]) => [cs * v[0] - sn * v[1], sn * v[0] + cs * v[1], v[2]];
    const cell = [...rot([L, 0, 0]), ...rot([2 * L, L, 0]), ...rot([L, 0, L])];
    const positions: number[] = [];
    for (let i = 0; i < rattled.length; i += 3) positions.push(...rot(rattled.slice(i, i + 3)));
    const atoms = makeAtoms({ numbers: new Array(32).fill(13), positions, cell, pbc: [true, true, true] });
    // ASE 3.22 writes tilts as they come (lmp rejects the sheared basis: "skew is too large"), so
    // its reference file gets the unsheared basis of the same lattice.
    const plainCell = [...rot([L, 0, 0]), ...rot([0, L, 0]), ...rot([0, 0, L])];
    const ours = writeLammpsData(atoms);
    expect(ours.types).to.deep.equal(['Al']);
    writeFileSync(join(dir, 'ours.data'), ours.text);
    pythonJson(`
import sys, json, numpy as np, ase.io
from ase import Atoms
d = json.loads(sys.argv[1])
a = Atoms(numbers=d['numbers'], positions=np.reshape(d['positions'], (-1, 3)), cell=np.reshape(d['cell'], (3, 3)), pbc=True)
ase.io.write(sys.argv[2], a, format='lammps-data', atom_style='atomic')
print('null')`, [JSON.stringify({ numbers: Array.from(atoms.numbers), positions, cell: plainCell }), join(dir, 'ase.data')]);
    const e1 = lmpEnergy(dir, 'ours.data', 'Al');
    const e2 = lmpEnergy(dir, 'ase.data', 'Al');
    expect(e1.atoms).to.equal(32);
    expect(e1.vol).to.be.closeTo(L * L * L, 1e-6);
    expect(e1.pe).to.be.closeTo(e2.pe, 1e-8 * Math.abs(e2.pe));
    // and the rattling matters: a perfect crystal would give a different energy
    expect(Math.abs(e1.pe - (-3.36 * 32))).to.be.greaterThan(1e-3);
    // ASE 3.22 reads our file too: the box and every position as written
    const byAse = pythonJson<{ n: number; cell: number[][]; positions: number[][] }>(`
import sys, json, ase.io
a = ase.io.read(sys.argv[1], format='lammps-data', style='atomic')
print(json.dumps({'n': len(a), 'cell': a.cell.array.tolist(), 'positions': a.positions.tolist()}))`, [join(dir, 'ours.data')]);
    expect(byAse.n).to.equal(32);
    const text = ours.text.split('\n');
    expect(text[0]).to.equal('LAMMPS data file written by autopipe (atom_style atomic; types 1=Al)');
    const rows = text.slice(text.indexOf('Atoms # atomic') + 2).filter((l) => l.trim() !== '').map((l) => l.split(' ').slice(2).map(Number));
    rows.forEach((r, i) => r.forEach((x, c) => expect(byAse.positions[i][c]).to.be.closeTo(x, 1e-9)));
    expect(byAse.cell[0][0] * byAse.cell[1][1] * byAse.cell[2][2]).to.be.closeTo(L * L * L, 1e-6);
  });

  it('two species with a chosen type order', () => {
    const dir = tmpDir();
    const atoms = makeAtoms({ numbers: [29, 13], positions: [0, 0, 0, 2, 2, 0], cell: [4, 0, 0, 0, 4, 0, 0, 0, 4], pbc: [true, true, true] });
    const d = writeLammpsData(atoms, { types: ['Al', 'Cu'] });
    expect(d.text).to.match(/Masses\n\n1 26\.9815385\n2 63\.546\n/);
    expect(d.text).to.match(/1 2 0\.0+ 0\.0+ 0\.0+\n2 1 2\.0+/);
    expect(() => writeLammpsData(atoms, { types: ['Al'] })).to.throw(/no LAMMPS type given for Cu/);
    void dir;
  });
});
