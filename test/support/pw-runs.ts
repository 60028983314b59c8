/**
 * Real pw.x runs shared by the tests (run once per test process): fcc Al (4 atoms, rattled,
 * smearing), Si in its primitive (non-orthogonal) cell, an Al run that fails its SCF for real
 * (electron_maxstep = 3), and two that pw.x rejects (a missing pseudopotential file, two atoms on
 * one site: autopipe itself refuses to write that input, so the test edits it in).

 * In a whole pipeline, a structure pw.x rejects for real is MISSING_PSEUDO_SI: Si, with a
 * project whose Si pseudopotential (MISSING_PSEUDO) does not exist.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeAtoms, type Atoms } from '../../lib/atoms/atoms.js';
import { writePwInput, type PwInputOptions } from '../../lib/formats/espresso-in.js';
import { runPw, tmpDir, PSEUDO_DIR } from './tools.js';

export const AL4 = makeAtoms({
  numbers: [13, 13, 13, 13],
  positions: [0.01, 0.02, 0, 2.025, 2.025, 0.03, 2.025, 0, 2.025, 0, 2.025, 2.0],
  cell: [4.05, 0, 0, 0, 4.05, 0, 0, 0, 4.05],
  pbc: [true, true, true],
});

export const SI2 = makeAtoms({
  numbers: [14, 14],
  positions: [0, 0, 0, 1.3775, 1.3575, 1.3675],
  cell: [0, 2.715, 2.715, 2.715, 0, 2.715, 2.715, 2.715, 0],
  pbc: [true, true, true],
});

/** The Si pseudopotential of a project in which Si structures fail in pw.x's readpp (an input error). */
export const MISSING_PSEUDO = 'Si.does-not-exist.UPF';

const PP = { Al: 'Al.pz-vbc.UPF', Si: 'Si.pz-vbc.UPF' };
const SMEAR = { ecutwfc: 15, occupations: 'smearing', smearing: 'mv', degauss: 0.02 };

export interface PwRuns { dir: string; al: string; si: string; alFail: string; badPseudo: string; overlap: string; relax: string; vcRelax: string }

/** The scf input turned into a relax or vc-relax (autopipe itself writes only scf inputs). */
function asRelax(calculation: 'relax' | 'vc-relax') {
  return (text: string) => text.replace("calculation = 'scf'", `calculation = '${calculation}'`)
    .replace('ATOMIC_SPECIES', `&IONS\n/\n${calculation === 'vc-relax' ? '&CELL\n/\n' : ''}ATOMIC_SPECIES`);
}

let runs: PwRuns | undefined;

function run(dir: string, name: string, atoms: Atoms, opts: Partial<PwInputOptions>, edit = (text: string) => text): string {
  const text = writePwInput(atoms, { parameters: SMEAR, pseudopotentials: PP, pseudoDir: PSEUDO_DIR, kpoints: { kind: 'mesh', mesh: [2, 2, 2] }, prefix: name, ...opts });
  writeFileSync(join(dir, `${name}.in`), edit(text));
  return runPw(dir, `${name}.in`, `${name}.out`).output;
}

export function pwRuns(): PwRuns {
  if (runs !== undefined) return runs;
  const dir = tmpDir('autopipe-pw-');
  runs = {
    dir,
    al: run(dir, 'al', AL4, {}),
    si: run(dir, 'si', SI2, { parameters: { ecutwfc: 12 }, kpoints: { kind: 'mesh', mesh: [2, 2, 2] } }),
    alFail: run(dir, 'alfail', AL4, { parameters: { ...SMEAR, electron_maxstep: 3 } }),
    badPseudo: run(dir, 'badpp', AL4, { pseudopotentials: { Al: 'Al.does-not-exist.UPF' } }),
    // the second atom moved onto the first: pw.x's check_atoms rejects the input
    relax: run(dir, 'relax', AL4, {}, asRelax('relax')),
    // a strained cell, four steps (it stops there, unconverged: the last step is still a label)
    vcRelax: run(dir, 'vcrelax', makeAtoms({ ...AL4, cell: [4.1, 0, 0, 0, 4.0, 0, 0, 0, 4.05] }), { parameters: { ...SMEAR, nstep: 4 } }, asRelax('vc-relax')),
    overlap: run(dir, 'overlap', AL4, {}, (text) => {
      const lines = text.split('\n');
      const at = lines.indexOf('ATOMIC_POSITIONS angstrom');
      lines[at + 2] = lines[at + 1];
      return lines.join('\n');
    }),
  };
  return runs;
}
