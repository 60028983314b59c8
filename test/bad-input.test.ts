/**
 * Bad input, as a careless or a hostile user gives it: each case runs the real command in a
 * folder of its own and expects its exit code, a message that says what and where, no stack
 * trace, and not a byte written or changed in that folder (every file's content and mode is
 * compared before and after).
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeAtoms, type Atoms } from '../lib/atoms/atoms.js';
import { writeExtxyz } from '../lib/formats/extxyz.js';
import { pwRuns, AL4 } from './support/pw-runs.js';
import { labelledFrames } from './support/frames.js';
import { python, tmpDir, ROOT } from './support/tools.js';

interface Case {
  name: string;
  /** Files of the case's folder: text, or a function of the fixtures. */
  files?: Record<string, string | Buffer | ((f: Fixtures) => string | Buffer)>;
  setup?: (dir: string, f: Fixtures) => void;
  args: string[];
  exit: number;
  message: RegExp;
  env?: Record<string, string>;
}

interface Fixtures { alOut: string; aseDb: Buffer; bigDump: string }

const CONFIG = 'dft:\n  pseudopotentials: {Al: Al.pz-vbc.UPF}\n  parameters: {ecutwfc: 12}\n';
const frame = (a: Partial<Parameters<typeof makeAtoms>[0]> = {}): Atoms => makeAtoms({ ...AL4, ...a } as Parameters<typeof makeAtoms>[0]);
const xyz = (...atoms: Atoms[]) => writeExtxyz(atoms);
const FIVE_MB = 'x'.repeat(5 << 20);

/** A real pw.x output with one line changed. */
function edited(f: Fixtures, change: (lines: string[]) => string[]): string {
  return change(f.alOut.split('\n')).join('\n');
}
const lineWith = (lines: string[], s: string) => lines.findIndex((l) => l.includes(s));
const replaceAt = (lines: string[], i: number, fn: (l: string) => string) => lines.map((l, k) => (k === i ? fn(l) : l));

/** A config with one field added or replaced (YAML text appended to the base). */
const config = (extra: string) => ({ 'autopipe.yaml': CONFIG + extra });
// labelling is what these cases are about: a campaign that stops after it is not asked what a fit needs
const withStructures = (atoms: Atoms[], extra = '') => ({ 'autopipe.yaml': `iterations: {stop_after: label}\nstructures: s.extxyz\n${CONFIG}${extra}`, 's.extxyz': xyz(...atoms) });
const dump = (box: string, atoms = '1 1 0 0 0\n2 1 2 2 2\n') => `ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n${atoms.trim().split('\n').length}\nITEM: BOX BOUNDS pp pp pp\n${box}\nITEM: ATOMS id type x y z\n${atoms}`;

