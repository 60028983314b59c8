import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePwOutput, pwCpuSeconds, pwWallSeconds } from '../lib/formats/espresso-out.js';
import { writePwInput, meshFromSpacing } from '../lib/formats/espresso-in.js';
import { makeAtoms } from '../lib/atoms/atoms.js';
import { pwRuns, AL4, SI2 } from './support/pw-runs.js';
import { pythonJson, relClose, tmpDir, PSEUDO_DIR } from './support/tools.js';

/** ASE 3.22's reading of the same file: the independent judge. */
function aseRead(path: string): { energy: number; forces: number[][]; stress: number[]; positions: number[][]; cell: number[][]; numbers: number[] } {
  return pythonJson(`
import sys, json, ase.io
a = ase.io.read(sys.argv[1], format='espresso-out')
print(json.dumps({'energy': a.get_potential_energy(), 'forces': a.get_forces().tolist(), 'stress': a.get_stress().tolist(),
  'positions': a.positions.tolist(), 'cell': a.cell.array.tolist(), 'numbers': a.numbers.tolist()}))`, [path]);
}

function expectClose(ours: ArrayLike<number>, theirs: number[], what: string): void {
  expect(ours.length, `${what} length`).to.equal(theirs.length);
  for (let i = 0; i < theirs.length; i++) {
    expect(relClose(ours[i], theirs[i]), `${what}[${i}]: ${ours[i]} vs ASE ${theirs[i]}`).to.equal(true);
  }
}

