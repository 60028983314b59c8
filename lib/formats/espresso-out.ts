/**
 * pw.x output parser: structure, energy, forces, stress, SCF iterations, status and an error
 * class with pw.x's own message. One pass over the lines; no exceptions for failed runs
 * (a failed run is a result, not an error).
 *
 * The structure is the one the reported energy and forces belong to, as ASE's
 * `read_espresso_out` takes it: the last ATOMIC_POSITIONS (and CELL_PARAMETERS) block that pw.x
 * printed before the last `!` energy (a relax, vc-relax or md moves the atoms), else the one it
 * echoes at start-up (celldm(1) × alat units).
 *
 * An output that claims a result it does not hold is `corrupt_output`, never `ok`: a NaN or
 * Fortran overflow (`*****`) in the energy, forces or stress, a header whose atom count does
 * not fit its lists, a species label that is no element, a forces block with atoms missing.
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
 * - corrupt_output: the output claims a result it does not hold (NaN, `*****`, lists that do
 *   not fit the header, a species label that is no element);
 * - not_pw_output: the text is not pw.x output at all.
 */
export type PwErrorClass =
  | 'scf_not_converged' | 'diagonalization' | 'charge_wrong' | 'walltime'
  | 'input_error' | 'fatal' | 'cut_off' | 'corrupt_output' | 'not_pw_output';

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
const INPUT_ROUTINE = /^(read_namelists|read_cards|iosys|readpp|read_pseudo\w*|card_\w+|check_atoms|cell_base_init|input|upf\w*|import_upf|set_occupations|pw_init_qexsd_input|qexsd\w*)$/;

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

/** The line containing index i (without its newline). */
function lineAt(text: string, i: number): string {
  const a = text.lastIndexOf('\n', i - 1) + 1;
  const b = text.indexOf('\n', i);
  return text.slice(a, b < 0 ? text.length : b);
}

/** The k lines after the one containing index i. */
function linesAfter(text: string, i: number, k: number): string[] {
  const out: string[] = [];
  let p = text.indexOf('\n', i);
  for (let n = 0; n < k && p >= 0; n++) {
    const q = text.indexOf('\n', p + 1);
    out.push(text.slice(p + 1, q < 0 ? text.length : q));
    p = q;
  }
  return out;
}

/** 1-based line number of index i (used only to report failures). */
function lineNumberOf(text: string, i: number): number {
  let n = 1;
  for (let p = text.indexOf('\n'); p >= 0 && p < i; p = text.indexOf('\n', p + 1)) n++;
  return n;
}

function count(text: string, marker: string): number {
  let n = 0;
  for (let p = text.indexOf(marker); p >= 0; p = text.indexOf(marker, p + marker.length)) n++;
  return n;
}

/** The output claims something it does not hold; `at` is an index into the text. */
class Corrupt extends Error {
  constructor(message: string, readonly at: number) {
    super(message);
  }
}

/**
 * Parse pw.x output text. Each marker is found with indexOf (native, fast) rather than by
 * testing every line: outputs are mostly k-point and timing tables nobody needs.
 */
export function parsePwOutput(text: string): PwOutput {
  try {
    return parse(text);
  } catch (err) {
    if (!(err instanceof Corrupt)) throw err;
    if (!text.includes('JOB DONE.')) {
      // an unfinished output ends in the middle of a block: it was cut (killed, or still running)
      const lastLine = lastNonEmptyLine(text.split('\n'));
      return { status: 'incomplete', errorClass: 'cut_off', message: `output ends at line ${lastLine} in the middle of a block (killed or still running)`, line: lastLine, scfIterations: null, jobDone: false };
    }
    const line = lineNumberOf(text, err.at);
    return { status: 'error', errorClass: 'corrupt_output', message: err.message, line, scfIterations: null, jobDone: true };
  }
}

