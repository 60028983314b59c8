/**
 * Benchmark (issue 2): parse and merge N pw.x outputs of 32 atoms into a new ASE database,
 * autopipe against ASE 3.22 (`ase.io.read(..., format='espresso-out')` + `db.write`) in the
 * same run. The outputs are copies of one real pw.x run (fcc Al, 2×2×2 conventional cell,
 * rattled), each with its total energy shifted by k·1e-8 Ry so that every copy is a distinct
 * row for both programs (autopipe merges identical content into one row).
 *
 *   node dist/bench/parse-merge.js [N]      (default 1000)
 */
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeAtoms } from '../lib/atoms/atoms.js';
import { writePwInput } from '../lib/formats/espresso-in.js';
import { parsePwOutput } from '../lib/formats/espresso-out.js';
import { openDatabaseFile } from '../lib/db/db-file.js';

const N = Number(process.argv[2] ?? 1000);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'autopipe-bench-'));

function realOutput(): string {
  const a = 4.05;
  const pos: number[] = [];
  let k = 0;
  for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) for (let l = 0; l < 2; l++) {
    for (const [x, y, z] of [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]) {
      pos.push((i + x) * a + 0.04 * Math.sin(k++), (j + y) * a + 0.04 * Math.cos(k), (l + z) * a);
    }
  }
  const atoms = makeAtoms({ numbers: new Array(32).fill(13), positions: pos, cell: [2 * a, 0, 0, 0, 2 * a, 0, 0, 0, 2 * a], pbc: [true, true, true] });
  writeFileSync(join(dir, 'al32.in'), writePwInput(atoms, {
    parameters: { ecutwfc: 15, occupations: 'smearing', smearing: 'mv', degauss: 0.02 },
    pseudopotentials: { Al: 'Al.pz-vbc.UPF' }, pseudoDir: '/usr/share/espresso/pseudo', kpoints: { kind: 'gamma' },
  }));
  const t = Date.now();
  const r = spawnSync('sh', ['-c', 'cd "$1" && OMP_NUM_THREADS=1 pw.x -in al32.in > al32.out 2>/dev/null', 'sh', dir]);
  if (r.status !== 0) throw new Error('pw.x failed; is quantum-espresso installed? (scripts/install-deps.sh)');
  console.log(`real pw.x run: 32 atoms, ${((Date.now() - t) / 1000).toFixed(1)} s`);
  return readFileSync(join(dir, 'al32.out'), 'utf8');
}

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const text = realOutput();
const energyLine = /^!\s+total energy\s+=\s+(-?\d+\.\d+) Ry$/m;
const e0 = Number(energyLine.exec(text)![1]);
const files: string[] = [];
for (let k = 0; k < N; k++) {
  const f = join(dir, `out-${String(k).padStart(4, '0')}.out`);
  writeFileSync(f, text.replace(energyLine, (line, e: string) => line.replace(e, (e0 - k * 1e-8).toFixed(8))));
  files.push(f);
}
console.log(`${N} pw.x outputs of ${(text.length / 1024).toFixed(0)} KiB each in ${dir}`);

// autopipe, in process: read + parse + write every file into a new database, one transaction
async function oursInProcess(list: string[], out: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  const db = openDatabaseFile(out, { create: true });
  db.transaction(() => {
    for (const f of list) {
      const r = parsePwOutput(readFileSync(f, 'utf8'));
      if (r.status !== 'ok' || r.atoms === undefined) throw new Error(`${f}: ${r.status}`);
      db.write(r.atoms, { now: 1795000000, data: { source: f } });
    }
  });
  db.close();
  return seconds(t0);
}

// autopipe, the whole command (process start included)
function oursCommand(list: string[], out: string): number {
  const t1 = process.hrtime.bigint();
  const cmd = spawnSync(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), 'db', 'add', '--level', 'none', out, ...list], { encoding: 'utf8' });
  if (cmd.status !== 0) throw new Error(cmd.stderr);
  return seconds(t1);
}

// ASE 3.22: the same, per-write commits (ASE's default) and in one transaction (`with db:`)
function ase(list: string[], out: string, transaction: boolean): { loop: number; total: number } {
  const listFile = `${out}.files`;
  writeFileSync(listFile, list.join('\n'));
  const code = `
import sys, time, ase.io, ase.db
files = open(sys.argv[1]).read().split('\\n')
t = time.perf_counter()
db = ase.db.connect(sys.argv[2])
def run():
    for f in files:
        db.write(ase.io.read(f, format='espresso-out'), source=0)
if ${transaction ? 'True' : 'False'}:
    with db:
        run()
else:
    run()
print(time.perf_counter() - t)`;
  const t = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/python3', ['-c', code, listFile, out], { encoding: 'utf8' });
  const total = seconds(t);
  if (r.status !== 0) throw new Error(r.stderr);
  return { loop: Number(r.stdout.trim()), total };
}

const small = files.slice(0, Math.max(1, Math.floor(N / 10)));
const oursLoop = await oursInProcess(files, join(dir, 'ours.db'));
const oursCmd = oursCommand(files, join(dir, 'cmd.db'));
const oursCmdSmall = oursCommand(small, join(dir, 'cmd-small.db'));
const asePlain = ase(files, join(dir, 'ase.db'), false);
const aseTx = ase(files, join(dir, 'ase-tx.db'), true);
const aseTxSmall = ase(small, join(dir, 'ase-tx-small.db'), true);

// ASE reads our database: every row, the same energies
const check = spawnSync('/usr/bin/python3', ['-c', `
import sys, ase.db
a = [r.energy for r in ase.db.connect(sys.argv[1]).select()]
b = [r.energy for r in ase.db.connect(sys.argv[2]).select()]
print(len(a), max(abs(x - y) for x, y in zip(a, b)))`, join(dir, 'ours.db'), join(dir, 'ase-tx.db')], { encoding: 'utf8' });
const [ourRows, maxDiff] = check.stdout.trim().split(' ').map(Number);

const anchor = Math.min(asePlain.loop, aseTx.loop);
const anchorTotal = Math.min(asePlain.total, aseTx.total);
const row = (name: string, s: number) => console.log(`${name.padEnd(52)} ${s.toFixed(3).padStart(8)} s   ${(1000 * s / N).toFixed(3).padStart(7)} ms/file`);
console.log(`\nparse + merge ${N} pw.x outputs (32 atoms) into a new ASE database`);
row('autopipe, in process (start-up, parse, write, save)', oursLoop);
row('autopipe db add (whole command)', oursCmd);
row('ASE 3.22, commit per write (its default), loop', asePlain.loop);
row('ASE 3.22, one transaction (with db:), loop', aseTx.loop);
row('ASE 3.22, faster variant, whole process', anchorTotal);
const dn = N - small.length;
const oursMarginal = (oursCmd - oursCmdSmall) / dn;
const aseMarginal = (aseTx.total - aseTxSmall.total) / dn;
console.log(`marginal cost of one more file (${small.length} vs ${N} files): autopipe ${(1000 * oursMarginal).toFixed(3)} ms, ASE ${(1000 * aseMarginal).toFixed(3)} ms`);
console.log(`\nratio ASE / autopipe: ${(anchor / oursLoop).toFixed(1)}× in process, ${(anchorTotal / oursCmd).toFixed(1)}× whole command, ${(aseMarginal / oursMarginal).toFixed(1)}× per additional file; aim ≥ 10×`);
console.log(`check: ASE reads ${ourRows} rows from our database; largest energy difference to ASE's own rows ${maxDiff} eV`);
