/**
 * Selections run in SQLite, the way ASE builds them: on one database that ASE wrote, every query
 * below selects the same rows through `autopipe db ls` as through ASE's own `db.select`.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { cli, python, pythonJson, tmpDir } from './support/tools.js';
import { parseSelection, selectionSql, formulaCounts } from '../lib/db/query.js';
import { UsageError } from '../lib/errors/errors.js';

const MIXED_DB = `
import sys, numpy as np, ase.db
from ase.build import bulk, molecule
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms
db = ase.db.connect(sys.argv[1])
def calc(a, e, stress=True):
    a.calc = SinglePointCalculator(a, energy=e, forces=np.full((len(a), 3), 0.01 * len(a)), **({'stress': [0.1, 0.2, 0.3, 0, 0, 0]} if stress else {}))
    return a
for i in range(12):
    a = bulk('Al', 'fcc', a=4.05, cubic=True).repeat((1, 1, 1 + i % 3))
    a.rattle(0.01, seed=i)
    db.write(calc(a, -10.0 * len(a) - i, stress=i % 2 == 0), iteration=i // 4, gamma=0.5 * i, source='embed' if i % 3 else 'md', masked=bool(i % 2), tier=-i)
cu = bulk('Cu', 'fcc', a=3.6) * (2, 1, 1)
db.write(calc(cu, -7.5), iteration=1, source='initial', gamma=9.5)
alcu = bulk('Al', 'fcc', a=4.05, cubic=True)
alcu.symbols[1] = 'Cu'
db.write(calc(alcu, -14.25), iteration=2, source='embed', note='mixed')
h2o = molecule('H2O')
db.write(h2o, source='gas')
si = bulk('Si', 'diamond', a=5.43)
si.pbc = [True, True, False]
si.set_constraint(FixAtoms([0]))
db.write(si, iteration=0)
`;

const QUERIES = [
  '', 'iteration=0', 'iteration=1', 'iteration>0', 'iteration<=1', 'iteration!=2', '0<iteration<2', '1<=iteration<3',
  'gamma>2.5', 'gamma<=1', 'gamma=4.5', 'source=embed', 'source!=embed', 'source=md', 'masked', 'masked=True', 'masked=False', '-masked',
  'note', 'note=mixed', 'tier<-5', 'tier>=-2',
  'Al', 'Cu', 'Al>4', 'Al=4', 'Al<4', 'Cu=0', 'H<2', 'H2O', 'AlCu', 'Si', 'O',
  'formula=Al4', 'formula=Al3Cu', 'formula=H2O', 'formula=Cu2',
  'natoms=4', 'natoms>8', 'natoms<3', 'energy<-50', 'energy>-20', 'energy', 'forces', 'strain', 'calculator', 'calculator=unknown',
  'constraints', 'pbc=TTT', 'pbc=TTF', 'pbc!=TTT', 'id=3', 'id>14', 'id<=2', 'fmax>0.2', 'smax>0.25', 'volume>100', 'mass>100',
  'iteration=0,Al', 'source=embed,gamma>2,Al>4', 'iteration=1,-masked', 'nosuchkey', 'nosuchkey=3', 'age<1h', 'age>1h',
];

describe('db selections in SQLite, judged by ASE 3.22', function () {
  this.timeout(120000);
  let db: string;
  before(() => {
    db = join(tmpDir(), 'mixed.db');
    python(MIXED_DB, [db]);
  });

  it(`${QUERIES.length} queries select the same rows as ASE's db.select`, () => {
    const ase = pythonJson<Record<string, number[]>>(`
import sys, json, ase.db
db = ase.db.connect(sys.argv[1])
print(json.dumps({q: sorted(r.id for r in db.select(q)) for q in json.loads(sys.argv[2])}))`, [db, JSON.stringify(QUERIES)]);
    const differ: string[] = [];
    for (const q of QUERIES) {
      const r = cli(['db', 'ls', db, '--json', ...(q === '' ? [] : ['--', q])]);
      expect(r.status, `${q}: ${r.stderr}`).to.equal(0);
      const ours = (JSON.parse(r.stdout) as Array<{ id: number }>).map((x) => x.id);
      if (JSON.stringify(ours) !== JSON.stringify(ase[q])) differ.push(`${q}: autopipe ${JSON.stringify(ours)}, ASE ${JSON.stringify(ase[q])}`);
    }
    expect(differ).to.deep.equal([]);
    expect(ase['Al'].length, 'the queries select something').to.be.greaterThan(5);
  });

  it('export takes the same selection: rows, energies and key-value pairs as ASE reads them', () => {
    const out = join(tmpDir(), 'sel.extxyz');
    const r = cli(['db', 'export', db, 'source=embed,Al>4', '-o', out]);
    expect(r.status, r.stderr).to.equal(0);
    const back = pythonJson<{ ours: number[]; ase: number[] }>(`
import sys, json, ase.io
ours = ase.io.read(sys.argv[1], ':')
theirs = ase.io.read(sys.argv[2] + '@source=embed,Al>4')
print(json.dumps({'ours': [a.get_potential_energy() for a in ours], 'ase': [a.get_potential_energy() for a in theirs]}))`, [out, db]);
    expect(back.ours).to.deep.equal(back.ase);
    expect(back.ours.length).to.be.greaterThan(2);
  });

  it('a malformed query is a usage error (exit 64) that names the term, never an empty result', () => {
    const bad: Array<[string, RegExp]> = [
      ['natoms<', /query term 'natoms<': no value after '<'/], ['=3', /no key before '='/], ['a=b=c', /more than one '='/],
      ['energy<abc', /energy must be compared with a number/], ['natoms=many', /natoms must be compared with a number/],
      ['foo bar', /not a key, an element or a comparison/], ['pbc=XYZ', /pbc is three letters T or F/], ['pbc>TTT', /pbc takes = or != only/],
      ['Al=two', /an element count must be a whole number/], ['formula<Al4', /formula takes = only/], ['formula=Xy9', /not a chemical formula/],
      ['age<3 fortnights', /not an age such as/], ['a-b=1', /'a-b' is not a key/], ['iteration=1,,source==x', /more than one '='/],
    ];
    for (const [q, re] of bad) {
      const r = cli(['db', 'ls', db, q]);
      expect(r.status, q).to.equal(64);
      expect(r.stderr, q).to.match(re);
      expect(r.stdout, q).to.equal('');
      expect(() => parseSelection(q, 0), q).to.throw(UsageError);
    }
  });

  it('the SQL is ASE\'s statement (pure; arguments bound, never spliced)', () => {
    const s = selectionSql(parseSelection("source=it's; DROP TABLE systems,H<2,gamma>1", 0));
    expect(s.where).to.equal('WHERE systems.id IN (SELECT id FROM text_key_values WHERE key=? AND value=?) AND systems.id NOT IN (SELECT id FROM species WHERE Z=? AND n>=?) AND systems.id IN (SELECT id FROM number_key_values WHERE key=? AND value>?)');
    expect(s.args).to.deep.equal(['source', "it's; DROP TABLE systems", 1, 2, 'gamma', 1]);
    expect([...formulaCounts('Cu(OH)2')!.entries()]).to.deep.equal([[29, 1], [8, 2], [1, 2]]);
    expect(formulaCounts('masked')).to.equal(undefined);
  });
});