function parse(text: string): PwOutput {
  const isPw = text.includes('Program PWSCF');
  const at = (marker: string) => text.indexOf(marker);
  const last = (marker: string) => text.lastIndexOf(marker);

  let celldm: number | undefined;
  let nat: number | undefined;
  let axes: number[] | undefined;
  let numbers: number[] | undefined;
  let positions: number[] | undefined;
  const iCelldm = at('celldm(1)=');
  if (iCelldm >= 0) celldm = parseFloat(text.slice(iCelldm + 10, iCelldm + 40)) * BOHR_ANGSTROM;
  const iNat = at('number of atoms/cell');
  if (iNat >= 0) nat = parseInt(lineAt(text, iNat).trim().split(/\s+/).pop() ?? '', 10);
  const iAxes = at('crystal axes:');
  if (iAxes >= 0 && celldm !== undefined) {
    const rows = linesAfter(text, iAxes, 3);
    if (rows.length === 3) axes = rows.flatMap((r) => r.trim().split(/\s+/).slice(3, 6).map((x) => parseFloat(x) * (celldm as number)));
    if (axes?.length !== 9 || axes.some((x) => Number.isNaN(x))) axes = undefined;
  }
  const iPos = at('positions (alat units)');
  if (iPos >= 0 && celldm !== undefined && nat !== undefined) {
    const parsed = parseStartPositions(text, iPos, nat, celldm);
    if (parsed !== undefined) ({ numbers, positions } = parsed);
  }
  const iEnergy = last('\n!');
  let energy: number | undefined;
  if (iEnergy >= 0) {
    energy = parseFloat(lineAt(text, iEnergy + 1).trim().split(/\s+/).at(-2) ?? '') * RYDBERG_EV;
    if (!Number.isFinite(energy)) throw new Corrupt(`the total energy is not a number (${lineAt(text, iEnergy + 1).trim()})`, iEnergy + 1);
  }
  // a relax, vc-relax or md moves the atoms: the reported energy belongs to the last structure printed before it
  const before = iEnergy >= 0 ? iEnergy : text.length;
  if (positions !== undefined && nat !== undefined && celldm !== undefined && axes !== undefined) {
    const iCell = text.lastIndexOf('\nCELL_PARAMETERS', before);
    if (iCell >= 0) axes = parseCellCard(text, iCell + 1, celldm);
    const iStep = text.lastIndexOf('\nATOMIC_POSITIONS', before);
    if (iStep >= 0) positions = parsePositionsCard(text, iStep + 1, nat, celldm, axes);
  }
  const iForces = iEnergy >= 0 ? text.indexOf('Forces acting on atoms', iEnergy) : -1;
  const forces = iForces >= 0 && nat !== undefined ? parseForces(text, iForces, nat) : undefined;
  const iStress = iEnergy >= 0 ? text.indexOf('total   stress', iEnergy) : -1;
  const stress = iStress >= 0 ? parseStress(text, iStress) : undefined;
  const jobDone = text.lastIndexOf('JOB DONE.') >= 0;
  // A run that printed its final energy and JOB DONE. can only have failed after that energy
  // line: search for failure markers from there, not through the whole output (the hot path).
  const from = energy !== undefined && jobDone ? iEnergy : 0;
  const iError = text.indexOf('Error in routine', from);
  const iNotConverged = text.indexOf('convergence NOT achieved', from);

  let scfIterations: number | null = null;
  const iConverged = last('convergence has been achieved in');
  if (iNotConverged >= 0) {
    const m = /after\s+(\d+)/.exec(lineAt(text, iNotConverged));
    scfIterations = m === null ? null : parseInt(m[1], 10);
  } else if (iConverged >= 0) {
    scfIterations = parseInt(text.slice(iConverged + 32, iConverged + 48), 10);
  } else if (!jobDone) {
    const n = count(text, 'iteration #');
    if (n > 0) scfIterations = n;
  }

  let atoms: Atoms | undefined;
  if (numbers !== undefined && positions !== undefined && axes !== undefined) {
    const converged = energy !== undefined && iNotConverged < 0 && iError < 0;
    atoms = makeAtoms({
      numbers, positions, cell: axes, pbc: [true, true, true],
      results: converged ? { energy, forces, stress } : {},
    });
  }
  const base = { atoms, scfIterations, jobDone };
  if (!isPw) {
    return { ...base, status: 'error', errorClass: 'not_pw_output', message: 'not a pw.x output (no "Program PWSCF" line)', scfIterations: null };
  }
  if (iError >= 0) {
    const m = /Error in routine\s+(\S+)\s*\((-?\d+)\):/.exec(lineAt(text, iError));
    const msg: string[] = [];
    for (const l of linesAfter(text, iError, 20)) {
      if (l.includes('%%%%')) break;
      msg.push(l.trim());
    }
    const routine = m?.[1] ?? '';
    const message = msg.filter((x) => x).join(' ');
    return { ...base, status: 'error', errorClass: classifyError(routine, message), message: `Error in routine ${routine}: ${message}`, line: lineNumberOf(text, iError) };
  }
  if (iNotConverged >= 0) {
    return { ...base, status: 'scf_not_converged', errorClass: 'scf_not_converged', message: lineAt(text, iNotConverged).trim(), line: lineNumberOf(text, iNotConverged) };
  }
  const iCpu = text.indexOf('Maximum CPU time exceeded', from);
  if (iCpu >= 0) {
    return { ...base, status: 'error', errorClass: 'walltime', message: 'Maximum CPU time exceeded (max_seconds)', line: lineNumberOf(text, iCpu) };
  }
  const complete = jobDone && atoms !== undefined && energy !== undefined && (forces !== undefined || iForces < 0);
  if (!complete) {
    const lastLine = lastNonEmptyLine(text.split('\n'));
    const what = atoms === undefined ? 'before the structure was printed'
      : energy === undefined ? 'before the SCF finished' : 'before "JOB DONE."';
    return { ...base, status: 'incomplete', errorClass: 'cut_off', message: `output ends at line ${lastLine} ${what} (killed or still running)`, line: lastLine };
  }
  return { ...base, status: 'ok', errorClass: null, message: '', energy, forces, stress };
}

