/**
 * pw.x output parser: structure, energy, forces, stress, SCF iterations, status and an error
 * class with pw.x's own message. One pass over the lines; no exceptions for failed runs
 * (a failed run is a result, not an error).
 *
 * The structure is the one pw.x echoes at start-up (celldm(1) × alat units), exactly as ASE's
 * `read_espresso_out` reads it, so the two agree to rounding.
 */
import { makeAtoms, type Atoms } from '../atoms/atoms.js';
import { atomicNumber } from '../atoms/elements.js';
import { BOHR_ANGSTROM, RYDBERG_EV, RY_PER_BOHR, RY_PER_BOHR3 } from '../units/units.js';

export type PwStatus = 'ok' | 'scf_not_converged' | 'error' | 'incomplete';

/**
 * Why a run did not give a result, as far as its output tells:
 * - scf_not_converged: `convergence NOT achieved` (or a broyden mixing failure);
 * - diagonalization: cholesky, S matrix, eigenvectors, too many bands not converged;
 * - charge_wrong: `charge is wrong`;
 * - walltime: `Maximum CPU time exceeded` (pw.x's own max_seconds);
 * - input_error: pw.x rejected its input (not worth retrying);
 * - fatal: any other `Error in routine`;
 * - cut_off: the output stops before `JOB DONE.` with no error (killed: walltime, memory, node);
 * - not_pw_output: the text is not pw.x output at all.
 */
export type PwErrorClass =
  | 'scf_not_converged' | 'diagonalization' | 'charge_wrong' | 'walltime'
  | 'input_error' | 'fatal' | 'cut_off' | 'not_pw_output';

export interface PwOutput {
  status: PwStatus;
  errorClass: PwErrorClass | null;
  /** pw.x's message for a failure, or where the output was cut; empty when ok. */
  message: string;
  /** 1-based line the failure was found at (or the last line, for a cut-off run). */
  line?: number;
  /** The structure, with results when the run converged. Absent if the header was cut. */
  atoms?: Atoms;
  energy?: number;
  forces?: Float64Array;
  stress?: Float64Array;
  scfIterations: number | null;
  jobDone: boolean;
}

const DIAG_MESSAGES = [
  'too many bands are not converged', 'S matrix not positive definite', 'problems computing cholesky',
  'eigenvectors failed to converge', 'cdiaghg', 'rdiaghg', 'diagonaliz',
];
/** Routines that read or check pw.x's input: an error there is the input's fault. */
const INPUT_ROUTINE = /^(read_namelists|read_cards|iosys|readpp|read_pseudo\w*|card_\w+|cell_base_init|input|upf\w*|import_upf|set_occupations|pw_init_qexsd_input|qexsd\w*)$/;

function classifyError(routine: string, message: string): PwErrorClass {
  if (DIAG_MESSAGES.some((m) => message.includes(m) || routine.includes(m))) return 'diagonalization';
  if (message.includes('charge is wrong')) return 'charge_wrong';
  if (routine === 'broyden' || routine === 'mix_rho') return 'scf_not_converged';
  if (INPUT_ROUTINE.test(routine)) return 'input_error';
  return 'fatal';
}

function labelToNumber(label: string): number | undefined {
  // Species labels may carry suffixes (Fe1, Fe_up): the symbol is the leading letters.
  const m = /^([A-Za-z])([a-z]?)/.exec(label);
  if (m === null) return undefined;
  const one = m[1].toUpperCase();
  return atomicNumber(one + m[2]) ?? atomicNumber(one);
}

