import { expect } from 'chai';
import { readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { rowAtomsWithData } from '../lib/db/ase-db.js';
import { openDatabaseFile, memoryDatabase } from '../lib/db/db-file.js';
import { makeAtoms } from '../lib/atoms/atoms.js';
import { NdArray } from '../lib/db/ase-data.js';
import { DatabaseError } from '../lib/errors/errors.js';
import { ASE_JUDGES, tmpDir, cli } from './support/tools.js';

const NOW = 1795000000; // a fixed clock: 2026-11-19

/** ASE's reference row (ASE_DB.md §13): Al fcc primitive ×(2,2,2), results, kvp and data. */
const ASE_REF_ROW = `
import sys, json, numpy as np
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
import ase.db
a = bulk('Al', 'fcc', a=4.05).repeat((2, 2, 2))
f = np.array([[0.01 * i, -0.02 * i, 0.03 * i] for i in range(8)])
a.calc = SinglePointCalculator(a, energy=-29.5, forces=f, stress=[0.1, 0.2, 0.3, 0.04, 0.05, 0.06])
db = ase.db.connect(sys.argv[1])
db.write(a, iteration=3, source='embed', masked=True, gamma=4.2,
         data={'force_mask': np.array([1, 0, 1, 1, 0, 0, 1, 0], float), 'parent': 'x'})
print(json.dumps({'positions': a.positions.tolist(), 'cell': a.cell.array.tolist(), 'forces': f.tolist()}))
`;

/** Every column and side-table row, as hex/text, in a comparable form. */
const DUMP = `
import sys, json, sqlite3
c = sqlite3.connect(sys.argv[1])
def enc(v): return v.hex() if isinstance(v, bytes) else v
rows = [[enc(v) for v in r] for r in c.execute('select * from systems')]
side = {t: c.execute(f'select * from {t}').fetchall() for t in ['species', 'keys', 'text_key_values', 'number_key_values', 'information']}
schema = [r[0] for r in c.execute("select sql from sqlite_master where name != 'sqlite_sequence' order by name")]
print(json.dumps({'rows': rows, 'side': side, 'schema': schema}))
`;

type Dump = { rows: unknown[][]; side: Record<string, unknown[][]>; schema: string[] };

function ourRefDb(path: string, ref: { positions: number[][]; cell: number[][]; forces: number[][] }): void {
  const db = openDatabaseFile(path, { create: true });
  const atoms = makeAtoms({
    numbers: new Array(8).fill(13), positions: ref.positions.flat(), cell: ref.cell.flat(), pbc: [true, true, true],
    arrays: { force_mask: { kind: 'float', width: 1, values: Float64Array.from([1, 0, 1, 1, 0, 0, 1, 0]) } },
    results: { energy: -29.5, forces: Float64Array.from(ref.forces.flat()), stress: Float64Array.from([0.1, 0.2, 0.3, 0.04, 0.05, 0.06]) },
  });
  db.write(atoms, { kvp: { iteration: 3, source: 'embed', masked: true, gamma: 4.2 }, data: { parent: 'x' }, now: NOW, user: 'refuser' });
  db.close();
}

for (const judge of ASE_JUDGES) describe(`ASE database (SQLite through better-sqlite3), judged by ${judge.label}`, function () {
  const python = (code: string, args: string[] = []) => judge.run(code, args);
  const pythonJson = <T>(code: string, args: string[] = []) => JSON.parse(judge.run(code, args)) as T;
  this.timeout(120000);
  let dir: string;
  let ours: string;
  before(async () => {
    dir = tmpDir();
    const ref = pythonJson<{ positions: number[][]; cell: number[][]; forces: number[][] }>(ASE_REF_ROW, [join(dir, 'ase.db')]);
    ours = join(dir, 'ours.db');
    ourRefDb(ours, ref);
  });

  it('writes the same bytes as ASE for the same row (schema, every column but ids and times, side tables)', () => {
    const a = pythonJson<Dump>(DUMP, [join(dir, 'ase.db')]);
    const b = pythonJson<Dump>(DUMP, [ours]);
    expect(b.schema).to.deep.equal(a.schema);
    const volumeCol = 30;
    const skip = new Set([1, 2, 3, 4, volumeCol]); // unique_id, ctime, mtime, username; volume's last bit depends on the determinant algorithm
    a.rows[0].forEach((v, i) => { if (!skip.has(i)) expect(b.rows[0][i], `column ${i}`).to.deep.equal(v); });
    expect(b.rows[0][volumeCol] as number).to.be.closeTo(a.rows[0][volumeCol] as number, 1e-9);
    expect(b.rows[0][1]).to.match(/^[0-9a-f]{32}$/);
    expect(b.side).to.deep.equal(a.side);
  });

  it('ASE reads our rows: toatoms, results, data, io.read, selections', () => {
    const r = pythonJson<Record<string, unknown>>(`
import sys, json, ase.db, ase.io
db = ase.db.connect(sys.argv[1])
row = db.get(id=1)
a = row.toatoms()
sel = lambda q: [r.id for r in db.select(q)]
print(json.dumps({
  'energy': a.get_potential_energy(), 'forces0': a.get_forces()[1].tolist(), 'stress': a.get_stress().tolist(),
  'mask': row.data['force_mask'].tolist(), 'parent': row.data['parent'], 'user': row.user, 'kvp': row.key_value_pairs,
  'read': len(ase.io.read(sys.argv[1] + '@:')), 'read_q': len(ase.io.read(sys.argv[1] + '@iteration=3')),
  'selections': {q: sel(q) for q in ['iteration=3', 'source=embed', 'masked', 'masked=True', 'gamma>4', 'Al', 'Al>7', 'natoms=8',
     'formula=Al8', 'forces', 'energy', 'pbc=TTT', 'calculator=unknown', 'iteration=4', 'Si']},
  'sorted': [r.id for r in db.select(sort='gamma')],
}))`, [ours]);
    expect(r.energy).to.equal(-29.5);
    expect(r.forces0).to.deep.equal([0.01, -0.02, 0.03]);
    expect(r.stress).to.deep.equal([0.1, 0.2, 0.3, 0.04, 0.05, 0.06]);
    expect(r.mask).to.deep.equal([1, 0, 1, 1, 0, 0, 1, 0]);
    expect(r.parent).to.equal('x');
    expect(r.user).to.equal('refuser');
    expect(r.kvp).to.deep.equal({ iteration: 3, source: 'embed', masked: true, gamma: 4.2 });
    expect(r.read).to.equal(1);
    expect(r.read_q).to.equal(1);
    const s = r.selections as Record<string, number[]>;
    for (const q of ['iteration=3', 'source=embed', 'masked', 'masked=True', 'gamma>4', 'Al', 'Al>7', 'natoms=8', 'formula=Al8', 'forces', 'energy', 'pbc=TTT', 'calculator=unknown']) {
      expect(s[q], q).to.deep.equal([1]);
    }
    expect(s['iteration=4']).to.deep.equal([]);
    expect(s.Si).to.deep.equal([]);
    expect(r.sorted).to.deep.equal([1]);
  });

  it('the ase db command lists, shows and counts our rows', () => {
    const list = python(`import sys, runpy; sys.argv = ['ase', 'db', sys.argv[1]]; runpy.run_module('ase', run_name='__main__')`, [ours]);
    expect(list).to.match(/Al8/).and.match(/Rows: 1/);
    const long = python(`import sys, runpy; sys.argv = ['ase', 'db', sys.argv[1], 'id=1', '-l']; runpy.run_module('ase', run_name='__main__')`, [ours]);
    expect(long).to.match(/Data: .*force_mask/);
    const all = python(`import sys, runpy; sys.argv = ['ase', 'db', sys.argv[1], '-L', '0', '-c', '++']; runpy.run_module('ase', run_name='__main__')`, [ours]);
    expect(all).to.match(/gamma/).and.match(/embed/);
    const count = python(`import sys, runpy; sys.argv = ['ase', 'db', sys.argv[1], 'iteration=3', '-n']; runpy.run_module('ase', run_name='__main__')`, [ours]);
    expect(count).to.match(/1 row/);
  });

  it('ASE appends to our file and we read its row back; ids go on', async () => {
    const path = join(dir, 'append.db');
    copyFileSync(ours, path);
    python(`
import sys, ase.db
from ase.build import molecule
db = ase.db.connect(sys.argv[1])
db.write(molecule('H2O'), note='from ase')`, [path]);
    const db = openDatabaseFile(path, { write: true });
    const rows = [...db.select()];
    expect(rows.map((r) => r.id)).to.deep.equal([1, 2]);
    expect(rows[1].kvp).to.deep.equal({ note: 'from ase' });
    expect(Array.from(rows[1].atoms.numbers)).to.deep.equal([8, 1, 1]);
    expect(Array.from(rows[1].atoms.cell).every((x) => x === 0)).to.equal(true);
    const again = db.write(makeAtoms({ numbers: [1], positions: [0, 0, 0] }), { now: NOW });
    expect(again.id).to.equal(3);
  });

  it('reads what ASE writes: NaN values, unaligned arrays of every dtype, column arrays, JSON-text data', async () => {
    const path = join(dir, 'extra.db');
    python(`
import sys, numpy as np, ase.db, sqlite3, json
from ase import Atoms
from ase.constraints import FixAtoms
db = ase.db.connect(sys.argv[1])
a = Atoms('H2', positions=[[0, 0, 0], [0, 0, 0.74]], cell=[3, 3, 3], pbc=[True, True, False])
a.set_tags([1, 2]); a.set_initial_magnetic_moments([0.5, -0.5]); a.set_initial_charges([0.1, 0.2])
a.set_momenta([[1, 2, 3], [4, 5, 6]]); a.set_constraint(FixAtoms([0]))
db.write(a, x=float('nan'), s='café', data={'b': np.array([True, False, True]), 'i64': np.array([1, -2, 3], dtype=np.int64),
  'i32': np.array([7, 8], dtype=np.int32), 'c128': np.array([1 + 2j, 3 - 4j]), 'f32': np.array([0.5], dtype=np.float32),
  'nested': {'list': [1, 2.5, 'a', None, True], 'arr': np.array([9.5])}, 'empty': np.zeros(0), 'scalar0d': np.array(2.5), 1: 'int key'})
db.write(Atoms('Cu'), data={'m': np.array([1.0, 2.0])})
c = sqlite3.connect(sys.argv[1])
c.execute("update systems set data=? where id=2", ('{"m": {"__ndarray__": [[2], "float64", [1.0, 2.0]]}, "y": NaN}',))
c.commit()`, [path]);
    const db = openDatabaseFile(path);
    const [r1, r2] = [...db.select()];
    expect(Number.isNaN(r1.kvp.x as number)).to.equal(true);
    expect(r1.kvp.s).to.equal('café');
    expect(r1.atoms.pbc).to.deep.equal([true, true, false]);
    expect(Array.from(r1.atoms.arrays.tags.values as Float64Array)).to.deep.equal([1, 2]);
    expect(Array.from(r1.atoms.arrays.initial_magmoms.values as Float64Array)).to.deep.equal([0.5, -0.5]);
    expect(Array.from(r1.atoms.arrays.momenta.values as Float64Array)).to.deep.equal([1, 2, 3, 4, 5, 6]);
    const d = r1.data;
    expect(vals(d.b)).to.deep.equal([1, 0, 1]);
    expect(vals(d.i64)).to.deep.equal([1, -2, 3]); // at an unaligned offset
    expect(vals(d.i32)).to.deep.equal([7, 8]);
    expect(vals(d.c128)).to.deep.equal([1, 2, 3, -4]);
    expect(vals(d.f32)).to.deep.equal([0.5]);
    expect((d.nested as Record<string, unknown>).list).to.deep.equal([1, 2.5, 'a', null, true]);
    expect(vals((d.nested as Record<string, NdArray>).arr)).to.deep.equal([9.5]);
    expect((d.empty as NdArray).shape).to.deep.equal([0]);
    expect((d.scalar0d as NdArray).shape).to.deep.equal([]);
    expect(d['1']).to.equal('int key');
    expect(vals(r2.data.m)).to.deep.equal([1, 2]);
    expect(Number.isNaN(r2.data.y as number)).to.equal(true);
  });

  it('refuses files ASE would refuse: not SQLite, not ASE, a newer version, a wrong ending', async () => {
    const bad = join(dir, 'bad.db');
    writeFileSync(bad, 'this is not a database\n'.repeat(200));
    expect(() => openDatabaseFile(bad)).to.throw(/bad\.db: not a readable SQLite database/);
    const notAse = join(dir, 'notase.db');
    python(`import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('create table t (x)'); c.commit()`, [notAse]);
    expect(() => openDatabaseFile(notAse)).to.throw(/not an ASE database/);
    const newer = join(dir, 'newer.db');
    copyFileSync(ours, newer);
    python(`import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("update information set value='10' where name='version'"); c.commit()`, [newer]);
    expect(() => openDatabaseFile(newer)).to.throw(/newer ASE \(database version 10/);
    expect(() => openDatabaseFile(join(dir, 'x.sqlite'))).to.throw(/must end in \.db/);
  });
});

describe('ASE database: our own checks', () => {
  it('merging is idempotent: the same structure twice is one row, with a 32-hex content id', async () => {
    const db = memoryDatabase();
    const a = makeAtoms({ numbers: [13], positions: [0, 0, 0], cell: [3, 0, 0, 0, 3, 0, 0, 0, 3], pbc: [true, true, true], results: { energy: -1 } });
    const first = db.write(a, { now: NOW });
    const second = db.write(makeAtoms({ ...a }), { now: NOW + 10, kvp: { other: 1 } });
    expect(first).to.deep.equal({ id: 1, added: true });
    expect(second).to.deep.equal({ id: 1, added: false });
    expect(db.count()).to.equal(1);
    const changed = db.write(makeAtoms({ ...a, results: { energy: -1.5 } }), { now: NOW });
    expect(changed.added).to.equal(true);
    expect([...db.select()][0].uniqueId).to.match(/^[0-9a-f]{32}$/);
  });

  it('refuses reserved and broken key names and values with the reason', async () => {
    const db = memoryDatabase();
    const a = makeAtoms({ numbers: [1], positions: [0, 0, 0] });
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ energy: 1 }, /'energy' is reserved/], [{ Al: 1 }, /'Al' is reserved/], [{ mass: 1 }, /'mass' is reserved/],
      [{ '1abc': 1 }, /not a valid key/], [{ 'a-b': 1 }, /not a valid key/], [{ s: '3' }, /looks like a number/],
      [{ v: null }, /must be a number, a string or a boolean/], [{ v: Infinity }, /finite/],
    ];
    for (const [kvp, re] of cases) {
      expect(() => db.write(a, { kvp: kvp as never, now: NOW }), JSON.stringify(kvp)).to.throw(DatabaseError, re);
    }
    expect(db.count()).to.equal(0);
  });

  it('per-atom arrays round-trip through data (force_mask back as a per-atom array)', async () => {
    const db = memoryDatabase();
    const a = makeAtoms({
      numbers: [13, 13], positions: [0, 0, 0, 1, 1, 1], cell: [4, 0, 0, 0, 4, 0, 0, 0, 4], pbc: [true, true, true],
      arrays: { force_mask: { kind: 'float', width: 1, values: Float64Array.from([1, 0]) }, id: { kind: 'int', width: 1, values: Float64Array.from([7, 9]) } },
    });
    db.write(a, { now: NOW });
    const back = rowAtomsWithData([...db.select()][0]);
    expect(Array.from(back.arrays.force_mask.values as Float64Array)).to.deep.equal([1, 0]);
    expect(back.arrays.id.kind).to.equal('int');
    expect(Array.from(back.arrays.id.values as Float64Array)).to.deep.equal([7, 9]);
  });
});

/** Values of an ndarray from data, as plain numbers (int64 included). */
function vals(x: unknown): number[] {
  return Array.from((x as NdArray).values as Iterable<number | bigint>, Number);
}

describe('db commands on bad input', function () {
  this.timeout(60000);
  it('an unreadable database: clear message, exit 65, no stack trace, file untouched', () => {
    const dir = tmpDir();
    const bad = join(dir, 'bad.db');
    writeFileSync(bad, 'garbage'.repeat(1000));
    const before = readFileSync(bad);
    const x = join(dir, 'a.extxyz');
    writeFileSync(x, '1\nLattice="3 0 0 0 3 0 0 0 3" Properties=species:S:1:pos:R:3\nAl 0 0 0\n');
    const r = cli(['db', 'add', bad, x]);
    expect(r.status).to.equal(65);
    expect(r.stderr).to.match(/bad\.db: not a readable SQLite database/);
    expect(r.stderr).not.to.match(/\n\s+at /);
    expect(readFileSync(bad).equals(before)).to.equal(true);
    const v = cli(['db', 'ls', bad, '--verbose']);
    expect(v.status).to.equal(65);
    expect(v.stderr).to.match(/\n\s+at /); // the stack trace, only with --verbose
  });
});