/** Whitespace-separated fields of a line, without a regex (this runs for every atom). */
function fields(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++;
    const start = i;
    while (i < n && line.charCodeAt(i) !== 32 && line.charCodeAt(i) !== 9) i++;
    if (i > start) out.push(line.slice(start, i));
  }
  return out;
}

/** Index of the start of the line after the one containing index i (text.length at the end). */
function nextLine(text: string, i: number): number {
  const b = text.indexOf('\n', i);
  return b < 0 ? text.length : b + 1;
}

function parseStartPositions(text: string, iHeader: number, nat: number, celldm: number): { numbers: number[]; positions: number[] } | undefined {
  const numbers: number[] = [];
  const positions: number[] = [];
  const z = new Map<string, number>();
  let p = nextLine(text, iHeader);
  for (let k = 0; k < nat; k++, p = nextLine(text, p)) {
    // `    1           Al  tau(   1) = (   0.0024691   0.0049383   0.0000000  )`
    const line = lineAt(text, p);
    const open = line.indexOf('= (');
    const tau = line.indexOf('tau(');
    if (open < 0 || tau < 0) {
      if (k > 0) throw new Corrupt(`the header says ${nat} atoms but the positions list ends after ${k}`, p);
      return undefined;
    }
    const label = fields(line.slice(0, tau)).at(-1) ?? '';
    const xyz = fields(line.slice(open + 3, line.lastIndexOf(')')));
    if (xyz.length !== 3) return undefined;
    let num = z.get(label);
    if (num === undefined) {
      num = labelToNumber(label);
      if (num === undefined || num === 0) throw new Corrupt(`the species label '${label}' names no element`, p);
      z.set(label, num);
    }
    numbers.push(num);
    positions.push(parseFloat(xyz[0]) * celldm, parseFloat(xyz[1]) * celldm, parseFloat(xyz[2]) * celldm);
  }
  if (lineAt(text, p).includes('tau(')) throw new Corrupt(`the header says ${nat} atoms but the positions list goes on`, p);
  return { numbers, positions };
}

