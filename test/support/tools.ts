/**
 * Running the real components from tests. A component that is missing is a failure with a
 * message saying how to get it, never a skip (CI=true or not).
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const PYTHON = '/usr/bin/python3';
export const PSEUDO_DIR = '/usr/share/espresso/pseudo';

export function tmpDir(prefix = 'autopipe-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function need(binary: string): string {
  const r = spawnSync('sh', ['-c', `command -v "${binary}"`], { encoding: 'utf8' });
  const path = r.stdout.trim();
  if (r.status !== 0 || path === '' || !existsSync(path)) {
    throw new Error(`${binary} is needed by this test and is not installed: run scripts/install-deps.sh as root (LAMMPS: scripts/install-lammps.sh)`);
  }
  return path;
}

function check(r: SpawnSyncReturns<string>, what: string): string {
  if (r.error !== undefined) throw r.error;
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}):\n${r.stderr}\n${r.stdout}`.slice(0, 4000));
  return r.stdout;
}

/** Run a Python snippet under `interpreter`; `args` become sys.argv[1:]. Returns stdout. */
export function pythonUnder(interpreter: string, code: string, args: string[] = []): string {
  need(interpreter);
  return check(spawnSync(interpreter, ['-c', code, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 }), `${interpreter} -c`);
}

/** Run a Python snippet under Debian's ASE; `args` become sys.argv[1:]. Returns stdout. */
export function python(code: string, args: string[] = []): string {
  return pythonUnder(PYTHON, code, args);
}

export function pythonJson<T = unknown>(code: string, args: string[] = []): T {
  return JSON.parse(python(code, args)) as T;
}

/** The venv's Python (scripts/install-venv.sh): today's ASE, pandas and pacemaker. */
export const VENV_PYTHON = join(process.env.AUTOPIPE_VENV ?? '/opt/autopipe/venv', 'bin', 'python');

/** The ASE version an interpreter imports (a missing one fails the test that asks, with what to do). */
function aseVersion(interpreter: string): string {
  const r = spawnSync(interpreter, ['-c', 'import ase; print(ase.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'missing: run scripts/install-deps.sh as root';
}

/**
 * Both ASEs our users have, as judges of what we write: Debian's (3.22) and the venv's (today's
 * from the package registry). `run` executes a snippet under that one.
 */
export const ASE_JUDGES = [PYTHON, VENV_PYTHON].map((interpreter) => ({
  label: `${interpreter === PYTHON ? "Debian's" : "the venv's"} ASE ${aseVersion(interpreter)} (${interpreter})`,
  run: (code: string, args: string[] = []) => pythonUnder(interpreter, code, args),
}));

export interface CliResult { status: number; stdout: string; stderr: string }

/** Run the real `autopipe` entry point in a child process. */
export function cli(args: string[], opts: { cwd?: string; input?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), ...args], {
    cwd: opts.cwd ?? ROOT, encoding: 'utf8', input: opts.input, maxBuffer: 1 << 28,
  });
  if (r.error !== undefined) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Run pw.x on an input file in its folder; returns the output path. Fails the test if pw.x is missing. */
export function runPw(dir: string, input: string, output: string): { status: number; output: string } {
  need('pw.x');
  const r = spawnSync('sh', ['-c', `cd "$1" && OMP_NUM_THREADS=1 pw.x -in "$2" > "$3" 2> "$3.err"`, 'sh', dir, input, output], { encoding: 'utf8' });
  if (r.error !== undefined) throw r.error;
  return { status: r.status ?? -1, output: join(dir, output) };
}

/** The LAMMPS with ML-PACE, MANYBODY and MPI that scripts/install-lammps.sh builds. */
export const LMP = join(process.env.AUTOPIPE_LAMMPS ?? '/opt/autopipe/lammps', 'bin', 'lmp');

export function runLmp(dir: string, input: string): string {
  need(LMP);
  return check(spawnSync(LMP, ['-in', input, '-log', 'log.lammps', '-screen', 'none'], { cwd: dir, encoding: 'utf8' }), 'lmp');
}

export function relClose(a: number, b: number, rel = 1e-9, abs = 1e-12): boolean {
  return Math.abs(a - b) <= Math.max(abs, rel * Math.max(Math.abs(a), Math.abs(b)));
}