export function parsePwOutput(text: string): PwOutput {
  const lines = text.split('\n');
  let isPw = false;
  let celldm: number | undefined;
  let nat: number | undefined;
  let axes: number[] | undefined;
  let numbers: number[] | undefined;
  let positions: number[] | undefined;
  let energy: number | undefined;
  let forces: Float64Array | undefined;
  let stress: Float64Array | undefined;
  let scfIterations: number | null = null;
  let iterationLines = 0;
  let notConverged: { line: number; message: string } | undefined;
  let error: { line: number; routine: string; message: string } | undefined;
  let cpuLimit: number | undefined;
  let jobDone = false;

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (!isPw && line.includes('Program PWSCF')) isPw = true;
    else if (celldm === undefined && line.includes('celldm(1)=')) {
      celldm = parseFloat(line.trim().split(/\s+/)[1]) * BOHR_ANGSTROM;
    } else if (line.includes('number of atoms/cell')) {
      nat = parseInt(line.trim().split(/\s+/).pop() ?? '', 10);
    } else if (axes === undefined && line.includes('crystal axes:') && celldm !== undefined) {
      axes = [];
      for (let r = 1; r <= 3; r++) {
        const f = (lines[i + r] ?? '').trim().split(/\s+/).slice(3, 6).map(parseFloat);
        for (const x of f) axes.push(x * celldm);
      }
    } else if (positions === undefined && line.includes('positions (alat units)') && celldm !== undefined && nat !== undefined) {
      const parsed = parseStartPositions(lines, i + 1, nat, celldm);
      if (parsed !== undefined) ({ numbers, positions } = parsed);
    } else if (line.startsWith('!')) {
      energy = parseFloat(line.trim().split(/\s+/).at(-2) ?? '') * RYDBERG_EV;
    } else if (line.includes('iteration #')) {
      iterationLines++;
    } else if (line.includes('convergence has been achieved in')) {
      scfIterations = parseInt(line.split('in')[1], 10);
    } else if (line.includes('convergence NOT achieved')) {
      const m = /after\s+(\d+)/.exec(line);
      scfIterations = m === null ? null : parseInt(m[1], 10);
      notConverged = { line: i + 1, message: line.trim() };
    } else if (line.includes('Forces acting on atoms') && nat !== undefined) {
      forces = parseForces(lines, i, nat);
    } else if (line.includes('total   stress')) {
      stress = parseStress(lines, i);
    } else if (line.includes('Error in routine')) {
      const m = /Error in routine\s+(\S+)\s*\((-?\d+)\):/.exec(line);
      const msg: string[] = [];
      for (let j = i + 1; j < lines.length && !lines[j].includes('%%%%'); j++) msg.push(lines[j].trim());
      error ??= { line: i + 1, routine: m?.[1] ?? '', message: msg.filter((s) => s).join(' ') };
    } else if (line.includes('Maximum CPU time exceeded')) {
      cpuLimit = i + 1;
    } else if (line.includes('JOB DONE.')) {
      jobDone = true;
    }
  }
  if (scfIterations === null && iterationLines > 0 && !jobDone) scfIterations = iterationLines;

  let atoms: Atoms | undefined;
  if (numbers !== undefined && positions !== undefined && axes !== undefined) {
    const converged = energy !== undefined && notConverged === undefined && error === undefined;
    atoms = makeAtoms({
      numbers, positions, cell: axes, pbc: [true, true, true],
      results: converged ? { energy, forces, stress } : {},
    });
  }
  const base = { atoms, scfIterations, jobDone };
  if (!isPw) {
    return { ...base, status: 'error', errorClass: 'not_pw_output', message: 'not a pw.x output (no "Program PWSCF" line)', scfIterations: null };
  }
  if (error !== undefined) {
    const errorClass = classifyError(error.routine, error.message);
    return { ...base, status: 'error', errorClass, message: `Error in routine ${error.routine}: ${error.message}`, line: error.line };
  }
  if (notConverged !== undefined) {
    return { ...base, status: 'scf_not_converged', errorClass: 'scf_not_converged', message: notConverged.message, line: notConverged.line };
  }
  if (cpuLimit !== undefined) {
    return { ...base, status: 'error', errorClass: 'walltime', message: 'Maximum CPU time exceeded (max_seconds)', line: cpuLimit };
  }
  const complete = jobDone && atoms !== undefined && energy !== undefined && (forces !== undefined || !text.includes('Forces acting'));
  if (!complete) {
    const last = lastNonEmptyLine(lines);
    const what = atoms === undefined ? 'before the structure was printed'
      : energy === undefined ? 'before the SCF finished' : 'before "JOB DONE."';
    return { ...base, status: 'incomplete', errorClass: 'cut_off', message: `output ends at line ${last} ${what} (killed or still running)`, line: last };
  }
  return { ...base, status: 'ok', errorClass: null, message: '', energy, forces, stress };
}

function parseStartPositions(lines: string[], start: number, nat: number, celldm: number): { numbers: number[]; positions: number[] } | undefined {
  const numbers: number[] = [];
  const positions: number[] = [];
  const pat = /^\s*\d+\s*(\S+)\s*tau\(\s*\d+\)\s*=\s*\(\s*(\S+)\s+(\S+)\s+(\S+)\s*\)/;
  for (let k = 0; k < nat; k++) {
    const m = pat.exec(lines[start + k] ?? '');
    if (m === null) return undefined;
    numbers.push(labelToNumber(m[1]) ?? 0);
    positions.push(parseFloat(m[2]) * celldm, parseFloat(m[3]) * celldm, parseFloat(m[4]) * celldm);
  }
  return { numbers, positions };
}

function parseForces(lines: string[], at: number, nat: number): Float64Array | undefined {
  // Before QE 5.3 two extra lines sat between the header and the forces (as ASE handles).
  const first = (lines[at + 2] ?? '').trim() === '' ? at + 4 : at + 2;
  const out = new Float64Array(3 * nat);
  for (let k = 0; k < nat; k++) {
    const line = lines[first + k] ?? '';
    if (!line.includes('force =')) return undefined;
    const f = line.trim().split(/\s+/);
    for (let c = 0; c < 3; c++) out[3 * k + c] = parseFloat(f[f.length - 3 + c]) * RY_PER_BOHR;
  }
  return out;
}

function parseStress(lines: string[], at: number): Float64Array | undefined {
  const rows = [1, 2, 3].map((r) => (lines[at + r] ?? '').trim().split(/\s+/).slice(0, 3).map(parseFloat));
  if (rows.some((r) => r.length < 3 || r.some((x) => Number.isNaN(x)))) return undefined;
  // pw.x's sign convention is the opposite of ASE's; Voigt order xx yy zz yz xz xy.
  const voigt = [rows[0][0], rows[1][1], rows[2][2], rows[1][2], rows[0][2], rows[0][1]];
  return Float64Array.from(voigt, (s) => s * -1 * RY_PER_BOHR3);
}

function lastNonEmptyLine(lines: string[]): number {
  for (let i = lines.length - 1; i >= 0; i--) if (lines[i].trim() !== '') return i + 1;
  return 0;
}