/** `CELL_PARAMETERS (angstrom|bohr|alat= X)` and its three rows, in Å. */
function parseCellCard(text: string, iCard: number, celldm: number): number[] {
  const head = lineAt(text, iCard);
  const alat = /alat\s*=\s*([-+\d.eEdD]+)/.exec(head);
  const unit = head.includes('angstrom') ? 1 : head.includes('bohr') ? BOHR_ANGSTROM : alat !== null ? parseFloat(alat[1]) * BOHR_ANGSTROM : celldm;
  const rows = linesAfter(text, iCard, 3).map((r) => fields(r).slice(0, 3).map((x) => parseFloat(x) * unit));
  const cell = rows.flat();
  if (cell.length !== 9) throw new Corrupt('a CELL_PARAMETERS block with fewer than three rows', iCard);
  if (cell.some((x) => !Number.isFinite(x))) throw new Corrupt('a CELL_PARAMETERS block holds a value that is not a number', iCard);
  return cell;
}

/** `ATOMIC_POSITIONS (angstrom|bohr|alat|crystal)` and its nat rows, in Å (Cartesian). */
function parsePositionsCard(text: string, iCard: number, nat: number, celldm: number, cell: readonly number[]): number[] {
  const head = lineAt(text, iCard);
  const out: number[] = [];
  let p = nextLine(text, iCard);
  for (let k = 0; k < nat; k++, p = nextLine(text, p)) {
    const f = fields(lineAt(text, p));
    if (f.length < 4) throw new Corrupt(`an ATOMIC_POSITIONS block with ${k} of the header's ${nat} atoms`, p);
    const [x, y, z] = [parseFloat(f[1]), parseFloat(f[2]), parseFloat(f[3])];
    if (![x, y, z].every(Number.isFinite)) throw new Corrupt(`a position that is not a number (atom ${k + 1})`, p);
    if (head.includes('crystal')) {
      out.push(x * cell[0] + y * cell[3] + z * cell[6], x * cell[1] + y * cell[4] + z * cell[7], x * cell[2] + y * cell[5] + z * cell[8]);
    } else {
      const unit = head.includes('angstrom') ? 1 : head.includes('bohr') ? BOHR_ANGSTROM : celldm;
      out.push(x * unit, y * unit, z * unit);
    }
  }
  const after = fields(lineAt(text, p));
  if (after.length >= 4 && labelToNumber(after[0]) !== undefined && after.slice(1, 4).every((v) => !Number.isNaN(parseFloat(v)))) {
    throw new Corrupt(`the header says ${nat} atoms but an ATOMIC_POSITIONS block goes on`, p);
  }
  return out;
}

/** The forces block after its header at iHeader: nat lines of `atom i type t force = fx fy fz`. */
function parseForces(text: string, iHeader: number, nat: number): Float64Array {
  let p = nextLine(text, iHeader);
  // a blank line, then the forces (before QE 5.3 two more lines sat between, as ASE handles)
  while (p < text.length && lineAt(text, p).trim() === '') p = nextLine(text, p);
  if (!lineAt(text, p).includes('force =')) p = nextLine(text, nextLine(text, p));
  const out = new Float64Array(3 * nat);
  for (let k = 0; k < nat; k++, p = nextLine(text, p)) {
    const line = lineAt(text, p);
    if (!line.includes('force =')) throw new Corrupt(`the forces block has ${k} of the header's ${nat} atoms`, p);
    const f = fields(line.slice(line.indexOf('force =') + 7));
    for (let c = 0; c < 3; c++) {
      const v = parseFloat(f[c] ?? '') * RY_PER_BOHR;
      if (!Number.isFinite(v)) throw new Corrupt(`the force on atom ${k + 1} is not a number (${line.trim()})`, p);
      out[3 * k + c] = v;
    }
  }
  if (lineAt(text, p).includes('force =')) throw new Corrupt(`the header says ${nat} atoms but the forces block goes on`, p);
  return out;
}

