import { expect } from 'chai';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pwRuns } from './support/pw-runs.js';
import { cli, pythonJson, tmpDir, need, runPw } from './support/tools.js';
import { readExtxyz } from '../lib/formats/extxyz.js';

describe('commands (the shapes users\' scripts depend on)', function () {
  this.timeout(300000);
  before(() => pwRuns());

  it('qe parse --json: one object per file with the documented fields; exit 2 when any is not ok', () => {
    const { al, alFail } = pwRuns();
    const r = cli(['qe', 'parse', al, alFail, '--json']);
    expect(r.status).to.equal(2);
    const out = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    expect(out).to.have.length(2);
    expect(Object.keys(out[0])).to.deep.equal(['path', 'status', 'error_class', 'message', 'natoms', 'symbols', 'cell', 'positions', 'energy', 'forces', 'stress', 'scf_iterations']);
    expect(out[0]).to.include({ path: al, status: 'ok', error_class: null, natoms: 4 });
    expect(out[0].symbols).to.deep.equal(['Al', 'Al', 'Al', 'Al']);
    expect((out[0].forces as number[][])[0]).to.have.length(3);
    expect(out[0].stress).to.have.length(6);
    expect(out[1]).to.include({ status: 'scf_not_converged', error_class: 'scf_not_converged', energy: null, forces: null, scf_iterations: 3 });
    const ase = pythonJson<number>('import sys, ase.io; print(ase.io.read(sys.argv[1]).get_potential_energy())', [al]);
    expect(out[0].energy).to.equal(ase);
    expect(cli(['qe', 'parse', al]).status).to.equal(0);
  });

  it('qe parse on a truncated output and on a missing file: status, place, non-zero exit', () => {
    const dir = tmpDir();
    const text = readFileSync(pwRuns().al, 'utf8').split('\n');
    const cut = join(dir, 'cut.out');
    writeFileSync(cut, text.slice(0, 120).join('\n'));
    const r = cli(['qe', 'parse', cut, join(dir, 'missing.out'), '--json']);
    expect(r.status).to.equal(74); // a file that cannot be read is an I/O error, not a failed run
    expect(r.stderr).to.match(/1 of 2 file\(s\) cannot be read: .*missing\.out/);
    const [a, b] = JSON.parse(r.stdout);
    expect(a).to.include({ status: 'incomplete', error_class: 'cut_off' });
    expect(a.message).to.match(/output ends at line 120/);
    expect(b).to.include({ status: 'error', error_class: 'not_pw_output' });
    expect(b.message).to.match(/missing\.out: cannot read \(no such file\)/);
    const text2 = cli(['qe', 'parse', cut]);
    expect(text2.stdout).to.match(/cut\.out:120: incomplete \(cut_off\)/);
  });

  it('db add → ls → export: pw.x outputs and masked extxyz frames, idempotent, skipped inputs reported', () => {
    const dir = tmpDir();
    const db = join(dir, 'labels.db');
    const { al, si, alFail } = pwRuns();
    const x = join(dir, 'masked.extxyz');
    writeFileSync(x, `2
Lattice="5 0 0 0 5 0 0 0 5" Properties=species:S:1:pos:R:3:force_mask:R:1:forces:R:3 energy=-3.5 iteration=1 parent="frame 7" pbc="T T T"
Al 0 0 0 1 0.1 0 0
Al 2.5 2.5 0 0 -0.1 0 0
`);
    const add = cli(['db', 'add', db, al, si, alFail, x, '--kv', 'campaign=test', '--kv', 'iteration=0', '--level', 'none']);
    expect(add.status).to.equal(2);
    expect(add.stderr).not.to.match(/added: /); // one line per file only with --verbose
    expect(add.stderr).to.match(/skipped .*alfail\.out: scf_not_converged at line \d+: convergence NOT achieved/);
    expect(add.stderr).to.match(/3 added, 0 already present, 1 skipped; 3 rows in all/);
    const again = cli(['db', 'add', db, al, x, '--level', 'none']);
    expect(again.status).to.equal(0);
    expect(again.stderr).to.match(/0 added, 2 already present, 0 skipped; 3 rows in all/);
    expect(cli(['db', 'add', db, al, '--level', 'none', '--verbose']).stderr).to.match(/already present: .*al\.out \(id 1\)/);

    const ls = JSON.parse(cli(['db', 'ls', db, '--json']).stdout);
    expect(ls.map((r: { formula: string }) => r.formula)).to.deep.equal(['Al4', 'Si2', 'Al2']);
    expect(ls[2]).to.deep.include({ natoms: 2, energy: -3.5, key_value_pairs: { iteration: 0, parent: 'frame 7', campaign: 'test' } });
    expect(ls[2].data).to.deep.equal(['force_mask', 'source']);
    expect(Object.keys(ls[0])).to.deep.equal(['id', 'formula', 'natoms', 'energy', 'key_value_pairs', 'data']);
    expect(JSON.parse(cli(['db', 'ls', db, 'Si', '--json']).stdout).map((r: { id: number }) => r.id)).to.deep.equal([2]);
    expect(JSON.parse(cli(['db', 'ls', db, 'natoms<3,campaign=test', '--json']).stdout).map((r: { id: number }) => r.id)).to.deep.equal([2, 3]);
    expect(cli(['db', 'ls', db]).stdout).to.match(/\n\s+3\s+Al2\s+2\s+-3\.500000\s+iteration=0 parent=frame 7 campaign=test\s+data: force_mask,source/);

    // ASE agrees: the mask is in data, the info string that is a kvp-able value became a kvp
    const ase = pythonJson<{ mask: number[]; kvp: Record<string, unknown> }>(`
import sys, json, ase.db
r = ase.db.connect(sys.argv[1]).get(id=3)
print(json.dumps({'mask': r.data['force_mask'].tolist(), 'kvp': r.key_value_pairs}))`, [db]);
    expect(ase.mask).to.deep.equal([1, 0]);
    expect(ase.kvp).to.deep.equal({ iteration: 0, parent: 'frame 7', campaign: 'test' });

    const out = join(dir, 'all.extxyz');
    const ex = cli(['db', 'export', db, '-o', out, 'iteration=0']);
    expect(ex.status).to.equal(0);
    const frames = readExtxyz(readFileSync(out, 'utf8'));
    expect(frames).to.have.length(3);
    expect(Array.from(frames[2].arrays.force_mask.values as Float64Array)).to.deep.equal([1, 0]);
    expect(frames[2].info).to.deep.equal({ iteration: 0, parent: 'frame 7', campaign: 'test' });
    expect(frames[0].results.stress).to.have.length(6);
    const aseRead = pythonJson<number[]>('import sys, json, ase.io; print(json.dumps([a.get_potential_energy() for a in ase.io.read(sys.argv[1], index=":")]))', [out]);
    expect(aseRead[2]).to.equal(-3.5);
  });

  it('db add refuses reserved --kv keys before touching anything', () => {
    const dir = tmpDir();
    const db = join(dir, 'new.db');
    const r = cli(['db', 'add', db, pwRuns().al, '--kv', 'energy=1', '--kv', '2x=1']);
    expect(r.status).to.equal(64);
    expect(r.stderr).to.match(/'energy' is reserved by ASE's database/).and.match(/'2x' is not a valid key/);
    expect(existsSync(db)).to.equal(false);
    expect(cli(['db', 'add', join(dir, 'x.sqlite'), pwRuns().al]).stderr).to.match(/must end in \.db/);
  });

  it('convert: pw.x output → extxyz → LAMMPS data; qe input writes inputs pw.x runs', () => {
    need('pw.x');
    const dir = tmpDir();
    const xyz = join(dir, 'si.extxyz');
    expect(cli(['convert', pwRuns().si, '-o', xyz]).status).to.equal(0);
    const data = join(dir, 'si.data');
    const c = cli(['convert', xyz, '-o', data]);
    expect(c.status).to.equal(0);
    expect(c.stderr).to.include('atom types: 1=Si');
    expect(readFileSync(data, 'utf8')).to.match(/2 atoms\n1 atom types/);
    expect(cli(['convert', xyz, '-o', join(dir, 'x.unknown')]).stderr).to.match(/cannot tell the output format/);

    writeFileSync(join(dir, 'autopipe.yaml'), 'dft:\n  pseudopotentials: {Si: Si.pz-vbc.UPF}\n  kspacing: 0.5\n  parameters: {ecutwfc: 12}\n');
    const qi = cli(['qe', 'input', xyz, '-c', join(dir, 'autopipe.yaml'), '-o', join(dir, 'inputs')]);
    expect(qi.status, qi.stderr).to.equal(0);
    copyFileSync(join(dir, 'inputs', 'si.in'), join(dir, 'si.in'));
    // fcc Si primitive cell (a = 5.43 Å): |b| = 2π√3/a = 2.004 1/Å, so 0.5 1/Å gives ceil(4.008) = 5
    expect(readFileSync(join(dir, 'si.in'), 'utf8')).to.match(/K_POINTS automatic\n {2}5 5 5 0 0 0/);
    const pw = runPw(dir, 'si.in', 'si.out');
    expect(pw.status).to.equal(0);
    expect(cli(['qe', 'parse', pw.output]).stdout).to.match(/ok, 2 atoms/);
    writeFileSync(join(dir, 'al.yaml'), 'dft:\n  pseudopotentials: {Al: Al.pz-vbc.UPF}\n');
    const noPp = cli(['qe', 'input', xyz, '-c', join(dir, 'al.yaml'), '-o', join(dir, 'inputs2')]);
    expect(noPp.status).to.equal(78);
    expect(noPp.stderr).to.match(/dft\.pseudopotentials: no pseudopotential for Si/);
  });

  it('bad inputs through the commands: file and place named, non-zero exit, nothing written', () => {
    const dir = tmpDir();
    const dump = join(dir, 'md.dump');
    writeFileSync(dump, 'ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n1\nITEM: BOX BOUNDS pp pp pp\n0 4\n0 4\n0 4\nITEM: ATOMS id type xs ys\n1 1 0 0\n');
    const conv = cli(['convert', dump, '--types', 'Al', '-o', join(dir, 'out.extxyz')]);
    expect(conv.status).to.equal(65);
    expect(conv.stderr).to.match(/md\.dump:9: ITEM: ATOMS has no coordinate columns/);
    expect(existsSync(join(dir, 'out.extxyz'))).to.equal(false);

    const cut = join(dir, 'cut.out');
    writeFileSync(cut, readFileSync(pwRuns().al, 'utf8').split('\n').slice(0, 150).join('\n'));
    const add = cli(['db', 'add', join(dir, 'new.db'), cut]);
    expect(add.status).to.equal(2);
    expect(add.stderr).to.match(/skipped .*cut\.out: incomplete at line (\d+): output ends at line \1 before the SCF finished/);
    expect(existsSync(join(dir, 'new.db'))).to.equal(false);

    const typo = join(dir, 'autopipe.yaml');
    writeFileSync(typo, 'dft:\n  pseudopotentials: {Al: Al.pz-vbc.UPF}\n  paramters: {ecutwfc: 20}\n');
    const qi = cli(['qe', 'input', pwRuns().al, '-c', typo, '-o', join(dir, 'inputs')]);
    expect(qi.status).to.equal(78);
    expect(qi.stderr).to.match(/dft\.paramters \(line 3\): unknown field \(did you mean 'parameters'\?\)/);
    expect(existsSync(join(dir, 'inputs'))).to.equal(false);
  });

  it('unknown commands and options: usage error 64, a pointer to --help', () => {
    const r = cli(['db', 'lst']);
    expect(r.status).to.equal(64);
    expect(r.stderr).to.match(/autopipe --help/);
    expect(cli(['qe', 'parse']).status).to.equal(64);
  });
});