describe('pw.x output (real pw.x runs, ASE 3.22 as judge)', function () {
  this.timeout(300000);
  before(() => pwRuns());

  for (const name of ['al', 'si'] as const) {
    it(`${name}: structure, energy, forces and stress equal ASE's to 1e-9 relative`, () => {
      const path = pwRuns()[name];
      const ours = parsePwOutput(readFileSync(path, 'utf8'));
      expect(ours.status).to.equal('ok');
      expect(ours.errorClass).to.equal(null);
      expect(ours.scfIterations).to.be.a('number').greaterThan(0);
      const ase = aseRead(path);
      expect(Array.from(ours.atoms!.numbers)).to.deep.equal(ase.numbers);
      expectClose(ours.atoms!.cell, ase.cell.flat(), 'cell');
      expectClose(ours.atoms!.positions, ase.positions.flat(), 'positions');
      expect(relClose(ours.energy!, ase.energy)).to.equal(true);
      expectClose(ours.forces!, ase.forces.flat(), 'forces');
      expectClose(ours.stress!, ase.stress, 'stress');
      // the structure pw.x echoes is the one we wrote
      const written = name === 'al' ? AL4 : SI2;
      for (let i = 0; i < written.positions.length; i++) expect(ours.atoms!.positions[i]).to.be.closeTo(written.positions[i], 1e-5);
    });
  }

  for (const name of ['relax', 'vcRelax'] as const) {
    it(`${name}: the energy and forces come with the positions and cell of their own step, as ASE reads them`, () => {
      const path = pwRuns()[name];
      const text = readFileSync(path, 'utf8');
      expect(text.split('\n!').length - 1, 'several ionic steps').to.be.greaterThan(2);
      const ours = parsePwOutput(text);
      expect(ours.status).to.equal('ok');
      const ase = aseRead(path);
      expectClose(ours.atoms!.positions, ase.positions.flat(), 'positions');
      expectClose(ours.atoms!.cell, ase.cell.flat(), 'cell');
      expect(relClose(ours.energy!, ase.energy)).to.equal(true);
      expectClose(ours.forces!, ase.forces.flat(), 'forces');
      expectClose(ours.stress!, ase.stress, 'stress');
      // the atoms moved: the start-up structure would be a wrong label
      const moved = Math.max(...Array.from(ours.atoms!.positions, (x, i) => Math.abs(x - AL4.positions[i])));
      expect(moved).to.be.greaterThan(1e-3);
    });
  }

  it('an output that claims a result it does not hold is corrupt_output with its line, never ok', () => {
    const text = readFileSync(pwRuns().al, 'utf8');
    const lines = text.split('\n');
    const energyLine = lines.findIndex((l) => l.startsWith('!'));
    const forceLine = lines.findIndex((l) => l.includes('force =')) ;
    const stressLine = lines.findIndex((l) => l.includes('total   stress')) + 1;
    const posLine = lines.findIndex((l) => l.includes('tau(')) ;
    const edit = (i: number, f: (l: string) => string) => lines.map((l, k) => (k === i ? f(l) : l)).join('\n');
    const cases: Array<[string, string, number, RegExp]> = [
      ['NaN energy', edit(energyLine, (l) => l.replace(/-?\d+\.\d+ Ry/, 'NaN Ry')), energyLine + 1, /the total energy is not a number/],
      ['overflowed energy', edit(energyLine, (l) => l.replace(/-?\d+\.\d+ Ry/, '************** Ry')), energyLine + 1, /the total energy is not a number/],
      ['NaN force', edit(forceLine, (l) => l.replace(/-?\d+\.\d+\s*$/, 'NaN')), forceLine + 1, /the force on atom 1 is not a number/],
      ['overflowed force', edit(forceLine + 1, (l) => l.replace(/-?\d+\.\d+/, '***********')), forceLine + 2, /the force on atom 2 is not a number/],
      ['overflowed stress', edit(stressLine, (l) => l.replace(/-?\d+\.\d+/, '*********')), stressLine, /the stress tensor holds a value that is not a number/],
      ['a missing force line', lines.filter((_, k) => k !== forceLine + 3).join('\n'), forceLine + 4, /the forces block has 3 of the header's 4 atoms/],
      ['an unknown species', edit(posLine, (l) => l.replace(' Al ', ' Qq ')), posLine + 1, /the species label 'Qq' names no element/],
      ['a header with fewer atoms', text.replace(/number of atoms\/cell\s+=\s+4/, 'number of atoms/cell      =            3'), posLine + 4, /the header says 3 atoms but the positions list goes on/],
    ];
    for (const [what, bad, line, re] of cases) {
      const r = parsePwOutput(bad);
      expect(r.status, what).to.equal('error');
      expect(r.errorClass, what).to.equal('corrupt_output');
      expect(r.message, what).to.match(re);
      expect(r.line, what).to.equal(line);
      expect(r.energy, what).to.equal(undefined);
    }
  });

  it('a real SCF failure is scf_not_converged with pw.x\'s message and line (ASE 3.22 only asserts)', () => {
    const text = readFileSync(pwRuns().alFail, 'utf8');
    const r = parsePwOutput(text);
    expect(r.status).to.equal('scf_not_converged');
    expect(r.errorClass).to.equal('scf_not_converged');
    expect(r.message).to.match(/convergence NOT achieved after\s+3 iterations/);
    expect(text.split('\n')[r.line! - 1]).to.include('convergence NOT achieved');
    expect(r.scfIterations).to.equal(3);
    expect(r.jobDone).to.equal(true); // pw.x 6.7 prints JOB DONE. even so
    expect(r.energy).to.equal(undefined);
    expect(r.atoms!.results.energy).to.equal(undefined);
  });

  it('a pseudopotential pw.x cannot read is an input_error', () => {
    const r = parsePwOutput(readFileSync(pwRuns().badPseudo, 'utf8'));
    expect(r.status).to.equal('error');
    expect(r.errorClass).to.equal('input_error');
    expect(r.message).to.match(/Error in routine \w+/);
  });

  it('an output cut off at any line is incomplete (or not pw.x output), never ok', () => {
    const lines = readFileSync(pwRuns().al, 'utf8').split('\n');
    const jobDone = lines.findIndex((l) => l.includes('JOB DONE.'));
    for (let cut = 0; cut < jobDone; cut += 7) {
      const r = parsePwOutput(lines.slice(0, cut).join('\n'));
      expect(r.status, `cut at line ${cut}`).to.be.oneOf(['incomplete', 'error']);
      if (r.status === 'incomplete') {
        expect(r.errorClass).to.equal('cut_off');
        expect(r.message).to.match(/output ends at line \d+/);
      } else {
        expect(r.errorClass).to.equal('not_pw_output');
      }
    }
  });

  it('pw.x\'s own CPU and wall time from its closing line (literal lines as pw.x 6.7 prints them)', () => {
    expect([pwCpuSeconds('     PWSCF        :     11.87s CPU     16.20s WALL\n'), pwWallSeconds('     PWSCF        :     11.87s CPU     16.20s WALL\n')]).to.deep.equal([11.87, 16.2]);
    expect([pwCpuSeconds('     PWSCF        :   6m41.13s CPU   6m52.36s WALL\n'), pwWallSeconds('     PWSCF        :   6m41.13s CPU   6m52.36s WALL\n')]).to.deep.equal([401.13, 412.36]);
    expect(pwCpuSeconds('     PWSCF        :  1h 2m 3.00s CPU  1h 2m 5.00s WALL\n')).to.equal(3723);
    expect(pwCpuSeconds('     convergence NOT achieved\n')).to.equal(null);
  });

  it('classifies pw.x fatal messages (literal blocks as pw.x prints them)', () => {
    const block = (routine: string, msg: string) => ` Program PWSCF v.6.7MaX starts\n\n %%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%\n     Error in routine ${routine} (1):\n     ${msg}\n %%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%\n\n     stopping ...\n`;
    const cases: Array<[string, string, string]> = [
      ['c_bands', 'too many bands are not converged', 'diagonalization'],
      ['cdiaghg', 'S matrix not positive definite', 'diagonalization'],
      ['cdiaghg', 'problems computing cholesky', 'diagonalization'],
      ['rdiaghg', 'eigenvectors failed to converge', 'diagonalization'],
      ['electrons', 'charge is wrong', 'charge_wrong'],
      ['broyden', 'factorization', 'scf_not_converged'],
      ['read_namelists', 'bad line in namelist &system: "  ecutwfcc = 3" (error could be in the previous line)', 'input_error'],
      ['some_routine', 'something else', 'fatal'],
    ];
    for (const [routine, msg, cls] of cases) {
      const r = parsePwOutput(block(routine, msg));
      expect(r.status).to.equal('error');
      expect(r.errorClass, msg).to.equal(cls);
      expect(r.message).to.include(msg);
    }
    const cpu = parsePwOutput(' Program PWSCF v.6.7MaX starts\n     Maximum CPU time exceeded\n');
    expect(cpu.errorClass).to.equal('walltime');
    expect(parsePwOutput('hello\n').errorClass).to.equal('not_pw_output');
  });
});

describe('pw.x input writer', () => {
  it('k-point mesh from a spacing equals ASE\'s kptdensity2monkhorstpack(density = 1/spacing)', () => {
    const cells = [
      [4.05, 0, 0, 0, 4.05, 0, 0, 0, 4.05],
      [0, 2.715, 2.715, 2.715, 0, 2.715, 2.715, 2.715, 0],
      [5.1, 0, 0, 2.3, 4.4, 0, 1.1, -0.7, 9.3],
    ];
    for (const spacing of [0.15, 0.25, 0.4]) {
      const ase = pythonJson<number[][]>(`
import json, sys
from ase import Atoms
from ase.calculators.calculator import kptdensity2monkhorstpack
cells = json.loads(sys.argv[1])
print(json.dumps([list(map(int, kptdensity2monkhorstpack(Atoms('Al', cell=[c[0:3], c[3:6], c[6:9]], pbc=True), 1 / ${spacing}, even=False))) for c in cells]))`, [JSON.stringify(cells)]);
      cells.forEach((c, i) => expect(meshFromSpacing(Float64Array.from(c), [true, true, true], spacing), `cell ${i} at ${spacing}`).to.deep.equal(ase[i]));
    }
  });

  it('ASE reads the input we write back to the same structure and parameters', () => {
    const dir = tmpDir();
    const text = writePwInput(SI2, {
      parameters: { ecutwfc: 20, mixing_beta: 0.3, occupations: 'smearing', degauss: 0.01, starting_magnetization: { Si: 0.1 }, nosym: true },
      pseudopotentials: { Si: 'Si.pz-vbc.UPF' }, pseudoDir: PSEUDO_DIR, kpoints: { kind: 'spacing', spacing: 0.3 },
    });
    writeFileSync(join(dir, 'si.in'), text);
    const r = pythonJson<{ positions: number[][]; cell: number[][]; system: Record<string, unknown>; electrons: Record<string, unknown> }>(`
import sys, json
from ase.io.espresso import read_espresso_in, read_fortran_namelist
a = read_espresso_in(open(sys.argv[1]))
data, card = read_fortran_namelist(open(sys.argv[1]))
print(json.dumps({'positions': a.positions.tolist(), 'cell': a.cell.array.tolist(), 'system': dict(data['system']), 'electrons': dict(data['electrons'])}))`, [join(dir, 'si.in')]);
    expectClose(SI2.positions, r.positions.flat().map((x) => Math.round(x * 1e10) / 1e10), 'positions');
    expectClose(SI2.cell, r.cell.flat(), 'cell');
    expect(r.system.ecutwfc).to.equal(20);
    expect(r.system['starting_magnetization(1)']).to.equal(0.1);
    expect(r.system.nosym).to.equal(true);
    expect(r.electrons.mixing_beta).to.equal(0.3);
    expect(text).to.match(/K_POINTS automatic\n {2}\d+ \d+ \d+ 0 0 0/);
  });

  it('refuses unknown variables, variables autopipe sets, missing pseudopotentials and empty structures', () => {
    const base = { pseudopotentials: { Al: 'Al.pz-vbc.UPF' }, pseudoDir: PSEUDO_DIR, kpoints: { kind: 'gamma' } as const };
    expect(() => writePwInput(AL4, { ...base, parameters: { ecutwfcc: 3 } })).to.throw(/not a pw.x input variable/);
    expect(() => writePwInput(AL4, { ...base, parameters: { nat: 3 } })).to.throw(/set by autopipe/);
    expect(() => writePwInput(SI2, { ...base, parameters: {} })).to.throw(/no pseudopotential given for Si/);
    expect(() => writePwInput(makeAtoms({ numbers: [], positions: [], cell: [1, 0, 0, 0, 1, 0, 0, 0, 1] }), { ...base, parameters: {} })).to.throw(/no atoms/);
    expect(writePwInput(AL4, { ...base, parameters: { title: "it's" } })).to.include(`title = "it's"`);
    expect(writePwInput(AL4, { ...base, parameters: { title: 'say "hi"' } })).to.include(`title = 'say "hi"'`);
    expect(() => writePwInput(AL4, { ...base, parameters: { title: `it's "both"` } })).to.throw(/title: holds both quote kinds/);
    expect(() => writePwInput(AL4, { ...base, parameters: { title: "a'\n/\n&system nat=1" } })).to.throw(/title: holds a control character/);
    expect(() => writePwInput(AL4, { ...base, parameters: {}, pseudopotentials: { Al: 'Al.UPF\n  Si 28 Si.UPF' } })).to.throw(/pseudopotential file name of Al .* holds a space or a control character/);
  });
});