/** The 3 rows after the header at iHeader. */
function parseStress(text: string, iHeader: number): Float64Array {
  const rows = linesAfter(text, iHeader, 3).map((r) => fields(r).slice(0, 3).map(parseFloat));
  if (rows.length < 3 || rows.some((r) => r.length < 3 || r.some((x) => !Number.isFinite(x)))) {
    throw new Corrupt('the stress tensor holds a value that is not a number', iHeader);
  }
  // pw.x's sign convention is the opposite of ASE's; Voigt order xx yy zz yz xz xy.
  const voigt = [rows[0][0], rows[1][1], rows[2][2], rows[1][2], rows[0][2], rows[0][1]];
  return Float64Array.from(voigt, (x) => x * -1 * RY_PER_BOHR3);
}

function lastNonEmptyLine(lines: string[]): number {
  for (let i = lines.length - 1; i >= 0; i--) if (lines[i].trim() !== '') return i + 1;
  return 0;
}

/** What a pw.x run says of itself in its header: the facts of its level of theory that its input cannot vouch for. */
export interface PwRunFacts {
  /** "PWSCF v.6.7MaX". */
  code: string | null;
  /** Each species' pseudopotential as pw.x read it: its file's name and pw.x's MD5 of it. */
  pseudopotentials: Record<string, { file: string; md5: string | null }>;
  /** The cutoffs pw.x used, Ry (ecutrho's default is 4 × ecutwfc). */
  ecutwfc: number | null;
  ecutrho: number | null;
  /** pw.x's "Exchange-correlation=" line. */
  xc: string | null;
}

/** The run's facts from the head of a pw.x output (the first occurrence of each; cheap: one pass of indexOf). */
export function readPwRunFacts(text: string): PwRunFacts {
  const head = (marker: string) => { const i = text.indexOf(marker); return i < 0 ? undefined : lineAt(text, i); };
  const code = /Program (PWSCF v\.\S+)/.exec(head('Program PWSCF') ?? '')?.[1] ?? null;
  const num = (marker: string) => { const v = parseFloat((head(marker) ?? '').split('=')[1] ?? ''); return Number.isFinite(v) ? v : null; };
  const xc = /Exchange-correlation\s*=\s*(.*?)\s*(?:\(|$)/.exec(head('Exchange-correlation') ?? '')?.[1]?.replace(/\s+/g, ' ') ?? null;
  const pseudopotentials: PwRunFacts['pseudopotentials'] = {};
  for (let i = text.indexOf('PseudoPot. #'); i >= 0; i = text.indexOf('PseudoPot. #', i + 12)) {
    const species = /PseudoPot\. #\s*\d+ for (\S+)/.exec(lineAt(text, i))?.[1];
    const [file, md5] = linesAfter(text, i, 2).map((l) => l.trim());
    if (species === undefined || file === undefined || pseudopotentials[species] !== undefined) continue;
    pseudopotentials[species] = { file: file.split('/').pop() ?? file, md5: /MD5 check sum:\s*([0-9a-f]{32})/.exec(md5 ?? '')?.[1] ?? null };
  }
  return { code, pseudopotentials, ecutwfc: num('kinetic-energy cutoff'), ecutrho: num('charge density cutoff'), xc };
}

/**
 * pw.x's own wall time (s) from its closing timing line, `     PWSCF        :   1m 2.30s CPU   1m 4.51s WALL`
 * (hours and minutes appear when needed); null when the run did not get that far.
 */
export function pwWallSeconds(text: string): number | null {
  const m = /PWSCF\s+:.*CPU\s+(?:(\d+)h)?\s*(?:(\d+)m)?\s*([\d.]+)s WALL/.exec(text);
  return m === null ? null : 3600 * Number(m[1] ?? 0) + 60 * Number(m[2] ?? 0) + Number(m[3]);
}

/** pw.x's own CPU time (s) from the same line: what a run cost whatever else shared the machine. */
export function pwCpuSeconds(text: string): number | null {
  const m = /PWSCF\s+:\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*([\d.]+)s CPU/.exec(text);
  return m === null ? null : 3600 * Number(m[1] ?? 0) + 60 * Number(m[2] ?? 0) + Number(m[3]);
}