const CASES: Case[] = [
  // ── 1. the database ──────────────────────────────────────────────────────────────────────────
  { name: 'db add to a damaged database', files: { 'x.db': (f) => damaged(f.aseDb), 'a.extxyz': xyz(frame()) }, args: ['db', 'add', 'x.db', 'a.extxyz'], exit: 65, message: /x\.db: the database is damaged/ },
  { name: 'db ls of a damaged database', files: { 'x.db': (f) => damaged(f.aseDb) }, args: ['db', 'ls', 'x.db'], exit: 65, message: /x\.db: the database is damaged/ },
  { name: 'db export of a damaged database', files: { 'x.db': (f) => damaged(f.aseDb) }, args: ['db', 'export', 'x.db', '-o', 'out.extxyz'], exit: 65, message: /x\.db: the database is damaged/ },
  { name: 'db check of a damaged database', files: { 'x.db': (f) => damaged(f.aseDb) }, args: ['db', 'check', 'x.db'], exit: 65, message: /x\.db: the database is damaged/ },
  { name: 'db add to a file that is not SQLite', files: { 'x.db': 'hello '.repeat(1000), 'a.extxyz': xyz(frame()) }, args: ['db', 'add', 'x.db', 'a.extxyz'], exit: 65, message: /x\.db: not a readable SQLite database/ },
  { name: 'db ls of SQLite that is not ASE', setup: (d) => python('import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("create table t (x)"); c.commit()', [join(d, 'x.db')]), args: ['db', 'ls', 'x.db'], exit: 65, message: /not an ASE database/ },
  { name: 'db add to a database of a newer ASE', files: { 'x.db': (f) => f.aseDb, 'a.extxyz': xyz(frame()) }, setup: (d) => python('import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("update information set value=\'10\' where name=\'version\'"); c.commit()', [join(d, 'x.db')]), args: ['db', 'add', 'x.db', 'a.extxyz'], exit: 65, message: /written by a newer ASE \(database version 10/ },
  { name: 'db add to a name without .db', files: { 'a.extxyz': xyz(frame()) }, args: ['db', 'add', 'x.sqlite', 'a.extxyz'], exit: 65, message: /x\.sqlite: an ASE database file must end in \.db/ },
  { name: 'db ls of a missing database', args: ['db', 'ls', 'nope.db'], exit: 74, message: /nope\.db: no such database/ },
  { name: 'db ls of a folder', setup: (d) => mkdirSync(join(d, 'dir.db')), args: ['db', 'ls', 'dir.db'], exit: 74, message: /dir\.db: is a folder/ },
  { name: 'db ls of an empty file', files: { 'e.db': '' }, args: ['db', 'ls', 'e.db'], exit: 65, message: /e\.db: the file is empty/ },
  { name: 'db add through a dangling link', files: { 'a.extxyz': xyz(frame()) }, setup: (d) => symlinkSync(join(d, 'gone.db'), join(d, 'l.db')), args: ['db', 'add', 'l.db', 'a.extxyz'], exit: 74, message: /l\.db: a symbolic link to a file that does not exist/ },
  { name: 'db export into a missing folder', files: { 'x.db': (f) => f.aseDb }, args: ['db', 'export', 'x.db', '-o', 'no/such/out.extxyz'], exit: 74, message: /cannot write no\/such\/out\.extxyz/ },
  { name: 'AUTOPIPE_DB_TIMEOUT not a number', files: { 'x.db': (f) => f.aseDb }, env: { AUTOPIPE_DB_TIMEOUT: 'soon' }, args: ['db', 'ls', 'x.db'], exit: 64, message: /AUTOPIPE_DB_TIMEOUT=soon: give the seconds/ },
  { name: 'AUTOPIPE_DB_TIMEOUT negative', files: { 'x.db': (f) => f.aseDb }, env: { AUTOPIPE_DB_TIMEOUT: '-1' }, args: ['db', 'ls', 'x.db'], exit: 64, message: /AUTOPIPE_DB_TIMEOUT=-1/ },
  ...(['natoms<', '=3', 'a=b=c', 'energy<abc', 'foo bar', 'pbc=XYZ', 'Al=two', 'formula=Xy9', 'age<3 fortnights', 'a-b=1'] as const).map((q): Case => ({
    name: `db ls with the malformed query ${q}`, files: { 'x.db': (f) => f.aseDb }, args: ['db', 'ls', 'x.db', q], exit: 64, message: /query term '/,
  })),
  { name: 'db export with a malformed query', files: { 'x.db': (f) => f.aseDb }, args: ['db', 'export', 'x.db', 'natoms<<3', '-o', 'o.extxyz'], exit: 64, message: /query term 'natoms<<3'/ },
  { name: 'db add --kv with a reserved key', files: { 'a.extxyz': xyz(frame()) }, args: ['db', 'add', 'x.db', 'a.extxyz', '--kv', 'energy=1'], exit: 64, message: /'energy' is reserved/ },
  { name: 'db add --kv with a bad key', files: { 'a.extxyz': xyz(frame()) }, args: ['db', 'add', 'x.db', 'a.extxyz', '--kv', 'a-b=1'], exit: 64, message: /'a-b' is not a valid key/ },
  { name: 'db add --kv without =', files: { 'a.extxyz': xyz(frame()) }, args: ['db', 'add', 'x.db', 'a.extxyz', '--kv', 'iteration'], exit: 64, message: /'iteration' is not key=value/ },
  { name: 'db add --kv with a 100 kB key', files: { 'a.extxyz': xyz(frame()) }, args: ['db', 'add', 'x.db', 'a.extxyz', '--kv', `${'k'.repeat(100000)}-=1`], exit: 64, message: /is not a valid key/ },

  // ── 2. values that reach a job script or a pw.x input ─────────────────────────────────────────
  { name: 'resources.extra with a newline and a command', files: config('  resources: {extra: ["--qos=normal\\ntouch /tmp/pwned\\n#"]}\n'), args: ['config', 'check'], exit: 78, message: /dft\.resources\.extra\.0 \(line 4\): holds a newline/ },
  { name: 'resources.extra that is no sbatch option', files: config('  resources: {extra: ["qos=normal"]}\n'), args: ['config', 'check'], exit: 78, message: /dft\.resources\.extra\.0 \(line 4\): 'qos=normal' does not have the expected form \(an sbatch option: --name or --name=value\)/ },
  { name: 'resources.extra with a short option', files: config('  resources: {extra: ["-q normal"]}\n'), args: ['config', 'check'], exit: 78, message: /dft\.resources\.extra\.0 .*an sbatch option/ },
  { name: 'partition with a newline', files: config('  resources: {partition: "debug\\n#SBATCH --wrap=id"}\n'), args: ['config', 'check'], exit: 78, message: /dft\.resources\.partition \(line 4\): holds a newline/ },
  { name: 'account with a newline', files: config('  resources: {account: "me\\r\\n#SBATCH --x"}\n'), args: ['config', 'check'], exit: 78, message: /dft\.resources\.account \(line 4\): holds a carriage return/ },
  { name: 'partition with a space', files: config('  resources: {partition: "two words"}\n'), args: ['config', 'check'], exit: 78, message: /dft\.resources\.partition .*a SLURM name/ },
  { name: 'account with a quote', files: config(`  resources: {account: "it's"}\n`), args: ['config', 'check'], exit: 78, message: /dft\.resources\.account .*a SLURM name/ },
  { name: 'mem with a newline', files: config('  resources: {mem: "4G\\n#SBATCH --x"}\n'), args: ['config', 'check'], exit: 78, message: /dft\.resources\.mem \(line 4\): holds a newline/ },
  { name: 'time with a newline', files: config('  resources: {time: "01:00:00\\n#SBATCH --x"}\n'), args: ['config', 'check'], exit: 78, message: /dft\.resources\.time \(line 4\): holds a newline/ },
  { name: 'training partition with a newline', files: config('train:\n  resources: {partition: "a\\nb"}\n'), args: ['config', 'check'], exit: 78, message: /train\.resources\.partition \(line 5\): holds a newline/ },
  { name: 'exploration account with a tab', files: config('explore:\n  resources: {account: "a\\tb"}\n'), args: ['config', 'check'], exit: 78, message: /explore\.resources\.account \(line 5\): holds a tab/ },
  { name: 'a pseudopotential name with a newline', files: { 'autopipe.yaml': 'dft:\n  pseudopotentials: {Al: "Al.UPF\\n  Si 28.0 Si.UPF"}\n' }, args: ['config', 'check'], exit: 78, message: /dft\.pseudopotentials\.Al \(line 2\): holds a newline/ },
  { name: 'a pseudopotential name with a space', files: { 'autopipe.yaml': 'dft:\n  pseudopotentials: {Al: "Al pz.UPF"}\n' }, args: ['config', 'check'], exit: 78, message: /dft\.pseudopotentials\.Al \(line 2\): must be a file name without spaces/ },
  { name: 'a pw.x string that breaks out of its namelist', files: { 'autopipe.yaml': "dft:\n  pseudopotentials: {Al: Al.UPF}\n  parameters: {title: \"x'\\n/\\n&SYSTEM nat=99\"}\n" }, args: ['config', 'check'], exit: 78, message: /dft\.parameters\.title \(line 3\): holds a newline/ },
  { name: 'a pw.x string with both quote kinds', files: { 'autopipe.yaml': "dft:\n  pseudopotentials: {Al: Al.UPF}\n  parameters: {title: \"it's \\\"quoted\\\"\"}\n" }, args: ['config', 'check'], exit: 78, message: /dft\.parameters\.title \(line 3\): holds both quote kinds/ },
  { name: 'a ladder rung string with a newline', files: config('recovery:\n  scf_not_converged: [{mixing_mode: "plain\\n/"}]\n'), args: ['config', 'check'], exit: 78, message: /recovery\.scf_not_converged\.0\.mixing_mode \(line 5\): holds a newline/ },
  { name: 'pseudo_dir with a newline', files: config('  pseudo_dir: "/p\\n/"\n'), args: ['config', 'check'], exit: 78, message: /dft\.pseudo_dir \(line 4\): holds a newline/ },
  { name: 'remote_root with a newline', files: config('executor: {kind: slurm, remote_root: "/r\\nx"}\n'), args: ['config', 'check'], exit: 78, message: /executor\.remote_root \(line 4\): holds a newline/ },
  { name: 'workdir with a NUL', files: config('workdir: "w\\0x"\n'), args: ['config', 'check'], exit: 78, message: /workdir \(line 4\): holds a NUL byte/ },
  { name: 'structures with a newline', files: config('structures: "s\\n.extxyz"\n'), args: ['config', 'check'], exit: 78, message: /structures \(line 4\): holds a newline/ },
  { name: 'a name with a newline', files: config('name: "a\\nb"\n'), args: ['config', 'check'], exit: 78, message: /name \(line 4\): holds a newline/ },
  { name: 'executor.host with a newline', files: config('executor: {kind: slurm, host: "h\\nx", remote_root: /r}\n'), args: ['config', 'check'], exit: 78, message: /executor\.host \(line 4\): holds a newline/ },
  { name: 'executor.user with a control character', files: config('executor: {kind: slurm, host: h, user: "u\\u001b[31m", remote_root: /r}\n'), args: ['config', 'check'], exit: 78, message: /executor\.user \(line 4\): holds the control character U\+001B/ },
  { name: 'executor.templates with a newline', files: config('executor: {templates: "t\\nx"}\n'), args: ['config', 'check'], exit: 78, message: /executor\.templates \(line 4\): holds a newline/ },
  { name: 'dft.kspacing .inf', files: config('  kspacing: .inf\n'), args: ['config', 'check'], exit: 78, message: /dft\.kspacing \(line 4\): must be a finite number \(got Infinity\)/ },
  { name: 'dft.kspacing .nan', files: config('  kspacing: .nan\n'), args: ['config', 'check'], exit: 78, message: /dft\.kspacing \(line 4\): must be a finite number \(got NaN\)/ },
  { name: 'ecutwfc .inf', files: { 'autopipe.yaml': 'dft:\n  pseudopotentials: {Al: Al.UPF}\n  parameters: {ecutwfc: .inf}\n' }, args: ['config', 'check'], exit: 78, message: /dft\.parameters\.ecutwfc \(line 3\): must be a finite number/ },
  { name: 'embedding.rcut .inf', files: config('embedding: {rcut: .inf}\n'), args: ['config', 'check'], exit: 78, message: /embedding\.rcut \(line 4\): must be a finite number/ },
  { name: 'submit --dry-run with a hostile extra', files: withStructures([frame()], '  resources: {extra: ["--x\\ntouch pwned"]}\n'), args: ['submit', '--dry-run'], exit: 78, message: /dft\.resources\.extra\.0 \(line \d+\): holds a newline/ },
  { name: 'init --partition with a newline', args: ['init', 'p', '--pseudo', 'Al=a.UPF', '--executor', 'slurm', '--partition', 'debug\n#SBATCH --wrap=id'], exit: 78, message: /dft\.resources\.partition \(line \d+\): holds a newline/ },
  { name: 'init --remote-root with a newline', args: ['init', 'p', '--pseudo', 'Al=a.UPF', '--executor', 'slurm', '--remote-root', '/r\nx'], exit: 78, message: /executor\.remote_root \(line \d+\): holds a newline/ },
  { name: 'init --pseudo with a space', args: ['init', 'p', '--pseudo', 'Al=a b.UPF'], exit: 78, message: /dft\.pseudopotentials\.Al \(line \d+\): must be a file name without spaces/ },

  // ── 3. pw.x outputs that are not what they claim ──────────────────────────────────────────────
  ...([
    ['a NaN energy', (l: string[]) => replaceAt(l, l.findIndex((x) => x.startsWith('!')), (x) => x.replace(/-?\d+\.\d+ Ry/, 'NaN Ry')), /the total energy is not a number/],
    ['an overflowed energy', (l: string[]) => replaceAt(l, l.findIndex((x) => x.startsWith('!')), (x) => x.replace(/-?\d+\.\d+ Ry/, '*************** Ry')), /the total energy is not a number/],
    ['NaN forces', (l: string[]) => replaceAt(l, lineWith(l, 'force ='), (x) => x.replace(/-?\d+\.\d+\s*$/, 'NaN')), /the force on atom 1 is not a number/],
    ['overflowed forces', (l: string[]) => replaceAt(l, lineWith(l, 'force =') + 2, (x) => x.replace(/-?\d+\.\d+/, '*********')), /the force on atom 3 is not a number/],
    ['an overflowed stress', (l: string[]) => replaceAt(l, lineWith(l, 'total   stress') + 2, (x) => x.replace(/-?\d+\.\d+/, '********')), /the stress tensor holds a value that is not a number/],
    ['a header with 3 of 4 atoms', (l: string[]) => replaceAt(l, lineWith(l, 'number of atoms/cell'), (x) => x.replace(/4\s*$/, '3')), /the header says 3 atoms but the positions list goes on/],
    ['an unknown species label', (l: string[]) => replaceAt(l, lineWith(l, 'tau('), (x) => x.replace(' Al ', ' Zz ')), /the species label 'Zz' names no element/],
    ['a missing force line', (l: string[]) => l.filter((_, k) => k !== lineWith(l, 'force =') + 1), /the forces block has 3 of the header's 4 atoms/],
  ] as const).flatMap(([what, change, re]): Case[] => [
    { name: `db add of an output with ${what}`, files: { 'bad.out': (f) => edited(f, (l) => [...change(l)]) }, args: ['db', 'add', 'x.db', 'bad.out'], exit: 2, message: new RegExp(`skipped bad\\.out: error at line \\d+: ${re.source}`) },
    { name: `qe parse of an output with ${what}`, files: { 'bad.out': (f) => edited(f, (l) => [...change(l)]) }, args: ['qe', 'parse', 'bad.out'], exit: 2, message: /did not give a converged result/ },
  ]),
  { name: 'db add of an extxyz frame with NaN forces', files: { 'a.extxyz': xyz(frame({ results: { energy: -1, forces: new Float64Array(12).fill(NaN) } })) }, args: ['db', 'add', 'x.db', 'a.extxyz'], exit: 2, message: /skipped a\.extxyz: a force is not a number: not a label/ },
  { name: 'db add of an extxyz frame with an infinite energy', files: { 'a.extxyz': xyz(frame()).replace('Properties=', 'energy=inf Properties=') }, args: ['db', 'add', 'x.db', 'a.extxyz'], exit: 2, message: /skipped a\.extxyz: a\.extxyz:2: comment line: energy must be a number/ },
  { name: 'db add of a frame whose force_mask is out of range', files: { 'a.extxyz': xyz(frame({ arrays: { force_mask: { kind: 'float', width: 1, values: Float64Array.from([1, 2, 0, 0]) } } })) }, args: ['db', 'add', 'x.db', 'a.extxyz'], exit: 2, message: /force_mask of atom 2 is 2, not in \[0, 1\]/ },

  // ── 4. structures and geometry ────────────────────────────────────────────────────────────────
  { name: 'embed --rcut Infinity', files: { 'd.dump': dump('0 4\n0 4\n0 4') }, args: ['embed', 'd.dump', '--atom-id', '1', '--rcut', 'Infinity', '--buffer', '1', '--types', 'Al', '-o', 's.extxyz'], exit: 64, message: /--rcut: Infinity is not a finite number/ },
  { name: 'embed --rcut 1e308 --buffer 1e308', files: { 'd.dump': dump('0 4\n0 4\n0 4') }, args: ['embed', 'd.dump', '--atom-id', '1', '--rcut', '1e308', '--buffer', '1e308', '--types', 'Al', '-o', 's.extxyz'], exit: 64, message: /rcut \+ buffer \(Infinity Å\) is too large/ },
  { name: 'embed --rcut abc', files: { 'd.dump': dump('0 4\n0 4\n0 4') }, args: ['embed', 'd.dump', '--atom-id', '1', '--rcut', 'abc', '--buffer', '1', '--types', 'Al', '-o', 's.extxyz'], exit: 64, message: /--rcut: not a number/ },
  { name: 'embed --rcut 1e6 --buffer 1e6 in a large frame', files: { 'big.dump': (f) => f.bigDump }, args: ['embed', 'big.dump', '--atom-id', '1', '--rcut', '1e6', '--buffer', '1e6', '--types', 'Al', '-o', 's.extxyz'], exit: 65, message: /would hold about \d+ atoms \(more than 10000\): no DFT calculation that size can run/ },
  { name: 'select --rcut 1e6 in a large frame', files: { 'big.dump': (f) => f.bigDump }, args: ['select', 'big.dump', '--column', 'c_g', '--lo', '0', '--hi', '9', '--rcut', '1e6', '--buffer', '1e6', '--types', 'Al', '-o', 'c.extxyz'], exit: 65, message: /would hold about \d+ atoms \(more than 10000\)/ },
  { name: 'select --lo Infinity', files: { 'd.dump': dump('0 4\n0 4\n0 4') }, args: ['select', 'd.dump', '--column', 'c_g', '--lo', 'Infinity', '--hi', '9', '--rcut', '2', '--buffer', '2', '--types', 'Al', '-o', 'c.extxyz'], exit: 64, message: /--lo: Infinity is not a finite number/ },
  { name: 'embed --mask-radius -1', files: { 'd.dump': dump('0 4\n0 4\n0 4') }, args: ['embed', 'd.dump', '--atom-id', '1', '--rcut', '2', '--buffer', '2', '--mask-radius', '-1', '--types', 'Al', '-o', 's.extxyz'], exit: 64, message: /mask_radius must be a finite number > 0/ },
  { name: 'a dump id past 2^53', files: { 'd.dump': dump('0 4\n0 4\n0 4', '9007199254740993 1 0 0 0\n9007199254740992 1 2 2 2\n') }, args: ['convert', 'd.dump', '--types', 'Al', '-o', 'o.extxyz'], exit: 65, message: /d\.dump:10: atom id '9007199254740993' is not a whole number below 2\^53/ },
  { name: 'a dump box with hi < lo', files: { 'd.dump': dump('0 4\n4 0\n0 4') }, args: ['convert', 'd.dump', '--types', 'Al', '-o', 'o.extxyz'], exit: 65, message: /d\.dump:5: the box has no positive length along y/ },
  { name: 'embed in a dump with a zero-length box', files: { 'd.dump': dump('0 4\n0 0\n0 4') }, args: ['embed', 'd.dump', '--atom-id', '1', '--rcut', '2', '--buffer', '2', '--types', 'Al', '-o', 's.extxyz'], exit: 65, message: /d\.dump:5: the box has no positive length along y/ },
  { name: 'an extxyz with a nan position', files: { 'a.extxyz': '1\nLattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3\nAl nan 0 0\n' }, args: ['convert', 'a.extxyz', '-o', 'o.extxyz'], exit: 65, message: /a\.extxyz:3: atom 1 has a position that is not a finite number/ },
  { name: 'an extxyz with an inf position', files: { 'a.extxyz': '1\nLattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3\nAl inf 0 0\n' }, args: ['convert', 'a.extxyz', '-o', 'o.extxyz'], exit: 65, message: /a\.extxyz:3: 'inf' in column pos is not a number/ },
  { name: 'qe input of a singular cell', files: { ...config(''), 'a.extxyz': xyz(frame({ cell: [4, 0, 0, 4, 0, 0, 0, 0, 4] })) }, args: ['qe', 'input', 'a.extxyz', '-o', 'in'], exit: 65, message: /a\.extxyz: the cell is singular/ },
  { name: 'qe input of two atoms on one site', files: { ...config(''), 'a.extxyz': xyz(frame({ positions: [0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 2, 2] })) }, args: ['qe', 'input', 'a.extxyz', '-o', 'in'], exit: 65, message: /a\.extxyz: atoms 1 and 2 are 0\.000 Å apart, closer than 0\.5 Å/ },
  { name: 'qe input of atoms 0.3 Å apart across the cell boundary', files: { ...config(''), 'a.extxyz': xyz(frame({ positions: [0.1, 0, 0, 3.85, 0, 0, 2, 0, 2, 0, 2, 2] })) }, args: ['qe', 'input', 'a.extxyz', '-o', 'in'], exit: 65, message: /atoms 1 and 2 are 0\.300 Å apart/ },
  { name: 'qe input with kspacing 1e-6', files: { 'autopipe.yaml': CONFIG + '  kspacing: 1.0e-6\n', 'a.extxyz': xyz(frame()) }, args: ['qe', 'input', 'a.extxyz', '-o', 'in'], exit: 65, message: /the k-point mesh from dft\.kspacing 0\.000001 1\/Å would be \d+×\d+×\d+ .*raise dft\.kspacing/s },
  { name: 'qe input with a 1000³ k-mesh', files: { 'autopipe.yaml': CONFIG + '  kpoints: [1000, 1000, 1000]\n', 'a.extxyz': xyz(frame()) }, args: ['qe', 'input', 'a.extxyz', '-o', 'in'], exit: 65, message: /the k-point mesh from dft\.kpoints would be 1000×1000×1000/ },
  { name: 'qe input of a frame that is not periodic', files: { ...config(''), 'a.extxyz': xyz(frame({ pbc: [true, true, false] })) }, args: ['qe', 'input', 'a.extxyz', '-o', 'in'], exit: 65, message: /a\.extxyz: the structure is not periodic along z/ },
  { name: 'qe input of a frame without a cell', files: { ...config(''), 'a.extxyz': '1\nProperties=species:S:1:pos:R:3\nAl 0 0 0\n' }, args: ['qe', 'input', 'a.extxyz', '-o', 'in'], exit: 65, message: /a\.extxyz: the structure has no cell/ },
  { name: 'qe input of a frame without atoms', files: { ...config(''), 'a.extxyz': '0\nLattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3\n' }, args: ['qe', 'input', 'a.extxyz', '-o', 'in'], exit: 65, message: /a\.extxyz: the structure has no atoms/ },
  { name: 'submit of two atoms on one site', files: withStructures([frame(), frame({ positions: [0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 2, 2] })]), args: ['submit'], exit: 65, message: /1 structure\(s\) cannot be labelled:\n {2}s\.extxyz frame 1: atoms 1 and 2 are 0\.000 Å apart/ },
  { name: 'submit of a frame without a cell', files: { 'autopipe.yaml': `iterations: {stop_after: label}\nstructures: s.extxyz\n${CONFIG}`, 's.extxyz': '1\nProperties=species:S:1:pos:R:3\nAl 0 0 0\n' }, args: ['submit'], exit: 65, message: /s\.extxyz frame 0: the structure has no cell/ },
  { name: 'submit of a frame that is not periodic', files: withStructures([frame({ pbc: [false, false, false] })]), args: ['submit'], exit: 65, message: /s\.extxyz frame 0: the structure is not periodic along x, y, z/ },
  { name: 'submit of a frame without atoms', files: { 'autopipe.yaml': `structures: s.extxyz\n${CONFIG}`, 's.extxyz': '0\nLattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3\n' }, args: ['submit'], exit: 65, message: /s\.extxyz frame 0: the structure has no atoms/ },
  { name: 'submit with kspacing 1e-6', files: withStructures([frame()], '  kspacing: 1.0e-6\n'), args: ['submit', '--dry-run'], exit: 65, message: /s\.extxyz frame 0: the k-point mesh from dft\.kspacing/ },
  { name: 'convert to LAMMPS data without a cell', files: { 'a.extxyz': '1\nProperties=species:S:1:pos:R:3\nAl 0 0 0\n' }, args: ['convert', 'a.extxyz', '-o', 'a.data'], exit: 65, message: /the structure has no cell; a LAMMPS data file needs a box/ },
  { name: 'convert to LAMMPS data with a type missing', files: { 'a.extxyz': xyz(frame()) }, args: ['convert', 'a.extxyz', '--types', 'Cu', '-o', 'a.data'], exit: 65, message: /no LAMMPS type given for Al/ },

  // ── 5. what used to be internal errors, and messages ──────────────────────────────────────────
  { name: 'a YAML file with two documents', files: { 'autopipe.yaml': CONFIG + '---\nname: other\n' }, args: ['config', 'check'], exit: 65, message: /autopipe\.yaml:4: holds more than one YAML document/ },
  { name: 'a YAML file with a trailing ---', files: { 'autopipe.yaml': CONFIG + '---\n' }, args: ['config', 'check'], exit: 65, message: /autopipe\.yaml:4: holds more than one YAML document/ },
  { name: 'a YAML file that is a list', files: { 'autopipe.yaml': '- dft\n- x\n' }, args: ['config', 'check'], exit: 78, message: /must be a mapping of fields/ },
  { name: 'a YAML file with a tab', files: { 'autopipe.yaml': 'dft:\n\tpseudopotentials: {}\n' }, args: ['config', 'check'], exit: 65, message: /autopipe\.yaml:2: not valid YAML/ },
  { name: 'a missing configuration', args: ['config', 'check', 'nope.yaml'], exit: 74, message: /nope\.yaml: cannot read the configuration \(ENOENT\)/ },
  { name: 'an extxyz naming pos twice', files: { 'a.extxyz': '1\nLattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3:pos:R:3\nAl 0 0 0 1 1 1\n' }, args: ['convert', 'a.extxyz', '-o', 'o.extxyz'], exit: 65, message: /a\.extxyz:2: comment line: Properties names the column 'pos' twice/ },
  { name: 'init into a file', files: { p: 'a file' }, args: ['init', 'p', '--pseudo', 'Al=a.UPF'], exit: 64, message: /p: is a file, but the project folder must be a folder/ },
  { name: 'init where templates is a file', files: { 'p/templates': 'a file' }, args: ['init', 'p', '--pseudo', 'Al=a.UPF'], exit: 64, message: /p\/templates: is a file, but the templates folder must be a folder/ },
  { name: 'init into a folder autopipe may not write', args: ['init', '/sys/autopipe-test', '--pseudo', 'Al=a.UPF'], exit: 74, message: /cannot make the project folder \/sys\/autopipe-test \(E[A-Z]+\)/ },
  { name: 'qe input -o naming an existing file', files: { ...config(''), 'a.extxyz': xyz(frame()), out: 'a file' }, args: ['qe', 'input', 'a.extxyz', '-o', 'out'], exit: 64, message: /-o out: is a file; give a folder/ },
  { name: 'qe input of frames named a/b and a_b', files: { ...config(''), 'a.extxyz': xyz(frame({ info: { name: 'a/b' } }), frame({ info: { name: 'a_b' }, positions: [0, 0, 0.1, 2, 2, 0, 2, 0, 2, 0, 2, 2] })) }, args: ['qe', 'input', 'a.extxyz', '-o', 'in'], exit: 64, message: /a\.extxyz frame 1 and a\.extxyz frame 0 would both be written to in\/a_b\.in/ },
  { name: 'qe input of an element without a pseudopotential', files: { ...config(''), 'a.extxyz': xyz(makeAtoms({ ...AL4, numbers: [29, 29, 29, 29] })) }, args: ['qe', 'input', 'a.extxyz', '-o', 'in'], exit: 78, message: /no pseudopotential for Cu/ },
  { name: 'qe parse of a missing file', args: ['qe', 'parse', 'missing.out'], exit: 74, message: /1 of 1 file\(s\) cannot be read: missing\.out/ },
  { name: 'qe parse of a folder', setup: (d) => mkdirSync(join(d, 'dir.out')), args: ['qe', 'parse', 'dir.out'], exit: 74, message: /cannot be read: dir\.out/ },
  { name: 'a 5 MB name', files: config(`name: ${FIVE_MB}\n`), args: ['config', 'check'], exit: 78, message: /name \(line 4\): 'x{20,79}…' does not have the expected form/ },
  { name: 'a 5 MB unknown field', files: config(`${FIVE_MB}: 1\n`), args: ['config', 'check'], exit: 78, message: /x{20,59}… \(line 4\): unknown field/ },
  // one argument can be at most 128 kB (Linux's MAX_ARG_STRLEN)
  { name: 'a 100 kB unknown command', args: ['y'.repeat(100000)], exit: 64, message: /Unknown argument/ },
  { name: 'a 5 MB pw.x parameter name', files: { 'autopipe.yaml': `dft:\n  pseudopotentials: {Al: Al.UPF}\n  parameters: {${FIVE_MB}: 1}\n` }, args: ['config', 'check'], exit: 78, message: /not a pw\.x input variable/ },
  { name: 'an unknown command', args: ['dbb', 'ls'], exit: 64, message: /Did you mean db\?|Unknown argument/ },
  { name: 'db add without files', args: ['db', 'add', 'x.db'], exit: 64, message: /Not enough non-option arguments/ },
  { name: 'convert to an unknown ending', files: { 'a.extxyz': xyz(frame()) }, args: ['convert', 'a.extxyz', '-o', 'a.pdb'], exit: 64, message: /cannot tell the output format of a\.pdb/ },
  { name: 'convert --frame past the end', files: { 'a.extxyz': xyz(frame()) }, args: ['convert', 'a.extxyz', '--frame', '9', '-o', 'o.extxyz'], exit: 64, message: /--frame 9: a\.extxyz has 1 frame\(s\)/ },
  { name: 'embed an atom that is not there', files: { 'd.dump': dump('0 4\n0 4\n0 4') }, args: ['embed', 'd.dump', '--atom-id', '99', '--rcut', '1', '--buffer', '1', '--types', 'Al', '-o', 's.extxyz'], exit: 65, message: /no atom has id 99/ },
  { name: 'embed in a frame that is not periodic', files: { 'a.extxyz': xyz(frame({ pbc: [true, false, true] })) }, args: ['embed', 'a.extxyz', '--atom-id', '1', '--rcut', '1', '--buffer', '1', '-o', 's.extxyz'], exit: 65, message: /not periodic along y/ },
  { name: 'select on a column the dump does not have', files: { 'd.dump': dump('0 4\n0 4\n0 4') }, args: ['select', 'd.dump', '--column', 'c_gamma', '--lo', '1', '--hi', '9', '--rcut', '1', '--buffer', '1', '--types', 'Al', '-o', 'c.extxyz'], exit: 65, message: /column 'c_gamma' is missing/ },
  { name: 'submit without structures', files: config(''), args: ['submit'], exit: 78, message: /structures: is required to label iteration 0/ },
  { name: 'poll without a cursor', files: config(''), args: ['poll'], exit: 64, message: /nothing to poll in .*: no cursor yet/ },
  { name: 'status without a cursor', files: config(''), args: ['status'], exit: 64, message: /no cursor in .*: nothing submitted yet/ },
];

/** The ASE database with its page 2 (the systems table's root) overwritten. */
function damaged(db: Buffer): Buffer {
  const out = Buffer.from(db);
  out.fill(0x5a, 4096, 8192);
  return out;
}

/** Every file under dir with its content hash and mode: what "nothing written or changed" compares. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isSymbolicLink()) out[relative(dir, p)] = 'link';
      else out[relative(dir, p)] = `${statSync(p).mode.toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
    }
  };
  walk(dir);
  return out;
}

describe(`bad input: ${CASES.length} cases, each a clean error and nothing written`, function () {
  this.timeout(600000);
  let fixtures: Fixtures;
  before(() => {
    const alOut = readFileSync(pwRuns().al, 'utf8');
    const dir = tmpDir();
    const dbPath = join(dir, 'ase.db');
    python(`
import sys, ase.db, numpy as np
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
db = ase.db.connect(sys.argv[1])
for i in range(30):
    a = bulk('Al', 'fcc', a=4.05, cubic=True).repeat((2, 2, 2)); a.rattle(0.05, seed=i)
    a.calc = SinglePointCalculator(a, energy=-100.0 - i, forces=np.zeros((32, 3)))
    db.write(a, iteration=i % 3)`, [dbPath]);
    // 12,000 atoms of fcc Al at its density: a sub-cell cut from it can be absurdly large
    const n = 10, a = 4.05, rows: string[] = [];
    let id = 1;
    for (let i = 0; i < 3 * n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) {
      for (const [x, y, z] of [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]) rows.push(`${id++} 1 ${(i + x) * a} ${(j + y) * a} ${(k + z) * a} ${id % 7}`);
    }
    const bigDump = `ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n${rows.length}\nITEM: BOX BOUNDS pp pp pp\n0 ${3 * n * a}\n0 ${n * a}\n0 ${n * a}\nITEM: ATOMS id type x y z c_g\n${rows.join('\n')}\n`;
    fixtures = { alOut, aseDb: readFileSync(dbPath), bigDump };
  });

  it('the table holds at least 100 cases, each with its own name', () => {
    expect(CASES.length).to.be.at.least(100);
    expect(new Set(CASES.map((c) => c.name)).size).to.equal(CASES.length);
  });

  for (const c of CASES) {
    it(c.name, () => {
      const dir = tmpDir('autopipe-bad-');
      for (const [name, content] of Object.entries(c.files ?? {})) {
        mkdirSync(join(dir, name, '..'), { recursive: true });
        writeFileSync(join(dir, name), typeof content === 'function' ? content(fixtures) : content);
      }
      c.setup?.(dir, fixtures);
      const before = snapshot(dir);
      const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), ...c.args], { cwd: dir, encoding: 'utf8', env: { ...process.env, ...c.env }, maxBuffer: 1 << 26 });
      expect(r.status, `exit code; stderr: ${r.stderr.slice(0, 2000)}`).to.equal(c.exit);
      expect(r.stderr, 'the message').to.match(c.message);
      expect(r.stderr, 'no stack trace without --verbose').not.to.match(/\n\s+at \S+ \(|internal error/);
      expect(r.stderr.length, 'a short message').to.be.below(4000);
      expect(snapshot(dir), 'nothing written or changed').to.deep.equal(before);
    });
  }
});

describe('a closed pipe ends a command quietly', function () {
  this.timeout(120000);
  it('db ls | head -1, qe parse --json | head -1, status | head -1: no EPIPE trace, status 0', () => {
    const dir = tmpDir();
    const frames = join(dir, 'many.extxyz');
    writeFileSync(frames, writeExtxyz(labelledFrames(3000, 5)));
    const db = join(dir, 'big.db');
    expect(spawnSync(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), 'db', 'add', db, frames, '--level', 'none']).status).to.equal(0);
    const outs = Array.from({ length: 400 }, (_, k) => join(dir, `o${k}.out`));
    for (const o of outs) copyFileSync(pwRuns().al, o);
    mkdirSync(join(dir, 'proj', '.autopipe'), { recursive: true });
    writeFileSync(join(dir, 'proj', 'autopipe.yaml'), CONFIG);
    const cursor = { version: 2, project: 'p', iteration: 0, stage: 'label', updated_at: 0, submissions: [], tasks: Array.from({ length: 3000 }, (_, k) => ({ id: `t${String(k).padStart(4, '0')}`, source: { file: 's', frame: k + 1 }, natoms: 4, merged: false, attempts: [{ attempt: 1, dir: `iter-000/label/t${k}/a1`, submission: null, array_index: null, parameters: {}, state: 'planned', error_class: null, message: null }] })) };
    writeFileSync(join(dir, 'proj', '.autopipe', 'cursor.json'), JSON.stringify(cursor));
    const bin = join(ROOT, 'bin', 'autopipe.js');
    for (const cmd of [`db ls ${db}`, `db ls ${db} --json`, `qe parse --json ${outs.join(' ')}`, `status -C ${join(dir, 'proj')}`]) {
      const r = spawnSync('bash', ['-c', `node ${bin} ${cmd} 2>"$1" | head -1 >/dev/null; echo "\${PIPESTATUS[0]}"`, 'bash', join(dir, 'err')], { encoding: 'utf8' });
      const stderr = readFileSync(join(dir, 'err'), 'utf8');
      expect(stderr, cmd).not.to.match(/EPIPE|Unhandled|\n\s+at /);
      expect(r.stdout.trim(), `${cmd}: status`).to.equal('0');
    }
  });
});
